// Inference for the data-movement ops. Their output shapes often hang on the contents of small index inputs
// (Reshape's shape, Slice's starts): exact when those are known, otherwise as much of the shape as can be told.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ops/fused_conv.h"
#include "ops/op.h"
#include "ops/shape_plan.h"

namespace fovea::ops {

namespace {

bool is_index_dtype(DType dt) {
    return dt == DType::kInt32 || dt == DType::kInt64;
}

// Prefixes a helper's error with the node, keeping its code.
template <typename T>
Result<T> in_node(const InferContext& ctx, Result<T> r) {
    if (!r.is_ok()) return r.status().with_context(ctx.node.describe());
    return r;
}

// Input i, when present, must hold integer indices (`what` names it in the error).
Status expect_index_input(const InferContext& ctx, size_t i, const std::string& what) {
    if (ctx.has_input(i) && !is_index_dtype(ctx.input(i).dtype))
        return ctx.fail(what + " must be int32 or int64, got " + dtype_name(ctx.input(i).dtype));
    return Status::ok();
}

// Input i's contents widened to int64, when known.
std::optional<std::vector<int64_t>> known_ints(const InferContext& ctx, size_t i) {
    const Tensor* v = ctx.value(i);
    if (!v) return std::nullopt;
    return v->to_int64_vector();
}

// The element count of 1-D input i when its shape is known, else -1.
int64_t known_length(const InferContext& ctx, size_t i) {
    if (const Tensor* v = ctx.value(i)) return v->numel();
    const std::optional<Shape>& shape = ctx.input(i).shape;
    return shape && shape->size() == 1 ? (*shape)[0] : -1;
}

// The product of `dims`: 0 when any is 0, else -1 when any is unknown.
int64_t known_product(std::span<const int64_t> dims) {
    if (std::find(dims.begin(), dims.end(), 0) != dims.end()) return 0;
    int64_t n = 1;
    for (int64_t d : dims) {
        if (d < 0) return -1;
        n *= d;
    }
    return n;
}

int64_t known_mul(int64_t dim, int64_t factor) {
    return dim < 0 ? -1 : dim * factor;
}
int64_t known_div(int64_t dim, int64_t divisor) {
    return dim < 0 ? -1 : dim / divisor;
}

// "[a,b,c]", keeping negative values (shape_to_string would print -1 as '?').
std::string list_to_string(const std::vector<int64_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) s += ',';
        s += std::to_string(v[i]);
    }
    return s + "]";
}

// Normalizes each of `axes` against `rank`, rejecting repeats.
Result<std::vector<int64_t>> normalize_axes(const std::vector<int64_t>& axes, int64_t rank) {
    std::vector<int64_t> out;
    for (int64_t a : axes) {
        FOVEA_ASSIGN(const int64_t axis, normalize_axis(a, rank));
        if (std::find(out.begin(), out.end(), axis) != out.end())
            return invalid_argument("axes " + list_to_string(axes) + " name axis " + std::to_string(a) + " twice");
        out.push_back(axis);
    }
    return out;
}

// Number of elements Range produces; the spec computes ceil((limit - start) / delta) in the input type.
Result<int64_t> range_count(const Tensor& start, const Tensor& limit, const Tensor& delta) {
    if (is_floating(start.dtype())) {
        const double s = start.element_as_double(0), l = limit.element_as_double(0), d = delta.element_as_double(0);
        if (d == 0) return invalid_argument("delta is 0");
        const double n = start.dtype() == DType::kFloat32
                             ? std::ceil((static_cast<float>(l) - static_cast<float>(s)) / static_cast<float>(d))
                             : std::ceil((l - s) / d);
        if (!std::isfinite(n) || n >= static_cast<double>(std::numeric_limits<int64_t>::max()))
            return invalid_argument("start, limit and delta give no finite element count");
        return std::max<int64_t>(static_cast<int64_t>(n), 0);
    }
    const int64_t s = start.element_as_int64(0), l = limit.element_as_int64(0), d = delta.element_as_int64(0);
    if (d == 0) return invalid_argument("delta is 0");
    int64_t diff = 0;
    if (__builtin_sub_overflow(l, s, &diff)) return invalid_argument("limit - start overflows int64");
    const int64_t n = diff / d + (diff % d != 0 && (diff > 0) == (d > 0) ? 1 : 0);
    return std::max<int64_t>(n, 0);
}

