#include "backends/cuda/engine.h"

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/profile.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>

#include "ops/op.h"
#include "runtime/memory_plan.h"

namespace fovea::cuda {

Status cudnn_status(cudnnStatus_t s, const std::string& what) {
    if (s == CUDNN_STATUS_SUCCESS) return Status::ok();
    return internal_error(what + ": " + cudnnGetErrorString(s));
}

Status cublas_status(cublasStatus_t s, const std::string& what) {
    if (s == CUBLAS_STATUS_SUCCESS) return Status::ok();
    return internal_error(what + ": cuBLAS status " + std::to_string(static_cast<int>(s)));
}

DeviceBuffer::~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
}

PinnedBuffer::~PinnedBuffer() {
    if (ptr) cudaFreeHost(ptr);
}

Status node_error(const ir::Node& node, const std::string& what) {
    return invalid_argument(node.describe() + ": " + what);
}

Status node_unsupported(const ir::Node& node, const std::string& what) {
    return unsupported(node.describe() + ": " + what + " (cuda backend)");
}

Status launched(const ir::Node& node, cudaError_t e) {
    if (e == cudaSuccess) return Status::ok();
    return internal_error(node.describe() + ": kernel launch failed: " + cudaGetErrorString(e));
}

const Shape& shape_of(const ir::Value& v) {
    return *v.shape;  // the engine checks that every value it touches has a known shape
}

int64_t product(const Shape& s, size_t begin, size_t end) {
    int64_t n = 1;
    for (size_t i = begin; i < end; ++i) n *= s[i];
    return n;
}

Result<size_t> axis_attr(const ir::Node& node, size_t rank, int64_t fallback) {
    int64_t axis = node.attr_int("axis", fallback);
    if (axis < 0) axis += static_cast<int64_t>(rank);
    if (axis < 0 || axis >= static_cast<int64_t>(std::max<size_t>(rank, 1)))
        return node_error(node, "axis out of range");
    return static_cast<size_t>(axis);
}

Result<std::vector<int64_t>> constant_ints(const ir::Node& node, size_t input) {
    const ir::Value* v = node.input(input);
    if (!v || !v->constant) return node_unsupported(node, "input " + std::to_string(input) + " must be a constant");
    std::vector<int64_t> out;
    for (int64_t i = 0; i < v->constant->numel(); ++i) out.push_back(v->constant->element_as_int64(i));
    return out;
}

int element_size(DType dt) {
    return static_cast<int>(dtype_size(dt));
}

DType Builder::stored(const ir::Value& v) const {
    return v.dtype == DType::kFloat32 && precision == Precision::kFP16 ? DType::kFloat16 : v.dtype;
}

Result<Float> Builder::float_type(const ir::Node& node, const ir::Value& v) const {
    switch (stored(v)) {
        case DType::kFloat32:
            return Float::kF32;
        case DType::kFloat16:
            return Float::kF16;
        default:
            return node_unsupported(node, "'" + v.name + "' is " + dtype_name(v.dtype) + ", only float tensors are");
    }
}

Result<void*> Builder::upload_floats(const std::vector<float>& values, Float t) {
    if (t == Float::kF32) return upload(values.data(), values.size() * sizeof(float));
    std::vector<uint16_t> half(values.size());
    for (size_t i = 0; i < values.size(); ++i) half[i] = float_to_half(values[i]);
    return upload(half.data(), half.size() * sizeof(uint16_t));
}

bool layout_matters(const ir::Value& v) {
    if (!v.shape_known() || v.shape->size() != 4 || (v.dtype != DType::kFloat32 && v.dtype != DType::kFloat16))
        return false;
    const Shape& s = *v.shape;
    return s[1] != 1 && s[2] * s[3] != 1;
}

bool conv_takes_nhwc(const ir::Node& node) {
    const ir::Value* w = node.input(1);
    return node.input(0) && node.input(0)->shape_known() && node.input(0)->shape->size() == 4 && w && w->constant &&
           w->constant->dtype() == DType::kFloat32;
}

bool host_fallback_enabled() {
    const char* env = std::getenv("FOVEA_CUDA_HOST");
    return !env || std::string(env) != "0";
}

bool is_alias_op(const ir::Node& node) {
    if (!node.domain.empty()) return false;
    const std::string& op = node.op_type;
    if (op == "Dropout") {
        // An identity only in inference: no mask asked for, and training_mode absent or a constant false (a runtime
        // one may turn training on, which the engine cannot do).
        const ir::Value* training = node.input(2);
        const bool inference = !training || (training->constant && training->constant->numel() == 1 &&
                                             training->constant->element_as_double(0) == 0);
        return inference && (node.outputs.size() < 2 || !node.outputs[1]);
    }
    return op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" || op == "Identity";
}

namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

std::mutex last_run_mutex;
LastRun last_run_info;

void record_run(float device_ms, bool graph, bool cache_hit) {
    std::lock_guard<std::mutex> lock(last_run_mutex);
    last_run_info = {device_ms, graph, cache_hit};
}

struct Entry {
    std::string_view op_type;
    BuildFn build;
};

