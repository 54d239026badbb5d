#include "backends/cuda/conv_graph.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdlib>
#include <future>
#include <semaphore>
#include <string>
#include <thread>
#include <utility>

#include "backends/cuda/profile.h"

namespace fovea::cuda {

namespace {

// How many of the heuristics' ranked candidates a build times.
constexpr int64_t kCandidates = 6;

// The handle attributes are deprecated (cuDNN 9 takes the handle at execution); older 9.x releases still read them,
// so they are set when accepted. By value, which keeps the deprecation warning out of the build.
constexpr auto kGraphHandle = static_cast<cudnnBackendAttributeName_t>(800);  // CUDNN_ATTR_OPERATIONGRAPH_HANDLE
constexpr auto kPlanHandle = static_cast<cudnnBackendAttributeName_t>(400);   // CUDNN_ATTR_EXECUTION_PLAN_HANDLE

// One backend descriptor. Attribute failures stick, so that a chain of set() calls is checked once, at finalize().
class Desc {
  public:
    explicit Desc(cudnnBackendDescriptorType_t type) { status_ = cudnnBackendCreateDescriptor(type, &d_); }
    ~Desc() {
        if (d_) cudnnBackendDestroyDescriptor(d_);
    }
    Desc(Desc&& o) noexcept : d_(std::exchange(o.d_, nullptr)), status_(o.status_) {}
    Desc(const Desc&) = delete;
    Desc& operator=(const Desc&) = delete;
    Desc& operator=(Desc&& o) noexcept {
        if (this != &o) {
            if (d_) cudnnBackendDestroyDescriptor(d_);
            d_ = std::exchange(o.d_, nullptr);
            status_ = o.status_;
        }
        return *this;
    }

    cudnnBackendDescriptor_t get() const { return d_; }
    cudnnBackendDescriptor_t release() { return std::exchange(d_, nullptr); }

    template <typename T>
    Desc& set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, const T* values, int64_t count) {
        if (status_ == CUDNN_STATUS_SUCCESS) status_ = cudnnBackendSetAttribute(d_, name, type, count, values);
        return *this;
    }
    template <typename T>
    Desc& set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, const T& value) {
        return set(name, type, &value, 1);
    }
    Desc& set(cudnnBackendAttributeName_t name, const Desc& other) {
        const cudnnBackendDescriptor_t d = other.get();
        return set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, &d, 1);
    }
    Status finalize(const char* what) {
        if (status_ == CUDNN_STATUS_SUCCESS) status_ = cudnnBackendFinalize(d_);
        if (status_ == CUDNN_STATUS_SUCCESS) return Status::ok();
        return unsupported(std::string("cuDNN graph: ") + what + ": " + cudnnGetErrorString(status_));
    }

  private:
    cudnnBackendDescriptor_t d_ = nullptr;
    cudnnStatus_t status_ = CUDNN_STATUS_SUCCESS;
};

using Dims = std::array<int64_t, 4>;

// NCHW dims with NHWC strides (filters: KCRS dims, KRSC strides).
Dims nhwc_strides(const Dims& d) {
    return {d[1] * d[2] * d[3], 1, d[3] * d[1], d[1]};
}

Result<Desc> tensor(int64_t uid, cudnnDataType_t type, const Dims& dims, bool is_virtual) {
    Desc t(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    const Dims strides = nhwc_strides(dims);
    const int64_t alignment = 16;
    t.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, type)
        .set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, dims.data(), 4)
        .set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, strides.data(), 4)
        .set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, uid)
        .set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, alignment)
        .set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, is_virtual);
    FOVEA_TRY(t.finalize("tensor"));
    return t;
}

// y = mode(x) or mode(x, b).
Result<Desc> pointwise(cudnnPointwiseMode_t mode, const Desc& x, const Desc* b, const Desc& y,
                       std::vector<Desc>& keep) {
    Desc pw(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    pw.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, mode)
        .set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT);
    FOVEA_TRY(pw.finalize("pointwise descriptor"));
    Desc op(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    op.set(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw).set(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x);
    if (b) op.set(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *b);
    op.set(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y);
    FOVEA_TRY(op.finalize("pointwise operation"));
    keep.push_back(std::move(pw));
    return op;
}

