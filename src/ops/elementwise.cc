#include <algorithm>
#include <optional>
#include <string>

#include "ops/elementwise_plan.h"
#include "ops/op.h"

namespace fovea::ops {

namespace {

Status check_dtype(const InferContext& ctx, size_t i, DTypeSet set) {
    const DType dt = ctx.input(i).dtype;
    if (dtype_in(set, dt)) return Status::ok();
    return ctx.fail_unsupported("input " + std::to_string(i) + " has dtype " + dtype_name(dt) +
                                ", which this op does not take");
}

// Inputs first..last that are present all have input `first`'s dtype.
Status check_same_dtype(const InferContext& ctx, size_t first, size_t last) {
    for (size_t i = first + 1; i <= last; ++i)
        if (ctx.has_input(i) && ctx.input(i).dtype != ctx.input(first).dtype)
            return ctx.fail(std::string("inputs ") + std::to_string(first) + " and " + std::to_string(i) +
                            " differ in dtype (" + dtype_name(ctx.input(first).dtype) + " vs " +
                            dtype_name(ctx.input(i).dtype) + ")");
    return Status::ok();
}

// One input, one output of the same dtype and shape.
Status infer_unary(InferContext& ctx, DTypeSet set) {
    FOVEA_TRY(ctx.expect_inputs(1, 1));
    FOVEA_TRY(check_dtype(ctx, 0, set));
    ctx.set_output(0, ctx.input(0).dtype, ctx.input(0).shape);
    return Status::ok();
}

// The broadcast shape of every present input; nullopt when a rank is unknown.
Result<std::optional<Shape>> broadcast_inputs(const InferContext& ctx) {
    for (const TensorInfo& in : ctx.inputs)
        if (in.present && !in.shape) return std::optional<Shape>();
    const Shape& first = *ctx.input(0).shape;
    Shape out = first;
    for (size_t i = 1; i < ctx.num_inputs(); ++i) {
        if (!ctx.has_input(i)) continue;
        auto operand = broadcast_operand_shape(ctx.node, i, *ctx.input(i).shape, static_cast<int64_t>(first.size()));
        if (!operand.is_ok()) return ctx.fail(operand.status().message());
        auto shape = broadcast_shapes(out, *operand);
        if (!shape.is_ok()) return ctx.fail(shape.status().message());
        out = std::move(*shape);
    }
    return std::optional<Shape>(std::move(out));
}

// `arity` inputs (0: one or more) of one dtype from `set`, broadcast together; the output is bool or that dtype.
Status infer_broadcast(InferContext& ctx, size_t arity, DTypeSet set, bool bool_output) {
    const size_t count = arity ? arity : std::max<size_t>(ctx.num_inputs(), 1);
    FOVEA_TRY(ctx.expect_inputs(count, count));
    FOVEA_TRY(check_dtype(ctx, 0, set));
    FOVEA_TRY(check_same_dtype(ctx, 0, ctx.num_inputs() - 1));
    FOVEA_ASSIGN(std::optional<Shape> shape, broadcast_inputs(ctx));
    ctx.set_output(0, bool_output ? DType::kBool : ctx.input(0).dtype, std::move(shape));
    return Status::ok();
}

// ONNX TensorProto.DataType codes of the dtypes fovea has.
std::optional<DType> dtype_from_onnx(int64_t code) {
    switch (code) {
        case 1:
            return DType::kFloat32;
        case 2:
            return DType::kUInt8;
        case 3:
            return DType::kInt8;
        case 6:
            return DType::kInt32;
        case 7:
            return DType::kInt64;
        case 9:
            return DType::kBool;
        case 10:
            return DType::kFloat16;
        case 11:
            return DType::kFloat64;
        case 16:
            return DType::kBFloat16;
        default:
            return std::nullopt;
    }
}

// A scalar input's value, when known, as double.
std::optional<double> known_scalar(const InferContext& ctx, size_t i) {
    const Tensor* t = ctx.value(i);
    if (!t || t->numel() != 1) return std::nullopt;
    return t->element_as_double(0);
}

// An activation the optimizer creates in domain "fovea" (Gelu, SiLU): unary on floats.
Status infer_fovea_activation(InferContext& ctx) {
    if (ctx.node.domain != kFoveaDomain)
        return ctx.fail_unsupported(ctx.node.op_type + " is taken only in domain 'fovea'");
    return infer_unary(ctx, DTypeSet::kFloat);
}

}  // namespace

Status infer_Abs(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kNumeric);
}
Status infer_Ceil(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kFloat);
}
Status infer_Elu(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kFloat);
}
Status infer_Erf(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kNumeric);
}
Status infer_Exp(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kFloat);
}
Status infer_Floor(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kFloat);
}
Status infer_Gelu(InferContext& ctx) {
    return infer_fovea_activation(ctx);
}
Status infer_HardSigmoid(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kFloat);
}
Status infer_HardSwish(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kFloat);
}
Status infer_LeakyRelu(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kFloat);
}
Status infer_Log(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kFloat);
}
Status infer_Neg(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kSigned);
}
Status infer_Not(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kBool);
}
Status infer_Reciprocal(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kFloat);
}
Status infer_Relu(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kSigned);
}
Status infer_Round(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kFloat);
}
Status infer_Selu(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kFloat);
}
Status infer_Sigmoid(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kFloat);
}
Status infer_SiLU(InferContext& ctx) {
    return infer_fovea_activation(ctx);
}
Status infer_Sign(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kNumeric);
}
Status infer_Softplus(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kFloat);
}
Status infer_Sqrt(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kFloat);
}
Status infer_Tanh(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kFloat);
}
Status infer_Identity(InferContext& ctx) {
    return infer_unary(ctx, DTypeSet::kAny);
}

