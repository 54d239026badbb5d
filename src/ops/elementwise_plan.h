// What elementwise inference and every backend's elementwise kernels must agree on: the dtypes each op accepts and
// the shapes operands broadcast with (legacy opset < 7 alignment included). Errors carry no node prefix.
#pragma once

#include <string>

#include "fovea/status.h"
#include "fovea/tensor.h"
#include "ir/graph.h"

namespace fovea::ops {

// The input dtypes an elementwise op accepts.
enum class DTypeSet {
    kFloat,    // float32, float64, float16, bfloat16
    kSigned,   // kFloat and the signed integers
    kNumeric,  // everything but bool
    kBool,
    kAny,
};

constexpr bool dtype_in(DTypeSet set, DType dt) {
    const bool floating =
        dt == DType::kFloat32 || dt == DType::kFloat64 || dt == DType::kFloat16 || dt == DType::kBFloat16;
    switch (set) {
        case DTypeSet::kFloat:
            return floating;
        case DTypeSet::kSigned:
            return floating || dt == DType::kInt8 || dt == DType::kInt32 || dt == DType::kInt64;
        case DTypeSet::kNumeric:
            return dt != DType::kBool;
        case DTypeSet::kBool:
            return dt == DType::kBool;
        case DTypeSet::kAny:
            return true;
    }
    return false;
}

// The shape input `i` (of `shape`) broadcasts with, given the rank of input 0. Numpy broadcasting right-aligns dims;
// before opset 7, binary ops with broadcast=1 and an `axis` align input 1's dims at `axis` instead, and PRelu's
// one-dimensional slope holds one value per channel (axis 1). Both become trailing 1s appended to the shape.
inline Result<Shape> broadcast_operand_shape(const ir::Node& node, size_t i, const Shape& shape, int64_t first_rank) {
    if (node.opset >= 7 || i != 1) return shape;
    int64_t axis = -1;
    if (node.op_type == "PRelu") {
        if (shape.size() == 1 && first_rank >= 2) axis = 1;
    } else if (node.attr_int("broadcast", 0) == 1 && node.has_attr("axis")) {
        axis = node.attr_int("axis", 0);
        if (axis < 0) axis += first_rank;
        const auto rank = static_cast<int64_t>(shape.size());
        if (axis < 0 || axis + rank > first_rank)
            return invalid_argument("attribute 'axis' = " + std::to_string(node.attr_int("axis", 0)) +
                                    " cannot align a rank-" + std::to_string(rank) + " operand with a rank-" +
                                    std::to_string(first_rank) + " one");
    }
    if (axis < 0) return shape;
    Shape aligned = shape;
    aligned.resize(static_cast<size_t>(first_rank - axis), 1);
    return aligned;
}

}  // namespace fovea::ops
