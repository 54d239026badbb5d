// Inference for reductions, arg/top-k selection, resampling and the detection helpers (NonZero, NonMaxSuppression).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "ops/op.h"

namespace fovea::ops {

namespace {

bool is_integer_dtype(DType dt) {
    return dt == DType::kInt32 || dt == DType::kInt64;
}

// Normalizes `axis` into [0, rank) with the node's context in the error; rank 0 has no valid axis.
Status resolve_axis(const InferContext& ctx, int64_t axis, int64_t rank, int64_t& out) {
    Result<int64_t> r = normalize_axis(axis, rank);
    if (!r.is_ok() || *r >= rank)
        return ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
    out = *r;
    return Status::ok();
}

Status expect_flag(const InferContext& ctx, const char* name, int64_t fallback) {
    const int64_t v = ctx.node.attr_int(name, fallback);
    if (v != 0 && v != 1) return ctx.fail(std::string(name) + " must be 0 or 1, got " + std::to_string(v));
    return Status::ok();
}

Status expect_one_of(const InferContext& ctx, const char* name, const std::string& value,
                     std::initializer_list<const char*> allowed) {
    for (const char* a : allowed)
        if (value == a) return Status::ok();
    return ctx.fail_unsupported(std::string(name) + " '" + value + "' is not supported");
}

// ReduceL2/Max/Mean/Min/Prod/Sum(data, axes?): keepdims, noop_with_empty_axes.
Status infer_reduce(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 2));
    const TensorInfo& x = ctx.input(0);
    if (x.dtype == DType::kBool) return ctx.fail_unsupported("dtype bool is not supported");
    FOVEA_TRY(expect_flag(ctx, "keepdims", 1));
    FOVEA_TRY(expect_flag(ctx, "noop_with_empty_axes", 0));
    const bool keepdims = ctx.node.attr_int("keepdims", 1) != 0;
    const bool noop_with_empty_axes = ctx.node.attr_int("noop_with_empty_axes", 0) != 0;

    std::vector<int64_t> axes;
    if (ctx.has_input(1)) {
        const TensorInfo& a = ctx.input(1);
        if (!is_integer_dtype(a.dtype)) return ctx.fail("axes must be int64, got " + std::string(dtype_name(a.dtype)));
        if (a.rank() > 1) return ctx.fail("axes must be 1-D, got rank " + std::to_string(a.rank()));
        if (const Tensor* v = ctx.value(1)) {
            axes = v->to_int64_vector();
        } else {
            // The axes are unknown until run time: only the rank may be known.
            const int64_t num_axes = a.shape_known() ? shape_numel(*a.shape) : -1;
            if (num_axes != 0) {
                if (!x.shape) {
                    ctx.set_output(0, x.dtype, std::nullopt);
                } else if (keepdims) {
                    ctx.set_output(0, x.dtype, Shape(x.shape->size(), -1));
                } else if (num_axes > 0 && num_axes <= x.rank()) {
                    ctx.set_output(0, x.dtype, Shape(static_cast<size_t>(x.rank() - num_axes), -1));
                } else {
                    ctx.set_output(0, x.dtype, std::nullopt);
                }
                return Status::ok();
            }
        }
    }
    if (axes.empty() && noop_with_empty_axes) {
        ctx.set_output(0, x.dtype, x.shape);
        return Status::ok();
    }
    if (!x.shape) {
        ctx.set_output(0, x.dtype, std::nullopt);
        return Status::ok();
    }
    const int64_t rank = x.rank();
    std::vector<bool> reduced(x.shape->size(), axes.empty());
    for (int64_t axis : axes) {
        int64_t a = 0;
        FOVEA_TRY(resolve_axis(ctx, axis, rank, a));
        if (reduced[static_cast<size_t>(a)]) return ctx.fail("axis " + std::to_string(axis) + " is repeated in axes");
        reduced[static_cast<size_t>(a)] = true;
    }
    Shape out;
    for (size_t d = 0; d < reduced.size(); ++d) {
        if (!reduced[d]) {
            out.push_back((*x.shape)[d]);
        } else if (keepdims) {
            out.push_back(1);
        }
    }
    ctx.set_output(0, x.dtype, out);
    return Status::ok();
}

// ArgMax/ArgMin(data): axis, keepdims, select_last_index; int64 indices.
Status infer_arg_reduce(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 1));
    const TensorInfo& x = ctx.input(0);
    if (x.dtype == DType::kBool) return ctx.fail_unsupported("dtype bool is not supported");
    FOVEA_TRY(expect_flag(ctx, "keepdims", 1));
    FOVEA_TRY(expect_flag(ctx, "select_last_index", 0));
    if (!x.shape) {
        ctx.set_output(0, DType::kInt64, std::nullopt);
        return Status::ok();
    }
    int64_t axis = 0;
    FOVEA_TRY(resolve_axis(ctx, ctx.node.attr_int("axis", 0), x.rank(), axis));
    Shape out = *x.shape;
    if (out[static_cast<size_t>(axis)] == 0) return ctx.fail("cannot select from an empty axis");
    if (ctx.node.attr_int("keepdims", 1) != 0) {
        out[static_cast<size_t>(axis)] = 1;
    } else {
        out.erase(out.begin() + axis);
    }
    ctx.set_output(0, DType::kInt64, out);
    return Status::ok();
}

