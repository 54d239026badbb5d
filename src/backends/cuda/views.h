// Strided views: a value that the engine never writes because its readers can read another value's bytes at
// strides. A Transpose, a Split's outputs, a reshape of an NHWC value: each is a copy a chain kernel or a Concat can
// do while reading. Plain C++ (no CUDA), tested without a GPU.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "fovea/tensor.h"

namespace fovea::ir {
struct Value;
}

namespace fovea::cuda {

struct View {
    const ir::Value* base = nullptr;  // the value whose stored bytes are read
    int64_t offset = 0;               // elements
    std::vector<int64_t> strides;     // elements, one per dim of the viewed value's logical shape
};

// The strides of a logical shape stored row-major, or (4-D, `nhwc`) with channels innermost.
std::vector<int64_t> stored_strides(const Shape& shape, bool nhwc);

// Strides that read `to` from bytes holding `from` at `strides` in row-major element order, where a reshape can be
// expressed without a copy: dims of `to` only split or merge runs of `from` that are contiguous among themselves.
// nullopt otherwise. Shapes must hold the same number of elements.
std::optional<std::vector<int64_t>> reshape_strides(const Shape& from, const std::vector<int64_t>& strides,
                                                    const Shape& to);

// A view of `shape` as rows of the contiguous block of dims from `axis` on, one row every returned pitch elements
// (a Concat's input along `axis`); nullopt when the block is not contiguous or the rows are not evenly spaced. Rows
// of a view with no dims before `axis` have pitch 0.
std::optional<int64_t> row_pitch(const Shape& shape, const std::vector<int64_t>& strides, size_t axis);

}  // namespace fovea::cuda
