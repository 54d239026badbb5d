// Mul, Add, Sub or Div by a constant that is one value per channel (or one value), read only by a convolution
// without padding, folds into that convolution's input channels. With padding it would not be exact: the border
// reads the pad's zeros where the unfolded graph reads the map of zeros. This runs after the activation passes, so
// that the divide by 6 closing a decomposed HardSwish is matched there first. Paddle's PP-LCNet writes such a pair
// (a "learnable affine block") after each activation.
#include <optional>
#include <string>

#include "ir/passes/passes.h"
#include "ir/passes/rewrite.h"
#include "ops/op.h"

namespace fovea::ir::passes {

namespace {

// Whether a Conv reads no padding: explicit zero pads (or none) and no automatic padding but VALID.
bool unpadded(const Node& conv) {
    const std::string auto_pad = conv.attr_string("auto_pad", "NOTSET");
    if (auto_pad != "NOTSET" && auto_pad != "VALID") return false;
    for (int64_t p : conv.attr_ints("pads"))
        if (p != 0) return false;
    return true;
}

// `n` before a conv without padding that alone reads its output: W'[m, j] = W[m, j] * s[c], b'[m] = b[m] +
// sum over j and taps of W[m, j] * t[c], c the input channel of filter column j in m's group. The epilogue of a
// FusedConv comes after the bias, so it is unaffected.
bool fold_into_next(Graph& graph, Node& n) {
    Value* y = n.outputs.empty() ? nullptr : n.outputs[0];
    Node* conv = y ? sole_reader(graph, y) : nullptr;
    const bool fused = conv && conv->domain == ops::kFoveaDomain && conv->op_type == "FusedConv";
    if (!(is_op(conv, "Conv") || fused) || conv->inputs[0] != y || !unpadded(*conv)) return false;
    const Tensor* w = float32_constant(conv->input(1));
    const Value* b = conv->input(2);
    if (!w || w->rank() < 3 || (b && !float32_constant(b))) return false;
    const int64_t m_count = w->dim(0), cols = w->dim(1), group = conv->attr_int("group", 1);
    if (group < 1 || m_count % group != 0) return false;
    const int64_t channels = cols * group, taps = w->numel() / (m_count * cols);
    const auto rank = static_cast<size_t>(w->rank());
    for (Value* x : n.inputs) {
        // x must have the conv's input shape already: the constant may not broadcast it to more channels.
        if (!x || x->constant || !x->shape || x->shape->size() != rank || (*x->shape)[1] != channels) continue;
        const std::optional<ChannelAffine> a = constant_affine(n, x, rank, 1, channels);
        if (!a) continue;
        Tensor folded(DType::kFloat32, w->shape());
        Tensor bias(DType::kFloat32, {m_count});
        for (int64_t m = 0; m < m_count; ++m) {
            double shift = b ? b->constant->element_as_double(m) : 0.0;
            for (int64_t j = 0; j < cols; ++j) {
                const auto c = static_cast<size_t>(m / (m_count / group) * cols + j);
                for (int64_t k = 0; k < taps; ++k) {
                    const int64_t i = (m * cols + j) * taps + k;
                    const double wv = w->element_as_double(i);
                    folded.data<float>()[i] = static_cast<float>(wv * a->scale[c]);
                    shift += wv * a->shift[c];
                }
            }
            bias.data<float>()[m] = static_cast<float>(shift);
        }
        const std::string weight_name = conv->inputs[1]->name;
        conv->inputs[0] = x;
        conv->inputs[1] = add_constant(graph, weight_name, std::move(folded), "_affine_folded");
        conv->inputs.resize(3, nullptr);
        conv->inputs[2] = add_constant(graph, b ? b->name : weight_name + "_bias", std::move(bias), "_affine_folded");
        graph.remove_nodes({&n});
        return true;
    }
    return false;
}

}  // namespace

Status fold_affine_into_conv(Graph& graph) {
    fold_each_affine_op(graph, fold_into_next);  // Add then the Mul before it: the first fold opens the second
    return Status::ok();
}

}  // namespace fovea::ir::passes