// DepthToSpace and SpaceToDepth: the block size attribute, checked along with the NCHW input's rank.
Result<int64_t> block_size(const InferContext& ctx) {
    const int64_t b = ctx.node.attr_int("blocksize", 0);
    if (b <= 0) return ctx.fail("attribute blocksize must be positive, got " + std::to_string(b));
    if (ctx.input(0).shape && ctx.input(0).rank() != 4)
        return ctx.fail("expects a rank-4 NCHW input, got rank " + std::to_string(ctx.input(0).rank()));
    return b;
}

}  // namespace

Result<std::vector<SliceDim>> plan_slice(const Shape& data_shape, const Tensor& starts, const Tensor& ends,
                                         const Tensor* axes, const Tensor* steps) {
    const int64_t rank = static_cast<int64_t>(data_shape.size());
    const std::vector<int64_t> begin = starts.to_int64_vector();
    const std::vector<int64_t> end = ends.to_int64_vector();
    const size_t n = begin.size();
    std::vector<int64_t> axis_list(n);
    std::iota(axis_list.begin(), axis_list.end(), 0);
    if (axes) axis_list = axes->to_int64_vector();
    const std::vector<int64_t> step = steps ? steps->to_int64_vector() : std::vector<int64_t>(n, 1);
    if (end.size() != n || axis_list.size() != n || step.size() != n)
        return invalid_argument("starts, ends, axes and steps must have one length, got " + std::to_string(n) + ", " +
                                std::to_string(end.size()) + ", " + std::to_string(axis_list.size()) + ", " +
                                std::to_string(step.size()));
    FOVEA_ASSIGN(const std::vector<int64_t> axis_of, normalize_axes(axis_list, rank));

    std::vector<SliceDim> plan(data_shape.size());
    for (size_t d = 0; d < plan.size(); ++d) plan[d].size = data_shape[d];
    for (size_t k = 0; k < n; ++k) {
        SliceDim& p = plan[static_cast<size_t>(axis_of[k])];
        const int64_t dim = data_shape[static_cast<size_t>(axis_of[k])];
        p.step = step[k];
        if (p.step == 0) return invalid_argument("steps[" + std::to_string(k) + "] is 0");
        if (dim < 0) {
            p.size = -1;
            continue;
        }
        // Negative positions count from the end; then clamp so that INT64_MAX/MIN sentinels mean "to the edge".
        const int64_t b = begin[k] < 0 ? begin[k] + dim : begin[k];
        const int64_t e = end[k] < 0 ? end[k] + dim : end[k];
        if (p.step > 0) {
            p.start = std::clamp<int64_t>(b, 0, dim);
            const int64_t stop = std::clamp<int64_t>(e, 0, dim);
            p.size = stop > p.start ? (stop - p.start - 1) / p.step + 1 : 0;
        } else if (dim == 0) {
            p.start = 0;
            p.size = 0;
        } else {
            p.start = std::clamp<int64_t>(b, 0, dim - 1);
            const int64_t stop = std::clamp<int64_t>(e, -1, dim - 1);
            p.size = stop < p.start ? (stop - p.start + 1) / p.step + 1 : 0;
        }
    }
    return plan;
}

Result<std::vector<PadDim>> plan_pads(int64_t rank, const Tensor& pads, const Tensor* axes) {
    const std::vector<int64_t> amounts = pads.to_int64_vector();
    std::vector<int64_t> axis_list(static_cast<size_t>(rank));
    std::iota(axis_list.begin(), axis_list.end(), 0);
    if (axes) axis_list = axes->to_int64_vector();
    const size_t n = axis_list.size();
    if (amounts.size() != 2 * n)
        return invalid_argument("pads has " + std::to_string(amounts.size()) + " values, expected 2 * " +
                                std::to_string(n));
    FOVEA_ASSIGN(const std::vector<int64_t> axis_of, normalize_axes(axis_list, rank));
    std::vector<PadDim> plan(static_cast<size_t>(rank));
    for (size_t k = 0; k < n; ++k) plan[static_cast<size_t>(axis_of[k])] = {amounts[k], amounts[k + n]};
    return plan;
}

DimRange shape_range(const ir::Node& node, int64_t rank) {
    const auto clamp = [rank](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + rank : i, 0, rank); };
    const int64_t start = clamp(node.attr_int("start", 0));
    const int64_t end = clamp(node.attr_int("end", rank));
    return {start, std::max(start, end)};
}

