// The cuda backend's engine: one bound graph on one GPU. What op builders (ops_*.cc) see of it is Builder: where each
// value lives on the device, in which float type, and the library handles; they return a Launch that enqueues the
// node's work. Private to src/backends/cuda.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/conv_graph.h"
#include "backends/cuda/engine_cache.h"
#include "backends/cuda/kernels/kernels.h"
#include "backends/cuda/views.h"
#include "core/cuda_status.h"
#include "fovea/status.h"
#include "ir/graph.h"
#include "runtime/backend.h"

namespace fovea::cuda {

// What a launch needs besides its own captured state; fixed for the engine's life, so launches capture into graphs.
struct Exec {
    cudaStream_t stream = nullptr;
    cudnnHandle_t cudnn = nullptr;
    cublasHandle_t cublas = nullptr;
    cublasLtHandle_t cublaslt = nullptr;
    void* workspace = nullptr;
    size_t workspace_bytes = 0;
};

// Enqueues one node's work on exec.stream; no allocation, no synchronization.
using Launch = std::function<Status(const Exec&)>;

// "fp32": exact float32; "tf32": float32 storage, TF32 tensor cores; "fp16": float16 storage, float32 accumulation.
enum class Precision { kFP32, kTF32, kFP16 };

// How a 4-D value's bytes are ordered on the device. Values keep their logical NCHW shape in the IR; convolution
// chains store NHWC (cuDNN's tensor-core layout), and the engine converts where a consumer needs the other one.
enum class Layout { kNCHW, kNHWC };

// A 4-D float activation whose two layouts are different byte orders (not C == 1, not H * W == 1).
bool layout_matters(const ir::Value& v);
// Whether `node` (Conv or fovea.FusedConv) runs in NHWC when the engine prefers NHWC: 2-D with constant weights.
bool conv_takes_nhwc(const ir::Node& node);

Status cudnn_status(cudnnStatus_t s, const std::string& what);
Status cublas_status(cublasStatus_t s, const std::string& what);

#define FOVEA_CUDA_TRY(expr, what) FOVEA_TRY(::fovea::cuda_status((expr), (what)))
#define FOVEA_CUDNN_TRY(expr, what) FOVEA_TRY(::fovea::cuda::cudnn_status((expr), (what)))
#define FOVEA_CUBLAS_TRY(expr, what) FOVEA_TRY(::fovea::cuda::cublas_status((expr), (what)))

// A device allocation freed with the engine.
struct DeviceBuffer {
    void* ptr = nullptr;
    DeviceBuffer() = default;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer();
};

// Pinned host memory, for transfers the copy engine can do asynchronously (and inside a CUDA graph).
struct PinnedBuffer {
    void* ptr = nullptr;
    PinnedBuffer() = default;
    PinnedBuffer(const PinnedBuffer&) = delete;
    PinnedBuffer& operator=(const PinnedBuffer&) = delete;
    ~PinnedBuffer();
};

class Builder {
  public:
    virtual ~Builder() = default;
    Precision precision = Precision::kFP32;
    Exec exec;  // handles and stream; workspace not yet sized while building
    // Scratch for algorithm search (cuDNN find), valid during the build only.
    void* scratch = nullptr;
    size_t scratch_bytes = 0;

