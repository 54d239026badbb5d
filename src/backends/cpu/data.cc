// Data movement: shape-only ops as copies; Transpose, Split, Slice and Pad as reorders of strided views; Concat, and
// fovea.ConcatAffine (a concatenation through a per-channel affine map and activation).
#include <algorithm>
#include <cstring>

#include "backends/cpu/kernels.h"
#include "ops/fused_conv.h"
#include "ops/op.h"
#include "ops/shape_plan.h"

namespace fovea::cpu {

namespace {

using dims = dnnl::memory::dims;

// Reshape, Flatten, Squeeze, Unsqueeze, Identity and inference Dropout keep the bytes. Where this node is its input's
// last reader the memory plan gives the output the input's buffer and nothing moves; elsewhere (the input is read
// later, or is a graph input) the bytes are copied.
class CopyKernel final : public runtime::NodeKernel {
  public:
    explicit CopyKernel(size_t bytes) : bytes_(bytes) {}
    Status run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) override {
        if (inputs.empty() || !inputs[0] || inputs[0]->nbytes() != bytes_ || outputs.empty() ||
            outputs[0].nbytes() != bytes_)
            return internal_error("copy kernel: tensor sizes differ from the compiled ones");
        if (outputs[0].raw_data() != inputs[0]->raw_data())
            std::memcpy(outputs[0].raw_data(), inputs[0]->raw_data(), bytes_);
        return Status::ok();
    }
    int in_place_input() const override { return 0; }

  private:
    size_t bytes_;
};

// fovea.ConcatAffine in fp32: each input's channels through their output channel's scale, shift and activation,
// written once into the concatenation, channels-last (a row of channels per pixel) or plain (a plane per channel).
// DenseNet-121 at batch 8 on 2 cores spent 31 ms per run in its 62 concatenations and 48 ms in the BatchNormalization
// + ReLU passes over them (depthwise 1x1 convolutions in oneDNN).
class ConcatAffineKernel final : public runtime::NodeKernel {
  public:
    ConcatAffineKernel(int threads, bool nhwc, int64_t batch, int64_t plane, std::vector<int64_t> channels,
                       ops::Epilogue epilogue)
        : threads_(threads),
          nhwc_(nhwc),
          batch_(batch),
          plane_(plane),
          channels_(std::move(channels)),
          epilogue_(std::move(epilogue)) {
        for (size_t i = 0; i < channels_.size(); ++i)
            for (int64_t c = 0; c < channels_[i]; ++c) source_.emplace_back(i, c);
        total_ = static_cast<int64_t>(source_.size());
    }
    Status run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) override {
        if (inputs.size() != channels_.size() + 2 || outputs.empty() ||
            outputs[0].numel() != batch_ * total_ * plane_ || inputs[0]->numel() != total_ ||
            inputs[1]->numel() != total_)
            return internal_error("concat-affine kernel: tensor sizes differ from the compiled ones");
        for (size_t i = 0; i < channels_.size(); ++i)
            if (inputs[i + 2]->numel() != batch_ * channels_[i] * plane_)
                return internal_error("concat-affine kernel: tensor sizes differ from the compiled ones");
        const float* scale = inputs[0]->data<float>();
        const float* shift = inputs[1]->data<float>();
        float* y = outputs[0].data<float>();
        const ThreadScope threads(threads_);
        if (nhwc_) {
#pragma omp parallel for schedule(static)
            for (int64_t p = 0; p < batch_ * plane_; ++p) {
                int64_t first = 0;
                for (size_t i = 0; i < channels_.size(); ++i) {
                    const int64_t c = channels_[i];
                    apply<1>(inputs[i + 2]->data<float>() + p * c, scale + first, shift + first, y + p * total_ + first,
                             c);
                    first += c;
                }
            }
            return Status::ok();
        }
#pragma omp parallel for collapse(2) schedule(static)
        for (int64_t n = 0; n < batch_; ++n)
            for (int64_t oc = 0; oc < total_; ++oc) {
                const auto [i, c] = source_[static_cast<size_t>(oc)];
                apply<0>(inputs[i + 2]->data<float>() + (n * channels_[i] + c) * plane_, scale + oc, shift + oc,
                         y + (n * total_ + oc) * plane_, plane_);
            }
        return Status::ok();
    }