Result<std::vector<int64_t>> transpose_perm(const ir::Node& node, int64_t rank) {
    std::vector<int64_t> perm(static_cast<size_t>(rank));
    if (!node.has_attr("perm")) {
        for (int64_t i = 0; i < rank; ++i) perm[static_cast<size_t>(i)] = rank - 1 - i;
        return perm;
    }
    perm = node.attr_ints("perm");
    std::vector<bool> seen(static_cast<size_t>(rank), false);
    bool valid = static_cast<int64_t>(perm.size()) == rank;
    for (size_t i = 0; valid && i < perm.size(); ++i) {
        valid = perm[i] >= 0 && perm[i] < rank && !seen[static_cast<size_t>(perm[i])];
        if (valid) seen[static_cast<size_t>(perm[i])] = true;
    }
    if (!valid)
        return invalid_argument("attribute perm = " + list_to_string(perm) + " is not a permutation of the " +
                                std::to_string(rank) + " input dims");
    return perm;
}

// Concat along axis 1 of the inputs after Scale and Shift, which hold one value per output channel.
Status infer_ConcatAffine(InferContext& ctx) {
    if (ctx.node.domain != kFoveaDomain) return ctx.fail_unsupported("ConcatAffine exists only in domain 'fovea'");
    FOVEA_TRY(ctx.expect_inputs(3, std::numeric_limits<size_t>::max()));
    FOVEA_TRY(read_epilogue(ctx.node).status());
    for (size_t i = 0; i < 2; ++i) {
        const TensorInfo& p = ctx.input(i);
        if (!p.present || p.dtype != DType::kFloat32 || (p.shape && p.rank() != 1))
            return ctx.fail(std::string(i == 0 ? "Scale" : "Shift") + " must be a float32 vector");
    }
    if (ctx.node.attr_int("axis", 1) != 1) return ctx.fail("axis must be 1");
    InferContext inner{ctx.node, {ctx.inputs.begin() + 2, ctx.inputs.end()}, {}};
    FOVEA_TRY(infer_Concat(inner));
    ctx.outputs = std::move(inner.outputs);
    const std::optional<Shape>& y = ctx.outputs[0].shape;
    if (ctx.outputs[0].dtype != DType::kFloat32) return ctx.fail("the inputs must be float32");
    for (size_t i = 0; i < 2 && y && y->size() >= 2 && (*y)[1] >= 0; ++i) {
        const std::optional<Shape>& p = ctx.input(i).shape;
        if (p && (*p)[0] != (*y)[1])
            return ctx.fail(std::string(i == 0 ? "Scale" : "Shift") + " has " + std::to_string((*p)[0]) +
                            " values for " + std::to_string((*y)[1]) + " channels");
    }
    return Status::ok();
}

Status infer_Concat(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, std::numeric_limits<size_t>::max()));
    if (!ctx.node.has_attr("axis")) return ctx.fail("attribute axis is required");
    const DType dt = ctx.input(0).dtype;
    int64_t rank = -1;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
        const TensorInfo& in = ctx.input(i);
        if (!in.present) return ctx.fail("input " + std::to_string(i) + " is missing");
        if (in.dtype != dt)
            return ctx.fail("input " + std::to_string(i) + " is " + dtype_name(in.dtype) + ", input 0 is " +
                            dtype_name(dt));
        if (in.shape && rank >= 0 && in.rank() != rank)
            return ctx.fail("input " + std::to_string(i) + " has rank " + std::to_string(in.rank()) +
                            ", an earlier input has rank " + std::to_string(rank));
        if (in.shape) rank = in.rank();
    }
    if (rank < 0) {
        ctx.set_output(0, dt, std::nullopt);
        return Status::ok();
    }
    if (rank == 0) return ctx.fail("cannot concatenate scalars");
    FOVEA_ASSIGN(const int64_t axis, in_node(ctx, normalize_axis(ctx.node.attr_int("axis", 0), rank)));
    const size_t a = static_cast<size_t>(axis);
    Shape out(static_cast<size_t>(rank), -1);
    out[a] = 0;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
        const std::optional<Shape>& shape = ctx.input(i).shape;
        if (!shape) {
            out[a] = -1;
            continue;
        }
        for (size_t d = 0; d < shape->size(); ++d) {
            const int64_t dim = (*shape)[d];
            if (d == a) {
                out[a] = out[a] < 0 || dim < 0 ? -1 : out[a] + dim;
            } else if (dim >= 0) {
                if (out[d] >= 0 && out[d] != dim)
                    return ctx.fail("input " + std::to_string(i) + " has shape " + shape_to_string(*shape) +
                                    ", which differs from the others outside axis " + std::to_string(axis));
                out[d] = dim;
            }
        }
    }
    ctx.set_output(0, dt, out);
    return Status::ok();
}