Status infer_Clip(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 3));
    FOVEA_TRY(check_dtype(ctx, 0, DTypeSet::kNumeric));
    FOVEA_TRY(check_same_dtype(ctx, 0, ctx.num_inputs() - 1));
    for (size_t i = 1; i < ctx.num_inputs(); ++i) {
        if (!ctx.has_input(i)) continue;
        // Exporters sometimes give the bounds as shape [1] rather than as scalars; both hold one value.
        const TensorInfo& bound = ctx.input(i);
        if (bound.shape_known() && shape_numel(*bound.shape) != 1)
            return ctx.fail("bound input " + std::to_string(i) + " must hold one value, has shape " +
                            shape_to_string(*bound.shape));
    }
    ctx.set_output(0, ctx.input(0).dtype, ctx.input(0).shape);
    return Status::ok();
}

Status infer_PRelu(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(2, 2));
    FOVEA_TRY(check_dtype(ctx, 0, DTypeSet::kNumeric));
    FOVEA_TRY(check_same_dtype(ctx, 0, 1));
    FOVEA_ASSIGN(std::optional<Shape> shape, broadcast_inputs(ctx));
    // The slope broadcasts to X, never X to the slope.
    const std::optional<Shape>& x = ctx.input(0).shape;
    if (shape) {
        bool widens = shape->size() != x->size();
        for (size_t d = 0; !widens && d < x->size(); ++d) widens = (*x)[d] >= 0 && (*shape)[d] != (*x)[d];
        if (widens)
            return ctx.fail("slope shape " + shape_to_string(*ctx.input(1).shape) + " does not broadcast to X " +
                            shape_to_string(*x));
    }
    ctx.set_output(0, ctx.input(0).dtype, shape ? shape : x);
    return Status::ok();
}