// Whether the engine behind `cfg` accumulates in reduced precision (fp16 sums would break the fp16 accuracy bound).
bool reduced_precision(const Desc& cfg) {
    Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
    cudnnBackendDescriptor_t e = engine.get();
    int64_t count = 0;
    if (cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count,
                                 &e) != CUDNN_STATUS_SUCCESS)
        return true;
    cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    if (cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                 CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &count, notes) != CUDNN_STATUS_SUCCESS)
        return true;
    return std::find(notes, notes + count, CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION) != notes + count;
}

Result<Desc> variant_pack(const std::vector<int64_t>& uids, const std::vector<void*>& pointers, void* workspace) {
    Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, uids.data(), static_cast<int64_t>(uids.size()))
        .set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, pointers.data(),
             static_cast<int64_t>(pointers.size()))
        .set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, workspace);
    FOVEA_TRY(pack.finalize("variant pack"));
    return pack;
}

}  // namespace

namespace {

std::string graph_conv_env() {
    const char* env = std::getenv("FOVEA_CUDA_GRAPH_CONV");
    return env ? env : "";
}

}  // namespace

bool graph_conv_supports(Unary activation) {
    static const bool enabled = graph_conv_env() != "0";
    return enabled && (activation == Unary::kIdentity || activation == Unary::kRelu || activation == Unary::kSigmoid ||
                       activation == Unary::kSiLU);
}

bool graph_conv_forced() {
    return graph_conv_env() == "force";  // read each time: tests set it
}

struct GraphPlan {
    cudnnBackendDescriptor_t plan = nullptr;
    std::vector<cudnnBackendDescriptor_t> owned;  // what the plan was made from
    int candidate = -1;
    size_t workspace = 0;
    float measured_ms = 0;
    GraphPlan() = default;
    GraphPlan(const GraphPlan&) = delete;
    GraphPlan& operator=(const GraphPlan&) = delete;
    ~GraphPlan() {
        if (plan) cudnnBackendDestroyDescriptor(plan);
        for (auto it = owned.rbegin(); it != owned.rend(); ++it) cudnnBackendDestroyDescriptor(*it);
    }
};