  private:
    // y[k] = activation(x[k] * s[k * kStep] + b[k * kStep]) over one row: a pixel's channels (kStep 1, channels-last)
    // or one channel's plane (kStep 0). ReLU and none vectorized.
    template <int kStep>
    void apply(const float* x, const float* s, const float* b, float* y, int64_t count) const {
        switch (epilogue_.activation) {
            case ops::Activation::kRelu:
#pragma omp simd
                for (int64_t k = 0; k < count; ++k) y[k] = std::max(x[k] * s[k * kStep] + b[k * kStep], 0.0f);
                return;
            case ops::Activation::kNone:
#pragma omp simd
                for (int64_t k = 0; k < count; ++k) y[k] = x[k] * s[k * kStep] + b[k * kStep];
                return;
            default:
                for (int64_t k = 0; k < count; ++k)
                    y[k] = ops::apply_activation(epilogue_, x[k] * s[k * kStep] + b[k * kStep]);
        }
    }

    int threads_;
    bool nhwc_;
    int64_t batch_, plane_, total_ = 0;
    std::vector<int64_t> channels_;
    std::vector<std::pair<size_t, int64_t>> source_;  // per output channel: its input and that input's channel
    ops::Epilogue epilogue_;
};

// Pad in constant mode: the output is filled with the pad value, then the kept input lands in its interior. An empty
// `value` means no fill: the interior is the whole output (nothing padded, at most cropped).
class PadKernel final : public runtime::NodeKernel {
  public:
    PadKernel(std::unique_ptr<runtime::NodeKernel> interior, std::vector<std::byte> value)
        : interior_(std::move(interior)), value_(std::move(value)) {}
    Status run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) override {
        auto* out = static_cast<std::byte*>(outputs[0].raw_data());
        const size_t bytes = outputs[0].nbytes();
        if (value_.empty()) {
            // nothing to fill
        } else if (std::all_of(value_.begin(), value_.end(), [](std::byte b) { return b == std::byte{0}; }))
            std::memset(out, 0, bytes);
        else
            for (size_t at = 0; at + value_.size() <= bytes; at += value_.size())
                std::memcpy(out + at, value_.data(), value_.size());
        return interior_ ? interior_->run(inputs, outputs) : Status::ok();
    }

  private:
    std::unique_ptr<runtime::NodeKernel> interior_;  // null when nothing of the input is kept
    std::vector<std::byte> value_;                   // one element's bytes
};

// True when every input from `first` on is absent or a constant.
bool constant_from(const ir::Node& node, size_t first) {
    for (size_t i = first; i < node.inputs.size(); ++i)
        if (node.inputs[i] && !node.inputs[i]->constant) return false;
    return true;
}

// The strides of a dense `shape` tensor: row-major, or NHWC for an image the backend keeps in NHWC (see layout.h:
// a 5-D one is an image with its channels split in two, [N, A, B, H, W] stored as [N, H, W, A, B]).
std::vector<int64_t> layout_strides(const Shape& shape, bool nhwc) {
    if (!nhwc) return contiguous_strides(shape);
    if (shape.size() == 5) {
        const int64_t c = shape[1] * shape[2];
        return {shape[3] * shape[4] * c, shape[2], 1, shape[4] * c, c};
    }
    FOVEA_CHECK(shape.size() == 4);
    return {shape[1] * shape[2] * shape[3], 1, shape[3] * shape[1], shape[1]};
}

dnnl::memory::desc layout_view(const Shape& shape, dnnl::memory::data_type dtype, bool nhwc) {
    const std::vector<int64_t> strides = layout_strides(shape, nhwc);
    return dnnl::memory::desc(dims(shape.begin(), shape.end()), dtype, dims(strides.begin(), strides.end()));
}

