// A conv's activation (an op, or a pattern activation_match.h recognizes) moves into the conv (FusedConv's epilogue)
// when the conv output feeds nothing else.
#include <optional>
#include <string>

#include "ir/passes/activation_match.h"
#include "ir/passes/passes.h"
#include "ir/passes/rewrite.h"
#include "ops/fused_conv.h"

namespace fovea::ir::passes {

Status fuse_activation(Graph& graph) {
    std::vector<Node*> convs;
    for (const auto& n : graph.nodes())
        if (is_open_conv(n.get(), false) && n->outputs.size() == 1 && n->outputs[0]) convs.push_back(n.get());
    for (Node* conv : convs) {
        Value* y = conv->outputs[0];
        const std::optional<ActivationMatch> m = match_activation(graph, y);
        if (!m) continue;
        make_fused_conv(*conv);
        conv->attrs["activation"] = std::string(ops::activation_name(m->activation));
        conv->attrs["activation_params"] = m->params;
        take_over_output(*conv, y, m->absorbed.back()->outputs[0]);
        graph.remove_nodes(m->absorbed);
    }
    return Status::ok();
}

}  // namespace fovea::ir::passes