namespace {

enum : int64_t { kX = 1, kW, kBias, kSum, kY, kVirtual };

// The variant pack's tensors, in one order for ids and pointers.
std::vector<int64_t> buffer_uids(const GraphConvSpec& spec) {
    std::vector<int64_t> uids = {kX, kW, kY};
    if (spec.bias) uids.push_back(kBias);
    if (spec.sum) uids.push_back(kSum);
    return uids;
}

std::vector<void*> buffer_pointers(const GraphConvSpec& spec, const GraphConvBuffers& b) {
    std::vector<void*> pointers = {const_cast<void*>(b.x), const_cast<void*>(b.w), b.y};
    if (spec.bias) pointers.push_back(const_cast<void*>(b.bias));
    if (spec.sum) pointers.push_back(const_cast<void*>(b.sum));
    return pointers;
}

std::string spec_key(const GraphConvSpec& s, int only) {
    std::string key;
    for (int64_t v :
         {s.n, s.c, s.h, s.w, s.k, s.r, s.s, s.p, s.q, s.pads[0], s.pads[1], s.strides[0], s.strides[1], s.dilations[0],
          s.dilations[1], int64_t{s.bias}, int64_t{s.sum}, static_cast<int64_t>(s.activation), int64_t{only}})
        key += std::to_string(v) + ",";
    return key;
}

// A spec's candidate plans, finalized or not, and every descriptor they were made from.
struct Candidates {
    std::vector<Desc> keep, configs, plans;
    std::vector<int64_t> indices;  // each plan's rank among the heuristics' results (its config's index)
    std::vector<bool> compiled;
};

// Plan compilations running at once, process-wide: one per core (each takes a core for up to a second).
std::counting_semaphore<>& compile_slots() {
    static std::counting_semaphore<> slots(std::max(2u, std::thread::hardware_concurrency()));
    return slots;
}

// Compiles a spec's candidate plans: the heuristics' first kCandidates, or candidate `only`.
Result<std::shared_ptr<Candidates>> compile_candidates(cudnnHandle_t handle, const GraphConvSpec& spec, int only) {
    if (!graph_conv_supports(spec.activation)) return unsupported("cuDNN graph: activation");
    auto made = std::make_shared<Candidates>();
    std::vector<Desc>& keep = made->keep;
    keep.reserve(32);  // pointers into it are held while it grows
    const Dims x_dims{spec.n, spec.c, spec.h, spec.w}, w_dims{spec.k, spec.c, spec.r, spec.s};
    const Dims y_dims{spec.n, spec.k, spec.p, spec.q}, b_dims{1, spec.k, 1, 1};

    // conv -> (+ bias) -> (+ sum) -> (activation); the last step writes y, the ones before it virtual float tensors.
    std::vector<std::pair<cudnnPointwiseMode_t, int64_t>> steps;  // mode and second operand's uid (0: none)
    if (spec.bias) steps.emplace_back(CUDNN_POINTWISE_ADD, kBias);
    if (spec.sum) steps.emplace_back(CUDNN_POINTWISE_ADD, kSum);
    if (spec.activation == Unary::kRelu) steps.emplace_back(CUDNN_POINTWISE_RELU_FWD, 0);
    if (spec.activation == Unary::kSigmoid) steps.emplace_back(CUDNN_POINTWISE_SIGMOID_FWD, 0);
    if (spec.activation == Unary::kSiLU) steps.emplace_back(CUDNN_POINTWISE_SWISH_FWD, 0);  // beta 1: x * sigmoid(x)

    FOVEA_ASSIGN(Desc x, tensor(kX, CUDNN_DATA_HALF, x_dims, false));
    FOVEA_ASSIGN(Desc w, tensor(kW, CUDNN_DATA_HALF, w_dims, false));
    FOVEA_ASSIGN(Desc y, tensor(kY, CUDNN_DATA_HALF, y_dims, false));
    int64_t next_virtual = kVirtual;
    auto stage = [&](bool last) -> Result<Desc> {
        if (last) return tensor(kY, CUDNN_DATA_HALF, y_dims, false);
        return tensor(next_virtual++, CUDNN_DATA_FLOAT, y_dims, true);
    };

    Desc conv(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
    const int64_t spatial = 2;
    conv.set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, CUDNN_DATA_FLOAT)
        .set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, CUDNN_CROSS_CORRELATION)
        .set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, spatial)
        .set(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, spec.pads.data(), 2)
        .set(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, spec.pads.data(), 2)
        .set(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, spec.strides.data(), 2)
        .set(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, spec.dilations.data(), 2);
    FOVEA_TRY(conv.finalize("convolution descriptor"));

    FOVEA_ASSIGN(Desc current, stage(steps.empty()));
    Desc conv_op(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
    const float alpha = 1.f, beta = 0.f;
    conv_op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, x)
        .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, w)
        .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, current)
        .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv)
        .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, alpha)
        .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, beta);
    FOVEA_TRY(conv_op.finalize("convolution operation"));
    std::vector<cudnnBackendDescriptor_t> ops = {conv_op.get()};
    keep.push_back(std::move(conv));
    keep.push_back(std::move(conv_op));

    for (size_t i = 0; i < steps.size(); ++i) {
        const auto [mode, operand] = steps[i];
        Desc* second = nullptr;
        if (operand == kBias || operand == kSum) {
            FOVEA_ASSIGN(Desc t, tensor(operand, CUDNN_DATA_HALF, operand == kBias ? b_dims : y_dims, false));
            keep.push_back(std::move(t));
            second = &keep.back();
        }
        FOVEA_ASSIGN(Desc out, stage(i + 1 == steps.size()));
        FOVEA_ASSIGN(Desc op, pointwise(mode, current, second, out, keep));
        ops.push_back(op.get());
        keep.push_back(std::move(op));
        keep.push_back(std::move(current));
        current = std::move(out);
    }
    keep.push_back(std::move(current));
    keep.push_back(std::move(x));
    keep.push_back(std::move(w));
    keep.push_back(std::move(y));

    Desc graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    cudnnBackendSetAttribute(graph.get(), kGraphHandle, CUDNN_TYPE_HANDLE, 1, &handle);  // ignored where deprecated
    graph.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, ops.data(),
              static_cast<int64_t>(ops.size()));
    FOVEA_TRY(graph.finalize("operation graph"));
    Desc heuristics(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    heuristics.set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph)
        .set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, CUDNN_HEUR_MODE_A);
    FOVEA_TRY(heuristics.finalize("heuristics"));
    int64_t available = 0;
    if (cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                 &available, nullptr) != CUDNN_STATUS_SUCCESS)
        return unsupported("cuDNN graph: no heuristics results");
    const int64_t wanted = std::min(available, only >= 0 ? int64_t{only} + 1 : kCandidates);
    std::vector<Desc>& configs = made->configs;
    std::vector<cudnnBackendDescriptor_t> raw;
    for (int64_t i = 0; i < wanted; ++i) {
        configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
        raw.push_back(configs.back().get());
    }
    int64_t returned = 0;
    if (wanted > 0 &&
        cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, wanted,
                                 &returned, raw.data()) != CUDNN_STATUS_SUCCESS)
        return unsupported("cuDNN graph: reading heuristics results");

    // Finalizing a runtime-fusion plan compiles its kernel (tens of milliseconds to a second each): candidates
    // compile on threads at once, at most one per core across the build.
    for (int64_t i = only >= 0 ? only : 0; i < returned; ++i) {
        if (reduced_precision(configs[i])) continue;
        made->plans.emplace_back(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
        cudnnBackendSetAttribute(made->plans.back().get(), kPlanHandle, CUDNN_TYPE_HANDLE, 1, &handle);  // kPlanHandle
        made->plans.back().set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, configs[i]);
        made->indices.push_back(i);
        if (only >= 0) break;
    }
    int device = 0;
    cudaGetDevice(&device);
    std::vector<std::future<bool>> compiling;
    for (Desc& plan : made->plans)
        compiling.push_back(std::async(std::launch::async, [&plan, device] {
            cudaSetDevice(device);  // the plan's module loads into this device's context
            compile_slots().acquire();
            const bool ok = plan.finalize("execution plan").is_ok();
            compile_slots().release();
            return ok;
        }));
    for (auto& c : compiling) made->compiled.push_back(c.get());
    keep.push_back(std::move(graph));
    keep.push_back(std::move(heuristics));
    return made;
}