// A strided view of a dense `shape` tensor: `dims` elements from `start`, `step` apart, per dim.
dnnl::memory::desc strided_view(const Shape& shape, const dims& view_dims, const dims& start, const dims& step,
                                dnnl::memory::data_type dtype, bool nhwc = false) {
    const std::vector<int64_t> strides = layout_strides(shape, nhwc);
    dims view_strides;
    int64_t offset = 0;
    for (size_t d = 0; d < shape.size(); ++d) {
        view_strides.push_back(strides[d] * step[d]);
        offset += strides[d] * start[d];
    }
    dnnl::memory::desc view(view_dims, dtype, view_strides);
    view.data.offset0 = offset;
    return view;
}

// The dtype shared by the node's first input and every output, if oneDNN has it and every shape is known.
std::optional<dnnl::memory::data_type> movable_dtype(const ir::Node& node) {
    const ir::Value* x = node.input(0);
    if (!x || !x->shape_known()) return std::nullopt;
    for (const ir::Value* out : node.outputs)
        if (!out || out->dtype != x->dtype || !out->shape_known()) return std::nullopt;
    return dnnl_dtype(x->dtype);
}

}  // namespace

Compiled compile_copy(const ir::Node& node, Context&) {
    // Dropout's optional mask output is not a copy, nor is training mode unless it is known to be off.
    if (node.outputs.size() != 1 || !node.outputs[0] || !node.input(0)) return decline();
    if (node.op_type == "Dropout" && node.input(2)) {
        const ir::Value& training = *node.inputs[2];
        if (!training.constant || training.constant->numel() != 1 || training.constant->element_as_double(0) != 0)
            return decline();
    }
    const ir::Value& x = *node.inputs[0];
    const ir::Value& y = *node.outputs[0];
    if (!x.shape_known() || !y.shape_known() || x.dtype != y.dtype) return decline();
    const size_t bytes = static_cast<size_t>(shape_numel(*x.shape)) * dtype_size(x.dtype);
    if (bytes != static_cast<size_t>(shape_numel(*y.shape)) * dtype_size(y.dtype)) return decline();
    return std::unique_ptr<runtime::NodeKernel>(new CopyKernel(bytes));
}

Compiled compile_transpose(const ir::Node& node, Context& ctx) {
    const std::optional<dnnl::memory::data_type> dtype = movable_dtype(node);
    if (!dtype) return decline();
    const Shape& in = shape_of(*node.inputs[0]);
    const Shape& out = shape_of(*node.outputs[0]);
    if (in.empty() || shape_numel(in) == 0) return decline();
    FOVEA_ASSIGN(const std::vector<int64_t> perm, ops::transpose_perm(node, static_cast<int64_t>(in.size())));
    // The input read in output order: output dim i walks input dim perm[i]. Split channels kept channels-last (see
    // layout.h) stay so.
    const bool nhwc = ctx.nhwc(*node.inputs[0]);
    const std::vector<int64_t> in_strides = layout_strides(in, nhwc);
    dims strides;
    for (int64_t p : perm) strides.push_back(in_strides[static_cast<size_t>(p)]);
    const dnnl::memory::desc src(dims(out.begin(), out.end()), *dtype, strides);
    const dnnl::memory::desc dst = layout_view(out, *dtype, ctx.nhwc(*node.outputs[0]));
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    kernel->add_reorder(kernel->input(0, src), kernel->output(0, dst));
    // A permutation that keeps the bytes in order (an NHWC image to plain [N, H, W, C], and back) is a plain copy,
    // skipped where the output takes over the input's buffer.
    if (src == dst) kernel->allow_in_place(0);
    return DnnlKernel::finish(std::move(kernel));
}