Status infer_ConstantOfShape(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 1));
    FOVEA_TRY(expect_index_input(ctx, 0, "input shape"));
    DType dt = DType::kFloat32;
    if (const Tensor* value = ctx.node.attr_tensor("value")) {
        if (value->numel() != 1)
            return ctx.fail("attribute value must hold exactly one element, got " + value->describe());
        dt = value->dtype();
    }
    if (const auto dims = known_ints(ctx, 0)) {
        for (int64_t d : *dims)
            if (d < 0) return ctx.fail("input shape " + list_to_string(*dims) + " has a negative dim");
        ctx.set_output(0, dt, *dims);
    } else {
        const int64_t n = known_length(ctx, 0);
        ctx.set_output(0, dt, n >= 0 ? std::optional<Shape>(Shape(static_cast<size_t>(n), -1)) : std::nullopt);
    }
    return Status::ok();
}

Status infer_DepthToSpace(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 1));
    FOVEA_ASSIGN(const int64_t b, block_size(ctx));
    const std::string mode = ctx.node.attr_string("mode", "DCR");
    if (mode != "DCR" && mode != "CRD") return ctx.fail("attribute mode = '" + mode + "' is not DCR or CRD");
    const TensorInfo& in = ctx.input(0);
    if (!in.shape) {
        ctx.set_output(0, in.dtype, Shape(4, -1));
        return Status::ok();
    }
    const Shape& s = *in.shape;
    if (s[1] >= 0 && s[1] % (b * b) != 0)
        return ctx.fail(std::to_string(s[1]) + " channels do not divide by blocksize^2 = " + std::to_string(b * b));
    ctx.set_output(0, in.dtype, Shape{s[0], known_div(s[1], b * b), known_mul(s[2], b), known_mul(s[3], b)});
    return Status::ok();
}

Status infer_Expand(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(2, 2));
    FOVEA_TRY(expect_index_input(ctx, 1, "input shape"));
    const TensorInfo& in = ctx.input(0);
    std::optional<Shape> target;
    if (const auto dims = known_ints(ctx, 1)) {
        for (int64_t d : *dims)
            if (d < 0) return ctx.fail("input shape " + list_to_string(*dims) + " has a negative dim");
        target = *dims;
    } else if (const int64_t n = known_length(ctx, 1); n >= 0) {
        target = Shape(static_cast<size_t>(n), -1);
    }
    if (!in.shape || !target) {
        ctx.set_output(0, in.dtype, std::nullopt);
        return Status::ok();
    }
    FOVEA_ASSIGN(const Shape out, in_node(ctx, broadcast_shapes(*in.shape, *target)));
    ctx.set_output(0, in.dtype, out);
    return Status::ok();
}

Status infer_Flatten(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 1));
    const TensorInfo& in = ctx.input(0);
    if (!in.shape) {
        ctx.set_output(0, in.dtype, Shape{-1, -1});
        return Status::ok();
    }
    const int64_t rank = in.rank();
    int64_t axis = ctx.node.attr_int("axis", 1);
    if (axis < -rank || axis > rank)
        return ctx.fail("attribute axis = " + std::to_string(axis) + " is out of range [-" + std::to_string(rank) +
                        ", " + std::to_string(rank) + "]");
    if (axis < 0) axis += rank;
    const std::span<const int64_t> dims(*in.shape);
    ctx.set_output(0, in.dtype,
                   Shape{known_product(dims.first(static_cast<size_t>(axis))),
                         known_product(dims.subspan(static_cast<size_t>(axis)))});
    return Status::ok();
}

Status infer_Gather(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(2, 2));
    FOVEA_TRY(expect_index_input(ctx, 1, "indices"));
    const TensorInfo& data = ctx.input(0);
    const TensorInfo& indices = ctx.input(1);
    if (!data.shape || !indices.shape) {
        ctx.set_output(0, data.dtype, std::nullopt);
        return Status::ok();
    }
    if (data.rank() == 0) return ctx.fail("data must have rank >= 1");
    FOVEA_ASSIGN(const int64_t axis, in_node(ctx, normalize_axis(ctx.node.attr_int("axis", 0), data.rank())));
    Shape out(data.shape->begin(), data.shape->begin() + axis);
    out.insert(out.end(), indices.shape->begin(), indices.shape->end());
    out.insert(out.end(), data.shape->begin() + axis + 1, data.shape->end());
    ctx.set_output(0, data.dtype, out);
    return Status::ok();
}

