// Reference kernels for the data-movement ops. Apart from Range, none does arithmetic on elements: each one
// is a walk over the output's indices that copies dtype_size(dt) bytes from where the op says, for every dtype.
// Output shapes come from inference (the executor allocates the outputs before the kernel runs).
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/ref/kernels.h"
#include "ops/fused_conv.h"
#include "ops/op.h"
#include "ops/shape_plan.h"

namespace fovea::ref {

namespace {

// A strided walk over a tensor's elements: index idx lives at offset + sum(idx[d] * strides[d]).
struct View {
    int64_t offset = 0;
    std::vector<int64_t> strides;
};

View dense(const Tensor& t) {
    return {0, t.strides()};
}

int64_t element_at(const View& v, const std::vector<int64_t>& idx) {
    int64_t e = v.offset;
    for (size_t d = 0; d < idx.size(); ++d) e += idx[d] * v.strides[d];
    return e;
}

// Calls f(idx) for every multi-index of `extent`, in C order.
template <typename F>
void for_each_index(const Shape& extent, F&& f) {
    if (shape_numel(extent) == 0) return;
    std::vector<int64_t> idx(extent.size(), 0);
    for (;;) {
        f(idx);
        size_t d = extent.size();
        while (d > 0 && ++idx[d - 1] == extent[d - 1]) idx[--d] = 0;
        if (d == 0) return;
    }
}

void copy_element(const Tensor& src, int64_t from, Tensor& dst, int64_t to) {
    const size_t size = dtype_size(src.dtype());
    std::memcpy(static_cast<std::byte*>(dst.raw_data()) + static_cast<size_t>(to) * size,
                static_cast<const std::byte*>(src.raw_data()) + static_cast<size_t>(from) * size, size);
}

// Copies the `extent`-shaped block that `from` walks in `src` onto the one `to` walks in `dst`.
void copy_view(const Tensor& src, const View& from, Tensor& dst, const View& to, const Shape& extent) {
    for_each_index(extent, [&](const std::vector<int64_t>& idx) {
        copy_element(src, element_at(from, idx), dst, element_at(to, idx));
    });
}

// Reshape, Flatten, Squeeze and Unsqueeze only relabel dims: the elements stay in order.
Status copy_all(KernelContext& ctx) {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = ctx.outputs[0];
    if (out.nbytes() != in.nbytes())
        return internal_error(ctx.node.describe() + ": output " + out.describe() + " does not fit input " +
                              in.describe());
    if (in.nbytes()) std::memcpy(out.raw_data(), in.raw_data(), in.nbytes());
    return Status::ok();
}

// Gather's indices made non-negative, each checked against an axis of size `dim`.
Result<std::vector<int64_t>> normalized_indices(const KernelContext& ctx, const Tensor& indices, int64_t dim) {
    std::vector<int64_t> k = indices.to_int64_vector();
    for (size_t j = 0; j < k.size(); ++j) {
        if (k[j] < -dim || k[j] >= dim)
            return out_of_range(ctx.node.describe() + ": index " + std::to_string(k[j]) + " (indices element " +
                                std::to_string(j) + ") is out of range for an axis of size " + std::to_string(dim));
        if (k[j] < 0) k[j] += dim;
    }
    return k;
}

// Where a reflected index lands in [0, n): the pattern repeats every 2 * (n - 1) elements.
int64_t reflect_index(int64_t i, int64_t n) {
    if (n == 1) return 0;
    const int64_t period = 2 * (n - 1);
    i = (i % period + period) % period;
    return i < n ? i : period - i;
}

enum class PadMode { kConstant, kReflect, kEdge };

}  // namespace

Status ref_Concat(KernelContext& ctx) {
    Tensor& out = ctx.outputs[0];
    FOVEA_ASSIGN(const int64_t axis, ops::normalize_axis(ctx.node.attr_int("axis", 0), out.rank()));
    const std::vector<int64_t> strides = out.strides();
    int64_t offset = 0;
    for (const Tensor* in : ctx.inputs) {
        copy_view(*in, dense(*in), out, {offset * strides[static_cast<size_t>(axis)], strides}, in->shape());
        offset += in->dim(axis);
    }
    return Status::ok();
}

// Each input's channels in turn, through the output channel's scale, shift and the activation.
Status ref_ConcatAffine(KernelContext& ctx) {
    FOVEA_ASSIGN(const ops::Epilogue epilogue, ops::read_epilogue(ctx.node));
    const float* scale = ctx.inputs[0]->data<float>();
    const float* shift = ctx.inputs[1]->data<float>();
    Tensor& out = ctx.outputs[0];
    const int64_t batch = out.dim(0), channels = out.dim(1),
                  inner = out.numel() / std::max<int64_t>(batch * channels, 1);
    float* y = out.data<float>();
    int64_t first = 0;  // the input's first output channel
    for (size_t i = 2; i < ctx.inputs.size(); ++i) {
        const Tensor& in = *ctx.inputs[i];
        const int64_t c_in = in.dim(1);
        const float* x = in.data<float>();
        for (int64_t n = 0; n < batch; ++n)
            for (int64_t c = 0; c < c_in; ++c)
                for (int64_t k = 0; k < inner; ++k) {
                    const int64_t oc = first + c;
                    y[(n * channels + oc) * inner + k] =
                        ops::apply_activation(epilogue, x[(n * c_in + c) * inner + k] * scale[oc] + shift[oc]);
                }
        first += c_in;
    }
    return Status::ok();
}

Status ref_ConstantOfShape(KernelContext& ctx) {
    const Tensor zero = Tensor::scalar(0.0f);
    const Tensor* value = ctx.node.attr_tensor("value");
    Tensor& out = ctx.outputs[0];
    for (int64_t i = 0; i < out.numel(); ++i) copy_element(value ? *value : zero, 0, out, i);
    return Status::ok();
}

Status ref_DepthToSpace(KernelContext& ctx) {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = ctx.outputs[0];
    const int64_t b = ctx.node.attr_int("blocksize", 1);
    const int64_t n = in.dim(0), c = out.dim(1), h = in.dim(2), w = in.dim(3);
    // Read the output as [n, c, h, b1, w, b2]; input channel (b1 * b + b2) * c + ci in DCR, ci * b * b + b1 * b + b2
    // in CRD.
    const bool crd = ctx.node.attr_string("mode", "DCR") == "CRD";
    const int64_t plane = h * w;
    const int64_t c_stride = crd ? b * b * plane : plane;
    const int64_t b1_stride = crd ? b * plane : b * c * plane;
    const int64_t b2_stride = crd ? plane : c * plane;
    const Shape extent{n, c, h, b, w, b};
    const View from{0, {in.strides()[0], c_stride, w, b1_stride, 1, b2_stride}};
    copy_view(in, from, out, {0, contiguous_strides(extent)}, extent);
    return Status::ok();
}

Status ref_Expand(KernelContext& ctx) {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = ctx.outputs[0];
    copy_view(in, {0, broadcast_strides(in.shape(), out.shape().size())}, out, dense(out), out.shape());
    return Status::ok();
}

Status ref_Flatten(KernelContext& ctx) {
    return copy_all(ctx);
}

Status ref_Gather(KernelContext& ctx) {
    const Tensor& data = *ctx.inputs[0];
    const Tensor& indices = *ctx.inputs[1];
    Tensor& out = ctx.outputs[0];
    FOVEA_ASSIGN(const int64_t axis, ops::normalize_axis(ctx.node.attr_int("axis", 0), data.rank()));
    const int64_t dim = data.dim(axis);
    FOVEA_ASSIGN(const std::vector<int64_t> k, normalized_indices(ctx, indices, dim));
    // data as [outer, dim, inner] and out as [outer, k.size(), inner]: each index picks one inner block.
    const Shape& s = data.shape();
    const int64_t outer = shape_numel(std::span(s).first(static_cast<size_t>(axis)));
    const int64_t inner = shape_numel(std::span(s).subspan(static_cast<size_t>(axis) + 1));
    const int64_t count = static_cast<int64_t>(k.size());
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < count; ++j)
            for (int64_t i = 0; i < inner; ++i)
                copy_element(data, (o * dim + k[static_cast<size_t>(j)]) * inner + i, out, (o * count + j) * inner + i);
    return Status::ok();
}