constexpr Entry kBuilders[] = {
    {"Conv", build_conv},
    {"ConvTranspose", build_conv_transpose},
    {"Gemm", build_gemm},
    {"MatMul", build_matmul},
    {"Add", build_binary},
    {"Sub", build_binary},
    {"Mul", build_binary},
    {"Div", build_binary},
    {"Pow", build_binary},
    {"Max", build_binary},
    {"Min", build_binary},
    {"PRelu", build_binary},
    {"Cast", build_cast},
    {"Equal", build_compare},
    {"Greater", build_compare},
    {"GreaterOrEqual", build_compare},
    {"Less", build_compare},
    {"LessOrEqual", build_compare},
    {"And", build_compare},
    {"Or", build_compare},
    {"Not", build_compare},
    {"Where", build_where},
    {"Sum", build_binary},
    {"Abs", build_unary},
    {"Ceil", build_unary},
    {"Clip", build_unary},
    {"Elu", build_unary},
    {"Erf", build_unary},
    {"Exp", build_unary},
    {"Floor", build_unary},
    {"HardSigmoid", build_unary},
    {"HardSwish", build_unary},
    {"LeakyRelu", build_unary},
    {"Log", build_unary},
    {"Neg", build_unary},
    {"Reciprocal", build_unary},
    {"Relu", build_unary},
    {"Sigmoid", build_unary},
    {"Softplus", build_unary},
    {"Sqrt", build_unary},
    {"Tanh", build_unary},
    {"Softmax", build_softmax},
    {"LogSoftmax", build_softmax},
    {"LayerNormalization", build_layer_norm},
    {"InstanceNormalization", build_instance_norm},
    {"ArgMax", build_arg_reduce},
    {"ArgMin", build_arg_reduce},
    {"DepthToSpace", build_depth_space},
    {"SpaceToDepth", build_depth_space},
    {"MaxPool", build_pool},
    {"AveragePool", build_pool},
    {"GlobalAveragePool", build_reduce},
    {"GlobalMaxPool", build_reduce},
    {"ReduceMean", build_reduce},
    {"ReduceSum", build_reduce},
    {"ReduceMax", build_reduce},
    {"ReduceMin", build_reduce},
    {"Concat", build_concat},
    {"Split", build_split},
    {"Slice", build_slice},
    {"Transpose", build_transpose},
    {"Pad", build_pad},
    {"Gather", build_gather},
    {"GatherElements", build_gather_elements},
    {"TopK", build_topk},
    {"Resize", build_resize},
    {"Upsample", build_resize},
};

constexpr Entry kFoveaBuilders[] = {
    {"FusedConv", build_conv},
    {"FusedMatMul", build_fused_matmul},
    {"SiLU", build_unary},
    {"Gelu", build_unary},
};

}  // namespace

BuildFn find_builder(const ir::Node& node) {
    if (node.domain.empty()) {
        for (const Entry& e : kBuilders)
            if (e.op_type == node.op_type) return e.build;
    } else if (node.domain == ops::kFoveaDomain) {
        for (const Entry& e : kFoveaBuilders)
            if (e.op_type == node.op_type) return e.build;
    }
    return nullptr;
}

namespace {

// Copies a logical NCHW `shape` stored in the other layout at `src` into layout `to` at `dst`.
Launch convert_launch(const ir::Node& node, int esize, const Shape& s, Layout to, const void* src, void* dst) {
    const int64_t n = s[0], c = s[1], h = s[2], w = s[3];
    GatherDims p;
    p.rank = 4;
    const int64_t nhwc_size[4] = {n, h, w, c}, from_nchw[4] = {c * h * w, w, 1, h * w};
    const int64_t nchw_size[4] = {n, c, h, w}, from_nhwc[4] = {h * w * c, 1, w * c, c};
    for (int d = 0; d < 4; ++d) {
        p.size[d] = to == Layout::kNHWC ? nhwc_size[d] : nchw_size[d];
        p.src_stride[d] = to == Layout::kNHWC ? from_nchw[d] : from_nhwc[d];
    }
    return [=, &node](const Exec& e) { return launched(node, launch_strided_copy(esize, p, src, dst, e.stream)); };
}

int normalized_axis(const ir::Node& node, int64_t rank) {
    int64_t axis = node.attr_int("axis", 0);
    return static_cast<int>(axis < 0 ? axis + rank : axis);
}

// One graph input or output: the user's bytes (float32 for float values) pass through pinned staging and a device
// buffer; under fp16 a cast kernel converts between that buffer and the stored one.
struct Port {
    const ir::Value* value = nullptr;
    size_t bytes = 0;  // in the user's dtype
    PinnedBuffer staging;
    DeviceBuffer raw;     // the user's dtype on the device (only when a cast is needed)
    DeviceBuffer stored;  // the stored dtype on the device (inputs: what nodes read; outputs: what they write)
    bool cast = false;
    Tensor result;  // outputs: what the last run returned (shared with the caller)
    void* device_raw() { return cast ? raw.ptr : stored.ptr; }
};

class Engine final : public runtime::GraphEngine, public Builder {
  public:
    Engine(const ir::Graph& graph, Precision p, cudaStream_t stream) : graph_(graph), callers_stream_(stream) {
        precision = p;
    }

    ~Engine() override {
        // A device run may still be in flight (device_run does not wait): its kernels read the arena and its host
        // steps their own state, both freed below.
        if (exec.stream) cudaStreamSynchronize(exec.stream);
        if (profiler_) std::fputs(profiler_->report(graph_.name.empty() ? "model" : graph_.name).c_str(), stderr);
        if (run_start_) cudaEventDestroy(run_start_);
        if (run_end_) cudaEventDestroy(run_end_);
        if (graph_exec_) cudaGraphExecDestroy(graph_exec_);
        if (device_graph_exec_) cudaGraphExecDestroy(device_graph_exec_);
        launches_.clear();  // their descriptors go before the handles
        deferred.clear();
        graph_plans.clear();  // waits for compilations still running (a failed build's) that use the cuDNN handle
        if (exec.cublaslt) cublasLtDestroy(exec.cublaslt);
        if (exec.cublas) cublasDestroy(exec.cublas);
        if (exec.cudnn) cudnnDestroy(exec.cudnn);
        if (exec.stream && !callers_stream_) cudaStreamDestroy(exec.stream);
    }

