// The LayerNorm that exporters decompose (torch before opset 17, PaddlePaddle) becomes one LayerNormalization:
//   mean = ReduceMean(x, axes [-1]); d = x - mean; var = ReduceMean(d^2, axes [-1]), d^2 as Pow(d, 2) or d * d;
//   y = d / Sqrt(var + eps), then optionally * gamma and + beta, constants along the last dim.
// LayerNormalization (opset 17) with axis -1 computes exactly this.
#include <optional>
#include <string>
#include <vector>

#include "ir/passes/passes.h"
#include "ir/passes/rewrite.h"

namespace fovea::ir::passes {

namespace {

struct LayerNormMatch {
    Value* x = nullptr;
    Value* y = nullptr;  // the last absorbed node's output, which the LayerNormalization writes
    double epsilon = 0;
    int64_t c = 0;                      // x's last dim
    std::optional<Tensor> scale, bias;  // [c]
    std::vector<const Node*> absorbed;
};

// Whether `n` is ReduceMean(v) over v's last axis alone, keeping dims.
bool reduces_last_axis(const Node* n, const Value* v) {
    if (!is_op(n, "ReduceMean") || n->input(0) != v || !v->shape || n->attr_int("keepdims", 1) != 1) return false;
    const Value* axes = n->input(1);
    if (!axes || !axes->constant || axes->constant->numel() != 1) return false;
    const auto rank = static_cast<int64_t>(v->shape->size());
    const auto axis = static_cast<int64_t>(axes->constant->element_as_double(0));
    return rank > 0 && (axis == -1 || axis == rank - 1);
}

// A float32 constant that scales or shifts along the last dim of a rank-`rank` tensor without changing its shape:
// rank at most `rank`, every dim but the last 1, the last 1 or c. Returns its values as a [c] tensor. An unknown c
// (-1) is taken to be the constant's size when that is above 1 (any other size would fail to broadcast, except 1,
// which would make the norm one over a single element: the fused node then fails to bind instead).
std::optional<Tensor> per_channel(const Value* v, int64_t& c, size_t rank) {
    if (!v || !v->constant || v->constant->dtype() != DType::kFloat32) return std::nullopt;
    const Tensor& t = *v->constant;
    if (static_cast<size_t>(t.rank()) > rank) return std::nullopt;
    for (int64_t i = 0; i + 1 < t.rank(); ++i)
        if (t.shape()[static_cast<size_t>(i)] != 1) return std::nullopt;
    const int64_t size = c < 0 && t.numel() > 1 ? t.numel() : c;
    if (size < 0 || (t.numel() != 1 && t.numel() != size)) return std::nullopt;
    c = size;
    std::vector<float> values(static_cast<size_t>(c));
    for (int64_t i = 0; i < c; ++i) values[static_cast<size_t>(i)] = t.data<float>()[t.numel() == 1 ? 0 : i];
    return Tensor::from_vector<float>({c}, values);
}

std::optional<LayerNormMatch> match_layer_norm(const Graph& graph, const Node& mean) {
    Value* x = mean.input(0);
    if (!is_op(&mean, "ReduceMean") || !x || x->dtype != DType::kFloat32 || !reduces_last_axis(&mean, x))
        return std::nullopt;
    const size_t rank = x->shape->size();
    int64_t c = x->shape->back();
    if (c == 0) return std::nullopt;
    const Node* sub = sole_reader(graph, output0(&mean));
    if (!is_op(sub, "Sub") || sub->input(0) != x || sub->input(1) != output0(&mean)) return std::nullopt;
    // d feeds the square and the division, nothing else.
    const Value* d = output0(sub);
    const Node* square = nullptr;
    const Node* div = nullptr;
    const std::vector<Node*> uses = graph.uses(d);
    for (const Node* u : uses) {
        if (is_op(u, "Div") && u->input(0) == d && u->input(1) != d)
            div = u;
        else if (is_op(u, "Pow") && u->input(0) == d && scalar_constant(u->input(1), rank) == 2.0)
            square = u;
        else if (is_op(u, "Mul") && u->input(0) == d && u->input(1) == d)
            square = u;
        else
            return std::nullopt;
    }
    if (!div || !square || graph.is_output(d) || uses.size() != (is_op(square, "Mul") ? 3u : 2u)) return std::nullopt;
    const Node* var = sole_reader(graph, output0(square));
    if (!reduces_last_axis(var, output0(square))) return std::nullopt;
    const Node* plus_eps = sole_reader(graph, output0(var));
    const std::optional<double> epsilon =
        is_op(plus_eps, "Add") ? scalar_constant(other_input(plus_eps, output0(var)), rank) : std::nullopt;
    if (!epsilon) return std::nullopt;
    const Node* sqrt = sole_reader(graph, output0(plus_eps));
    if (!is_op(sqrt, "Sqrt") || sole_reader(graph, output0(sqrt)) != div || div->input(1) != output0(sqrt))
        return std::nullopt;

    LayerNormMatch m{
        x, output0(div), *epsilon, 0, std::nullopt, std::nullopt, {&mean, sub, square, var, plus_eps, sqrt, div}};
    if (const Node* mul = sole_reader(graph, m.y); is_op(mul, "Mul")) {
        if ((m.scale = per_channel(other_input(mul, m.y), c, rank))) {
            m.absorbed.push_back(mul);
            m.y = output0(mul);
        }
    }
    if (const Node* add = sole_reader(graph, m.y); is_op(add, "Add")) {
        if ((m.bias = per_channel(other_input(add, m.y), c, rank))) {
            m.absorbed.push_back(add);
            m.y = output0(add);
        }
    }
    // Without a known last dim, the scale or the bias must tell it.
    if (c < 0) return std::nullopt;
    m.c = c;
    return m;
}

Value* add_constant(Graph& graph, const std::string& base, Tensor t) {
    Value* v = graph.add_value(graph.unique_value_name(base));
    v->set_initializer(std::move(t));
    return v;
}

}  // namespace

Status fuse_layernorm(Graph& graph) {
    // Matching everything first keeps every node alive while patterns are read; no two matches share a node (each
    // starts at the ReduceMean of a Sub, and a variance's ReduceMean feeds an Add).
    std::vector<LayerNormMatch> matches;
    for (const auto& n : graph.nodes())
        if (auto m = match_layer_norm(graph, *n)) matches.push_back(std::move(*m));
    for (LayerNormMatch& m : matches) {
        const int64_t c = m.c;
        const std::string name = m.absorbed.back()->name;
        graph.remove_nodes(m.absorbed);
        Node* ln = graph.add_node("LayerNormalization", name);
        ln->opset = 17;  // the first opset with LayerNormalization; a model's own opset may be older
        ln->attrs["axis"] = int64_t{-1};
        ln->attrs["epsilon"] = static_cast<float>(m.epsilon);
        Tensor scale = m.scale ? std::move(*m.scale) : Tensor::from_vector<float>({c}, std::vector<float>(c, 1.0f));
        ln->inputs = {m.x, add_constant(graph, m.y->name + "_ln_scale", std::move(scale))};
        if (m.bias) ln->inputs.push_back(add_constant(graph, m.y->name + "_ln_bias", std::move(*m.bias)));
        ln->outputs = {m.y};
        m.y->producer = ln;
    }
    return Status::ok();
}

}  // namespace fovea::ir::passes