Status ref_GatherElements(KernelContext& ctx) {
    const Tensor& data = *ctx.inputs[0];
    const Tensor& indices = *ctx.inputs[1];
    Tensor& out = ctx.outputs[0];
    FOVEA_ASSIGN(const int64_t axis, ops::normalize_axis(ctx.node.attr_int("axis", 0), data.rank()));
    FOVEA_ASSIGN(const std::vector<int64_t> k, normalized_indices(ctx, indices, data.dim(axis)));
    const View source = dense(data);
    int64_t flat = 0;
    for_each_index(indices.shape(), [&](std::vector<int64_t> idx) {
        idx[static_cast<size_t>(axis)] = k[static_cast<size_t>(flat)];
        copy_element(data, element_at(source, idx), out, flat++);
    });
    return Status::ok();
}

Status ref_Pad(KernelContext& ctx) {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = ctx.outputs[0];
    FOVEA_ASSIGN(const std::vector<ops::PadDim> pads, ops::plan_pads(in.rank(), *ctx.inputs[1], ctx.input(3)));
    const std::string mode_name = ctx.node.attr_string("mode", "constant");
    const PadMode mode = mode_name == "reflect" ? PadMode::kReflect
                         : mode_name == "edge"  ? PadMode::kEdge
                                                : PadMode::kConstant;
    const Tensor zero(in.dtype(), {});
    const Tensor& fill = ctx.input(2) ? *ctx.input(2) : zero;
    const std::vector<int64_t> strides = in.strides();
    int64_t flat = 0;
    for_each_index(out.shape(), [&](const std::vector<int64_t>& idx) {
        int64_t from = 0;
        bool inside = true;
        for (size_t d = 0; d < idx.size() && inside; ++d) {
            // Negative pads crop first; the remaining [first, first + kept) of the input is what gets padded.
            const int64_t first = std::max<int64_t>(-pads[d].begin, 0);
            const int64_t kept = in.shape()[d] - first - std::max<int64_t>(-pads[d].end, 0);
            int64_t i = idx[d] - std::max<int64_t>(pads[d].begin, 0);
            if (i < 0 || i >= kept) {
                switch (mode) {
                    case PadMode::kConstant:
                        inside = false;
                        break;
                    case PadMode::kReflect:
                        i = reflect_index(i, kept);
                        break;
                    case PadMode::kEdge:
                        i = std::clamp<int64_t>(i, 0, kept - 1);
                        break;
                }
            }
            from += (first + i) * strides[d];
        }
        if (inside)
            copy_element(in, from, out, flat);
        else
            copy_element(fill, 0, out, flat);
        ++flat;
    });
    return Status::ok();
}