    Status build(const std::vector<bool>& run) {
        const auto build_start = std::chrono::steady_clock::now();
        if (callers_stream_ == cudaStreamLegacy)
            return invalid_argument(
                "the cuda backend cannot run on the legacy default stream (no CUDA graph "
                "captures it): pass a stream of your own, or none");
        if (callers_stream_)
            exec.stream = callers_stream_;
        else
            FOVEA_CUDA_TRY(cudaStreamCreateWithFlags(&exec.stream, cudaStreamNonBlocking), "creating a stream");
        FOVEA_CUDNN_TRY(cudnnCreate(&exec.cudnn), "creating a cuDNN handle");
        FOVEA_CUDNN_TRY(cudnnSetStream(exec.cudnn, exec.stream), "cudnnSetStream");
        FOVEA_CUBLAS_TRY(cublasCreate(&exec.cublas), "creating a cuBLAS handle");
        FOVEA_CUBLAS_TRY(cublasSetStream(exec.cublas, exec.stream), "cublasSetStream");
        FOVEA_CUBLAS_TRY(cublasLtCreate(&exec.cublaslt), "creating a cuBLASLt handle");

        const auto& nodes = graph_.nodes();
        const std::set<const ir::Value*> outputs(graph_.outputs.begin(), graph_.outputs.end());
        if (const char* env = std::getenv("FOVEA_CUDA_NHWC"))
            nhwc = std::string(env) != "0";
        else
            nhwc = precision == Precision::kFP16;
        if (nhwc) assign_layouts(run, outputs);
        runtime::PlanOptions plan_options;
        plan_options.float32_bytes = precision == Precision::kFP16 ? 2 : 4;
        for (size_t i = 0; i < nodes.size(); ++i) {
            if (!run[i]) continue;
            const ir::Node& node = *nodes[i];
            for (const ir::Value* v : node.outputs)
                if (v && !v->shape_known())
                    return node_unsupported(node, "output '" + v->name + "' has a data-dependent shape");
            for (const ir::Value* v : node.inputs)
                if (v && !v->shape_known()) return node_unsupported(node, "input '" + v->name + "' has no known shape");
            if (!host_fallback_ && !is_alias_op(node) && !find_builder(node))
                return node_unsupported(node, "the op is not supported (FOVEA_CUDA_HOST=0: no host fallback)");
            // A reshape of a graph output's producer... is fine; a reshape that is itself a graph output copies.
            if (is_alias_op(node) && !outputs.count(node.outputs[0]) && !node.inputs[0]->constant &&
                layout(*node.inputs[0]) == Layout::kNCHW)
                plan_options.aliases[node.outputs[0]] = node.inputs[0];
        }
        plan_views(run, outputs);
        // A chain runs at its last node's place: what its steps read must live until then.
        const auto [chains, chained] = plan_chains(run, outputs);
        std::map<const ir::Node*, size_t> index_of;
        for (size_t i = 0; i < nodes.size(); ++i) index_of[nodes[i].get()] = i;
        for (const auto& [last, chain] : chains)
            for (const ir::Node* step : chain)
                for (const ir::Value* v : step->inputs)
                    if (v) plan_options.read_at[v] = std::max(plan_options.read_at[v], index_of.at(last));
        runtime::PlanOptions planning = plan_options;  // a view keeps the value it reads alive, like an alias
        for (const auto& [v, view] : views_) planning.aliases[v] = view_sources_.at(v);
        const runtime::MemoryPlan plan = runtime::plan_memory(graph_, run, planning);
        arena_bytes_ = plan.arena_bytes;
        unplanned_bytes_ = plan.unplanned_bytes;
        FOVEA_CUDA_TRY(cudaMalloc(&arena_.ptr, std::max<size_t>(plan.arena_bytes, 256)), "allocating the arena");
        offsets_ = plan.offsets;
        aliases_ = plan_options.aliases;

        for (const ir::Value* v : graph_.inputs) FOVEA_TRY(add_port(inputs_, v));
        for (const ir::Value* v : graph_.outputs)
            if (!v->constant) FOVEA_TRY(add_port(outputs_, v));

        // cuDNN's algorithm search times candidates in this scratch; the chosen ones size the real workspace.
        scratch_bytes = size_t(256) << 20;
        size_t free_bytes = 0, total_bytes = 0;
        if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess)
            scratch_bytes = std::min(scratch_bytes, free_bytes / 4);
        DeviceBuffer scratch_buffer;
        FOVEA_CUDA_TRY(cudaMalloc(&scratch_buffer.ptr, std::max<size_t>(scratch_bytes, 256)), "allocating scratch");
        scratch = scratch_buffer.ptr;

        // The engine cache: FOVEA_ENGINE_CACHE=0 turns it off, =rebuild ignores what is there (and rewrites it).
        const char* cache_env = std::getenv("FOVEA_ENGINE_CACHE");
        const std::string cache_mode = cache_env ? cache_env : "";
        std::filesystem::path cache_file;
        EngineRecord previous;
        if (cache_mode != "0") {
            FOVEA_ASSIGN(const std::string key, cache_key(run));
            chosen.key = key;
            cache_file = engine_cache_file(engine_cache_dir(), key);
            if (cache_mode != "rebuild") {
                auto loaded = load_engine_record(cache_file, key);
                if (loaded.is_ok()) {
                    previous = std::move(loaded).value();
                    cached = &previous;
                } else if (loaded.status().code() != StatusCode::kNotFound) {
                    std::fprintf(stderr, "fovea cuda: engine cache %s rejected, rebuilding: %s\n",
                                 cache_file.string().c_str(), loaded.status().message().c_str());
                }
            }
        }