Status infer_GatherElements(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(2, 2));
    FOVEA_TRY(expect_index_input(ctx, 1, "indices"));
    const TensorInfo& data = ctx.input(0);
    const TensorInfo& indices = ctx.input(1);
    if (data.shape && indices.shape) {
        if (data.rank() != indices.rank())
            return ctx.fail("indices has rank " + std::to_string(indices.rank()) + ", data has rank " +
                            std::to_string(data.rank()));
        if (data.rank() == 0) return ctx.fail("data must have rank >= 1");
        FOVEA_ASSIGN(const int64_t axis, in_node(ctx, normalize_axis(ctx.node.attr_int("axis", 0), data.rank())));
        for (size_t d = 0; d < data.shape->size(); ++d) {
            const int64_t have = (*data.shape)[d], want = (*indices.shape)[d];
            if (static_cast<int64_t>(d) != axis && have >= 0 && want > have)
                return ctx.fail("indices shape " + shape_to_string(*indices.shape) + " exceeds data shape " +
                                shape_to_string(*data.shape) + " outside axis " + std::to_string(axis));
        }
    }
    ctx.set_output(0, data.dtype, indices.shape);
    return Status::ok();
}

Status infer_Pad(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(2, 4));
    FOVEA_TRY(expect_index_input(ctx, 1, "pads"));
    FOVEA_TRY(expect_index_input(ctx, 3, "axes"));
    const TensorInfo& in = ctx.input(0);
    const std::string mode = ctx.node.attr_string("mode", "constant");
    if (mode != "constant" && mode != "reflect" && mode != "edge")
        return ctx.fail_unsupported("attribute mode = '" + mode + "' is not supported (constant, reflect, edge)");
    if (ctx.has_input(2) && ctx.input(2).dtype != in.dtype)
        return ctx.fail(std::string("constant_value is ") + dtype_name(ctx.input(2).dtype) + ", data is " +
                        dtype_name(in.dtype));
    if (!in.shape) {
        ctx.set_output(0, in.dtype, std::nullopt);
        return Status::ok();
    }
    const Shape& s = *in.shape;
    if (!ctx.value(1) || (ctx.has_input(3) && !ctx.value(3))) {
        ctx.set_output(0, in.dtype, Shape(s.size(), -1));
        return Status::ok();
    }
    FOVEA_ASSIGN(const std::vector<PadDim> pads, in_node(ctx, plan_pads(in.rank(), *ctx.value(1), ctx.value(3))));
    Shape out(s.size());
    for (size_t d = 0; d < s.size(); ++d) {
        const auto [begin, end] = pads[d];
        out[d] = s[d] < 0 ? -1 : s[d] + begin + end;
        if (s[d] < 0) continue;
        const int64_t cropped = std::max<int64_t>(-begin, 0) + std::max<int64_t>(-end, 0);
        if (cropped > s[d])
            return ctx.fail("pads crop " + std::to_string(cropped) + " elements from dim " + std::to_string(d) +
                            " of size " + std::to_string(s[d]));
        if (mode != "constant" && cropped == s[d] && (begin > 0 || end > 0))
            return ctx.fail("mode " + mode + " cannot pad dim " + std::to_string(d) + ", which has no elements");
    }
    ctx.set_output(0, in.dtype, out);
    return Status::ok();
}

Status infer_Range(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(3, 3));
    const DType dt = ctx.input(0).dtype;
    if (dt != DType::kFloat32 && dt != DType::kFloat64 && dt != DType::kInt32 && dt != DType::kInt64)
        return ctx.fail_unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported");
    for (size_t i = 0; i < 3; ++i) {
        const TensorInfo& in = ctx.input(i);
        if (in.dtype != dt)
            return ctx.fail("start, limit and delta must share a dtype, input " + std::to_string(i) + " is " +
                            dtype_name(in.dtype) + ", input 0 is " + dtype_name(dt));
        if (in.shape && shape_numel(*in.shape) != 1)
            return ctx.fail("input " + std::to_string(i) + " must be a scalar, got shape " +
                            shape_to_string(*in.shape));
    }
    int64_t n = -1;
    if (ctx.value(0) && ctx.value(1) && ctx.value(2)) {
        FOVEA_ASSIGN(n, in_node(ctx, range_count(*ctx.value(0), *ctx.value(1), *ctx.value(2))));
    }
    ctx.set_output(0, dt, Shape{n});
    return Status::ok();
}