Status ref_Range(KernelContext& ctx) {
    const Tensor& start = *ctx.inputs[0];
    const Tensor& delta = *ctx.inputs[2];
    Tensor& out = ctx.outputs[0];
    return visit_dtype(out.dtype(), [&]<typename T>() -> Status {
        if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
            const Acc<T> first = static_cast<Acc<T>>(start.element_as_double(0));
            const Acc<T> step = static_cast<Acc<T>>(delta.element_as_double(0));
            for (int64_t i = 0; i < out.numel(); ++i) out.data<T>()[i] = first + static_cast<Acc<T>>(i) * step;
        } else if constexpr (std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>) {
            const int64_t first = start.element_as_int64(0), step = delta.element_as_int64(0);
            for (int64_t i = 0; i < out.numel(); ++i) out.data<T>()[i] = static_cast<T>(first + i * step);
        } else {
            return ctx.fail_unsupported(std::string("dtype ") + dtype_name(out.dtype()) + " is not supported");
        }
        return Status::ok();
    });
}

Status ref_Reshape(KernelContext& ctx) {
    return copy_all(ctx);
}

Status ref_Shape(KernelContext& ctx) {
    const Tensor& in = *ctx.inputs[0];
    const ops::DimRange r = ops::shape_range(ctx.node, in.rank());
    for (int64_t d = r.start; d < r.end; ++d) ctx.outputs[0].data<int64_t>()[d - r.start] = in.dim(d);
    return Status::ok();
}