// The fastest compiled candidate, each timed on `stream` on the spec's buffers with `scratch` as workspace; or, with
// `only` >= 0, that candidate untimed.
Result<std::shared_ptr<const GraphPlan>> choose_plan(cudnnHandle_t handle, cudaStream_t stream, Candidates& made,
                                                     const GraphConvSpec& spec, const GraphConvBuffers& buffers,
                                                     void* scratch, size_t scratch_bytes, int only) {
    const std::vector<int64_t> uids = buffer_uids(spec);
    const std::vector<void*> pointers = buffer_pointers(spec, buffers);
    std::shared_ptr<GraphPlan> best;
    for (size_t j = 0; j < made.plans.size(); ++j) {
        if (!made.compiled[j]) continue;
        Desc& plan = made.plans[j];
        const int64_t i = made.indices[j];
        int64_t bytes = 0, count = 0;
        if (cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &count,
                                     &bytes) != CUDNN_STATUS_SUCCESS ||
            bytes < 0)
            continue;
        float ms = 0;
        if (only < 0) {
            if (static_cast<size_t>(bytes) > scratch_bytes) continue;
            auto pack = variant_pack(uids, pointers, scratch);
            if (!pack.is_ok()) continue;
            const cudnnBackendDescriptor_t p = plan.get(), v = pack->get();
            auto timed = measure_ms(stream, [&]() -> Status {
                if (cudnnBackendExecute(handle, p, v) == CUDNN_STATUS_SUCCESS) return Status::ok();
                return unsupported("cuDNN graph: execution failed");
            });
            if (!timed.is_ok()) continue;
            ms = *timed;
            if (best && ms >= best->measured_ms) continue;
        }
        auto chosen = std::make_shared<GraphPlan>();
        chosen->candidate = static_cast<int>(i);
        chosen->workspace = static_cast<size_t>(bytes);
        chosen->measured_ms = ms;
        chosen->plan = plan.release();
        chosen->owned.push_back(made.configs[i].release());
        best = std::move(chosen);
    }
    if (!best) return not_found("cuDNN graph: no engine runs this convolution");
    // The plan is self-contained once finalized; what it was made from is kept alive with it anyway, so that no
    // cuDNN version's internal references can dangle.
    for (Desc& d : made.keep) best->owned.push_back(d.release());
    return std::shared_ptr<const GraphPlan>(std::move(best));
}

}  // namespace