Status infer_Reshape(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(2, 2));
    FOVEA_TRY(expect_index_input(ctx, 1, "input shape"));
    const TensorInfo& in = ctx.input(0);
    const auto spec = known_ints(ctx, 1);
    if (!spec) {
        const int64_t n = known_length(ctx, 1);
        ctx.set_output(0, in.dtype, n >= 0 ? std::optional<Shape>(Shape(static_cast<size_t>(n), -1)) : std::nullopt);
        return Status::ok();
    }
    const bool allowzero = ctx.node.attr_int("allowzero", 0) != 0;
    const int64_t in_rank = in.rank();
    Shape out(spec->size(), -1);
    std::vector<bool> copied(in.shape ? in.shape->size() : 0, false);
    int64_t infer_at = -1;
    int64_t out_rest = 1;  // product of the output dims neither copied nor inferred
    for (size_t j = 0; j < spec->size(); ++j) {
        const int64_t s = (*spec)[j];
        if (s == -1) {
            if (infer_at >= 0) return ctx.fail("input shape " + list_to_string(*spec) + " has more than one -1");
            infer_at = static_cast<int64_t>(j);
        } else if (s == 0 && !allowzero) {
            if (in.shape && static_cast<int64_t>(j) >= in_rank)
                return ctx.fail("input shape " + list_to_string(*spec) + " copies dim " + std::to_string(j) +
                                " of a rank-" + std::to_string(in_rank) + " input");
            if (in.shape) {
                out[j] = (*in.shape)[j];
                copied[j] = true;
            }
        } else if (s < -1) {
            return ctx.fail("input shape " + list_to_string(*spec) + " has an invalid dim " + std::to_string(s));
        } else {
            out[j] = s;
            out_rest *= s;
        }
    }
    // Copied dims match on both sides, so only the others must agree in element count.
    bool in_rest_known = in.shape.has_value();
    int64_t in_rest = 1;
    for (size_t i = 0; in.shape && i < in.shape->size(); ++i) {
        if (copied[i]) continue;
        if ((*in.shape)[i] < 0)
            in_rest_known = false;
        else
            in_rest *= (*in.shape)[i];
    }
    if (infer_at >= 0) {
        if (out_rest == 0)
            return ctx.fail("input shape " + list_to_string(*spec) + " has both -1 and 0 with allowzero=1");
        if (in_rest_known && in_rest % out_rest != 0)
            return ctx.fail("cannot reshape " + shape_to_string(*in.shape) + " to " + list_to_string(*spec));
        out[static_cast<size_t>(infer_at)] = in_rest_known ? in_rest / out_rest : -1;
    } else if (in_rest_known && in_rest != out_rest) {
        return ctx.fail("cannot reshape " + shape_to_string(*in.shape) + " to " + list_to_string(*spec) +
                        ": element counts differ");
    }
    ctx.set_output(0, in.dtype, out);
    return Status::ok();
}

Status infer_Shape(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 1));
    const TensorInfo& in = ctx.input(0);
    if (!in.shape) {
        ctx.set_output(0, DType::kInt64, Shape{-1});
        return Status::ok();
    }
    const DimRange r = shape_range(ctx.node, in.rank());
    ctx.set_output(0, DType::kInt64, Shape{r.end - r.start});
    return Status::ok();
}

Status infer_Size(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 1));
    ctx.set_output(0, DType::kInt64, Shape{});
    return Status::ok();
}

