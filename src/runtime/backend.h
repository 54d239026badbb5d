// The backend contract: compile a node once at bound shapes, then run it with no allocation.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "fovea/status.h"
#include "fovea/tensor.h"
#include "ir/graph.h"

namespace fovea::runtime {

// One node compiled for one backend at fixed input/output shapes. Owned by the session; lives until it rebinds.
class NodeKernel {
public:
    virtual ~NodeKernel() = default;
    // Inputs: nullptr where an optional input is omitted. Outputs arrive allocated with the bound shapes (dtype and
    // shape from inference), except outputs whose shape is data-dependent: those are undefined and the kernel
    // assigns them. A kernel must not keep pointers to tensors between runs: the session may move buffers.
    virtual Status run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) = 0;
};

struct BackendOptions {
    int threads = 0;                // 0: all cores
    std::string precision = "fp32";  // "fp32" or "bf16" (SessionOptions::precision)
};

// A device's view of the graph: what it can run, compiled per node. Nodes a backend declines run on `ref`.
class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string_view name() const = 0;
    // Sees the whole graph, shapes bound, before the session compiles its nodes; compile may then rely on what it
    // decided (e.g. the layout of values between nodes this backend takes) until the next prepare.
    virtual Status prepare(const ir::Graph& /*graph*/) { return Status::ok(); }
    // Compiles `node`, whose input and output values have known dtypes and shapes (and constants where the model or
    // folding made them). Returns nullptr when this backend does not take the node; an error only for real failures.
    virtual Result<std::unique_ptr<NodeKernel>> compile(const ir::Node& node) = 0;
};

// The reference backend: takes every node fovea knows.
std::unique_ptr<Backend> make_ref_backend();

}  // namespace fovea::runtime
