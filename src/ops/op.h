// Per-op type and shape inference: what each op produces, given what it consumes.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fovea/status.h"
#include "fovea/tensor.h"
#include "ir/graph.h"

namespace fovea::ops {

// What inference knows about one tensor. Unknown dims are -1; an unknown rank is nullopt.
struct TensorInfo {
    bool present = false;  // false for an omitted optional input
    DType dtype = DType::kFloat32;
    std::optional<Shape> shape;
    const Tensor* value = nullptr;  // set when the contents are known (initializer, folded constant, run time)

    bool shape_known() const;  // rank and all dims known
    int64_t rank() const { return shape ? static_cast<int64_t>(shape->size()) : -1; }
};

struct InferContext {
    const ir::Node& node;
    std::vector<TensorInfo> inputs;   // one per node input, `present == false` where omitted
    std::vector<TensorInfo> outputs;  // filled by the infer function, one per node output

    size_t num_inputs() const { return inputs.size(); }
    bool has_input(size_t i) const { return i < inputs.size() && inputs[i].present; }
    const TensorInfo& input(size_t i) const { return inputs[i]; }
    // The known contents of input i, or nullptr (absent, or not known before run time).
    const Tensor* value(size_t i) const { return has_input(i) ? inputs[i].value : nullptr; }
    void set_output(size_t i, DType dtype, std::optional<Shape> shape);
    // An invalid-argument Status prefixed with the node's description.
    Status fail(const std::string& reason) const;
    Status fail_unsupported(const std::string& reason) const;
    // Checks the input count is within [min, max] and required inputs are present.
    Status expect_inputs(size_t min, size_t max) const;
};

using InferFn = Status (*)(InferContext&);

#define FOVEA_OP(name) Status infer_##name(InferContext& ctx);
#include "ops/ops.def"
#undef FOVEA_OP

// fovea's own ops (fused forms the optimizer creates) live in this domain; they never come from model files.
constexpr std::string_view kFoveaDomain = "fovea";
// The domains whose ops ops.def lists: ONNX's default domain and fovea's.
inline bool is_known_domain(std::string_view domain) { return domain.empty() || domain == kFoveaDomain; }

// The inference function for `op_type` in the default domain, or nullptr if fovea does not know the op.
InferFn find_infer(std::string_view op_type);
// Every op name in ops.def, in file order.
const std::vector<std::string_view>& all_op_types();

// Shared helpers for infer functions and kernels.
// Normalizes a possibly negative axis against `rank`; fails when out of [-rank, rank).
Result<int64_t> normalize_axis(int64_t axis, int64_t rank);
// Numpy-style multidirectional broadcast of shapes; -1 (unknown) dims propagate unless the other side fixes them.
Result<Shape> broadcast_shapes(const Shape& a, const Shape& b);

}  // namespace fovea::ops
