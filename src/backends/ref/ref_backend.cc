#include "backends/ref/ref_backend.h"

#include "ops/op.h"

namespace fovea::ref {

Status run_node(const ir::Node& node, std::span<const Tensor* const> inputs, std::vector<Tensor>& outputs) {
    const RefKernel kernel = find_kernel(node.op_type);
    const ops::InferFn infer = ops::find_infer(node.op_type);
    if (!kernel || !infer || !ops::is_known_domain(node.domain)) return unsupported(node.describe() + ": no reference kernel");
    std::vector<ops::TensorInfo> infos;
    for (const Tensor* t : inputs) {
        ops::TensorInfo info;
        if (t) {
            info.present = true;
            info.dtype = t->dtype();
            info.shape = t->shape();
            info.value = t;
        }
        infos.push_back(info);
    }
    ops::InferContext ictx{node, std::move(infos), {}};
    FOVEA_TRY(infer(ictx));
    // Kernels may rely on zero-filled outputs, so they always get fresh ones.
    outputs.assign(node.outputs.size(), Tensor());
    for (size_t i = 0; i < outputs.size() && i < ictx.outputs.size(); ++i)
        if (ictx.outputs[i].present && ictx.outputs[i].shape_known())
            outputs[i] = Tensor(ictx.outputs[i].dtype, *ictx.outputs[i].shape);
    KernelContext kctx{node, std::vector<const Tensor*>(inputs.begin(), inputs.end()), outputs};
    FOVEA_TRY(kernel(kctx));
    for (size_t i = 0; i < outputs.size(); ++i) {
        if (!node.outputs[i]) continue;
        if (!outputs[i].defined())
            return internal_error(node.describe() + ": kernel left output " + std::to_string(i) + " unset");
        if (i < ictx.outputs.size() && outputs[i].dtype() != ictx.outputs[i].dtype)
            return internal_error(node.describe() + ": kernel produced " + outputs[i].describe() + ", inference said " +
                                  dtype_name(ictx.outputs[i].dtype));
    }
    return Status::ok();
}

namespace {

class RefNodeKernel final : public runtime::NodeKernel {
public:
    explicit RefNodeKernel(const ir::Node& node) : node_(node) {}
    Status run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) override {
        std::vector<Tensor> results;
        FOVEA_TRY(run_node(node_, inputs, results));
        for (size_t i = 0; i < outputs.size() && i < results.size(); ++i) outputs[i] = std::move(results[i]);
        return Status::ok();
    }

private:
    const ir::Node& node_;
};

class RefBackend final : public runtime::Backend {
public:
    std::string_view name() const override { return "ref"; }
    Result<std::unique_ptr<runtime::NodeKernel>> compile(const ir::Node& node) override {
        if (!find_kernel(node.op_type) || !ops::is_known_domain(node.domain))
            return unsupported(node.describe() + ": no reference kernel");
        return std::unique_ptr<runtime::NodeKernel>(new RefNodeKernel(node));
    }
};

}  // namespace

}  // namespace fovea::ref

namespace fovea::runtime {
std::unique_ptr<Backend> make_ref_backend() { return std::make_unique<ref::RefBackend>(); }
}  // namespace fovea::runtime
