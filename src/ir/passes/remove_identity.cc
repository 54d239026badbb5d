#include "ir/passes/passes.h"
#include "ir/passes/rewrite.h"

namespace fovea::ir::passes {

namespace {

// Dropout copies its input at inference unless training mode may be on, or its mask is read.
bool is_inference_dropout(const Graph& graph, const Node& n) {
    if (!is_op(&n, "Dropout")) return false;
    const Value* mask = n.outputs.size() > 1 ? n.outputs[1] : nullptr;
    if (mask && (graph.is_output(mask) || !graph.uses(mask).empty())) return false;
    const Value* training = n.input(2);
    return !training ||
           (training->constant && training->constant->numel() == 1 && training->constant->element_as_double(0) == 0);
}

}  // namespace

Status remove_identity(Graph& graph) {
    std::vector<Node*> candidates;
    for (const auto& n : graph.nodes())
        if (is_op(n.get(), "Identity") || is_inference_dropout(graph, *n)) candidates.push_back(n.get());
    for (Node* n : candidates) {
        Value* in = n->input(0);
        Value* out = n->outputs.empty() ? nullptr : n->outputs[0];
        if (!in || !out) continue;
        if (graph.is_output(out)) {
            // The output's name must survive: the input's producer writes it directly, if nothing else reads the
            // input. A graph input, a constant or a shared value stays copied by the node.
            Node* producer = in->producer;
            if (!producer || !feeds_only(graph, in, n)) continue;
            take_over_output(*producer, in, out);
        } else {
            graph.replace_uses(out, in);
        }
        graph.remove_nodes({n});
    }
    return Status::ok();
}

}  // namespace fovea::ir::passes