    // The dtype `v` has on the device: float32 values are float16 under Precision::kFP16.
    DType stored(const ir::Value& v) const;
    // The float storage type of `v`, or an error naming the node when it is not a float tensor.
    Result<Float> float_type(const ir::Node& node, const ir::Value& v) const;
    // Convolution chains in NHWC (fp16 by default; FOVEA_CUDA_NHWC=0/1 overrides).
    bool nhwc = false;
    // The byte order `v` is stored in (decided before any builder runs).
    virtual Layout layout(const ir::Value& v) const = 0;
    // Where `v` lives on the device: a graph input or output buffer, the arena, or a constant (uploaded on first
    // request, in its stored dtype). For an input of `node` this is its NCHW bytes (a converted copy where `v` is
    // stored NHWC), so that builders which know no layouts stay correct. Errors name the node.
    virtual Result<void*> pointer(const ir::Node& node, const ir::Value* v) = 0;
    // The bytes of input `v` in `want`: `v` itself when stored so, else a copy converted once, after `v` is ready.
    virtual Result<void*> pointer_as(const ir::Node& node, const ir::Value* v, Layout want) = 0;
    // Whether `v` is a strided view of another value (views.h), which is never written: only chains (build_chain)
    // and plain-layout Concats read views, and they must ask this before pointer() (which refuses views).
    virtual const View* view(const ir::Value& v) const = 0;
    // Where a view's first element lies.
    virtual Result<const void*> view_pointer(const ir::Node& node, const View& view) = 0;
    // Where `node` writes its output `v` in layout `have`: `v` itself when stored so, else a temporary that the
    // engine converts into `v` right after the node's launch.
    virtual Result<void*> output_as(const ir::Node& node, const ir::Value* v, Layout have) = 0;
    // Device memory owned by the engine, holding `bytes` copied from `host` (nullptr: left uninitialized).
    virtual Result<void*> upload(const void* host, size_t bytes) = 0;
    // A float tensor converted to the storage type `t` (e.g. a scaled bias), uploaded.
    Result<void*> upload_floats(const std::vector<float>& values, Float t);
    // The engine cache: a previous build's choices under this build's key (null: none or not trusted), and this
    // build's, recorded by the convolution builders (`searched`: how many needed cuDNN's algorithm search).
    const EngineRecord* cached = nullptr;
    EngineRecord chosen;
    int searched = 0;
    // Graph-API convolution plans compiled so far in this build, shared by convolutions of one spec.
    GraphPlans graph_plans;
    // Work a builder leaves until every node is built, run in order before the first run: choices that time
    // graph-API plans, which wait for their compilation, so that the compilations of all nodes overlap.
    std::vector<std::function<Status()>> deferred;
    // The launches of this node need `bytes` of the shared workspace.
    void need_workspace(size_t bytes) { workspace_bytes = std::max(workspace_bytes, bytes); }
    size_t workspace_bytes = 0;
    // Where host steps (build_host) report a failure, which they cannot give the stream: the engine checks it once
    // the stream has passed them.
    std::shared_ptr<Status> host_failure = std::make_shared<Status>();
};

using BuildFn = Result<Launch> (*)(const ir::Node& node, Builder& b);

// Builders, by file. Each checks what it supports and fails with the node's description otherwise.
Result<Launch> build_conv(const ir::Node& node, Builder& b);          // ops_conv.cc: Conv, fovea.FusedConv
Result<Launch> build_gemm(const ir::Node& node, Builder& b);          // ops_conv.cc: Gemm
Result<Launch> build_matmul(const ir::Node& node, Builder& b);        // ops_conv.cc: MatMul
Result<Launch> build_fused_matmul(const ir::Node& node, Builder& b);  // ops_conv.cc: fovea.FusedMatMul
Result<Launch> build_unary(const ir::Node& node, Builder& b);         // ops_eltwise.cc
Result<Launch> build_binary(const ir::Node& node, Builder& b);        // ops_eltwise.cc: Add Sub Mul Div Pow Max Min Sum
Result<Launch> build_softmax(const ir::Node& node, Builder& b);       // ops_eltwise.cc: Softmax, LogSoftmax
Result<Launch> build_pool(const ir::Node& node, Builder& b);          // ops_eltwise.cc: MaxPool, AveragePool
Result<Launch> build_reduce(const ir::Node& node, Builder& b);        // ops_eltwise.cc: Global*Pool, Reduce{Mean,...}
Result<Launch> build_concat(const ir::Node& node, Builder& b);        // ops_data.cc
Result<Launch> build_split(const ir::Node& node, Builder& b);
Result<Launch> build_slice(const ir::Node& node, Builder& b);
Result<Launch> build_transpose(const ir::Node& node, Builder& b);
Result<Launch> build_pad(const ir::Node& node, Builder& b);
Result<Launch> build_gather(const ir::Node& node, Builder& b);
Result<Launch> build_gather_elements(const ir::Node& node, Builder& b);
Result<Launch> build_resize(const ir::Node& node, Builder& b);
Result<Launch> build_conv_transpose(const ir::Node& node, Builder& b);  // ops_conv.cc: ConvTranspose
Result<Launch> build_layer_norm(const ir::Node& node, Builder& b);      // ops_eltwise.cc: LayerNormalization
Result<Launch> build_compare(const ir::Node& node, Builder& b);         // ops_eltwise.cc: Equal Greater... And Or Not
Result<Launch> build_where(const ir::Node& node, Builder& b);           // ops_eltwise.cc: Where
Result<Launch> build_cast(const ir::Node& node, Builder& b);            // ops_eltwise.cc: Cast
Result<Launch> build_instance_norm(const ir::Node& node, Builder& b);   // ops_eltwise.cc: InstanceNormalization
Result<Launch> build_arg_reduce(const ir::Node& node, Builder& b);      // ops_eltwise.cc: ArgMax, ArgMin
Result<Launch> build_topk(const ir::Node& node, Builder& b);            // ops_eltwise.cc: TopK
Result<Launch> build_depth_space(const ir::Node& node, Builder& b);     // ops_data.cc: DepthToSpace, SpaceToDepth
// ops_host.cc: any node with a reference kernel, run on the host between the device steps around it.
Result<Launch> build_host(const ir::Node& node, Builder& b);

// Whether nodes the GPU cannot run may run on the host (ops_host.cc) or, for data-dependent shapes, the whole model
// on the reference kernels; FOVEA_CUDA_HOST=0 makes them errors instead.
bool host_fallback_enabled();

// Ops whose output is its input's bytes under another shape: the engine aliases them instead of copying.
bool is_alias_op(const ir::Node& node);

// The builder of `node`'s op, or nullptr when the engine cannot run it.
BuildFn find_builder(const ir::Node& node);

// Elementwise chains (ops_eltwise.cc): a unary map or binary op can be a step of one; `chain` (in order, each step
// reading the one before, at the same shape and layout, intermediates read by nothing else) runs as one kernel that
// writes only the last output.
bool chainable(const ir::Node& node);
Result<Launch> build_chain(const std::vector<const ir::Node*>& chain, Builder& b);

// Compiles the bound graph (`run[i]`: node i executes) for the current device; errors name the first node it cannot
// run. All its work goes to `stream` (the caller's, which it never destroys), or to a stream of its own when null.
// Logs nothing; the backend logged the device and cuDNN at creation.
Result<std::unique_ptr<runtime::GraphEngine>> build_engine(const ir::Graph& graph, const std::vector<bool>& run,
                                                           Precision precision, cudaStream_t stream);

// Small helpers for the builders.
Status node_error(const ir::Node& node, const std::string& what);        // invalid_argument, node prefix
Status node_unsupported(const ir::Node& node, const std::string& what);  // unsupported, node prefix
Status launched(const ir::Node& node, cudaError_t e);                    // a kernel launch's result, named
const Shape& shape_of(const ir::Value& v);
int64_t product(const Shape& s, size_t begin, size_t end);  // of dims [begin, end)
// The node's "axis" attribute (`fallback` when absent) resolved against `rank`; a scalar (rank 0) takes axis 0.
Result<size_t> axis_attr(const ir::Node& node, size_t rank, int64_t fallback = 0);
Result<std::vector<int64_t>> constant_ints(const ir::Node& node, size_t input);  // a constant integer input
int element_size(DType dt);

}  // namespace fovea::cuda
