// BatchNormalization after a linear op with constant parameters is itself linear per channel:
// y = (z - mean) * s + bias with s = scale / sqrt(var + epsilon), so it folds into the weights (times s) and the
// bias ((b - mean) * s + bias). The folded tensors are new values: the originals may be shared with other nodes.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "ir/passes/passes.h"
#include "ir/passes/rewrite.h"

namespace fovea::ir::passes {

namespace {

const Tensor* float32_constant(const Value* v) {
    return v && v->constant && v->constant->dtype() == DType::kFloat32 ? &*v->constant : nullptr;
}

// A new initializer named after the value it replaces, holding `t`.
Value* add_constant(Graph& graph, const std::string& replaced, Tensor t) {
    Value* v = graph.add_value(graph.unique_value_name(replaced + "_bn_folded"));
    v->set_initializer(std::move(t));
    return v;
}

// Conv weights are [M, C/group, k...]; ConvTranspose weights are [C, M/group, k...]. Output channel of each filter
// row, or -1 when the weights do not produce `channels` outputs.
int64_t output_channel(const Node& conv, const Tensor& w, int64_t row, int64_t col, int64_t channels) {
    if (conv.op_type == "Conv") return w.dim(0) == channels ? row : -1;
    const int64_t group = conv.attr_int("group", 1);
    const int64_t per_group = w.dim(1);
    if (per_group * group != channels || w.dim(0) % group != 0) return -1;
    return row / (w.dim(0) / group) * per_group + col;
}

// Conv and ConvTranspose: weights scaled per output channel, bias shifted.
bool fold_into_conv(Graph& graph, Node& conv, const BatchNormAffine& a) {
    const Tensor* w = float32_constant(conv.input(1));
    const Value* b = conv.input(2);
    const auto channels = static_cast<int64_t>(a.scale.size());
    if (!w || w->rank() < 3 || (b && (!float32_constant(b) || b->constant->numel() != channels))) return false;
    const int64_t rows = w->dim(0), cols = w->dim(1), inner = w->numel() / std::max<int64_t>(rows * cols, 1);
    Tensor folded(DType::kFloat32, w->shape());
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
            const int64_t m = output_channel(conv, *w, r, c, channels);
            if (m < 0) return false;
            for (int64_t k = 0; k < inner; ++k) {
                const int64_t i = (r * cols + c) * inner + k;
                folded.data<float>()[i] = static_cast<float>(w->element_as_double(i) * a.scale[static_cast<size_t>(m)]);
            }
        }
    }
    Tensor bias(DType::kFloat32, {channels});
    for (int64_t m = 0; m < channels; ++m) {
        const double before = b ? b->constant->element_as_double(m) : 0.0;
        bias.data<float>()[m] =
            static_cast<float>(before * a.scale[static_cast<size_t>(m)] + a.shift[static_cast<size_t>(m)]);
    }
    const std::string weight_name = conv.inputs[1]->name;
    conv.inputs[1] = add_constant(graph, weight_name, std::move(folded));
    conv.inputs.resize(3, nullptr);
    conv.inputs[2] = add_constant(graph, b ? b->name : weight_name + "_bias", std::move(bias));
    return true;
}

// Gemm, Y = alpha * A * B + beta * C with channels along N: B's columns (rows when transB) scaled, C rewritten as
// beta * C * s + shift (broadcast over N, keeping C's rows), beta set to 1.
bool fold_into_gemm(Graph& graph, Node& gemm, const BatchNormAffine& a) {
    const Tensor* b = float32_constant(gemm.input(1));
    const Value* c_value = gemm.input(2);
    const Tensor* c = float32_constant(c_value);
    if (!b || b->rank() != 2 || (c_value && (!c || c->rank() > 2))) return false;
    const bool trans_b = gemm.attr_int("transB", 0) != 0;
    const auto n = static_cast<int64_t>(a.scale.size());
    if (b->dim(trans_b ? 0 : 1) != n) return false;
    Tensor folded(DType::kFloat32, b->shape());
    for (int64_t i = 0; i < b->numel(); ++i) {
        const int64_t col = trans_b ? i / b->dim(1) : i % n;
        folded.data<float>()[i] = static_cast<float>(b->element_as_double(i) * a.scale[static_cast<size_t>(col)]);
    }
    // C broadcasts to [M, N]: its last dim is 1 or N, its first (if any) 1 or M.
    const int64_t c_cols = c && c->rank() >= 1 ? c->dim(c->rank() - 1) : 1;
    const int64_t rows = c && c->rank() == 2 ? c->dim(0) : 1;
    if (c_cols != 1 && c_cols != n) return false;
    const double beta = gemm.attr_float("beta", 1.0f);
    Tensor bias(DType::kFloat32, c && c->rank() == 2 ? Shape{rows, n} : Shape{n});
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < n; ++j) {
            const double before = c ? beta * c->element_as_double(r * c_cols + (c_cols == 1 ? 0 : j)) : 0.0;
            bias.data<float>()[r * n + j] =
                static_cast<float>(before * a.scale[static_cast<size_t>(j)] + a.shift[static_cast<size_t>(j)]);
        }
    }
    const std::string weight_name = gemm.inputs[1]->name;
    gemm.inputs[1] = add_constant(graph, weight_name, std::move(folded));
    gemm.inputs.resize(3, nullptr);
    gemm.inputs[2] = add_constant(graph, c_value ? c_value->name : weight_name + "_bias", std::move(bias));
    gemm.attrs["beta"] = 1.0f;
    return true;
}

}  // namespace

Status fold_batchnorm(Graph& graph) {
    std::vector<Node*> norms;
    for (const auto& n : graph.nodes())
        if (is_op(n.get(), "BatchNormalization")) norms.push_back(n.get());
    for (Node* bn : norms) {
        Value* z = bn->input(0);
        Node* producer = z ? z->producer : nullptr;
        const bool conv = is_op(producer, "Conv") || is_op(producer, "ConvTranspose");
        if (!(conv || is_op(producer, "Gemm")) || !feeds_only(graph, z, bn) || producer->outputs.size() != 1) continue;
        const std::optional<BatchNormAffine> affine = batchnorm_affine(*bn);
        if (!affine) continue;
        if (!(conv ? fold_into_conv(graph, *producer, *affine) : fold_into_gemm(graph, *producer, *affine))) continue;
        take_over_output(*producer, z, bn->outputs[0]);
        graph.remove_nodes({bn});
    }
    return Status::ok();
}

}  // namespace fovea::ir::passes