Status ref_Size(KernelContext& ctx) {
    ctx.outputs[0].data<int64_t>()[0] = ctx.inputs[0]->numel();
    return Status::ok();
}

Status ref_Slice(KernelContext& ctx) {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = ctx.outputs[0];
    FOVEA_ASSIGN(const std::vector<ops::SliceDim> plan,
                 ops::plan_slice(in.shape(), *ctx.inputs[1], *ctx.inputs[2], ctx.input(3), ctx.input(4)));
    View from = dense(in);
    for (size_t d = 0; d < plan.size(); ++d) {
        from.offset += plan[d].start * from.strides[d];
        from.strides[d] *= plan[d].step;
    }
    copy_view(in, from, out, dense(out), out.shape());
    return Status::ok();
}

Status ref_SpaceToDepth(KernelContext& ctx) {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = ctx.outputs[0];
    const int64_t b = ctx.node.attr_int("blocksize", 1);
    const int64_t n = in.dim(0), c = in.dim(1), h = in.dim(2), w = in.dim(3);
    // Read the output as [n, b1, b2, c, h / b, w / b]: input element [n, c, ho * b + b1, wo * b + b2].
    const Shape extent{n, b, b, c, h / b, w / b};
    const View from{0, {c * h * w, w, 1, h * w, b * w, b}};
    copy_view(in, from, out, {0, contiguous_strides(extent)}, extent);
    return Status::ok();
}

Status ref_Split(KernelContext& ctx) {
    const Tensor& in = *ctx.inputs[0];
    FOVEA_ASSIGN(const int64_t axis, ops::normalize_axis(ctx.node.attr_int("axis", 0), in.rank()));
    const std::vector<int64_t> strides = in.strides();
    int64_t offset = 0;
    for (Tensor& out : ctx.outputs) {
        copy_view(in, {offset * strides[static_cast<size_t>(axis)], strides}, out, dense(out), out.shape());
        offset += out.dim(axis);
    }
    return Status::ok();
}

Status ref_Squeeze(KernelContext& ctx) {
    return copy_all(ctx);
}

Status ref_Tile(KernelContext& ctx) {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = ctx.outputs[0];
    if (out.numel() == 0) return Status::ok();
    // Each output dim d splits into [repeat, in.dim(d)]: the repeat index moves in the output only.
    const size_t rank = in.shape().size();
    const std::vector<int64_t> in_strides = in.strides(), out_strides = out.strides();
    Shape extent(2 * rank);
    View from{0, std::vector<int64_t>(2 * rank)}, to{0, std::vector<int64_t>(2 * rank)};
    for (size_t d = 0; d < rank; ++d) {
        const int64_t dim = in.shape()[d];
        extent[2 * d] = out.shape()[d] / dim;
        extent[2 * d + 1] = dim;
        from.strides[2 * d] = 0;
        from.strides[2 * d + 1] = in_strides[d];
        to.strides[2 * d] = dim * out_strides[d];
        to.strides[2 * d + 1] = out_strides[d];
    }
    copy_view(in, from, out, to, extent);
    return Status::ok();
}

Status ref_Transpose(KernelContext& ctx) {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = ctx.outputs[0];
    FOVEA_ASSIGN(const std::vector<int64_t> perm, ops::transpose_perm(ctx.node, in.rank()));
    const std::vector<int64_t> in_strides = in.strides();
    View from{0, std::vector<int64_t>(perm.size())};
    for (size_t i = 0; i < perm.size(); ++i) from.strides[i] = in_strides[static_cast<size_t>(perm[i])];
    copy_view(in, from, out, dense(out), out.shape());
    return Status::ok();
}

Status ref_Unsqueeze(KernelContext& ctx) {
    return copy_all(ctx);
}

}  // namespace fovea::ref