// The roles of Resize/Upsample inputs, which moved across opsets; -1 where the node has no such input.
struct ResizeInputs {
    int roi = -1;
    int scales = -1;
    int sizes = -1;
};

ResizeInputs resize_inputs(const ir::Node& node) {
    if (node.op_type == "Upsample" || node.opset < 11) return {-1, 1, -1};
    return {1, 2, 3};
}

// Resize (opset 10, 11, 13+) and Upsample (7..9, scales always an input after import) share this.
Status infer_resample(InferContext& ctx) {
    const bool upsample = ctx.node.op_type == "Upsample";
    const ResizeInputs in = resize_inputs(ctx.node);
    if (upsample || ctx.node.opset < 11) {
        FOVEA_TRY(ctx.expect_inputs(2, 2));
    } else {
        FOVEA_TRY(ctx.expect_inputs(1, 4));
    }
    const TensorInfo& x = ctx.input(0);

    const std::string mode = ctx.node.attr_string("mode", "nearest");
    if (upsample || ctx.node.opset < 11) {
        FOVEA_TRY(expect_one_of(ctx, "mode", mode, {"nearest", "linear"}));
    } else {
        FOVEA_TRY(expect_one_of(ctx, "mode", mode, {"nearest", "linear", "cubic"}));
        FOVEA_TRY(expect_one_of(ctx, "coordinate_transformation_mode",
                                ctx.node.attr_string("coordinate_transformation_mode", "half_pixel"),
                                {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                 "tf_half_pixel_for_nn", "tf_crop_and_resize"}));
        FOVEA_TRY(expect_one_of(ctx, "nearest_mode", ctx.node.attr_string("nearest_mode", "round_prefer_floor"),
                                {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}));
        FOVEA_TRY(expect_flag(ctx, "exclude_outside", 0));
    }

    const Tensor* scales = ctx.value(static_cast<size_t>(in.scales));
    const Tensor* sizes = in.sizes >= 0 ? ctx.value(static_cast<size_t>(in.sizes)) : nullptr;
    const bool have_scales = scales && scales->numel() > 0;
    const bool have_sizes = sizes && sizes->numel() > 0;
    if (have_scales && have_sizes) return ctx.fail("only one of scales and sizes may be given");
    const int64_t rank = x.rank();
    for (const Tensor* t : {have_scales ? scales : nullptr, have_sizes ? sizes : nullptr}) {
        if (t && rank >= 0 && t->numel() != rank)
            return ctx.fail(std::string(t == scales ? "scales" : "sizes") + " has " + std::to_string(t->numel()) +
                            " elements, the input has rank " + std::to_string(rank));
    }
    const auto known_or_absent = [&](int i) {
        return i < 0 || !ctx.has_input(static_cast<size_t>(i)) || ctx.value(static_cast<size_t>(i)) != nullptr;
    };
    if (!have_scales && !have_sizes && known_or_absent(in.scales) && known_or_absent(in.sizes))
        return ctx.fail("needs non-empty scales or sizes");

    if (have_sizes) {
        Shape out = sizes->to_int64_vector();
        for (int64_t d : out)
            if (d < 0) return ctx.fail("sizes " + shape_to_string(out) + " has a negative size");
        ctx.set_output(0, x.dtype, out);
        return Status::ok();
    }
    if (!x.shape) {
        ctx.set_output(0, x.dtype, std::nullopt);
        return Status::ok();
    }
    Shape out(x.shape->size(), -1);
    if (have_scales) {
        for (size_t d = 0; d < out.size(); ++d) {
            const double s = scales->element_as_double(static_cast<int64_t>(d));
            if (!(s > 0)) return ctx.fail("scale " + std::to_string(s) + " must be positive");
            const int64_t dim = (*x.shape)[d];
            if (dim >= 0) out[d] = static_cast<int64_t>(std::floor(static_cast<double>(dim) * s));
        }
    }
    ctx.set_output(0, x.dtype, out);
    return Status::ok();
}

}  // namespace

Status infer_ArgMax(InferContext& ctx) {
    return infer_arg_reduce(ctx);
}
Status infer_ArgMin(InferContext& ctx) {
    return infer_arg_reduce(ctx);
}

