#include "ops/infer_graph.h"

#include "ir/passes/passes.h"

namespace fovea::ops {

namespace {

TensorInfo info_of(const ir::Value* v) {
    TensorInfo info;
    if (!v) return info;
    info.present = true;
    info.dtype = v->dtype;
    info.shape = v->shape;
    info.value = v->constant ? &*v->constant : nullptr;
    return info;
}

}  // namespace

std::vector<TensorInfo> input_infos(const ir::Node& node) {
    std::vector<TensorInfo> infos;
    for (const ir::Value* v : node.inputs) infos.push_back(info_of(v));
    return infos;
}

Status infer_node(ir::Node& node) {
    const InferFn infer = is_known_domain(node.domain) ? find_infer(node.op_type) : nullptr;
    if (!infer) return unsupported(node.describe() + ": operator is not supported");
    InferContext ctx{node, input_infos(node), {}};
    FOVEA_TRY(infer(ctx));
    for (size_t i = 0; i < node.outputs.size(); ++i) {
        ir::Value* out = node.outputs[i];
        if (!out) continue;
        if (i >= ctx.outputs.size() || !ctx.outputs[i].present)
            return internal_error(node.describe() + ": inference set no type for output " + std::to_string(i));
        out->dtype = ctx.outputs[i].dtype;
        out->has_type = true;
        out->shape = ctx.outputs[i].shape;
        out->dim_params.assign(out->shape ? out->shape->size() : 0, "");
    }
    return Status::ok();
}

Status infer_graph(ir::Graph& graph, const Evaluator* evaluate) {
    for (const auto& node : graph.nodes()) {
        FOVEA_TRY(infer_node(*node));
        if (evaluate) FOVEA_TRY(ir::passes::fold_constant_node(*node, *evaluate).status());
    }
    return Status::ok();
}

}  // namespace fovea::ops
