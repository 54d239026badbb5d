// The backend contract: compile a node once at bound shapes, then run it with no allocation.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fovea/session.h"
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
    // An input whose buffer output 0 may take over when this node is that input's last reader (the memory planner
    // then gives both one buffer); -1: none. The kernel must be correct with the two tensors sharing bytes.
    virtual int in_place_input() const { return -1; }
};

// A whole bound graph compiled for a device that keeps every intermediate to itself: no host tensor exists between
// nodes. Owned by the session; lives until it rebinds.
class GraphEngine {
  public:
    virtual ~GraphEngine() = default;
    // `inputs`: host tensors in graph-input order, of the bound shapes and dtypes. Returns the graph outputs in
    // order, in fresh host tensors (results outlive the run).
    virtual Result<std::vector<Tensor>> run(std::span<const Tensor* const> inputs) = 0;
    // Peak intermediate memory on the device, and what it would be without reuse.
    virtual size_t arena_bytes() const = 0;
    virtual size_t unplanned_bytes() const = 0;
    // How many of the engine's nodes run on the host (the reference kernels) between its device steps.
    virtual int host_nodes() const { return 0; }
    // Device I/O, for engines whose tensors live on a GPU (the defaults: unsupported). The stream every run of the
    // engine is ordered on (a cudaStream_t), where callers enqueue what fills the inputs or reads the outputs.
    virtual void* device_stream() { return nullptr; }
    // Where the graph inputs live on the device, in graph-input order and their user dtypes; fixed for the engine.
    virtual Result<std::vector<DeviceTensor>> device_inputs() { return unsupported("this engine has no device I/O"); }
    // Enqueues a run over what the device inputs hold, without host copies and without waiting; the outputs (graph
    // order, user dtypes) stay valid until the next run.
    virtual Result<std::vector<DeviceTensor>> device_run() { return unsupported("this engine has no device I/O"); }
};

struct BackendOptions {
    int threads = 0;                 // 0: all cores
    std::string precision = "fp32";  // SessionOptions::precision
    void* stream = nullptr;          // SessionOptions::stream
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
    // Device backends take the whole graph, shapes bound, instead of node by node: an engine, or an error naming the
    // first node they cannot run. nullptr (the default): the session compiles nodes with `compile`. `run[i]` is false
    // for nodes that do not execute (folded).
    virtual Result<std::unique_ptr<GraphEngine>> compile_graph(const ir::Graph& /*graph*/,
                                                               const std::vector<bool>& /*run*/) {
        return std::unique_ptr<GraphEngine>();
    }
};

// The reference backend: takes every node fovea knows.
std::unique_ptr<Backend> make_ref_backend();

}  // namespace fovea::runtime
