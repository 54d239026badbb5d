// Linear layers become one FusedMatMul (ops/fused_conv.h): a MatMul by a 2-D B with the bias Add after it and its
// activation, or a Gemm (no transA, alpha 1, C one value per column) with its activation. The backends then run the
// bias and the activation in the product's epilogue (oneDNN post-ops, cuBLASLt epilogues) instead of one more pass
// over the output each. A MatMul with neither, or a Gemm without an activation, stays as it is.
#include <optional>
#include <string>

#include "ir/passes/activation_match.h"
#include "ir/passes/passes.h"
#include "ir/passes/rewrite.h"
#include "ops/op.h"

namespace fovea::ir::passes {

namespace {

// `c` as a bias of `n` values: a float32 constant of n elements whose dims are all 1 but the last, and no more dims
// than the product's output (so that adding it broadcasts nothing but the rows).
std::optional<Tensor> bias_vector(const Value* c, int64_t n, size_t output_rank) {
    const Tensor* t = float32_constant(c);
    if (!t || t->numel() != n || t->rank() < 1 || static_cast<size_t>(t->rank()) > output_rank ||
        t->shape().back() != n)
        return std::nullopt;
    Tensor bias(DType::kFloat32, {n});
    std::copy(t->data<float>(), t->data<float>() + n, bias.data<float>());
    return bias;
}

// The width N of a 2-D B (stored [K, N], or [N, K] under transB), or -1.
int64_t columns(const Value* b, bool trans_b) {
    if (!b || !b->shape || b->shape->size() != 2) return -1;
    return (*b->shape)[trans_b ? 0 : 1];
}

void make_fused_matmul(Node& node, bool trans_b) {
    node.op_type = "FusedMatMul";
    node.domain = std::string(ops::kFoveaDomain);
    node.opset = 1;
    node.attrs.clear();
    node.attrs["transB"] = int64_t{trans_b ? 1 : 0};
    node.attrs["activation"] = std::string();
    node.attrs["activation_params"] = std::vector<float>();
}

// Moves the activation reading `node`'s output, if there is one, into it.
bool take_activation(Graph& graph, Node& node) {
    const std::optional<ActivationMatch> m = match_activation(graph, node.outputs[0]);
    if (!m) return false;
    node.attrs["activation"] = std::string(ops::activation_name(m->activation));
    node.attrs["activation_params"] = m->params;
    take_over_output(node, node.outputs[0], m->absorbed.back()->outputs[0]);
    graph.remove_nodes(m->absorbed);
    return true;
}

// MatMul(A, B) [+ bias] [activation].
void fuse_matmul(Graph& graph, Node& mm) {
    const Value* a = mm.input(0);
    const int64_t n = columns(mm.input(1), false);
    if (!a || !a->shape || a->shape->size() < 2 || n < 0 || mm.outputs.size() != 1) return;
    Value* y = mm.outputs[0];
    Node* add = sole_reader(graph, y);
    std::optional<Tensor> bias;
    if (is_op(add, "Add") && add->inputs.size() == 2) bias = bias_vector(other_input(add, y), n, a->shape->size());
    const bool activation = !bias && match_activation(graph, y).has_value();
    if (!bias && !activation) return;
    make_fused_matmul(mm, false);
    if (bias) {
        mm.inputs.push_back(add_constant(graph, other_input(add, y)->name, std::move(*bias), "_bias"));
        take_over_output(mm, y, add->outputs[0]);
        graph.remove_nodes({add});
    }
    take_activation(graph, mm);
}

// Gemm(A, B, C) activation, when it computes A op(B) + C with C one value per column.
void fuse_gemm(Graph& graph, Node& gemm) {
    const bool trans_b = gemm.attr_int("transB", 0) != 0;
    const int64_t n = columns(gemm.input(1), trans_b);
    if (gemm.attr_int("transA", 0) != 0 || gemm.attr_float("alpha", 1.0f) != 1.0f || n < 0 ||
        gemm.outputs.size() != 1 || !match_activation(graph, gemm.outputs[0]))
        return;
    const Value* c = gemm.input(2);
    std::optional<Tensor> bias;
    if (c) {
        bias = gemm.attr_float("beta", 1.0f) == 1.0f ? bias_vector(c, n, 2) : std::nullopt;
        if (!bias) return;
    }
    make_fused_matmul(gemm, trans_b);
    gemm.inputs.resize(2);
    if (bias) gemm.inputs.push_back(add_constant(graph, c->name, std::move(*bias), "_bias"));
    take_activation(graph, gemm);
}

}  // namespace

Status fuse_linear(Graph& graph) {
    std::vector<Node*> products;
    for (const auto& n : graph.nodes())
        if (is_op(n.get(), "MatMul") || is_op(n.get(), "Gemm")) products.push_back(n.get());
    for (Node* p : products) {
        if (p->op_type == "MatMul")
            fuse_matmul(graph, *p);
        else
            fuse_gemm(graph, *p);
    }
    return Status::ok();
}

}  // namespace fovea::ir::passes
