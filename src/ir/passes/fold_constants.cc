// Constant folding. It runs at every bind (ops::infer_graph, node by node with shape inference), not in optimize():
// what folds depends on the bound input shapes (Shape, Size and the arithmetic on their results), and a later bind
// at other shapes must be able to fold less. A folded node stays in the graph with constant outputs; sessions and
// backends skip such nodes.
#include "ir/passes/passes.h"

#include <algorithm>

namespace fovea::ir::passes {

namespace {

// Folding is for shape arithmetic and small constant subgraphs; big tensors stay computed at run time.
constexpr int64_t kMaxFoldedElements = int64_t{1} << 22;

// Shape and Size only need their input's shape, which is known long before its contents.
bool fold_shape_query(Node& node) {
    if (node.op_type != "Shape" && node.op_type != "Size") return false;
    const Value* in = node.input(0);
    Value* out = node.outputs.empty() ? nullptr : node.outputs[0];
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

}  // namespace

Result<bool> fold_constant_node(Node& node, const NodeEvaluator& evaluate) {
    if (fold_shape_query(node)) return true;
    std::vector<const Tensor*> inputs;
    for (const Value* v : node.inputs) {
        if (v && !v->constant) return false;
        inputs.push_back(v ? &*v->constant : nullptr);
    }
    for (const Value* out : node.outputs)
        if (out && (!out->shape_known() || shape_numel(*out->shape) > kMaxFoldedElements)) return false;
    std::vector<Tensor> outputs;  // the evaluator allocates them
    FOVEA_TRY(evaluate(node, inputs, outputs));
    for (size_t i = 0; i < node.outputs.size(); ++i)
        if (node.outputs[i]) node.outputs[i]->constant = std::move(outputs[i]);
    return true;
}

bool is_folded(const Node& node) {
    return std::none_of(node.outputs.begin(), node.outputs.end(), [](const Value* v) { return v && !v->constant; });
}

}  // namespace fovea::ir::passes
