// Mul, Add, Sub or Div by a constant that is one value per channel (or one value) is an affine map per channel, so
// after a Conv, ConvTranspose or Gemm whose output it alone reads it folds into that op's weights and bias, as
// BatchNormalization does. Paddle's exports write one such pair after nearly every convolution (PP-LCNet's
// "learnable affine blocks"). fold_affine_into_conv.cc folds the ones left before a convolution.
#include <optional>
#include <string>

#include "ir/passes/passes.h"
#include "ir/passes/rewrite.h"

namespace fovea::ir::passes {

namespace {

// Output channels of a Conv, ConvTranspose or Gemm from its weights; the channel dim of its output; its output rank.
struct Channels {
    int64_t count = 0;
    size_t axis = 1, rank = 0;
};
std::optional<Channels> output_channels(const Node& p) {
    const Tensor* w = float32_constant(p.input(1));
    if (!w || w->rank() < 2) return std::nullopt;
    const auto rank = static_cast<size_t>(w->rank());
    if (is_op(&p, "Conv")) return Channels{w->dim(0), 1, rank};
    if (is_op(&p, "ConvTranspose")) return Channels{w->dim(1) * p.attr_int("group", 1), 1, rank};
    if (is_op(&p, "Gemm") && w->rank() == 2) return Channels{w->dim(p.attr_int("transB", 0) != 0 ? 0 : 1), 1, 2};
    return std::nullopt;
}

// `n` after the linear op producing one of its inputs.
bool fold_after(Graph& graph, Node& n) {
    for (Value* z : n.inputs) {
        Node* p = z ? z->producer : nullptr;
        if (!p || p->outputs.size() != 1 || !feeds_only(graph, z, &n)) continue;
        const std::optional<Channels> ch = output_channels(*p);
        if (!ch) continue;
        const std::optional<ChannelAffine> a = constant_affine(n, z, ch->rank, ch->axis, ch->count);
        if (!a || !fold_channel_affine(graph, *p, *a, "_affine_folded")) continue;
        take_over_output(*p, z, n.outputs[0]);
        graph.remove_nodes({&n});
        return true;
    }
    return false;
}

}  // namespace

Status fold_affine(Graph& graph) {
    fold_each_affine_op(graph, fold_after);  // Mul then Add: the first fold opens the second
    return Status::ok();
}

}  // namespace fovea::ir::passes
