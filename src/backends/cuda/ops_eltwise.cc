// Elementwise maps, broadcasting binary ops, softmax, LayerNormalization, pooling and reductions: fovea's own kernels.
#include <algorithm>
#include <limits>
#include <map>
#include <optional>

#include "backends/cuda/engine.h"
#include "ops/elementwise_plan.h"
#include "ops/nn_geometry.h"
#include "ops/op.h"

namespace fovea::cuda {

namespace {

struct UnaryEntry {
    std::string_view op_type;
    Unary op;
};

constexpr UnaryEntry kUnaries[] = {
    {"Abs", Unary::kAbs},
    {"Ceil", Unary::kCeil},
    {"Clip", Unary::kClip},
    {"Elu", Unary::kElu},
    {"Erf", Unary::kErf},
    {"Exp", Unary::kExp},
    {"Floor", Unary::kFloor},
    {"HardSigmoid", Unary::kHardSigmoid},
    {"HardSwish", Unary::kHardSwish},
    {"LeakyRelu", Unary::kLeakyRelu},
    {"Log", Unary::kLog},
    {"Neg", Unary::kNeg},
    {"Reciprocal", Unary::kReciprocal},
    {"Relu", Unary::kRelu},
    {"Sigmoid", Unary::kSigmoid},
    {"Softplus", Unary::kSoftplus},
    {"Sqrt", Unary::kSqrt},
    {"Tanh", Unary::kTanh},
    {"SiLU", Unary::kSiLU},
    {"Gelu", Unary::kGelu},
};

// A constant scalar operand (Clip's bounds), or `fallback` when omitted.
Result<float> constant_scalar(const ir::Node& node, size_t input, float fallback) {
    const ir::Value* v = node.input(input);
    if (!v) return fallback;
    if (!v->constant || v->constant->numel() != 1)
        return node_unsupported(node, "input " + std::to_string(input) + " must be a constant scalar");
    return static_cast<float>(v->constant->element_as_double(0));
}

Result<Launch> unary_launch(const ir::Node& node, Builder& b, UnaryParams f) {
    FOVEA_ASSIGN(const Float t, b.float_type(node, *node.input(0)));
    // Elementwise: x read in the layout y is stored in.
    FOVEA_ASSIGN(void* x, b.pointer_as(node, node.input(0), b.layout(*node.outputs[0])));
    FOVEA_ASSIGN(void* y, b.pointer(node, node.outputs[0]));
    const int64_t n = shape_numel(shape_of(*node.outputs[0]));
    return Launch([=, &node](const Exec& e) { return launched(node, launch_unary(t, f, x, y, n, e.stream)); });
}

// A unary node's map and its parameters.
Result<UnaryParams> unary_params(const ir::Node& node) {
    UnaryParams f;
    const auto* entry = std::find_if(std::begin(kUnaries), std::end(kUnaries),
                                     [&](const UnaryEntry& u) { return u.op_type == node.op_type; });
    if (entry == std::end(kUnaries)) return node_unsupported(node, "the op is not");
    f.op = entry->op;
    switch (f.op) {
        case Unary::kClip: {
            FOVEA_ASSIGN(f.p0, constant_scalar(node, 1, -std::numeric_limits<float>::infinity()));
            FOVEA_ASSIGN(f.p1, constant_scalar(node, 2, std::numeric_limits<float>::infinity()));
            break;
        }
        case Unary::kLeakyRelu:
            f.p0 = node.attr_float("alpha", 0.01f);
            break;
        case Unary::kHardSigmoid:
            f.p0 = node.attr_float("alpha", 0.2f);
            f.p1 = node.attr_float("beta", 0.5f);
            break;
        case Unary::kElu:
            f.p0 = node.attr_float("alpha", 1.0f);
            break;
        default:
            break;
    }
    return f;
}

// A binary node's op (Sum of two operands adds).
Binary binary_op(const ir::Node& node) {
    const std::string& type = node.op_type;
    if (type == "Sub") return Binary::kSub;
    if (type == "Mul") return Binary::kMul;
    if (type == "Div") return Binary::kDiv;
    if (type == "Pow") return Binary::kPow;
    if (type == "Max") return Binary::kMax;
    if (type == "Min") return Binary::kMin;
    if (type == "PRelu") return Binary::kPRelu;
    return Binary::kAdd;
}

// A Pow by a constant scalar: a unary map (YOLO's squares).
std::optional<UnaryParams> power_map(const ir::Node& node) {
    const ir::Value* e = node.input(1);
    if (node.op_type != "Pow" || !e || !e->constant || e->constant->numel() != 1) return std::nullopt;
    return UnaryParams{Unary::kPowScalar, static_cast<float>(e->constant->element_as_double(0)), 0};
}

// Strides (in elements, 0 on broadcast dims) of operand `v`, of broadcast shape `s`, over y's logical dims `ys`:
// right-aligned numpy broadcasting; a 4-D operand stored NHWC (`nhwc`) has its NHWC strides in NCHW dim order.
void operand_strides(const Shape& ys, const Shape& s, bool nhwc, int64_t* out) {
    if (nhwc && s.size() == 4) {
        const int64_t c = s[1], h = s[2], w = s[3];
        const int64_t st[4] = {h * w * c, 1, w * c, c};
        for (int d = 0; d < 4; ++d) out[d] = s[static_cast<size_t>(d)] == 1 ? 0 : st[d];
        return;
    }
    int64_t stride = 1;
    for (size_t i = 0; i < ys.size(); ++i) {
        const size_t d = ys.size() - 1 - i;  // dim d of y is dim (s.size() - 1 - i) of s
        if (i >= s.size()) {
            out[d] = 0;
            continue;
        }
        const int64_t dim = s[s.size() - 1 - i];
        out[d] = dim == 1 ? 0 : stride;
        stride *= dim;
    }
}

// An NHWC y is contiguous in N, H, W, C order: the kernels walk its dims (and every operand's strides) so.
constexpr int kNhwcOrder[4] = {0, 2, 3, 1};
void to_nhwc_order(int64_t* dims) {
    const int64_t nchw[4] = {dims[0], dims[1], dims[2], dims[3]};
    for (int d = 0; d < 4; ++d) dims[d] = nchw[kNhwcOrder[d]];
}

}  // namespace

Result<Launch> build_unary(const ir::Node& node, Builder& b) {
    FOVEA_ASSIGN(const UnaryParams f, unary_params(node));
    return unary_launch(node, b, f);
}

Result<Launch> build_binary(const ir::Node& node, Builder& b) {
    const Binary op = binary_op(node);
    if (node.inputs.size() != 2 || !node.inputs[0] || !node.inputs[1])
        return node_unsupported(node, "only two operands are");
    const ir::Value* av = node.inputs[0];
    const ir::Value* bv = node.inputs[1];
    const ir::Value* yv = node.outputs[0];
    FOVEA_ASSIGN(const Float t, b.float_type(node, *yv));
    const std::optional<UnaryParams> map = power_map(node);
    if (av->dtype != yv->dtype || (bv->dtype != yv->dtype && !map))
        return node_unsupported(node, "operands of another dtype than the output (an integer exponent) are not");
    if (map) return unary_launch(node, b, *map);

    const Shape& ys = shape_of(*yv);
    if (ys.size() > kMaxDims) return node_unsupported(node, "more than 6 dims are not");
    FOVEA_ASSIGN(Shape as, ops::broadcast_operand_shape(node, 0, shape_of(*av), static_cast<int64_t>(ys.size())));
    FOVEA_ASSIGN(Shape bs,
                 ops::broadcast_operand_shape(node, 1, shape_of(*bv), static_cast<int64_t>(shape_of(*av).size())));
    // An NHWC y: 4-D operands whose layouts matter are read NHWC too, and the dims run in NHWC order below.
    const Layout lay = b.layout(*yv);
    FOVEA_ASSIGN(void* a, b.pointer_as(node, av, lay));
    FOVEA_ASSIGN(void* bp, b.pointer_as(node, bv, lay));
    FOVEA_ASSIGN(void* y, b.pointer(node, yv));
    bool nhwc[2] = {lay == Layout::kNHWC && layout_matters(*av), lay == Layout::kNHWC && layout_matters(*bv)};
    // The kernels' fast path wants the full-size operand first; commutative ops may swap.
    const bool commutative = op == Binary::kAdd || op == Binary::kMul || op == Binary::kMax || op == Binary::kMin;
    if (commutative && shape_numel(as) < shape_numel(bs)) {
        std::swap(as, bs);
        std::swap(a, bp);
        std::swap(nhwc[0], nhwc[1]);
    }
    BinaryParams p;
    p.op = op;
    p.rank = static_cast<int>(ys.size());
    for (size_t d = 0; d < ys.size(); ++d) p.size[d] = ys[d];
    operand_strides(ys, as, nhwc[0], p.a_stride);
    operand_strides(ys, bs, nhwc[1], p.b_stride);
    if (lay == Layout::kNHWC) {
        to_nhwc_order(p.size);
        to_nhwc_order(p.a_stride);
        to_nhwc_order(p.b_stride);
    }
    return Launch([=, &node](const Exec& e) { return launched(node, launch_binary(t, p, a, bp, y, e.stream)); });
}

bool chainable(const ir::Node& node) {
    const ir::Value* y = node.outputs.empty() ? nullptr : node.outputs[0];
    // The chain kernel walks at most kMaxDims dims (a unary node alone takes any rank).
    if (!y || !y->shape_known() || y->shape->size() > static_cast<size_t>(kMaxDims)) return false;
    if (y->dtype != DType::kFloat32 && y->dtype != DType::kFloat16) return false;  // the kernel computes in float
    const BuildFn build = find_builder(node);
    if (build == build_unary) return unary_params(node).is_ok();
    return build == build_binary && node.inputs.size() == 2 && node.inputs[0] && node.inputs[1] &&
           node.inputs[0]->dtype == y->dtype && (node.inputs[1]->dtype == y->dtype || power_map(node));
}

Result<Launch> build_chain(const std::vector<const ir::Node*>& chain, Builder& b) {
    const ir::Node& last = *chain.back();
    if (chain.size() > static_cast<size_t>(kMaxChainSteps)) return node_error(last, "elementwise chain too long");
    const ir::Value* yv = last.outputs[0];
    FOVEA_ASSIGN(const Float t, b.float_type(last, *yv));
    const Shape& ys = shape_of(*yv);
    const Layout lay = b.layout(*yv);
    ChainParams p;
    p.rank = static_cast<int>(ys.size());
    for (size_t d = 0; d < ys.size(); ++d) p.size[d] = ys[d];
    // The strides of `v` read by `node` at input slot `slot`, in y's dims; its device pointer in y's layout.
    auto operand = [&](const ir::Node& node, size_t slot, int64_t* strides) -> Result<const void*> {
        const ir::Value* v = node.inputs[slot];
        Shape s = shape_of(*v);
        if (find_builder(node) == build_binary) {
            FOVEA_ASSIGN(s, ops::broadcast_operand_shape(node, static_cast<int>(slot), s,
                                                         static_cast<int64_t>(shape_of(*node.inputs[0]).size())));
        }
        if (const View* view = b.view(*v)) {  // its own strides, right-aligned to y's dims; 0 where broadcast
            if (s.size() != view->strides.size() || s.size() > ys.size())
                return node_error(node, "a strided view read with legacy broadcasting (internal)");
            const size_t lead = ys.size() - s.size();
            for (size_t d = 0; d < ys.size(); ++d)
                strides[d] = d < lead || s[d - lead] == 1 ? 0 : view->strides[d - lead];
            return b.view_pointer(node, *view);
        }
        operand_strides(ys, s, lay == Layout::kNHWC && layout_matters(*v), strides);
        FOVEA_ASSIGN(void* ptr, b.pointer_as(node, v, lay));
        return static_cast<const void*>(ptr);
    };
    const void* x = nullptr;
    const ir::Value* running = nullptr;  // the value the chain carries into the next step
    for (const ir::Node* node : chain) {
        ChainStep& step = p.step[p.steps++];
        // The first step reads its (first) input as x; later ones the running value, in either slot.
        const size_t carried = !running ? 0 : node->inputs[0] == running ? 0 : 1;
        if (!running) {
            FOVEA_ASSIGN(x, operand(*node, 0, p.x_stride));
        }
        if (find_builder(*node) == build_unary) {
            FOVEA_ASSIGN(step.unary, unary_params(*node));
        } else if (const std::optional<UnaryParams> map = power_map(*node)) {
            step.unary = *map;
        } else {
            step.binary = true;
            step.op = binary_op(*node);
            step.operand_first = carried == 1;
            FOVEA_ASSIGN(step.operand, operand(*node, 1 - carried, step.stride));
        }
        running = node->outputs[0];
    }
    if (lay == Layout::kNHWC) {
        to_nhwc_order(p.size);
        to_nhwc_order(p.x_stride);
        for (int s = 0; s < p.steps; ++s) to_nhwc_order(p.step[s].stride);
    }
    FOVEA_ASSIGN(void* y, b.pointer(last, yv));
    return Launch([=, &last](const Exec& e) { return launched(last, launch_chain(t, p, x, y, e.stream)); });
}

Result<Launch> build_softmax(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    FOVEA_ASSIGN(const Float t, b.float_type(node, *xv));
    const Shape& xs = shape_of(*xv);
    const auto rank = static_cast<int64_t>(xs.size());
    FOVEA_ASSIGN(const size_t a, axis_attr(node, xs.size(), node.opset < 13 ? 1 : -1));
    int64_t outer = product(xs, 0, a), count = 0, inner = 0;
    if (node.opset < 13) {  // the input coerced to 2-D at the axis
        count = product(xs, a, xs.size());
        inner = 1;
    } else {
        count = rank == 0 ? 1 : xs[a];
        inner = product(xs, std::min(a + 1, xs.size()), xs.size());
    }
    const bool log = node.op_type == "LogSoftmax";
    FOVEA_ASSIGN(void* x, b.pointer(node, xv));
    FOVEA_ASSIGN(void* y, b.pointer(node, node.outputs[0]));
    return Launch([=, &node](const Exec& e) {
        return launched(node, launch_softmax(t, log, x, y, outer, count, inner, e.stream));
    });
}

namespace {

// A constant broadcast (right-aligned, numpy style) to `dims`, as floats in row-major order.
std::vector<float> broadcast_constant(const Tensor& t, const Shape& dims) {
    const Shape& ts = t.shape();
    std::vector<int64_t> strides(dims.size(), 0);
    int64_t stride = 1;
    for (size_t i = 0; i < ts.size(); ++i) {
        const int64_t dim = ts[ts.size() - 1 - i];
        if (i < dims.size() && dim != 1) strides[dims.size() - 1 - i] = stride;
        stride *= dim;
    }
    std::vector<float> out(static_cast<size_t>(shape_numel(dims)));
    for (size_t i = 0; i < out.size(); ++i) {
        auto rest = static_cast<int64_t>(i);
        int64_t at = 0;
        for (size_t d = dims.size(); d-- > 0;) {
            at += rest % dims[d] * strides[d];
            rest /= dims[d];
        }
        out[i] = static_cast<float>(t.element_as_double(at));
    }
    return out;
}

}  // namespace

namespace {

// Operand i of y's broadcast, at strides in y's dims (graphs read NCHW bytes: these ops take no layouts).
Status broadcast_operand(const ir::Node& node, const Shape& ys, const ir::Value& v, int64_t* strides) {
    if (shape_of(v).size() > ys.size()) return node_error(node, "an operand has more dims than the output");
    operand_strides(ys, shape_of(v), false, strides);
    return Status::ok();
}

}  // namespace

// Comparisons (float operands) and logic ops (bool operands), bool output; Not is a Xor with true.
Result<Launch> build_compare(const ir::Node& node, Builder& b) {
    static const std::map<std::string, Compare> kOps = {{"Equal", Compare::kEqual},
                                                        {"Greater", Compare::kGreater},
                                                        {"GreaterOrEqual", Compare::kGreaterOrEqual},
                                                        {"Less", Compare::kLess},
                                                        {"LessOrEqual", Compare::kLessOrEqual},
                                                        {"And", Compare::kAnd},
                                                        {"Or", Compare::kOr},
                                                        {"Not", Compare::kXor}};
    const Compare op = kOps.at(node.op_type);
    const bool logic = op == Compare::kAnd || op == Compare::kOr || op == Compare::kXor;
    const ir::Value* yv = node.outputs[0];
    const Shape& ys = shape_of(*yv);
    if (ys.size() > kMaxDims) return node_unsupported(node, "more than 6 dims are not");
    const ir::Value* av = node.input(0);
    const ir::Value* bv = node.op_type == "Not" ? nullptr : node.input(1);
    if (!av || (node.op_type != "Not" && !bv)) return node_error(node, "an operand is missing");
    Float t = Float::kF32;
    if (logic) {
        if (av->dtype != DType::kBool || (bv && bv->dtype != DType::kBool))
            return node_unsupported(node, "logic ops on other than bool are not");
    } else {
        FOVEA_ASSIGN(t, b.float_type(node, *av));
        FOVEA_ASSIGN(const Float tb, b.float_type(node, *bv));
        if (t != tb) return node_error(node, "operands of different types");
    }
    Broadcast3 p;
    p.rank = static_cast<int>(ys.size());
    for (size_t d = 0; d < ys.size(); ++d) p.size[d] = ys[d];
    FOVEA_TRY(broadcast_operand(node, ys, *av, p.stride[0]));
    FOVEA_ASSIGN(void* a, b.pointer(node, av));
    void* other = nullptr;
    if (bv) {
        FOVEA_TRY(broadcast_operand(node, ys, *bv, p.stride[1]));
        FOVEA_ASSIGN(other, b.pointer(node, bv));
    } else {
        const bool truth = true;  // Not x == x xor true, the scalar broadcast (stride 0)
        FOVEA_ASSIGN(other, b.upload(&truth, sizeof(truth)));
    }
    FOVEA_ASSIGN(void* y, b.pointer(node, yv));
    return Launch([=, &node](const Exec& e) {
        return launched(node, launch_compare(t, op, p, a, other, static_cast<bool*>(y), e.stream));
    });
}

// Where(cond, a, b): any element type, three-way broadcast.
Result<Launch> build_where(const ir::Node& node, Builder& b) {
    const ir::Value* cv = node.input(0);
    const ir::Value* av = node.input(1);
    const ir::Value* bv = node.input(2);
    const ir::Value* yv = node.outputs[0];
    if (!cv || !av || !bv) return node_error(node, "Where takes three operands");
    if (cv->dtype != DType::kBool) return node_error(node, "the condition must be bool");
    if (b.stored(*av) != b.stored(*yv) || b.stored(*bv) != b.stored(*yv))
        return node_error(node, "X and Y must have the output's type");
    const Shape& ys = shape_of(*yv);
    if (ys.size() > kMaxDims) return node_unsupported(node, "more than 6 dims are not");
    Broadcast3 p;
    p.rank = static_cast<int>(ys.size());
    for (size_t d = 0; d < ys.size(); ++d) p.size[d] = ys[d];
    const ir::Value* operands[3] = {cv, av, bv};
    void* at[3] = {};
    for (int k = 0; k < 3; ++k) {
        FOVEA_TRY(broadcast_operand(node, ys, *operands[k], p.stride[k]));
        FOVEA_ASSIGN(at[k], b.pointer(node, operands[k]));
    }
    FOVEA_ASSIGN(void* y, b.pointer(node, yv));
    const int esize = element_size(b.stored(*yv));
    return Launch([=, &node](const Exec& e) {
        return launched(node, launch_where(esize, p, static_cast<const bool*>(at[0]), at[1], at[2], y, e.stream));
    });
}

// Cast between the stored types of its input and output (under fp16, float32 values are stored as float16).
Result<Launch> build_cast(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    const ir::Value* yv = node.outputs[0];
    auto element = [&](const ir::Value& v) -> Result<Element> {
        switch (b.stored(v)) {
            case DType::kFloat32:
                return Element::kF32;
            case DType::kFloat16:
                return Element::kF16;
            case DType::kFloat64:
                return Element::kF64;
            case DType::kInt64:
                return Element::kI64;
            case DType::kInt32:
                return Element::kI32;
            case DType::kInt8:
                return Element::kI8;
            case DType::kUInt8:
                return Element::kU8;
            case DType::kBool:
                return Element::kBool;
            default:
                return node_unsupported(node, std::string("casting ") + dtype_name(v.dtype) + " is not");
        }
    };
    FOVEA_ASSIGN(const Element from, element(*xv));
    FOVEA_ASSIGN(const Element to, element(*yv));
    const int64_t n = shape_numel(shape_of(*yv));
    FOVEA_ASSIGN(void* x, b.pointer(node, xv));
    FOVEA_ASSIGN(void* y, b.pointer(node, yv));
    if (from == to) {
        const size_t bytes = static_cast<size_t>(n) * dtype_size(b.stored(*yv));
        return Launch([=, &node](const Exec& e) {
            return launched(node, cudaMemcpyAsync(y, x, bytes, cudaMemcpyDeviceToDevice, e.stream));
        });
    }
    return Launch([=, &node](const Exec& e) { return launched(node, launch_convert(from, to, x, y, n, e.stream)); });
}

// InstanceNormalization: x [N, C, spatial...] as N * C rows of the spatial size, each normalized on its own.
Result<Launch> build_instance_norm(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    FOVEA_ASSIGN(const Float t, b.float_type(node, *xv));
    const Shape& xs = shape_of(*xv);
    if (xs.size() < 3) return node_error(node, "X needs at least 3 dims");
    const int64_t channels = xs[1], rows = xs[0] * xs[1], size = product(xs, 2, xs.size());
    for (size_t i = 1; i < 3; ++i) {
        const ir::Value* v = node.input(i);
        if (!v) return node_error(node, "scale and B are required");
        if (shape_numel(shape_of(*v)) != channels) return node_error(node, "scale and B need one value per channel");
        FOVEA_ASSIGN(const Float pt, b.float_type(node, *v));
        if (pt != t) return node_unsupported(node, "a scale or B of another type than X is not");
    }
    const float epsilon = node.attr_float("epsilon", 1e-5f);
    FOVEA_ASSIGN(void* scale, b.pointer(node, node.input(1)));
    FOVEA_ASSIGN(void* bias, b.pointer(node, node.input(2)));
    FOVEA_ASSIGN(void* x, b.pointer(node, xv));
    FOVEA_ASSIGN(void* y, b.pointer(node, node.outputs[0]));
    return Launch([=, &node](const Exec& e) {
        return launched(node, launch_instance_norm(t, x, scale, bias, y, rows, channels, size, epsilon, e.stream));
    });
}

// ArgMax, ArgMin: int64 indices along one axis of a float tensor.
Result<Launch> build_arg_reduce(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    FOVEA_ASSIGN(const Float t, b.float_type(node, *xv));
    const Shape& xs = shape_of(*xv);
    const auto rank = static_cast<int64_t>(xs.size());
    FOVEA_ASSIGN(const size_t a, axis_attr(node, xs.size()));
    const int64_t outer = product(xs, 0, a), count = rank == 0 ? 1 : xs[a], inner = product(xs, a + 1, xs.size());
    if (count == 0) return node_error(node, "the reduced axis is empty");
    const bool max = node.op_type == "ArgMax", last = node.attr_int("select_last_index", 0) != 0;
    FOVEA_ASSIGN(void* x, b.pointer(node, xv));
    FOVEA_ASSIGN(void* y, b.pointer(node, node.outputs[0]));
    return Launch([=, &node](const Exec& e) {
        return launched(node,
                        launch_arg_reduce(t, max, last, x, static_cast<int64_t*>(y), outer, count, inner, e.stream));
    });
}

Result<Launch> build_topk(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    FOVEA_ASSIGN(const Float t, b.float_type(node, *xv));
    const Shape& xs = shape_of(*xv);
    FOVEA_ASSIGN(const size_t a, axis_attr(node, xs.size(), -1));
    const int64_t outer = product(xs, 0, a), count = xs[a], inner = product(xs, a + 1, xs.size());
    const int64_t k = shape_of(*node.outputs[0])[a];
    if (k > kMaxTopK) return node_unsupported(node, "k above " + std::to_string(kMaxTopK) + " is not");
    const bool largest = node.attr_int("largest", 1) != 0;
    FOVEA_ASSIGN(void* x, b.pointer(node, xv));
    FOVEA_ASSIGN(void* values, b.pointer(node, node.outputs[0]));
    void* indices = nullptr;
    if (node.outputs.size() > 1 && node.outputs[1]) {
        FOVEA_ASSIGN(indices, b.pointer(node, node.outputs[1]));
    } else {  // omitted, but the kernel writes them
        FOVEA_ASSIGN(indices, b.upload(nullptr, static_cast<size_t>(outer * k * inner) * sizeof(int64_t)));
    }
    return Launch([=, &node](const Exec& e) {
        return launched(
            node, launch_topk(t, largest, x, values, static_cast<int64_t*>(indices), outer, count, inner, k, e.stream));
    });
}

Result<Launch> build_layer_norm(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    FOVEA_ASSIGN(const Float t, b.float_type(node, *xv));
    if (node.attr_int("stash_type", 1) != 1) return node_unsupported(node, "stash_type other than 1 (float) is not");
    const Shape& xs = shape_of(*xv);
    // The normalized dims are the trailing ones: x is [rows, size], each row contiguous.
    FOVEA_ASSIGN(const size_t a, axis_attr(node, xs.size(), -1));
    const Shape normalized(xs.begin() + static_cast<int64_t>(a), xs.end());
    const int64_t size = product(xs, a, xs.size()), rows = product(xs, 0, a);
    const float epsilon = node.attr_float("epsilon", 1e-5f);

    // Scale and bias as `size` values in x's storage type: constants are broadcast here, once; runtime ones must
    // hold the whole normalized shape already.
    auto parameter = [&](size_t input) -> Result<void*> {
        const ir::Value* v = node.input(input);
        if (!v) return static_cast<void*>(nullptr);
        if (v->constant) return b.upload_floats(broadcast_constant(*v->constant, normalized), t);
        FOVEA_ASSIGN(const Float pt, b.float_type(node, *v));
        if (pt != t || shape_numel(shape_of(*v)) != size)
            return node_unsupported(node, "a runtime scale or bias that is broadcast or of another type than X is not");
        return b.pointer(node, v);
    };
    if (!node.input(1)) return node_error(node, "Scale is required");
    FOVEA_ASSIGN(void* scale, parameter(1));
    FOVEA_ASSIGN(void* bias, parameter(2));
    FOVEA_ASSIGN(void* x, b.pointer(node, xv));
    FOVEA_ASSIGN(void* y, b.pointer(node, node.outputs[0]));
    // The optional Mean and InvStdDev outputs (float32 in the IR) are written in the kernel's storage type.
    void* stats[2] = {nullptr, nullptr};
    for (size_t i = 1; i < 3; ++i) {
        const ir::Value* v = i < node.outputs.size() ? node.outputs[i] : nullptr;
        if (!v) continue;
        FOVEA_ASSIGN(const Float st, b.float_type(node, *v));
        if (st != t) return node_unsupported(node, "Mean or InvStdDev stored in another type than X is not");
        FOVEA_ASSIGN(stats[i - 1], b.pointer(node, v));
    }
    void* mean = stats[0];
    void* inv_std = stats[1];
    return Launch([=, &node](const Exec& e) {
        return launched(node, launch_layer_norm(t, x, scale, bias, y, mean, inv_std, rows, size, epsilon, e.stream));
    });
}

Result<Launch> build_pool(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    FOVEA_ASSIGN(const Float t, b.float_type(node, *xv));
    if (node.outputs.size() > 1 && node.outputs[1]) return node_unsupported(node, "MaxPool's indices output is not");
    const Shape& xs = shape_of(*xv);
    const Shape& ys = shape_of(*node.outputs[0]);
    if (xs.size() != 3 && xs.size() != 4) return node_unsupported(node, "only 1-D and 2-D pooling is");
    FOVEA_ASSIGN(const ops::Window w,
                 ops::resolve_window(node, ops::WindowKind::kPool, Shape(xs.begin() + 2, xs.end()), {}));
    const bool two_d = xs.size() == 4;
    auto at = [&](const std::vector<int64_t>& v, size_t d2) {  // dim d2 of the 2-D view
        return two_d ? v[d2] : d2 == 0 ? 0 : v[0];
    };
    Pool2dParams p;
    const bool nhwc = two_d && b.layout(*xv) == Layout::kNHWC;
    p.channels_last = nhwc;
    p.channels = xs[1];
    p.max = node.op_type == "MaxPool";
    p.count_include_pad = node.attr_int("count_include_pad", 0) != 0;
    p.planes = xs[0] * xs[1];
    p.in_h = two_d ? xs[2] : 1;
    p.in_w = xs.back();
    p.out_h = two_d ? ys[2] : 1;
    p.out_w = ys.back();
    p.k_h = two_d ? w.kernel[0] : 1;
    p.k_w = w.kernel.back();
    p.s_h = two_d ? w.strides[0] : 1;
    p.s_w = w.strides.back();
    p.d_h = two_d ? w.dilations[0] : 1;
    p.d_w = w.dilations.back();
    p.pad_top = at(w.pad_begin, 0);
    p.pad_left = at(w.pad_begin, 1);
    p.pad_bottom = at(w.pad_end, 0);
    p.pad_right = at(w.pad_end, 1);
    if (nhwc) p.planes = xs[0];
    const Layout lay = nhwc ? Layout::kNHWC : Layout::kNCHW;
    FOVEA_ASSIGN(void* x, b.pointer_as(node, xv, lay));
    FOVEA_ASSIGN(void* y, b.output_as(node, node.outputs[0], lay));
    return Launch([=, &node](const Exec& e) { return launched(node, launch_pool2d(t, p, x, y, e.stream)); });
}

Result<Launch> build_reduce(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    FOVEA_ASSIGN(const Float t, b.float_type(node, *xv));
    const Shape& xs = shape_of(*xv);
    const std::string& type = node.op_type;
    Reduce op = Reduce::kMean;
    if (type == "GlobalMaxPool" || type == "ReduceMax")
        op = Reduce::kMax;
    else if (type == "ReduceMin")
        op = Reduce::kMin;
    else if (type == "ReduceSum")
        op = Reduce::kSum;
    std::vector<bool> reduced(xs.size(), false);
    if (type.rfind("Global", 0) == 0) {
        for (size_t d = 2; d < xs.size(); ++d) reduced[d] = true;
    } else {
        std::vector<int64_t> axes;
        if (node.input(1)) {
            FOVEA_ASSIGN(axes, constant_ints(node, 1));
        }
        if (axes.empty() && node.attr_int("noop_with_empty_axes", 0) != 0)
            return node_unsupported(node, "noop_with_empty_axes is not");
        if (axes.empty()) std::fill(reduced.begin(), reduced.end(), true);
        for (int64_t axis : axes) {
            if (axis < 0) axis += static_cast<int64_t>(xs.size());
            if (axis < 0 || axis >= static_cast<int64_t>(xs.size())) return node_error(node, "axis out of range");
            reduced[static_cast<size_t>(axis)] = true;
        }
    }
    // One contiguous run of reduced dims (size-1 dims may sit anywhere): x as [outer, count, inner].
    size_t first = xs.size(), last = 0;
    for (size_t d = 0; d < xs.size(); ++d)
        if (reduced[d] && xs[d] != 1) {
            first = std::min(first, d);
            last = d;
        }
    int64_t outer = shape_numel(xs), count = 1, inner = 1;  // only size-1 dims reduced: a copy
    if (first < xs.size()) {
        for (size_t d = first; d <= last; ++d)
            if (!reduced[d] && xs[d] != 1) return node_unsupported(node, "reducing non-adjacent axes is not");
        outer = product(xs, 0, first);
        count = product(xs, first, last + 1);
        inner = product(xs, last + 1, xs.size());
    }
    void* x = nullptr;
    if (type.rfind("Global", 0) == 0 && xs.size() == 4 && b.layout(*xv) == Layout::kNHWC) {
        // [N, H*W, C]: the pooled [N, C, 1, 1] is the same bytes in either layout.
        outer = xs[0];
        count = xs[2] * xs[3];
        inner = xs[1];
        FOVEA_ASSIGN(x, b.pointer_as(node, xv, Layout::kNHWC));
    } else {
        FOVEA_ASSIGN(x, b.pointer(node, xv));
    }
    FOVEA_ASSIGN(void* y, b.pointer(node, node.outputs[0]));
    if (inner > 1) b.need_workspace(reduce_scratch_bytes(outer, count, inner));  // split long columns
    return Launch([=, &node](const Exec& e) {
        return launched(node,
                        launch_reduce(t, op, x, y, outer, count, inner, e.workspace, e.workspace_bytes, e.stream));
    });
}

}  // namespace fovea::cuda
