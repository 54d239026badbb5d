#include "ir/passes/rewrite.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "ops/op.h"

namespace fovea::ir::passes {

namespace {

// clang-format off
// Ops whose output has input 0's shape.
const std::set<std::string_view> kShapeKeeping = {
    "Abs", "BatchNormalization", "Cast", "Ceil", "Clip", "Dropout", "Elu", "Erf", "Exp", "Floor", "HardSigmoid",
    "HardSwish", "Identity", "InstanceNormalization", "LayerNormalization", "LeakyRelu", "Log", "LogSoftmax",
    "LpNormalization", "Neg", "Not", "Reciprocal", "Relu", "Round", "Selu", "Sigmoid", "Sign", "Softmax", "Softplus",
    "Sqrt", "Tanh"};
// Ops whose output is their inputs' multidirectional broadcast.
const std::set<std::string_view> kBroadcasting = {
    "Add", "And", "Div", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Max", "Mean", "Min", "Mul", "Or",
    "Pow", "PRelu", "Sub", "Sum", "Where"};
// Ops whose output keeps input 0's batch dim.
const std::set<std::string_view> kBatchKeeping = {
    "AveragePool", "Conv", "ConvTranspose", "FusedConv", "GlobalAveragePool", "GlobalMaxPool", "MaxPool"};
// clang-format on

}  // namespace

bool is_op(const Node* n, std::string_view op_type) {
    return n && n->domain.empty() && n->op_type == op_type;
}

namespace {

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
bool fold_into_conv(Graph& graph, Node& conv, const ChannelAffine& a, std::string_view suffix) {
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
    conv.inputs[1] = add_constant(graph, weight_name, std::move(folded), suffix);
    conv.inputs.resize(3, nullptr);
    conv.inputs[2] = add_constant(graph, b ? b->name : weight_name + "_bias", std::move(bias), suffix);
    return true;
}

// Gemm, Y = alpha * A * B + beta * C with channels along N: B's columns (rows when transB) scaled, C rewritten as
// beta * C * s + shift (broadcast over N, keeping C's rows), beta set to 1.
bool fold_into_gemm(Graph& graph, Node& gemm, const ChannelAffine& a, std::string_view suffix) {
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
    gemm.inputs[1] = add_constant(graph, weight_name, std::move(folded), suffix);
    gemm.inputs.resize(3, nullptr);
    gemm.inputs[2] = add_constant(graph, c_value ? c_value->name : weight_name + "_bias", std::move(bias), suffix);
    gemm.attrs["beta"] = 1.0f;
    return true;
}

// The per-channel values of constant `c` broadcast against a tensor of rank `rank` whose channel dim is `axis` with
// `channels` entries, if the broadcast leaves that tensor's shape as it is: a scalar, or ones except `channels` at
// the channel dim. Empty otherwise.
std::vector<double> per_channel(const Value* c, size_t rank, size_t axis, int64_t channels) {
    const Tensor* t = float32_constant(c);
    const auto t_rank = t ? static_cast<size_t>(t->rank()) : 0;
    if (!t || t_rank > rank) return {};
    const size_t offset = rank - t_rank;  // t's dims are right-aligned
    for (size_t d = 0; d < t_rank; ++d) {
        const int64_t dim = t->dim(static_cast<int64_t>(d));
        if (dim != 1 && !(d + offset == axis && dim == channels)) return {};
    }
    std::vector<double> v(static_cast<size_t>(channels));
    for (int64_t i = 0; i < channels; ++i) v[static_cast<size_t>(i)] = t->element_as_double(t->numel() == 1 ? 0 : i);
    return v;
}

}  // namespace

Value* add_constant(Graph& graph, const std::string& replaced, Tensor t, std::string_view suffix) {
    Value* v = graph.add_value(graph.unique_value_name(replaced + std::string(suffix)));
    v->set_initializer(std::move(t));
    return v;
}

const Tensor* float32_constant(const Value* v) {
    return v && v->constant && v->constant->dtype() == DType::kFloat32 ? &*v->constant : nullptr;
}

bool is_affine_op(const Node* n) {
    return is_op(n, "Mul") || is_op(n, "Add") || is_op(n, "Sub") || is_op(n, "Div");
}

void fold_each_affine_op(Graph& graph, bool (*fold)(Graph& graph, Node& n)) {
    for (bool folded = true; folded;) {
        folded = false;
        for (const auto& n : graph.nodes()) {
            if (is_affine_op(n.get()) && fold(graph, *n)) {
                folded = true;
                break;  // n is gone and the node list changed
            }
        }
    }
}

std::optional<ChannelAffine> constant_affine(const Node& n, const Value* x, size_t rank, size_t axis,
                                             int64_t channels) {
    if (n.inputs.size() != 2 || n.outputs.size() != 1 || !n.domain.empty()) return std::nullopt;
    const bool x_first = n.inputs[0] == x;
    const Value* c = other_input(&n, x);
    if (!c || n.inputs[0] == n.inputs[1]) return std::nullopt;
    const std::vector<double> k = per_channel(c, rank, axis, channels);
    if (k.empty()) return std::nullopt;
    ChannelAffine a{std::vector<double>(k.size(), 1.0), std::vector<double>(k.size(), 0.0)};
    for (size_t i = 0; i < k.size(); ++i) {
        if (n.op_type == "Mul") {
            a.scale[i] = k[i];
        } else if (n.op_type == "Add") {
            a.shift[i] = k[i];
        } else if (n.op_type == "Sub") {
            a.scale[i] = x_first ? 1.0 : -1.0;
            a.shift[i] = x_first ? -k[i] : k[i];
        } else if (n.op_type == "Div" && x_first && k[i] != 0.0) {
            a.scale[i] = 1.0 / k[i];
        } else {
            return std::nullopt;
        }
    }
    return a;
}

bool fold_channel_affine(Graph& graph, Node& producer, const ChannelAffine& a, std::string_view suffix) {
    if (is_op(&producer, "Conv") || is_op(&producer, "ConvTranspose"))
        return fold_into_conv(graph, producer, a, suffix);
    return is_op(&producer, "Gemm") && fold_into_gemm(graph, producer, a, suffix);
}

std::optional<ChannelAffine> batchnorm_affine(const Node& bn) {
    if (bn.opset < 9 && bn.attr_int("spatial", 1) == 0) return std::nullopt;  // statistics per activation
    if (bn.attr_int("training_mode", 0) != 0) return std::nullopt;
    for (size_t i = 1; i < bn.outputs.size(); ++i)
        if (bn.outputs[i]) return std::nullopt;
    std::vector<const Tensor*> params;
    for (size_t i = 1; i < 5; ++i) {
        const Value* v = bn.input(i);
        if (!v || !v->constant || v->constant->dtype() != DType::kFloat32 || v->constant->rank() != 1)
            return std::nullopt;
        params.push_back(&*v->constant);
    }
    const int64_t channels = params[0]->numel();
    for (const Tensor* p : params)
        if (p->numel() != channels) return std::nullopt;
    const double epsilon = bn.attr_float("epsilon", 1e-5f);
    ChannelAffine a;
    for (int64_t c = 0; c < channels; ++c) {
        const double s = params[0]->element_as_double(c) / std::sqrt(params[3]->element_as_double(c) + epsilon);
        a.scale.push_back(s);
        a.shift.push_back(params[1]->element_as_double(c) - params[2]->element_as_double(c) * s);
    }
    return a;
}

bool is_open_conv(const Node* n, bool want_sum) {
    if (is_op(n, "Conv")) return true;
    if (!n || n->domain != ops::kFoveaDomain || n->op_type != "FusedConv") return false;
    return n->attr_string("activation", "").empty() && !(want_sum && n->input(3));
}

bool feeds_only(const Graph& graph, const Value* v, const Node* consumer) {
    if (!v || graph.is_output(v)) return false;
    const std::vector<Node*> uses = graph.uses(v);
    return uses.size() == 1 && uses[0] == consumer;
}

std::optional<double> scalar_constant(const Value* v, size_t max_rank) {
    if (!v || !v->constant || v->constant->numel() != 1 || static_cast<size_t>(v->constant->rank()) > max_rank)
        return std::nullopt;
    if (!is_floating(v->constant->dtype())) return std::nullopt;
    return v->constant->element_as_double(0);
}

bool is_near(std::optional<double> v, double want) {
    return v && std::abs(*v - want) <= 1e-6 * std::max(1.0, std::abs(want));
}

Value* output0(const Node* n) {
    return n && !n->outputs.empty() ? n->outputs[0] : nullptr;
}

Value* other_input(const Node* n, const Value* v) {
    if (!n || n->inputs.size() != 2) return nullptr;
    if (n->inputs[0] == v) return n->inputs[1];
    if (n->inputs[1] == v) return n->inputs[0];
    return nullptr;
}

Node* sole_reader(const Graph& graph, const Value* v) {
    const std::vector<Node*> uses = graph.uses(v);
    return uses.size() == 1 && !graph.is_output(v) ? uses[0] : nullptr;
}

void make_fused_conv(Node& conv) {
    if (conv.op_type == "FusedConv") return;
    conv.op_type = "FusedConv";
    conv.domain = std::string(ops::kFoveaDomain);
    conv.opset = 1;
    conv.attrs["activation"] = std::string();
    conv.attrs["activation_params"] = std::vector<float>();
}

void take_over_output(Node& producer, Value* old, Value* v) {
    std::replace(producer.outputs.begin(), producer.outputs.end(), old, v);
    old->producer = nullptr;
    v->producer = &producer;
}

ShapeSymbols::ShapeSymbols(const Graph& graph) {
    std::map<std::string, int64_t> named;
    for (const Value* in : graph.inputs) {
        if (!in->shape) continue;
        Dims& d = dims_[in];
        for (size_t i = 0; i < in->shape->size(); ++i) {
            const int64_t s = (*in->shape)[i];
            const std::string param = i < in->dim_params.size() ? in->dim_params[i] : std::string();
            if (s >= 0) {
                d.push_back(s);
            } else if (param.empty()) {
                d.push_back(fresh());
            } else {
                auto it = named.find(param);
                if (it == named.end()) it = named.emplace(param, fresh()).first;
                d.push_back(it->second);
            }
        }
    }
    for (const auto& v : graph.values())
        if (v->constant && v->shape) dims_[v.get()] = Dims(v->shape->begin(), v->shape->end());
    for (const auto& n : graph.nodes())
        for (const Value* out : n->outputs)
            if (out && out->shape) dims_[out] = propagate(*n, *out);
}

ShapeSymbols::Dims ShapeSymbols::dims_of(const Value* v) const {
    auto it = dims_.find(v);
    return it == dims_.end() ? Dims() : it->second;
}

ShapeSymbols::Dims ShapeSymbols::propagate(const Node& node, const Value& out) {
    const Shape& shape = *out.shape;
    Dims d;
    for (int64_t s : shape) d.push_back(s >= 0 ? s : fresh());
    const Value* x = node.input(0);
    if (node.outputs.empty() || &out != node.outputs[0] || !x || !dims_.count(x)) return d;
    const Dims xd = dims_of(x);
    const bool onnx_op = node.domain.empty();
    if (onnx_op && kShapeKeeping.count(node.op_type) && xd.size() == d.size()) {
        for (size_t i = 0; i < d.size(); ++i)
            if (shape[i] < 0) d[i] = xd[i];
    } else if (onnx_op && kBroadcasting.count(node.op_type) && !node.has_attr("broadcast")) {
        for (size_t i = 0; i < d.size(); ++i) {
            if (shape[i] >= 0) continue;
            // Operands right-align; a dim of 1 (or a missing one) takes the others' size.
            std::set<int64_t> sizes;
            bool provable = true;
            for (const Value* in : node.inputs) {
                if (!in || !dims_.count(in) || dims_.at(in).size() > d.size()) {
                    provable = false;
                    continue;
                }
                const Dims& id = dims_.at(in);
                const size_t offset = d.size() - id.size();
                if (i >= offset && id[i - offset] != 1) sizes.insert(id[i - offset]);
            }
            if (provable && sizes.size() == 1) d[i] = *sizes.begin();
        }
    } else if (ops::is_known_domain(node.domain) && kBatchKeeping.count(node.op_type) && !d.empty() && !xd.empty() &&
               shape[0] < 0) {
        d[0] = xd[0];
    } else if (is_op(&node, "Concat") && xd.size() == d.size()) {
        // Every operand has the output's dims except along the axis.
        const auto rank = static_cast<int64_t>(d.size());
        const int64_t axis = (node.attr_int("axis", 0) + rank) % std::max<int64_t>(rank, 1);
        for (size_t i = 0; i < d.size(); ++i)
            if (shape[i] < 0 && static_cast<int64_t>(i) != axis) d[i] = xd[i];
    }
    return d;
}

bool ShapeSymbols::same_shape(const Value* a, const Value* b) const {
    auto ia = dims_.find(a), ib = dims_.find(b);
    return ia != dims_.end() && ib != dims_.end() && ia->second == ib->second;
}

}  // namespace fovea::ir::passes
