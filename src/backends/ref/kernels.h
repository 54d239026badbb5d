// The reference backend: plain, obviously correct kernels, the oracle every faster backend is tested against.
// Kernels favour clarity over speed: loops over logical indices, accumulation in float (double for float64).
#pragma once

#include <string_view>
#include <vector>

#include "fovea/status.h"
#include "fovea/tensor.h"
#include "ir/graph.h"

namespace fovea::ref {

// One node's run-time view. Outputs whose shape inference could determine are allocated (zero-filled) before
// the kernel runs; the kernel assigns the others (data-dependent shapes such as NonZero's).
struct KernelContext {
    const ir::Node& node;
    std::vector<const Tensor*> inputs;  // nullptr where an optional input is omitted
    std::vector<Tensor>& outputs;       // one per node output

    const Tensor* input(size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
    Status fail(const std::string& reason) const;
    Status fail_unsupported(const std::string& reason) const;
};

using RefKernel = Status (*)(KernelContext&);

#define FOVEA_OP(name) Status ref_##name(KernelContext& ctx);
#include "ops/ops.def"
#undef FOVEA_OP

// The reference kernel for `op_type`, or nullptr.
RefKernel find_kernel(std::string_view op_type);

// Accumulator type for reference math: double for float64, float for every other floating type.
template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Index helpers shared by kernels.
// Strides (in elements) of `shape` broadcast to `out_rank` dims: 0 where the dim is 1 or missing.
std::vector<int64_t> broadcast_strides(const Shape& shape, size_t out_rank);

}  // namespace fovea::ref
