// Nodes the GPU has no kernel for run on the host, in stream order: their inputs are copied to pinned memory, a host
// function (captured into the CUDA graph like any launch) runs the reference kernel, and its outputs are copied back.
// The stream waits for the host there, so such a node is slow, but the model runs on the GPU around it, the way
// ONNX Runtime places a node its CUDA provider lacks on the CPU provider.
#include <cuda_runtime_api.h>

#include <cstring>
#include <memory>

#include "backends/cuda/engine.h"
#include "backends/ref/kernels.h"
#include "backends/ref/ref_backend.h"
#include "ops/op.h"

namespace fovea::cuda {

namespace {

// A value as the host sees it: `staging` receives the device bytes (in the `stored` type); `value` is what the kernel
// reads (a view of `staging`, or float32 converted from float16 storage).
struct HostValue {
    DType dtype = DType::kFloat32;  // the value's own dtype
    DType stored = DType::kFloat32;
    size_t numel = 0;
    void* device = nullptr;
    PinnedBuffer staging;
    Tensor value;
};

struct HostStep {
    const ir::Node* node = nullptr;
    std::vector<const Tensor*> args;  // constants, or the `value` of the matching entry of ins
    std::vector<std::unique_ptr<HostValue>> ins, outs;
    std::vector<Tensor> results;
    std::shared_ptr<Status> failure;

    void fail(Status s) {
        if (failure->is_ok()) *failure = std::move(s);
    }
};

void CUDART_CB run_host_step(void* data) {
    auto& step = *static_cast<HostStep*>(data);
    if (!step.failure->is_ok()) return;  // an earlier step failed: the run's outputs are already wrong
    for (auto& in : step.ins)
        if (in->stored != in->dtype) {
            const auto* half = static_cast<const uint16_t*>(in->staging.ptr);
            float* f = in->value.data<float>();
            for (size_t i = 0; i < in->numel; ++i) f[i] = half_to_float(half[i]);
        }
    if (Status s = ref::run_node(*step.node, step.args, step.results); !s.is_ok()) return step.fail(std::move(s));
    for (size_t o = 0; o < step.outs.size(); ++o) {
        HostValue& out = *step.outs[o];
        const Tensor& r = step.results[o];
        if (static_cast<size_t>(r.numel()) != out.numel || r.dtype() != out.dtype)
            return step.fail(internal_error(step.node->describe() + ": the host kernel produced " + r.describe() +
                                            ", the engine expected " + std::to_string(out.numel) + " elements"));
        if (out.stored == out.dtype) {
            std::memcpy(out.staging.ptr, r.raw_data(), r.nbytes());
        } else {
            auto* half = static_cast<uint16_t*>(out.staging.ptr);
            const float* f = r.data<float>();
            for (size_t i = 0; i < out.numel; ++i) half[i] = float_to_half(f[i]);
        }
    }
}

Result<std::unique_ptr<HostValue>> host_value(const ir::Node& node, const ir::Value& v, Builder& b, void* device) {
    auto h = std::make_unique<HostValue>();
    h->dtype = v.dtype;
    h->stored = b.stored(v);
    h->numel = static_cast<size_t>(shape_numel(shape_of(v)));
    h->device = device;
    const size_t bytes = h->numel * dtype_size(h->stored);
    FOVEA_CUDA_TRY(cudaMallocHost(&h->staging.ptr, std::max<size_t>(bytes, 16)),
                   node.describe() + ": allocating pinned memory for '" + v.name + "'");
    if (h->stored == h->dtype) {
        void* p = h->staging.ptr;
        h->value = Tensor::view(std::shared_ptr<std::byte>(static_cast<std::byte*>(p), [](std::byte*) {}), 0, v.dtype,
                                shape_of(v));
    } else {
        h->value = Tensor(v.dtype, shape_of(v));
    }
    return h;
}

size_t stored_bytes(const HostValue& h) {
    return h.numel * dtype_size(h.stored);
}

}  // namespace

Result<Launch> build_host(const ir::Node& node, Builder& b) {
    if (!ref::find_kernel(node.op_type) || !ops::is_known_domain(node.domain))
        return node_unsupported(node, "the op is not supported, and there is no host kernel for it either");
    auto step = std::make_shared<HostStep>();
    step->node = &node;
    step->failure = b.host_failure;
    for (const ir::Value* v : node.inputs) {
        if (!v) {
            step->args.push_back(nullptr);
        } else if (v->constant) {
            step->args.push_back(&*v->constant);
        } else {
            FOVEA_ASSIGN(void* device, b.pointer(node, v));  // NCHW bytes
            FOVEA_ASSIGN(auto in, host_value(node, *v, b, device));
            step->args.push_back(&in->value);
            step->ins.push_back(std::move(in));
        }
    }
    for (const ir::Value* v : node.outputs) {
        if (!v) return node_unsupported(node, "an omitted output cannot run on the host");
        FOVEA_ASSIGN(void* device, b.output_as(node, v, Layout::kNCHW));
        FOVEA_ASSIGN(auto out, host_value(node, *v, b, device));
        step->outs.push_back(std::move(out));
    }
    return Launch([step](const Exec& e) -> Status {
        const ir::Node& node = *step->node;
        for (const auto& in : step->ins)
            FOVEA_TRY(launched(node, cudaMemcpyAsync(in->staging.ptr, in->device, stored_bytes(*in),
                                                     cudaMemcpyDeviceToHost, e.stream)));
        FOVEA_TRY(launched(node, cudaLaunchHostFunc(e.stream, run_host_step, step.get())));
        for (const auto& out : step->outs)
            FOVEA_TRY(launched(node, cudaMemcpyAsync(out->device, out->staging.ptr, stored_bytes(*out),
                                                     cudaMemcpyHostToDevice, e.stream)));
        return Status::ok();
    });
}

}  // namespace fovea::cuda