GraphConv::~GraphConv() {
    if (pack_) cudnnBackendDestroyDescriptor(pack_);
}

const GraphPlan* GraphConv::plan() const {
    return plan_.get().get();
}
int GraphConv::candidate() const {
    if (only_ >= 0) return only_;
    return plan() ? plan()->candidate : -1;
}
size_t GraphConv::workspace() const {
    return plan() ? plan()->workspace : 0;
}
float GraphConv::measured_ms() const {
    return plan() ? plan()->measured_ms : 0.f;
}
bool GraphConv::usable(size_t workspace_bytes) const {
    return plan() && plan()->workspace <= workspace_bytes;
}

std::unique_ptr<GraphConv> GraphConv::build(cudnnHandle_t handle, cudaStream_t stream, const GraphConvSpec& spec,
                                            const GraphConvBuffers& buffers, void* scratch, size_t scratch_bytes,
                                            int only, GraphPlans& plans) {
    const std::string key = spec_key(spec, only);
    auto it = plans.find(key);
    if (it == plans.end()) {
        // Compiling starts now, on threads of its own; the choice (timing each candidate, for a search) is made on
        // the thread that first asks for the plan, once the build has started every convolution's compilation.
        int device = 0;
        cudaGetDevice(&device);
        auto compiling = std::async(std::launch::async, [=] {
                             cudaSetDevice(device);
                             return compile_candidates(handle, spec, only);
                         }).share();
        auto plan = std::async(std::launch::deferred, [=]() -> std::shared_ptr<const GraphPlan> {
                        const auto& candidates = compiling.get();
                        if (!candidates.is_ok()) return nullptr;
                        auto made = choose_plan(handle, stream, *candidates.value(), spec, buffers, scratch,
                                                scratch_bytes, only);
                        return made.is_ok() ? *made : nullptr;
                    }).share();
        it = plans.emplace(key, plan).first;
    }
    auto conv = std::unique_ptr<GraphConv>(new GraphConv());
    conv->plan_ = it->second;
    conv->only_ = only;
    conv->uids_ = buffer_uids(spec);
    conv->pointers_ = buffer_pointers(spec, buffers);
    return conv;
}

Status GraphConv::run(cudnnHandle_t handle, void* workspace) {
    if (!pack_ || pack_workspace_ != workspace) {
        FOVEA_ASSIGN(Desc pack, variant_pack(uids_, pointers_, workspace));
        if (pack_) cudnnBackendDestroyDescriptor(pack_);
        pack_ = pack.release();
        pack_workspace_ = workspace;
    }
    if (!plan()) return not_found("cuDNN graph: the plan did not compile");
    const cudnnStatus_t s = cudnnBackendExecute(handle, plan()->plan, pack_);
    if (s != CUDNN_STATUS_SUCCESS)
        return internal_error(std::string("cuDNN graph: execution: ") + cudnnGetErrorString(s));
    return Status::ok();
}

}  // namespace fovea::cuda