Compiled compile_split(const ir::Node& node, Context& ctx) {
    const std::optional<dnnl::memory::data_type> dtype = movable_dtype(node);
    if (!dtype) return decline();
    const Shape& in = shape_of(*node.inputs[0]);
    FOVEA_ASSIGN(const int64_t axis_value,
                 ops::normalize_axis(node.attr_int("axis", 0), static_cast<int64_t>(in.size())));
    const auto axis = static_cast<size_t>(axis_value);
    // NHWC images (see layout.h) split into NHWC parts.
    const bool nhwc = ctx.nhwc(*node.inputs[0]);
    const dims ones(in.size(), 1);
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    // Outputs are consecutive slices along the axis, sized as inference bound them.
    int64_t offset = 0;
    for (size_t i = 0; i < node.outputs.size(); ++i) {
        const Shape& out = shape_of(*node.outputs[i]);
        if (shape_numel(out) > 0) {
            dims offsets(in.size(), 0);
            offsets[axis] = offset;
            const dnnl::memory::desc part = strided_view(in, dims(out.begin(), out.end()), offsets, ones, *dtype, nhwc);
            kernel->add_reorder(kernel->input(0, part), kernel->output(i, image_desc(out, *dtype, nhwc)));
        }
        offset += out[axis];
    }
    if (offset != in[axis]) return decline();
    return DnnlKernel::finish(std::move(kernel));
}

Compiled compile_slice(const ir::Node& node, Context& ctx) {
    const std::optional<dnnl::memory::data_type> dtype = movable_dtype(node);
    if (!dtype || node.inputs.size() < 3 || !constant_from(node, 1)) return decline();
    const Shape& in = shape_of(*node.inputs[0]);
    const Shape& out = shape_of(*node.outputs[0]);
    if (in.empty() || shape_numel(out) == 0) return decline();
    auto constant = [&](size_t i) { return node.input(i) ? &*node.inputs[i]->constant : nullptr; };
    FOVEA_ASSIGN(const std::vector<ops::SliceDim> plan,
                 ops::plan_slice(in, *constant(1), *constant(2), constant(3), constant(4)));
    dims start, step;
    for (size_t d = 0; d < plan.size(); ++d) {
        // oneDNN strides are not negative: reversed slices stay on ref.
        if (plan[d].step < 1 || plan[d].size != out[d]) return decline();
        start.push_back(plan[d].start);
        step.push_back(plan[d].step);
    }
    const bool nhwc = ctx.nhwc(*node.inputs[0]);  // NHWC images (see layout.h) give NHWC slices
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    kernel->add_reorder(kernel->input(0, strided_view(in, dims(out.begin(), out.end()), start, step, *dtype, nhwc)),
                        kernel->output(0, image_desc(out, *dtype, nhwc)));
    return DnnlKernel::finish(std::move(kernel));
}

Compiled compile_pad(const ir::Node& node, Context& ctx) {
    const std::optional<dnnl::memory::data_type> dtype = movable_dtype(node);
    if (!dtype || node.attr_string("mode", "constant") != "constant" || !node.input(1) || !constant_from(node, 1))
        return decline();
    const ir::Value& x = *node.inputs[0];
    const Shape& in = shape_of(x);
    const Shape& out = shape_of(*node.outputs[0]);
    if (in.empty() || shape_numel(out) == 0) return decline();
    FOVEA_ASSIGN(const std::vector<ops::PadDim> pads,
                 ops::plan_pads(static_cast<int64_t>(in.size()), *node.inputs[1]->constant,
                                node.input(3) ? &*node.inputs[3]->constant : nullptr));
    std::vector<std::byte> value(dtype_size(x.dtype));
    if (const ir::Value* v = node.input(2)) {
        if (v->constant->dtype() != x.dtype || v->constant->numel() != 1) return decline();
        std::memcpy(value.data(), v->constant->raw_data(), value.size());
    }
    // Negative pads crop: the input's [first, first + kept) lands at the output's max(begin, 0).
    dims kept, in_start, out_start;
    const dims ones(in.size(), 1);
    for (size_t d = 0; d < in.size(); ++d) {
        const int64_t first = std::max<int64_t>(-pads[d].begin, 0);
        kept.push_back(in[d] - first - std::max<int64_t>(-pads[d].end, 0));
        in_start.push_back(first);
        out_start.push_back(std::max<int64_t>(pads[d].begin, 0));
    }
    // Without a positive pad the interior covers the output (PyTorch exports pooling pads of zeros as Pad nodes).
    if (std::all_of(pads.begin(), pads.end(), [](const ops::PadDim& p) { return p.begin <= 0 && p.end <= 0; }))
        value.clear();
    const bool nhwc = ctx.nhwc(x);  // an NHWC image (see layout.h) pads into an NHWC one
    std::unique_ptr<runtime::NodeKernel> interior;
    if (std::all_of(kept.begin(), kept.end(), [](int64_t k) { return k > 0; })) {
        auto kernel = std::make_unique<DnnlKernel>(ctx, node);
        kernel->add_reorder(kernel->input(0, strided_view(in, kept, in_start, ones, *dtype, nhwc)),
                            kernel->output(0, strided_view(out, kept, out_start, ones, *dtype, nhwc)));
        FOVEA_ASSIGN(interior, DnnlKernel::finish(std::move(kernel)));
    }
    return std::unique_ptr<runtime::NodeKernel>(new PadKernel(std::move(interior), std::move(value)));
}