        // Where a build's time goes (FOVEA_CUDA_PROFILE=1): each node's builder, timed on the host.
        std::vector<std::pair<double, const ir::Node*>> build_ms;
        const auto nodes_start = std::chrono::steady_clock::now();
        for (size_t i = 0; i < nodes.size(); ++i) {
            if (!run[i] || chained.count(nodes[i].get()) || view_nodes_.count(nodes[i].get())) continue;
            const ir::Node& node = *nodes[i];
            if (is_alias_op(node)) {
                if (aliases_.count(node.outputs[0])) continue;
                FOVEA_ASSIGN(void* src, pointer(node, node.inputs[0]));
                FOVEA_ASSIGN(void* dst, pointer(node, node.outputs[0]));
                const size_t bytes =
                    static_cast<size_t>(shape_numel(shape_of(*node.outputs[0]))) * dtype_size(stored(*node.outputs[0]));
                launches_.push_back(
                    {&node, "copy", [src, dst, bytes, &node](const Exec& e) {
                         return launched(node, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, e.stream));
                     }});
                continue;
            }
            const auto node_start = std::chrono::steady_clock::now();
            const auto chain = chains.find(&node);
            const size_t host_before = host_nodes_.size();
            // A lone elementwise node that reads a view is a chain of one: the chain kernel reads at strides.
            const bool reads_view = chainable(node) && std::any_of(node.inputs.begin(), node.inputs.end(),
                                                                   [&](auto* v) { return v && views_.count(v); });
            FOVEA_ASSIGN(Launch launch, chain != chains.end() ? build_chain(chain->second, *this)
                                        : reads_view          ? build_chain({&node}, *this)
                                                              : build_node(node));
            build_ms.emplace_back(ms_since(node_start), &node);
            launches_.push_back({&node, host_nodes_.size() > host_before ? kHost : nullptr, std::move(launch)});
            for (Launch& post : post_) launches_.push_back({&node, kConversion, std::move(post)});
            post_.clear();
        }
        if (!host_nodes_.empty()) {
            std::string list;
            for (size_t i = 0; i < host_nodes_.size() && i < 4; ++i)
                list += (i ? "; " : "") + host_nodes_[i].first->describe() + " (" + host_nodes_[i].second + ")";
            std::fprintf(stderr, "fovea cuda: %zu node(s) run on the host, between device steps: %s%s\n",
                         host_nodes_.size(), list.c_str(), host_nodes_.size() > 4 ? "; ..." : "");
        }
        const auto deferred_start = std::chrono::steady_clock::now();
        for (const auto& finish : deferred) FOVEA_TRY(finish());
        deferred.clear();
        const double deferred_ms = ms_since(deferred_start);
        FOVEA_CUDA_TRY(cudaStreamSynchronize(exec.stream), "building the engine");
        scratch = nullptr;
        if (StepProfiler::requested()) {
            size_t graph_convs = 0;
            for (const auto& [signature, choice] : chosen.convs) graph_convs += choice.graph >= 0;
            std::fprintf(stderr, "fovea cuda profile: %zu of %zu convolutions run as cuDNN graph-API fused kernels\n",
                         graph_convs, chosen.convs.size());
            std::fprintf(stderr,
                         "fovea cuda profile: build %.0f ms: setup %.0f ms, node builders %.0f ms, deferred choices "
                         "(waiting for plan compilation, timing) %.0f ms\n",
                         ms_since(build_start), ms_since(build_start) - ms_since(nodes_start),
                         ms_since(nodes_start) - deferred_ms, deferred_ms);
            std::sort(build_ms.begin(), build_ms.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
            for (size_t i = 0; i < std::min<size_t>(build_ms.size(), 8); ++i)
                std::fprintf(stderr, "fovea cuda profile:   %8.1f ms  %s\n", build_ms[i].first,
                             build_ms[i].second->describe().c_str());
        }
        cache_hit_ = cached != nullptr && searched == 0;
        if (!cache_file.empty() && (searched > 0 || cached == nullptr || previous.convs != chosen.convs)) {
            // A cache that cannot be written costs the next build its search, nothing else.
            if (Status saved = save_engine_record(cache_file, chosen); !saved.is_ok())
                std::fprintf(stderr, "fovea cuda: %s\n", saved.message().c_str());
        }
        cached = nullptr;
        FOVEA_CUDA_TRY(cudaEventCreate(&run_start_), "creating an event");
        FOVEA_CUDA_TRY(cudaEventCreate(&run_end_), "creating an event");
        if (workspace_bytes > 0)
            FOVEA_CUDA_TRY(cudaMalloc(&workspace_.ptr, workspace_bytes), "allocating the workspace");
        exec.workspace = workspace_.ptr;
        exec.workspace_bytes = workspace_bytes;
        // cuBLAS would otherwise allocate its own during the first capture.
        if (workspace_bytes >= (size_t(4) << 20))
            FOVEA_CUBLAS_TRY(cublasSetWorkspace(exec.cublas, workspace_.ptr, workspace_bytes), "cublasSetWorkspace");
        const char* graphs = std::getenv("FOVEA_CUDA_GRAPHS");
        use_graphs_ = !(graphs && std::string(graphs) == "0");
        if (StepProfiler::requested()) {
            use_graphs_ = false;  // events between launches: node by node
            std::vector<std::string> labels, kinds;
            for (const Step& step : launches_) {
                const std::string kind = step.kind ? step.kind : step.node->op_type;
                labels.push_back(kind + ": " + step.node->describe());
                kinds.push_back(kind);
            }
            profiler_ = std::make_unique<StepProfiler>();
            FOVEA_TRY(profiler_->init(std::move(labels), std::move(kinds)));
        }
        return Status::ok();
    }

    Layout layout(const ir::Value& v) const override {
        auto it = layouts_.find(&v);
        return it == layouts_.end() ? Layout::kNCHW : it->second;
    }

    Result<void*> pointer(const ir::Node& node, const ir::Value* v) override {
        const bool written = std::find(node.outputs.begin(), node.outputs.end(), v) != node.outputs.end();
        if (v && !written && layout(*v) == Layout::kNHWC) return pointer_as(node, v, Layout::kNCHW);
        return stored_pointer(node, v);
    }

    Result<void*> pointer_as(const ir::Node& node, const ir::Value* v, Layout want) override {
        if (!v || layout(*v) == want || !layout_matters(*v)) return stored_pointer(node, v);
        if (auto it = converted_.find({v, want}); it != converted_.end()) return it->second;
        FOVEA_ASSIGN(void* src, stored_pointer(node, v));
        const int esize = element_size(stored(*v));
        FOVEA_ASSIGN(void* dst, upload(nullptr, static_cast<size_t>(shape_numel(shape_of(*v))) * esize));
        // Enqueued now, before the launch of the node being built: after v's producer, before its first reader.
        launches_.push_back({&node, kConversion, convert_launch(node, esize, shape_of(*v), want, src, dst)});
        converted_[{v, want}] = dst;
        return dst;
    }

    Result<void*> output_as(const ir::Node& node, const ir::Value* v, Layout have) override {
        if (!v || layout(*v) == have || !layout_matters(*v)) return stored_pointer(node, v);
        FOVEA_ASSIGN(void* dst, stored_pointer(node, v));
        const int esize = element_size(stored(*v));
        FOVEA_ASSIGN(void* temp, upload(nullptr, static_cast<size_t>(shape_numel(shape_of(*v))) * esize));
        post_.push_back(convert_launch(node, esize, shape_of(*v), layout(*v), temp, dst));
        return temp;
    }

    const View* view(const ir::Value& v) const override {
        auto it = views_.find(&v);
        return it == views_.end() ? nullptr : &it->second;
    }

    Result<const void*> view_pointer(const ir::Node& node, const View& view) override {
        FOVEA_ASSIGN(void* base, stored_pointer(node, view.base));
        return static_cast<const void*>(static_cast<const std::byte*>(base) +
                                        view.offset * element_size(stored(*view.base)));
    }