Status infer_Slice(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(3, 5));
    FOVEA_TRY(expect_index_input(ctx, 1, "starts"));
    FOVEA_TRY(expect_index_input(ctx, 2, "ends"));
    FOVEA_TRY(expect_index_input(ctx, 3, "axes"));
    FOVEA_TRY(expect_index_input(ctx, 4, "steps"));
    const TensorInfo& in = ctx.input(0);
    if (!in.shape) {
        ctx.set_output(0, in.dtype, std::nullopt);
        return Status::ok();
    }
    const bool axes_known = !ctx.has_input(3) || ctx.value(3);
    if (ctx.value(1) && ctx.value(2) && axes_known && (!ctx.has_input(4) || ctx.value(4))) {
        FOVEA_ASSIGN(const std::vector<SliceDim> plan,
                     in_node(ctx, plan_slice(*in.shape, *ctx.value(1), *ctx.value(2), ctx.value(3), ctx.value(4))));
        Shape out(plan.size());
        for (size_t d = 0; d < plan.size(); ++d) out[d] = plan[d].size;
        ctx.set_output(0, in.dtype, out);
        return Status::ok();
    }
    // Bounds unknown: the sliced dims are unknown, the others pass through when we can tell which they are.
    std::optional<std::vector<int64_t>> sliced = known_ints(ctx, 3);
    if (!ctx.has_input(3) && known_length(ctx, 1) >= 0) {
        sliced.emplace(static_cast<size_t>(std::min(known_length(ctx, 1), in.rank())));
        std::iota(sliced->begin(), sliced->end(), 0);
    }
    Shape out(in.shape->size(), -1);
    if (axes_known && sliced) {
        FOVEA_ASSIGN(const std::vector<int64_t> axes, in_node(ctx, normalize_axes(*sliced, in.rank())));
        out = *in.shape;
        for (int64_t a : axes) out[static_cast<size_t>(a)] = -1;
    }
    ctx.set_output(0, in.dtype, out);
    return Status::ok();
}

Status infer_SpaceToDepth(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 1));
    FOVEA_ASSIGN(const int64_t b, block_size(ctx));
    const TensorInfo& in = ctx.input(0);
    if (!in.shape) {
        ctx.set_output(0, in.dtype, Shape(4, -1));
        return Status::ok();
    }
    const Shape& s = *in.shape;
    for (size_t d = 2; d < 4; ++d)
        if (s[d] >= 0 && s[d] % b != 0)
            return ctx.fail("dim " + std::to_string(d) + " of input shape " + shape_to_string(s) +
                            " does not divide by blocksize " + std::to_string(b));
    ctx.set_output(0, in.dtype, Shape{s[0], known_mul(s[1], b * b), known_div(s[2], b), known_div(s[3], b)});
    return Status::ok();
}

Status infer_Split(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 2));
    FOVEA_TRY(expect_index_input(ctx, 1, "split"));
    const TensorInfo& in = ctx.input(0);
    const size_t n = ctx.node.outputs.size();
    if (n == 0) return ctx.fail("has no outputs");
    if (!in.shape) {
        for (size_t i = 0; i < n; ++i) ctx.set_output(i, in.dtype, std::nullopt);
        return Status::ok();
    }
    FOVEA_ASSIGN(const int64_t axis, in_node(ctx, normalize_axis(ctx.node.attr_int("axis", 0), in.rank())));
    const int64_t dim = (*in.shape)[static_cast<size_t>(axis)];
    std::vector<int64_t> sizes(n, -1);
    if (ctx.has_input(1)) {
        if (const auto split = known_ints(ctx, 1)) {
            const int64_t total = std::accumulate(split->begin(), split->end(), int64_t{0});
            const bool negative = std::any_of(split->begin(), split->end(), [](int64_t s) { return s < 0; });
            if (split->size() != n || negative || (dim >= 0 && total != dim))
                return ctx.fail("split " + list_to_string(*split) + " does not cut axis " + std::to_string(axis) +
                                " of size " + std::to_string(dim) + " into " + std::to_string(n) + " outputs");
            sizes = *split;
        }
    } else if (dim >= 0) {
        if (dim % static_cast<int64_t>(n) != 0)
            return ctx.fail("axis " + std::to_string(axis) + " of size " + std::to_string(dim) +
                            " does not split into " + std::to_string(n) + " equal parts");
        std::fill(sizes.begin(), sizes.end(), dim / static_cast<int64_t>(n));
    }
    for (size_t i = 0; i < n; ++i) {
        Shape out = *in.shape;
        out[static_cast<size_t>(axis)] = sizes[i];
        ctx.set_output(i, in.dtype, out);
    }
    return Status::ok();
}