Status infer_Add(InferContext& ctx) {
    return infer_broadcast(ctx, 2, DTypeSet::kNumeric, false);
}
Status infer_And(InferContext& ctx) {
    return infer_broadcast(ctx, 2, DTypeSet::kBool, true);
}
Status infer_Div(InferContext& ctx) {
    return infer_broadcast(ctx, 2, DTypeSet::kNumeric, false);
}
Status infer_Equal(InferContext& ctx) {
    return infer_broadcast(ctx, 2, DTypeSet::kAny, true);
}
Status infer_Greater(InferContext& ctx) {
    return infer_broadcast(ctx, 2, DTypeSet::kNumeric, true);
}
Status infer_GreaterOrEqual(InferContext& ctx) {
    return infer_broadcast(ctx, 2, DTypeSet::kNumeric, true);
}
Status infer_Less(InferContext& ctx) {
    return infer_broadcast(ctx, 2, DTypeSet::kNumeric, true);
}
Status infer_LessOrEqual(InferContext& ctx) {
    return infer_broadcast(ctx, 2, DTypeSet::kNumeric, true);
}
Status infer_Max(InferContext& ctx) {
    return infer_broadcast(ctx, 0, DTypeSet::kNumeric, false);
}
Status infer_Mean(InferContext& ctx) {
    return infer_broadcast(ctx, 0, DTypeSet::kFloat, false);
}
Status infer_Min(InferContext& ctx) {
    return infer_broadcast(ctx, 0, DTypeSet::kNumeric, false);
}
Status infer_Mul(InferContext& ctx) {
    return infer_broadcast(ctx, 2, DTypeSet::kNumeric, false);
}
Status infer_Or(InferContext& ctx) {
    return infer_broadcast(ctx, 2, DTypeSet::kBool, true);
}
Status infer_Sub(InferContext& ctx) {
    return infer_broadcast(ctx, 2, DTypeSet::kNumeric, false);
}
Status infer_Sum(InferContext& ctx) {
    return infer_broadcast(ctx, 0, DTypeSet::kFloat, false);
}

Status infer_Pow(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(2, 2));
    // The exponent may have another dtype than the base; the result has the base's.
    FOVEA_TRY(check_dtype(ctx, 0, DTypeSet::kNumeric));
    FOVEA_TRY(check_dtype(ctx, 1, DTypeSet::kNumeric));
    FOVEA_ASSIGN(std::optional<Shape> shape, broadcast_inputs(ctx));
    ctx.set_output(0, ctx.input(0).dtype, std::move(shape));
    return Status::ok();
}

Status infer_Where(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(3, 3));
    FOVEA_TRY(check_dtype(ctx, 0, DTypeSet::kBool));
    FOVEA_TRY(check_same_dtype(ctx, 1, 2));
    FOVEA_ASSIGN(std::optional<Shape> shape, broadcast_inputs(ctx));
    ctx.set_output(0, ctx.input(1).dtype, std::move(shape));
    return Status::ok();
}

Status infer_Cast(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 1));
    if (!ctx.node.has_attr("to")) return ctx.fail("attribute 'to' is required");
    const int64_t to = ctx.node.attr_int("to", 0);
    const std::optional<DType> dt = dtype_from_onnx(to);
    if (!dt) return ctx.fail_unsupported("attribute 'to' = " + std::to_string(to) + " names a dtype fovea lacks");
    ctx.set_output(0, *dt, ctx.input(0).shape);
    return Status::ok();
}

Status infer_Dropout(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 3));
    FOVEA_TRY(check_dtype(ctx, 0, DTypeSet::kFloat));
    // Before opset 12 the ratio is an attribute and there is no training mode: `is_test` (opset < 7) is ignored,
    // since exporters leave its training default in inference graphs.
    const std::optional<double> ratio =
        ctx.node.opset >= 12 ? known_scalar(ctx, 1) : std::optional<double>(ctx.node.attr_float("ratio", 0.5f));
    if (ratio && (*ratio < 0 || *ratio >= 1)) return ctx.fail("ratio " + std::to_string(*ratio) + " is outside [0, 1)");
    const std::optional<double> training = known_scalar(ctx, 2);
    if (training && *training != 0 && (!ratio || *ratio != 0))
        return ctx.fail_unsupported("training_mode = true drops at random; fovea runs inference only");
    ctx.set_output(0, ctx.input(0).dtype, ctx.input(0).shape);
    // The optional mask is bool from opset 10, the input's dtype before.
    if (ctx.node.outputs.size() > 1)
        ctx.set_output(1, ctx.node.opset >= 10 ? DType::kBool : ctx.input(0).dtype, ctx.input(0).shape);
    return Status::ok();
}

}  // namespace fovea::ops
