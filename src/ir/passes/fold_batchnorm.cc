// BatchNormalization after a linear op with constant parameters is itself linear per channel:
// y = (z - mean) * s + bias with s = scale / sqrt(var + epsilon), so it folds into the weights (times s) and the
// bias ((b - mean) * s + bias) (fold_channel_affine, rewrite.h).
#include <optional>

#include "ir/passes/passes.h"
#include "ir/passes/rewrite.h"

namespace fovea::ir::passes {

Status fold_batchnorm(Graph& graph) {
    std::vector<Node*> norms;
    for (const auto& n : graph.nodes())
        if (is_op(n.get(), "BatchNormalization")) norms.push_back(n.get());
    for (Node* bn : norms) {
        Value* z = bn->input(0);
        Node* producer = z ? z->producer : nullptr;
        const bool conv = is_op(producer, "Conv") || is_op(producer, "ConvTranspose");
        if (!(conv || is_op(producer, "Gemm")) || !feeds_only(graph, z, bn) || producer->outputs.size() != 1) continue;
        const std::optional<ChannelAffine> affine = batchnorm_affine(*bn);
        if (!affine) continue;
        if (!fold_channel_affine(graph, *producer, *affine, "_bn_folded")) continue;
        take_over_output(*producer, z, bn->outputs[0]);
        graph.remove_nodes({bn});
    }
    return Status::ok();
}

}  // namespace fovea::ir::passes
