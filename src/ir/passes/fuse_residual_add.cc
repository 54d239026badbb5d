#include "ir/passes/passes.h"
#include "ir/passes/rewrite.h"

namespace fovea::ir::passes {

Status fuse_residual_add(Graph& graph) {
    const ShapeSymbols symbols(graph);
    std::vector<Node*> adds;
    for (const auto& n : graph.nodes())
        if (is_op(n.get(), "Add") && n->inputs.size() == 2 && n->outputs.size() == 1) adds.push_back(n.get());
    for (Node* add : adds) {
        for (size_t k = 0; k < 2; ++k) {
            Value* conv_out = add->inputs[k];
            Value* residual = add->inputs[1 - k];
            Node* conv = conv_out ? conv_out->producer : nullptr;
            // The sum must come before any activation, so only a conv without one (and without a residual) takes it.
            // The residual must not broadcast: FusedConv adds it element by element.
            if (!is_open_conv(conv, true) || !feeds_only(graph, conv_out, add) || !residual ||
                residual->dtype != conv_out->dtype || !symbols.same_shape(residual, conv_out))
                continue;
            make_fused_conv(*conv);
            conv->inputs.resize(3, nullptr);
            conv->inputs.push_back(residual);
            take_over_output(*conv, conv_out, add->outputs[0]);
            graph.remove_nodes({add});
            break;
        }
    }
    return Status::ok();
}

}  // namespace fovea::ir::passes