Status infer_Squeeze(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 2));
    FOVEA_TRY(expect_index_input(ctx, 1, "axes"));
    const TensorInfo& in = ctx.input(0);
    if (!in.shape) {
        ctx.set_output(0, in.dtype, std::nullopt);
        return Status::ok();
    }
    const Shape& s = *in.shape;
    const auto axes = known_ints(ctx, 1);
    if (ctx.has_input(1) && !axes) {
        const int64_t n = known_length(ctx, 1);
        ctx.set_output(0, in.dtype,
                       n > 0 && n <= in.rank() ? std::optional<Shape>(Shape(static_cast<size_t>(in.rank() - n), -1))
                                               : std::nullopt);
        return Status::ok();
    }
    Shape out;
    if (!axes || axes->empty()) {
        // Every size-1 dim goes, so an unknown dim leaves the rank unknown.
        if (!in.shape_known()) {
            ctx.set_output(0, in.dtype, std::nullopt);
            return Status::ok();
        }
        std::copy_if(s.begin(), s.end(), std::back_inserter(out), [](int64_t d) { return d != 1; });
    } else {
        FOVEA_ASSIGN(const std::vector<int64_t> squeezed, in_node(ctx, normalize_axes(*axes, in.rank())));
        for (int64_t a : squeezed)
            if (s[static_cast<size_t>(a)] >= 0 && s[static_cast<size_t>(a)] != 1)
                return ctx.fail("cannot squeeze axis " + std::to_string(a) + " of input shape " + shape_to_string(s));
        for (size_t d = 0; d < s.size(); ++d)
            if (std::find(squeezed.begin(), squeezed.end(), static_cast<int64_t>(d)) == squeezed.end())
                out.push_back(s[d]);
    }
    ctx.set_output(0, in.dtype, out);
    return Status::ok();
}

Status infer_Tile(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(2, 2));
    FOVEA_TRY(expect_index_input(ctx, 1, "repeats"));
    const TensorInfo& in = ctx.input(0);
    if (!in.shape) {
        ctx.set_output(0, in.dtype, std::nullopt);
        return Status::ok();
    }
    Shape out(in.shape->size(), -1);
    if (const auto repeats = known_ints(ctx, 1)) {
        const bool negative = std::any_of(repeats->begin(), repeats->end(), [](int64_t r) { return r < 0; });
        if (static_cast<int64_t>(repeats->size()) != in.rank() || negative)
            return ctx.fail("repeats " + list_to_string(*repeats) + " must hold one non-negative count per dim of " +
                            shape_to_string(*in.shape));
        for (size_t d = 0; d < out.size(); ++d)
            out[d] = (*repeats)[d] == 0 ? 0 : known_mul((*in.shape)[d], (*repeats)[d]);
    }
    ctx.set_output(0, in.dtype, out);
    return Status::ok();
}

Status infer_Transpose(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 1));
    const TensorInfo& in = ctx.input(0);
    if (!in.shape) {
        const bool has_perm = ctx.node.has_attr("perm");
        ctx.set_output(0, in.dtype,
                       has_perm ? std::optional<Shape>(Shape(ctx.node.attr_ints("perm").size(), -1)) : std::nullopt);
        return Status::ok();
    }
    FOVEA_ASSIGN(const std::vector<int64_t> perm, in_node(ctx, transpose_perm(ctx.node, in.rank())));
    Shape out(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) out[i] = (*in.shape)[static_cast<size_t>(perm[i])];
    ctx.set_output(0, in.dtype, out);
    return Status::ok();
}

Status infer_Unsqueeze(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(2, 2));
    FOVEA_TRY(expect_index_input(ctx, 1, "axes"));
    const TensorInfo& in = ctx.input(0);
    const int64_t n = known_length(ctx, 1);
    if (!in.shape || n < 0) {
        ctx.set_output(0, in.dtype, std::nullopt);
        return Status::ok();
    }
    const int64_t out_rank = in.rank() + n;
    const auto axes = known_ints(ctx, 1);
    if (!axes) {
        ctx.set_output(0, in.dtype, Shape(static_cast<size_t>(out_rank), -1));
        return Status::ok();
    }
    FOVEA_ASSIGN(const std::vector<int64_t> inserted, in_node(ctx, normalize_axes(*axes, out_rank)));
    Shape out(static_cast<size_t>(out_rank), 1);
    auto next = in.shape->begin();
    for (size_t d = 0; d < out.size(); ++d)
        if (std::find(inserted.begin(), inserted.end(), static_cast<int64_t>(d)) == inserted.end()) out[d] = *next++;
    ctx.set_output(0, in.dtype, out);
    return Status::ok();
}

}  // namespace fovea::ops
