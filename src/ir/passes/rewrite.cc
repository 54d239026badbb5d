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

std::optional<BatchNormAffine> batchnorm_affine(const Node& bn) {
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
    BatchNormAffine a;
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