    Result<void*> stored_pointer(const ir::Node& node, const ir::Value* v) {
        if (!v) return node_error(node, "an omitted input has no device buffer");
        if (views_.count(v)) return node_error(node, "'" + v->name + "' is a strided view, never stored (internal)");
        if (auto it = aliases_.find(v); it != aliases_.end()) return stored_pointer(node, it->second);
        if (auto it = offsets_.find(v); it != offsets_.end()) return static_cast<std::byte*>(arena_.ptr) + it->second;
        for (Port& p : inputs_)
            if (p.value == v) return p.stored.ptr;
        for (Port& p : outputs_)
            if (p.value == v) return p.stored.ptr;
        if (v->constant) {
            if (auto it = constants_.find(v); it != constants_.end()) return it->second;
            const Tensor& t = *v->constant;
            void* ptr = nullptr;
            if (stored(*v) != t.dtype()) {  // float32 weights under fp16
                std::vector<uint16_t> half(static_cast<size_t>(t.numel()));
                const float* f = t.data<float>();
                for (size_t i = 0; i < half.size(); ++i) half[i] = float_to_half(f[i]);
                FOVEA_ASSIGN(ptr, upload(half.data(), half.size() * 2));
            } else {
                FOVEA_ASSIGN(ptr, upload(t.raw_data(), t.nbytes()));
            }
            constants_[v] = ptr;
            return ptr;
        }
        return node_error(node, "'" + v->name + "' has no device buffer");
    }

    Result<void*> upload(const void* host, size_t bytes) override {
        auto buffer = std::make_unique<DeviceBuffer>();
        FOVEA_CUDA_TRY(cudaMalloc(&buffer->ptr, std::max<size_t>(bytes, 16)), "allocating device memory");
        if (host && bytes) FOVEA_CUDA_TRY(cudaMemcpy(buffer->ptr, host, bytes, cudaMemcpyHostToDevice), "uploading");
        void* ptr = buffer->ptr;
        owned_.push_back(std::move(buffer));
        return ptr;
    }

    Result<std::vector<Tensor>> run(std::span<const Tensor* const> inputs) override {
        if (inputs.size() != inputs_.size()) return internal_error("cuda engine: wrong number of inputs");
        for (size_t i = 0; i < inputs.size(); ++i) {
            if (inputs[i]->nbytes() != inputs_[i].bytes)
                return internal_error("cuda engine: input '" + inputs_[i].value->name + "' has the wrong size");
            std::memcpy(inputs_[i].staging.ptr, inputs[i]->raw_data(), inputs_[i].bytes);
        }
        // The first run goes node by node, so that a failure names its node; the second captures the same
        // sequence into a CUDA graph, which every later run replays.
        if (use_graphs_ && runs_ == 1 && !graph_exec_) {
            const Status captured = capture(graph_exec_, true);
            if (!captured.is_ok()) {
                std::fprintf(stderr, "fovea cuda: CUDA graph capture failed, running node by node: %s\n",
                             captured.message().c_str());
                use_graphs_ = false;
            }
        }
        FOVEA_CUDA_TRY(cudaEventRecord(run_start_, exec.stream), "recording an event");
        if (graph_exec_) {
            FOVEA_CUDA_TRY(cudaGraphLaunch(graph_exec_, exec.stream), "launching the CUDA graph");
        } else {
            FOVEA_TRY(enqueue(runs_ == 0, true));
        }
        FOVEA_CUDA_TRY(cudaEventRecord(run_end_, exec.stream), "recording an event");
        FOVEA_CUDA_TRY(cudaStreamSynchronize(exec.stream), "running the model");
        FOVEA_TRY(take_host_failure());
        float device_ms = 0;
        if (cudaEventElapsedTime(&device_ms, run_start_, run_end_) == cudaSuccess)
            record_run(device_ms, graph_exec_ != nullptr, cache_hit_);
        ++runs_;
        std::vector<Tensor> results;
        size_t port = 0;
        for (const ir::Value* v : graph_.outputs) {
            if (v->constant) {
                results.push_back(*v->constant);
                continue;
            }
            // The last run's result tensor again once the caller has let go of it: a fresh one costs page faults
            // over the whole output every run (tens of ms for a detector's batch of 16).
            Port& p = outputs_[port++];
            if (!p.result.sole_owner()) p.result = Tensor(v->dtype, shape_of(*v));
            std::memcpy(p.result.raw_data(), p.staging.ptr, p.bytes);
            results.push_back(p.result);
        }
        return results;
    }

    void* device_stream() override { return exec.stream; }

    Result<std::vector<DeviceTensor>> device_inputs() override {
        std::vector<DeviceTensor> out;
        for (Port& p : inputs_) out.push_back({p.device_raw(), p.value->dtype, shape_of(*p.value)});
        return out;
    }

    // The same launches as run() without the host copies, captured into a graph of their own (the host run's graph
    // copies through staging).
    Result<std::vector<DeviceTensor>> device_run() override {
        std::vector<DeviceTensor> out;
        for (const ir::Value* v : graph_.outputs)
            if (v->constant) return unsupported("cuda engine: output '" + v->name + "' is a constant (device run)");
        FOVEA_TRY(take_host_failure());  // the previous device run's, which the caller has waited for
        if (use_graphs_ && device_runs_ == 1 && !device_graph_exec_) {
            const Status captured = capture(device_graph_exec_, false);
            if (!captured.is_ok()) {
                std::fprintf(stderr, "fovea cuda: CUDA graph capture failed, running node by node: %s\n",
                             captured.message().c_str());
                use_graphs_ = false;
            }
        }
        if (device_graph_exec_) {
            FOVEA_CUDA_TRY(cudaGraphLaunch(device_graph_exec_, exec.stream), "launching the CUDA graph");
        } else {
            FOVEA_TRY(enqueue(runs_ == 0 && device_runs_ == 0, false));
        }
        ++device_runs_;
        for (Port& p : outputs_) out.push_back({p.device_raw(), p.value->dtype, shape_of(*p.value)});
        return out;
    }

    size_t arena_bytes() const override { return arena_bytes_; }
    size_t unplanned_bytes() const override { return unplanned_bytes_; }
    int host_nodes() const override { return static_cast<int>(host_nodes_.size()); }

