// A BatchNormalization that fold_batchnorm could not fold (no conv before it, as in pre-activation networks such as
// DenseNet, where each layer normalizes the concatenated features) and that an activation follows becomes a
// depthwise 1x1 Conv (weight s = scale / sqrt(var + epsilon), bias = bias - mean * s per channel), which
// fuse_activation then gives the activation: one pass over the image instead of two.
#include <optional>
#include <string>

#include "ir/passes/activation_match.h"
#include "ir/passes/passes.h"
#include "ir/passes/rewrite.h"

namespace fovea::ir::passes {

Status batchnorm_to_conv(Graph& graph) {
    std::vector<Node*> norms;
    for (const auto& n : graph.nodes())
        if (is_op(n.get(), "BatchNormalization")) norms.push_back(n.get());
    for (Node* bn : norms) {
        const Value* x = bn->input(0);
        Value* y = output0(bn);
        // Images only (a Conv needs the spatial dims), and only where an activation then fuses.
        if (!x || !y || !x->shape || x->shape->size() != 4 || !match_activation(graph, y)) continue;
        const std::optional<ChannelAffine> affine = batchnorm_affine(*bn);
        if (!affine) continue;
        const auto channels = static_cast<int64_t>(affine->scale.size());
        if ((*x->shape)[1] >= 0 && (*x->shape)[1] != channels) continue;
        Tensor weight(DType::kFloat32, {channels, 1, 1, 1});
        Tensor bias(DType::kFloat32, {channels});
        for (int64_t c = 0; c < channels; ++c) {
            weight.data<float>()[c] = static_cast<float>(affine->scale[static_cast<size_t>(c)]);
            bias.data<float>()[c] = static_cast<float>(affine->shift[static_cast<size_t>(c)]);
        }
        Value* w = graph.add_value(graph.unique_value_name(bn->inputs[1]->name + "_as_conv_weight"));
        w->set_initializer(std::move(weight));
        Value* b = graph.add_value(graph.unique_value_name(bn->inputs[2]->name + "_as_conv_bias"));
        b->set_initializer(std::move(bias));
        bn->op_type = "Conv";
        bn->attrs.clear();
        bn->attrs["group"] = channels;
        bn->attrs["kernel_shape"] = std::vector<int64_t>{1, 1};
        bn->inputs = {bn->inputs[0], w, b};
        bn->outputs.resize(1);
    }
    return Status::ok();
}

}  // namespace fovea::ir::passes
