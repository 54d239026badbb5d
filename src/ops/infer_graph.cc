#include "ops/infer_graph.h"

#include <algorithm>

namespace fovea::ops {

namespace {

// Folding is for shape arithmetic and small constant subgraphs; big tensors stay computed at run time.
constexpr int64_t kMaxFoldedElements = int64_t{1} << 22;

TensorInfo info_of(const ir::Value* v) {
    TensorInfo info;
    if (!v) return info;
    info.present = true;
    info.dtype = v->dtype;
    info.shape = v->shape;
    info.value = v->constant ? &*v->constant : nullptr;
    return info;
}

// Shape and Size only need their input's shape, which is known long before its contents.
bool fold_shape_query(ir::Node& node) {
    if (node.op_type != "Shape" && node.op_type != "Size") return false;
    const ir::Value* in = node.input(0);
    ir::Value* out = node.outputs.empty() ? nullptr : node.outputs[0];
    if (!in || !out || !in->shape_known()) return false;
    const Shape& s = *in->shape;
    if (node.op_type == "Size") {
        out->constant = Tensor::scalar<int64_t>(shape_numel(s));
        return true;
    }
    const auto rank = static_cast<int64_t>(s.size());
    auto clamp = [rank](int64_t i) { return std::clamp(i < 0 ? i + rank : i, int64_t{0}, rank); };
    const int64_t start = clamp(node.attr_int("start", 0));
    const int64_t end = clamp(node.attr_int("end", rank));
    std::vector<int64_t> dims;
    for (int64_t i = start; i < end; ++i) dims.push_back(s[static_cast<size_t>(i)]);
    out->constant = Tensor::from_vector<int64_t>({static_cast<int64_t>(dims.size())}, dims);
    return true;
}

Status fold(ir::Node& node, const Evaluator& evaluate) {
    std::vector<const Tensor*> inputs;
    for (const ir::Value* v : node.inputs) {
        if (v && !v->constant) return Status::ok();
        inputs.push_back(v ? &*v->constant : nullptr);
    }
    for (const ir::Value* out : node.outputs)
        if (out && (!out->shape_known() || shape_numel(*out->shape) > kMaxFoldedElements)) return Status::ok();
    std::vector<Tensor> outputs;  // the evaluator allocates them
    FOVEA_TRY(evaluate(node, inputs, outputs));
    for (size_t i = 0; i < node.outputs.size(); ++i)
        if (node.outputs[i]) node.outputs[i]->constant = std::move(outputs[i]);
    return Status::ok();
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
        if (evaluate && !fold_shape_query(*node)) FOVEA_TRY(fold(*node, *evaluate));
    }
    return Status::ok();
}

}  // namespace fovea::ops