  private:
    // The node's own builder; where it has none, or declines what this node asks (kUnsupported), a host step. What
    // a declining builder left for after its launch (conversions, deferred choices) is dropped with it.
    Result<Launch> build_node(const ir::Node& node) {
        const BuildFn build = find_builder(node);
        std::string why = "no cuda kernel";
        if (build) {
            const size_t deferred_before = deferred.size();
            Result<Launch> built = build(node, *this);
            if (built.is_ok() || built.status().code() != StatusCode::kUnsupported || !host_fallback_) return built;
            why = built.status().message();
            post_.clear();
            deferred.resize(deferred_before);
        }
        FOVEA_ASSIGN(Launch launch, build_host(node, *this));
        host_nodes_.emplace_back(&node, why);
        return launch;
    }

    Status take_host_failure() {
        if (host_failure->is_ok()) return Status::ok();
        Status failed = std::move(*host_failure);
        *host_failure = Status::ok();
        return failed;
    }

    struct Step {
        const ir::Node* node;
        const char* kind;  // what the profiler files it under; nullptr: the node's op type
        Launch launch;
    };
    static constexpr const char* kConversion = "layout conversion";
    static constexpr const char* kHost = "host step";

    // Strided views (views.h): Transposes, Split outputs and reshapes of NHWC values that every reader can read in
    // place, at strides, so that they are never written. Readers that can: elementwise nodes (built as chains, whose
    // kernel reads each operand at its own strides), Concats in the plain layout (rows at a pitch) and nodes whose
    // outputs are views too. A detector head's Reshape, Transpose and Split before its decode cost three passes over
    // the head's output otherwise. FOVEA_CUDA_VIEWS=0 writes every value.
    void plan_views(const std::vector<bool>& run, const std::set<const ir::Value*>& outputs) {
        const char* env = std::getenv("FOVEA_CUDA_VIEWS");
        if (env && std::string(env) == "0") return;
        const auto& nodes = graph_.nodes();
        std::map<const ir::Node*, bool> runs;
        for (size_t i = 0; i < nodes.size(); ++i) runs[nodes[i].get()] = run[i];
        // `v`'s bytes as a view: a view already planned, or the value itself at its stored strides.
        auto as_view = [&](const ir::Value* v) -> std::optional<View> {
            if (auto it = views_.find(v); it != views_.end()) return it->second;
            if (!v || v->constant || !v->shape_known() || v->shape->size() > static_cast<size_t>(kMaxDims))
                return std::nullopt;
            return View{v, 0, stored_strides(*v->shape, layout(*v) == Layout::kNHWC && layout_matters(*v))};
        };
        auto viewable = [&](const ir::Value* v) {
            return v && !outputs.count(v) && v->shape_known() && v->shape->size() <= static_cast<size_t>(kMaxDims) &&
                   layout(*v) == Layout::kNCHW && shape_numel(*v->shape) > 0;
        };
        for (size_t i = 0; i < nodes.size(); ++i) {
            const ir::Node& node = *nodes[i];
            if (!run[i] || node.outputs.empty() || !node.domain.empty()) continue;
            const ir::Value* x = node.input(0);
            if (!x || !x->shape_known()) continue;
            const bool nhwc_x = layout(*x) == Layout::kNHWC && layout_matters(*x);
            if (node.op_type == "Transpose" && viewable(node.outputs[0])) {
                const std::optional<View> in = as_view(x);
                if (!in) continue;
                std::vector<int64_t> perm = node.attr_ints("perm");
                if (perm.empty())
                    for (size_t d = in->strides.size(); d-- > 0;) perm.push_back(static_cast<int64_t>(d));
                if (perm.size() != in->strides.size()) continue;
                View out{in->base, in->offset, {}};
                for (int64_t d : perm) out.strides.push_back(in->strides.at(static_cast<size_t>(d)));
                add_view(node, node.outputs[0], x, std::move(out));
            } else if (node.op_type == "Split" && !nhwc_x) {
                const std::optional<View> in = as_view(x);
                const int axis = normalized_axis(node, static_cast<int64_t>(x->shape->size()));
                if (!in || axis < 0 || axis >= static_cast<int>(x->shape->size())) continue;
                bool all = true;
                for (const ir::Value* y : node.outputs) all = all && viewable(y);
                if (!all) continue;
                int64_t start = 0;
                for (const ir::Value* y : node.outputs) {
                    add_view(node, y, x, View{in->base, in->offset + start * in->strides[axis], in->strides});
                    start += (*y->shape)[static_cast<size_t>(axis)];
                }
            } else if (is_alias_op(node) && (views_.count(x) || nhwc_x) && viewable(node.outputs[0])) {
                const std::optional<View> in = as_view(x);
                if (!in) continue;
                auto strides = reshape_strides(*x->shape, in->strides, *node.outputs[0]->shape);
                if (strides) add_view(node, node.outputs[0], x, View{in->base, in->offset, std::move(*strides)});
            }
        }
        // Drop views that a reader cannot read, until none is left; a node's outputs stay views all or none.
        auto reader_takes = [&](const ir::Node& reader, const ir::Value* v) {
            if (view_nodes_.count(&reader)) return true;
            if (chainable(reader)) return find_builder(reader) == build_unary || reader.opset >= 7;
            if (reader.op_type == "Concat" && reader.domain.empty() && layout(*reader.outputs[0]) != Layout::kNHWC) {
                const size_t axis =
                    static_cast<size_t>(normalized_axis(reader, static_cast<int64_t>(v->shape->size())));
                return row_pitch(*v->shape, views_.at(v).strides, axis).has_value();
            }
            return false;
        };
        for (bool changed = true; changed;) {
            changed = false;
            for (const auto& [v, view] : views_) {
                // A view made from a view reads that one's base: it goes when that one does (and is written).
                const ir::Value* source = view_sources_.at(v);
                bool ok = !derived_.count(v) || views_.count(source);
                for (const ir::Node* reader : graph_.uses(v)) ok = ok && (!runs[reader] || reader_takes(*reader, v));
                if (ok) continue;
                drop_view_node(v->producer);
                changed = true;
                break;
            }
        }
    }

    void add_view(const ir::Node& node, const ir::Value* v, const ir::Value* source, View view) {
        if (views_.count(source)) derived_.insert(v);
        views_[v] = std::move(view);
        view_sources_[v] = source;
        view_nodes_.insert(&node);
    }

