// Session: a model loaded, its dynamic dimensions bound, ready to run on one backend.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fovea/status.h"
#include "fovea/tensor.h"

namespace fovea {

namespace ir {
class Graph;
class Node;
class Value;
}  // namespace ir
namespace runtime {
class Backend;
class GraphEngine;
class NodeKernel;
}  // namespace runtime

struct SessionOptions {
    std::string backend = "ref";  // "ref", "cpu", or "cuda" (builds with CUDA, on machines with a usable GPU)
    // Concrete shapes for inputs with dynamic dims; inputs not named here bind at their first run.
    std::map<std::string, Shape> input_shapes;
    int threads = 0;  // 0: all cores (backends that use threads)
    // "fp32" (default) or "bf16": the CPU backend then computes convolutions and matrix products in bfloat16
    // (fp32 accumulation) on CPUs that have avx512_bf16; elsewhere it is an error. The cuda backend takes "fp32"
    // (exact float32), "tf32" (float32 storage, TF32 tensor cores) and "fp16" (float16 storage and weights, float32
    // accumulation; inputs and outputs stay float32).
    std::string precision = "fp32";
    // cuda: a cudaStream_t for all of the session's GPU work (copies, kernels, graph replays), e.g. the stream a
    // decoder or preprocessor already fills, so that nothing waits between them. The caller keeps it alive for the
    // session's life and destroys it after; it must not be the legacy default stream (0), which cannot be captured
    // into a CUDA graph. Null: the session makes a stream of its own. Other backends ignore it.
    void* stream = nullptr;
};

// Name, dtype and shape of a model input or output; -1 marks a dynamic dim, `dim_params` its symbolic name.
struct TensorDesc {
    std::string name;
    DType dtype = DType::kFloat32;
    Shape shape;
    std::vector<std::string> dim_params;
};

// A tensor in device memory (e.g. CUDA): what Session's device I/O hands out. Owned by the session.
struct DeviceTensor {
    void* data = nullptr;
    DType dtype = DType::kFloat32;
    Shape shape;
};

// The backends this build can run, in order of preference for tests ("ref" always).
std::vector<std::string> available_backends();

class Session {
  public:
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Loads an ONNX model file (external data files are resolved next to it).
    static Result<std::unique_ptr<Session>> load(const std::string& path, const SessionOptions& options = {});
    // Loads an ONNX model from memory; `base_dir` resolves external data, if any.
    static Result<std::unique_ptr<Session>> load_from_memory(std::span<const std::byte> bytes,
                                                             const SessionOptions& options = {},
                                                             const std::string& base_dir = ".");

    const std::vector<TensorDesc>& inputs() const { return inputs_; }
    const std::vector<TensorDesc>& outputs() const { return outputs_; }

    // Runs the model. Inputs are matched by name; all model inputs are required. Outputs come in model order.
    // A new input shape rebinds the dynamic dims (shape inference and constant folding run again).
    Result<std::vector<Tensor>> run(const std::map<std::string, Tensor>& inputs);

    // Device I/O, for backends that run the whole graph on a GPU ("cuda"); others return kUnsupported, and so
    // does a model with a constant output. device_inputs binds `shapes` (inputs not named keep their bound or
    // declared shapes) and returns where each input lives on the device, in input order and dtype (float32 for
    // float inputs, whatever the precision). The caller fills them on device_stream() (or orders its own stream
    // before it), then device_run() enqueues the model on that stream and returns the outputs on the device, valid
    // until the next run of this session. Nothing waits: synchronize the stream, or enqueue more work on it.
    Result<std::vector<DeviceTensor>> device_inputs(const std::map<std::string, Shape>& shapes = {});
    Result<std::vector<DeviceTensor>> device_run();
    // The engine's stream (a cudaStream_t) once device_inputs() has bound the session; null otherwise.
    void* device_stream() const;

    // The bound, shape-inferred (and, for optimizing backends, optimized) graph, for inspection tools.
    const ir::Graph& graph() const { return *graph_; }
    // Peak activation memory at the bound shapes (the planned arena), and what it would be without reuse.
    size_t arena_bytes() const { return arena_bytes_; }
    size_t unplanned_activation_bytes() const { return unplanned_bytes_; }
    // How many nodes each backend runs at the bound shapes, e.g. {"cpu": 120, "ref": 2}.
    std::map<std::string, int> nodes_per_backend() const;

  private:
    Session() = default;
    static Result<std::unique_ptr<Session>> create(std::unique_ptr<ir::Graph> graph, const SessionOptions& options);
    Status bind(const std::map<std::string, Shape>& shapes);

    std::unique_ptr<ir::Graph> graph_;
    SessionOptions options_;
    std::vector<TensorDesc> inputs_;
    std::vector<TensorDesc> outputs_;
    Status compile();

    struct OpTime {
        double us = 0;
        int64_t calls = 0;
    };
    // One executable node at the bound shapes: its kernel, where its operands live, its output buffers.
    struct Step {
        const ir::Node* node = nullptr;
        runtime::NodeKernel* kernel = nullptr;
        std::string backend;
        std::vector<int> inputs;                         // slot per input, -1 where omitted
        std::vector<int> outputs;                        // slot per output, -1 where omitted
        std::vector<Tensor> buffers;                     // output tensors: arena views (kept) or per-run allocations
        std::vector<bool> planned;                       // buffers[i] is an arena view
        std::vector<std::pair<size_t, size_t>> release;  // (step, output) of unplanned buffers last used here
        OpTime* timing = nullptr;                        // this step's op type's entry in profile_ when profiling
    };

    std::vector<std::optional<Shape>> declared_shapes_;  // per input, as the model file declares it
    std::map<std::string, Shape> bound_;
    std::unique_ptr<runtime::Backend> backend_;
    std::unique_ptr<runtime::Backend> ref_backend_;  // for nodes the chosen backend declines
    std::unique_ptr<runtime::GraphEngine> engine_;   // set when the backend runs the whole graph itself
    int engine_nodes_ = 0;
    bool compiled_ = false;
    std::vector<std::unique_ptr<runtime::NodeKernel>> kernels_;
    std::vector<Step> steps_;
    std::map<const ir::Value*, int> slot_of_;
    std::vector<const Tensor*> slots_;  // per value slot: where its tensor is during a run
    std::shared_ptr<std::byte> arena_;
    size_t arena_bytes_ = 0;
    size_t unplanned_bytes_ = 0;

    // FOVEA_PROFILE=1: time per op type and backend over every run, printed to stderr when the session ends.
    bool profiling_ = false;
    int64_t profiled_runs_ = 0;
    std::map<std::string, OpTime> profile_;
};

}  // namespace fovea