// NonMaxSuppression(boxes [B,N,4], scores [B,C,N], max_output_boxes_per_class?, iou_threshold?, score_threshold?).
Status infer_NonMaxSuppression(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(2, 5));
    const TensorInfo& boxes = ctx.input(0);
    const TensorInfo& scores = ctx.input(1);
    if (!is_floating(boxes.dtype) || scores.dtype != boxes.dtype)
        return ctx.fail("boxes and scores must share a floating dtype, got " + std::string(dtype_name(boxes.dtype)) +
                        " and " + dtype_name(scores.dtype));
    if (ctx.has_input(2) && !is_integer_dtype(ctx.input(2).dtype))
        return ctx.fail("max_output_boxes_per_class must be int64");
    for (size_t i : {3, 4})
        if (ctx.has_input(i) && !is_floating(ctx.input(i).dtype)) return ctx.fail("thresholds must be floating");
    FOVEA_TRY(expect_flag(ctx, "center_point_box", 0));
    if (boxes.shape && (boxes.rank() != 3 || ((*boxes.shape)[2] >= 0 && (*boxes.shape)[2] != 4)))
        return ctx.fail("boxes must be [batch, boxes, 4], got " + shape_to_string(*boxes.shape));
    if (scores.shape && scores.rank() != 3)
        return ctx.fail("scores must be [batch, classes, boxes], got " + shape_to_string(*scores.shape));
    if (boxes.shape_known() && scores.shape_known() &&
        ((*boxes.shape)[0] != (*scores.shape)[0] || (*boxes.shape)[1] != (*scores.shape)[2]))
        return ctx.fail("boxes " + shape_to_string(*boxes.shape) + " and scores " + shape_to_string(*scores.shape) +
                        " disagree on batch or box count");
    ctx.set_output(0, DType::kInt64, Shape{-1, 3});
    return Status::ok();
}

// NonZero(x): int64 [rank, count]; a scalar counts as rank 1, as numpy does.
Status infer_NonZero(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 1));
    const TensorInfo& x = ctx.input(0);
    ctx.set_output(0, DType::kInt64, Shape{x.shape ? std::max<int64_t>(x.rank(), 1) : -1, -1});
    return Status::ok();
}

Status infer_ReduceL2(InferContext& ctx) {
    return infer_reduce(ctx);
}
Status infer_ReduceMax(InferContext& ctx) {
    return infer_reduce(ctx);
}
Status infer_ReduceMean(InferContext& ctx) {
    return infer_reduce(ctx);
}
Status infer_ReduceMin(InferContext& ctx) {
    return infer_reduce(ctx);
}
Status infer_ReduceProd(InferContext& ctx) {
    return infer_reduce(ctx);
}
Status infer_ReduceSum(InferContext& ctx) {
    return infer_reduce(ctx);
}
Status infer_Resize(InferContext& ctx) {
    return infer_resample(ctx);
}

// TopK(x, k): axis, largest, sorted; k is an attribute before opset 10.
Status infer_TopK(InferContext& ctx) {
    const bool k_is_attr = ctx.node.opset < 10;
    FOVEA_TRY(k_is_attr ? ctx.expect_inputs(1, 1) : ctx.expect_inputs(2, 2));
    const TensorInfo& x = ctx.input(0);
    if (x.dtype == DType::kBool) return ctx.fail_unsupported("dtype bool is not supported");
    FOVEA_TRY(expect_flag(ctx, "largest", 1));
    FOVEA_TRY(expect_flag(ctx, "sorted", 1));
    int64_t k = -1;
    if (k_is_attr) {
        if (!ctx.node.has_attr("k")) return ctx.fail("attribute k is required");
        k = ctx.node.attr_int("k", -1);
    } else {
        if (ctx.input(1).dtype != DType::kInt64) return ctx.fail("k must be int64");
        if (const Tensor* v = ctx.value(1)) {
            if (v->numel() != 1) return ctx.fail("k must have one element, got " + v->describe());
            k = v->element_as_int64(0);
        }
    }
    if (!x.shape) {
        ctx.set_output(0, x.dtype, std::nullopt);
        ctx.set_output(1, DType::kInt64, std::nullopt);
        return Status::ok();
    }
    int64_t axis = 0;
    FOVEA_TRY(resolve_axis(ctx, ctx.node.attr_int("axis", -1), x.rank(), axis));
    Shape out = *x.shape;
    const int64_t dim = out[static_cast<size_t>(axis)];
    if ((k_is_attr || ctx.value(1)) && (k < 0 || (dim >= 0 && k > dim)))
        return ctx.fail("k " + std::to_string(k) + " is out of range for an axis of " + std::to_string(dim));
    out[static_cast<size_t>(axis)] = k;
    ctx.set_output(0, x.dtype, out);
    ctx.set_output(1, DType::kInt64, out);
    return Status::ok();
}

Status infer_Upsample(InferContext& ctx) {
    return infer_resample(ctx);
}

}  // namespace fovea::ops