    void drop_view_node(const ir::Node* node) {
        for (const ir::Value* y : node->outputs) {
            views_.erase(y);
            view_sources_.erase(y);
        }
        view_nodes_.erase(node);
    }

    // Elementwise chains: a chainable node whose output only the next chainable node reads, at the same shape and
    // layout, becomes a step of that node's kernel (build_chain) and its output is never written: a layer scale and
    // its residual Add, a detector head's decode, in one pass instead of one per op. Returns the chains by their last
    // node, and the nodes they absorb. FOVEA_CUDA_CHAINS=0 runs every node on its own.
    using Chains = std::map<const ir::Node*, std::vector<const ir::Node*>>;
    std::pair<Chains, std::set<const ir::Node*>> plan_chains(const std::vector<bool>& run,
                                                             const std::set<const ir::Value*>& outputs) const {
        Chains open;  // every chainable node, with the chain ending at it so far
        const char* env = std::getenv("FOVEA_CUDA_CHAINS");
        const bool enabled = !env || std::string(env) != "0";
        const auto& nodes = graph_.nodes();
        for (size_t i = 0; i < nodes.size() && enabled; ++i) {
            const ir::Node& node = *nodes[i];
            if (!run[i] || !chainable(node)) continue;
            std::vector<const ir::Node*> chain{&node};
            for (const ir::Value* in : node.inputs) {
                const auto before = in && in->producer ? open.find(in->producer) : open.end();
                if (before == open.end() || outputs.count(in) || graph_.uses(in).size() != 1 ||
                    (node.inputs.size() == 2 && node.inputs[0] == node.inputs[1]) ||
                    layout(*in) != layout(*node.outputs[0]) || shape_of(*in) != shape_of(*node.outputs[0]) ||
                    before->second.size() >= kMaxChainSteps)
                    continue;
                chain = std::move(before->second);
                chain.push_back(&node);
                open.erase(before);
                break;
            }
            open[&node] = std::move(chain);
        }
        Chains chains;
        std::set<const ir::Node*> absorbed;
        for (auto& [last, chain] : open) {
            if (chain.size() < 2) continue;
            absorbed.insert(chain.begin(), chain.end() - 1);
            chains[last] = std::move(chain);
        }
        return {std::move(chains), std::move(absorbed)};
    }

    // NHWC for what convolutions produce and for what layout-aware ops (elementwise maps, pooling, channel
    // concat/split, resize) produce from NHWC inputs; NCHW for everything else, graph outputs included. Builders
    // follow these decisions; conversions appear only where the two meet.
    void assign_layouts(const std::vector<bool>& run, const std::set<const ir::Value*>& outputs) {
        const auto& nodes = graph_.nodes();
        auto nhwc_in = [&](const ir::Value* v) { return v && layout(*v) == Layout::kNHWC; };
        for (size_t i = 0; i < nodes.size(); ++i) {
            if (!run[i]) continue;
            const ir::Node& node = *nodes[i];
            const BuildFn build = find_builder(node);
            bool take = false;
            if (build == build_conv) {
                take = conv_takes_nhwc(node);
            } else if (build == build_unary || build == build_pool || build == build_resize) {
                take = nhwc_in(node.input(0));
            } else if (build == build_binary) {
                for (const ir::Value* v : node.inputs)
                    take =
                        take || (nhwc_in(v) && node.outputs[0]->shape_known() && *v->shape == *node.outputs[0]->shape);
            } else if (build == build_concat || build == build_split) {
                const ir::Value* first = build == build_concat ? node.outputs[0] : node.input(0);
                if (first && first->shape_known() && first->shape->size() == 4 && normalized_axis(node, 4) == 1)
                    for (const ir::Value* v : node.inputs) take = take || nhwc_in(v);
            }
            if (!take) continue;
            for (const ir::Value* v : node.outputs)
                if (v && !v->constant && !outputs.count(v) && layout_matters(*v)) layouts_[v] = Layout::kNHWC;
        }
    }

    Status add_port(std::deque<Port>& ports, const ir::Value* v) {
        Port& p = ports.emplace_back();
        p.value = v;
        if (!v->shape_known()) return unsupported("'" + v->name + "' has no known shape (cuda backend)");
        const auto n = static_cast<size_t>(shape_numel(*v->shape));
        p.bytes = n * dtype_size(v->dtype);
        p.cast = stored(*v) != v->dtype;
        FOVEA_CUDA_TRY(cudaMallocHost(&p.staging.ptr, std::max<size_t>(p.bytes, 16)), "allocating pinned memory");
        FOVEA_CUDA_TRY(cudaMalloc(&p.stored.ptr, std::max<size_t>(n * dtype_size(stored(*v)), 16)),
                       "allocating '" + v->name + "'");
        if (p.cast) FOVEA_CUDA_TRY(cudaMalloc(&p.raw.ptr, std::max<size_t>(p.bytes, 16)), "allocating " + v->name);
        return Status::ok();
    }

    // Inputs in, every node, outputs out: the whole run, on the stream. `check`: synchronize after each node, so
    // that an asynchronous failure is pinned to its node (the first run only). `host`: inputs come from and outputs
    // go to the pinned staging; otherwise the caller's device I/O uses the raw device buffers directly.
    Status enqueue(bool check, bool host) {
        for (Port& p : inputs_) {
            if (host)
                FOVEA_CUDA_TRY(
                    cudaMemcpyAsync(p.device_raw(), p.staging.ptr, p.bytes, cudaMemcpyHostToDevice, exec.stream),
                    "copying input '" + p.value->name + "'");
            if (p.cast)
                FOVEA_CUDA_TRY(launch_cast(Float::kF32, Float::kF16, p.raw.ptr, p.stored.ptr,
                                           shape_numel(*p.value->shape), exec.stream),
                               "converting input '" + p.value->name + "'");
        }
        for (size_t i = 0; i < launches_.size(); ++i) {
            const Step& step = launches_[i];
            if (profiler_ && !check) FOVEA_TRY(profiler_->mark(i, exec.stream));
            FOVEA_TRY(step.launch(exec));
            if (check) {
                const cudaError_t e = cudaStreamSynchronize(exec.stream);
                if (e != cudaSuccess)
                    return internal_error(step.node->describe() + ": failed on the device: " + cudaGetErrorString(e));
            }
        }
        if (profiler_ && !check) {  // the first run pays one-time costs (cuDNN's lazy loading)
            FOVEA_TRY(profiler_->mark(launches_.size(), exec.stream));
            profiler_->collect();
        }
        for (Port& p : outputs_) {
            if (p.cast)
                FOVEA_CUDA_TRY(launch_cast(Float::kF16, Float::kF32, p.stored.ptr, p.raw.ptr,
                                           shape_numel(*p.value->shape), exec.stream),
                               "converting output '" + p.value->name + "'");
            if (host)
                FOVEA_CUDA_TRY(
                    cudaMemcpyAsync(p.staging.ptr, p.device_raw(), p.bytes, cudaMemcpyDeviceToHost, exec.stream),
                    "copying output '" + p.value->name + "'");
        }
        return Status::ok();
    }