Compiled compile_concat(const ir::Node& node, Context& ctx) {
    const ir::Value* y = node.outputs.empty() ? nullptr : node.outputs[0];
    if (!y || !y->shape_known() || shape_numel(*y->shape) == 0) return decline();
    const std::optional<dnnl::memory::data_type> dtype = dnnl_dtype(y->dtype);
    if (!dtype) return decline();
    const Shape& out = *y->shape;
    FOVEA_ASSIGN(const int64_t axis, ops::normalize_axis(node.attr_int("axis", 0), static_cast<int64_t>(out.size())));
    std::vector<dnnl::memory::desc> srcs;
    std::vector<size_t> used;  // inputs with elements (empty ones contribute nothing)
    for (size_t i = 0; i < node.inputs.size(); ++i) {
        const ir::Value* in = node.inputs[i];
        if (!in || in->dtype != y->dtype || !in->shape_known()) return decline();
        if (shape_numel(*in->shape) == 0) continue;
        srcs.push_back(ctx.layout_desc(*in, ctx.storage_type(*in)));
        used.push_back(i);
    }
    // bf16 precision may store the images of a Concat in bf16, all or none (precision.h).
    const dnnl::memory::desc dst = ctx.layout_desc(*y, ctx.storage_type(*y));
    const dnnl::concat::primitive_desc pd(dst, static_cast<int>(axis), srcs, ctx.engine(), user_attr());
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_DST, kernel->output(0, dst)}};
    for (size_t j = 0; j < used.size(); ++j)
        args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(j)] = kernel->input(used[j], srcs[j]);
    kernel->add(dnnl::concat(pd), std::move(args));
    return DnnlKernel::finish(std::move(kernel));
}

Compiled compile_concat_affine(const ir::Node& node, Context& ctx) {
    const ir::Value* y = node.outputs.empty() ? nullptr : node.outputs[0];
    const auto f32 = dnnl::memory::data_type::f32;
    auto fp32_image = [&](const ir::Value* v) {
        return v && v->dtype == DType::kFloat32 && v->shape_known() && v->shape->size() == 4 &&
               ctx.storage_type(*v) == f32;
    };
    if (!fp32_image(y) || node.inputs.size() < 3 || !node.inputs[0] || !node.inputs[1]) return decline();
    FOVEA_ASSIGN(const ops::Epilogue epilogue, ops::read_epilogue(node));
    const Shape& ys = *y->shape;
    std::vector<int64_t> channels;
    for (size_t i = 2; i < node.inputs.size(); ++i) {
        const ir::Value* x = node.inputs[i];
        if (!fp32_image(x) || ctx.nhwc(*x) != ctx.nhwc(*y)) return decline();
        channels.push_back((*x->shape)[1]);
    }
    return std::unique_ptr<runtime::NodeKernel>(
        new ConcatAffineKernel(ctx.threads(), ctx.nhwc(*y), ys[0], ys[2] * ys[3], std::move(channels), epilogue));
}

}  // namespace fovea::cpu