    Status capture(cudaGraphExec_t& graph_exec, bool host) {
        FOVEA_CUDA_TRY(cudaStreamBeginCapture(exec.stream, cudaStreamCaptureModeThreadLocal), "beginning capture");
        const Status enqueued = enqueue(false, host);
        cudaGraph_t graph = nullptr;
        const cudaError_t ended = cudaStreamEndCapture(exec.stream, &graph);
        if (!enqueued.is_ok() || ended != cudaSuccess) {
            if (graph) cudaGraphDestroy(graph);
            cudaGetLastError();  // clear the capture's sticky error, if any
            return enqueued.is_ok() ? cuda_status(ended, "ending capture") : enqueued;
        }
        const cudaError_t made = cudaGraphInstantiate(&graph_exec, graph, 0);
        cudaGraphDestroy(graph);
        if (made != cudaSuccess) {
            graph_exec = nullptr;
            cudaGetLastError();
            return cuda_status(made, "instantiating the CUDA graph");
        }
        return Status::ok();
    }

    // The engine cache's key: the bound graph (structure, shapes, weights), the device and library versions.
    Result<std::string> cache_key(const std::vector<bool>& run) const {
        uint64_t h = 0;
        std::set<const ir::Value*> hashed;
        auto add = [&h](const std::string& text) { h = hash_bytes(text.data(), text.size(), h); };
        const auto& nodes = graph_.nodes();
        for (size_t i = 0; i < nodes.size(); ++i) {
            if (!run[i]) continue;
            const ir::Node& node = *nodes[i];
            add(node.domain + ":" + node.op_type + ":" + node.name);
            for (const auto* list : {&node.inputs, &node.outputs})
                for (const ir::Value* v : *list) {
                    if (!v) {
                        add("-");
                        continue;
                    }
                    add(v->name + ":" + dtype_name(v->dtype) + (v->shape_known() ? shape_to_string(*v->shape) : "?"));
                    if (v->constant && hashed.insert(v).second)
                        h = hash_bytes(v->constant->raw_data(), v->constant->nbytes(), h);
                }
        }
        EngineKeyParts k;
        k.model_digest = h;
        int device = 0;
        cudaDeviceProp prop{};
        FOVEA_CUDA_TRY(cudaGetDevice(&device), "cudaGetDevice");
        FOVEA_CUDA_TRY(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
        k.gpu = prop.name;
        k.cc_major = prop.major;
        k.cc_minor = prop.minor;
        cudaRuntimeGetVersion(&k.cuda_runtime);
        cudaDriverGetVersion(&k.cuda_driver);
        k.cudnn = cudnnGetVersion();
        cublasGetVersion(exec.cublas, &k.cublas);
        k.precision = precision == Precision::kFP16 ? "fp16" : precision == Precision::kTF32 ? "tf32" : "fp32";
        k.nhwc = nhwc;
        return engine_key(k);
    }

    const ir::Graph& graph_;
    const cudaStream_t callers_stream_;  // null: exec.stream is the engine's own
    cudaEvent_t run_start_ = nullptr, run_end_ = nullptr;
    bool cache_hit_ = false;
    DeviceBuffer arena_;
    DeviceBuffer workspace_;
    std::map<const ir::Value*, size_t> offsets_;
    std::map<const ir::Value*, const ir::Value*> aliases_;
    std::map<const ir::Value*, View> views_;
    std::map<const ir::Value*, const ir::Value*> view_sources_;  // the input each view was made from
    std::set<const ir::Node*> view_nodes_;                       // nodes whose outputs are all views: never run
    std::set<const ir::Value*> derived_;                         // views made from another view
    std::map<const ir::Value*, void*> constants_;
    std::map<const ir::Value*, Layout> layouts_;
    std::map<std::pair<const ir::Value*, Layout>, void*> converted_;
    std::vector<Launch> post_;  // output conversions of the node being built
    std::vector<std::unique_ptr<DeviceBuffer>> owned_;
    std::deque<Port> inputs_, outputs_;  // deque: ports do not move
    std::vector<Step> launches_;
    cudaGraphExec_t graph_exec_ = nullptr;
    cudaGraphExec_t device_graph_exec_ = nullptr;  // device_run's: no host copies
    bool use_graphs_ = true;
    // Nodes run on the host (ops_host.cc), with why; FOVEA_CUDA_HOST=0 makes them build errors instead.
    std::vector<std::pair<const ir::Node*, std::string>> host_nodes_;
    const bool host_fallback_ = host_fallback_enabled();
    std::unique_ptr<StepProfiler> profiler_;  // FOVEA_CUDA_PROFILE=1
    int64_t runs_ = 0, device_runs_ = 0;
    size_t arena_bytes_ = 0, unplanned_bytes_ = 0;
};

}  // namespace

LastRun last_run() {
    std::lock_guard<std::mutex> lock(last_run_mutex);
    return last_run_info;
}

Result<std::unique_ptr<runtime::GraphEngine>> build_engine(const ir::Graph& graph, const std::vector<bool>& run,
                                                           Precision precision, cudaStream_t stream) {
    auto engine = std::make_unique<Engine>(graph, precision, stream);
    FOVEA_TRY(engine->build(run));
    return std::unique_ptr<runtime::GraphEngine>(std::move(engine));
}

}  // namespace fovea::cuda
