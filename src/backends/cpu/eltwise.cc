// Elementwise ops: unary math and activations (oneDNN eltwise, and a loop for Erf), broadcasting binary ops (oneDNN
// binary), and the variadic Sum and Mean of same-shaped inputs (oneDNN sum).
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "backends/cpu/activation.h"
#include "backends/cpu/kernels.h"
#include "ops/elementwise_plan.h"

namespace fovea::cpu {

namespace {

using dims = dnnl::memory::dims;
using alg = dnnl::algorithm;
constexpr auto kF32 = dnnl::memory::data_type::f32;

// The single value of constant input i, or nullopt when it is absent, not constant or not one element.
std::optional<float> constant_scalar(const ir::Node& node, size_t i) {
    const ir::Value* v = node.input(i);
    if (!v || !v->constant || v->constant->numel() != 1) return std::nullopt;
    return static_cast<float>(v->constant->element_as_double(0));
}

// The eltwise chain of a unary node; nullopt when an operand that must be a known scalar is not.
std::optional<std::vector<EltwiseOp>> unary_chain(const ir::Node& node) {
    const std::string& op = node.op_type;
    auto attr = [&](const char* name, float fallback) { return node.attr_float(name, fallback); };
    if (op == "Relu") return std::vector<EltwiseOp>{{alg::eltwise_relu}};
    if (op == "LeakyRelu") return std::vector<EltwiseOp>{{alg::eltwise_relu, attr("alpha", 0.01f)}};
    if (op == "Elu") return std::vector<EltwiseOp>{{alg::eltwise_elu, attr("alpha", 1.0f)}};
    if (op == "Selu")
        return std::vector<EltwiseOp>{{alg::eltwise_elu, attr("alpha", 1.67326319f)},
                                      {alg::eltwise_linear, attr("gamma", 1.05070102f)}};
    if (op == "Sigmoid") return std::vector<EltwiseOp>{{alg::eltwise_logistic}};
    if (op == "Tanh") return std::vector<EltwiseOp>{{alg::eltwise_tanh}};
    // Log stays on ref: oneDNN's log(1) is -1.4e-6, not 0, which ONNX's absolute tolerance rejects.
    if (op == "Exp") return std::vector<EltwiseOp>{{alg::eltwise_exp}};
    if (op == "Sqrt") return std::vector<EltwiseOp>{{alg::eltwise_sqrt}};
    if (op == "Abs") return std::vector<EltwiseOp>{{alg::eltwise_abs}};
    if (op == "Neg") return std::vector<EltwiseOp>{{alg::eltwise_linear, -1.0f}};
    if (op == "Reciprocal") return std::vector<EltwiseOp>{{alg::eltwise_pow, 1.0f, -1.0f}};
    if (op == "Softplus") return std::vector<EltwiseOp>{{alg::eltwise_soft_relu}};
    if (op == "Gelu") return activation_chain({ops::Activation::kGelu, {}, false});
    if (op == "SiLU") return activation_chain({ops::Activation::kSiLU, {}, false});
    if (op == "HardSwish") return activation_chain({ops::Activation::kHardSwish, {}, false});
    if (op == "HardSigmoid")
        return activation_chain({ops::Activation::kHardSigmoid, {attr("alpha", 0.2f), attr("beta", 0.5f)}, false});
    if (op == "Clip") {
        // Absent bounds are infinite; present ones must be known now (the importer turned old attributes into inputs).
        const bool has_min = node.input(1) != nullptr, has_max = node.input(2) != nullptr;
        const std::optional<float> lo = constant_scalar(node, 1), hi = constant_scalar(node, 2);
        if ((has_min && !lo) || (has_max && !hi)) return std::nullopt;
        const float inf = std::numeric_limits<float>::infinity();
        return activation_chain({ops::Activation::kClip, {lo.value_or(-inf), hi.value_or(inf)}, false});
    }
    if (op == "Pow") {
        const std::optional<float> exponent = constant_scalar(node, 1);
        if (!exponent) return std::nullopt;
        return std::vector<EltwiseOp>{{alg::eltwise_pow, 1.0f, *exponent}};
    }
    return std::nullopt;
}

// Numpy broadcasting in oneDNN binary's terms: src0 has the output's shape, src1 each dim equal or 1.
struct BinaryPlan {
    size_t src0 = 0, src1 = 1;  // node inputs in oneDNN's operand order
    dims src1_dims;
};

// Left-pads `shape` with ones to `rank` dims.
dims padded(const Shape& shape, size_t rank) {
    dims d(rank - shape.size(), 1);
    d.insert(d.end(), shape.begin(), shape.end());
    return d;
}

bool fits_src1(const dims& src1, const dims& out) {
    for (size_t i = 0; i < out.size(); ++i)
        if (src1[i] != out[i] && src1[i] != 1) return false;
    return true;
}

// The same broadcast over fewer dims: runs of dims where src1 is whole (or broadcast) merge, and the result takes a
// form whose broadcast oneDNN's jit binary kernels know (scalar, per channel, per batch and spatial, none). Left as
// it is, [1, 56, 56, 96] + [1, 56, 56, 1] falls to oneDNN's reference kernel, 30 times slower.
std::pair<dims, dims> canonical_broadcast(const dims& out, const dims& src1) {
    std::vector<std::pair<bool, int64_t>> runs;  // (broadcast, extent)
    for (size_t d = 0; d < out.size(); ++d) {
        if (out[d] == 1) continue;
        const bool broadcast = src1[d] == 1;
        if (!runs.empty() && runs.back().first == broadcast)
            runs.back().second *= out[d];
        else
            runs.push_back({broadcast, out[d]});
    }
    std::string pattern;
    for (const auto& [broadcast, extent] : runs) pattern += broadcast ? 'b' : 'f';
    auto extent = [&](size_t i) { return runs[i].second; };
    if (pattern.empty()) return {{1}, {1}};
    if (pattern == "f") return {{extent(0)}, {extent(0)}};
    if (pattern == "b") return {{extent(0)}, {1}};
    if (pattern == "fb") return {{1, extent(0), extent(1)}, {1, extent(0), 1}};
    if (pattern == "bf") return {{extent(0), extent(1)}, {1, extent(1)}};
    if (pattern == "bfb") return {{extent(0), extent(1), extent(2)}, {1, extent(1), 1}};
    if (pattern == "fbf") return {{extent(0), extent(1), extent(2)}, {extent(0), 1, extent(2)}};
    return {out, src1};
}

// Erf, which oneDNN 2.6 lacks (ConvNeXt computes GELU around it): a parallel loop over std::erf.
class ErfKernel final : public runtime::NodeKernel {
  public:
    ErfKernel(int threads, int64_t count) : threads_(threads), count_(count) {}
    Status run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) override {
        if (inputs.empty() || !inputs[0] || inputs[0]->numel() != count_ || outputs.empty() ||
            outputs[0].numel() != count_)
            return internal_error("Erf kernel: tensor sizes differ from the compiled ones");
        const float* x = inputs[0]->data<float>();
        float* y = outputs[0].data<float>();
        const ThreadScope threads(threads_);
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < count_; ++i) y[i] = std::erf(x[i]);
        return Status::ok();
    }

  private:
    int threads_;
    int64_t count_;
};

// Whether an operand of dims `s1` holds one value per channel (or one in all) for each image of `out`, or one such
// set for every image: [N or 1, C or 1, 1, 1].
bool per_channel_operand(const dims& s1, const dims& out) {
    return (s1[0] == out[0] || s1[0] == 1) && s1[2] == 1 && s1[3] == 1;
}

// An NHWC image times one value per channel (per image, or shared): a squeeze-excitation block's scale. One pass of
// its own, in place where the planner allows. On 2 cores, EfficientNet-B0's 16 scales (9 MB in, 9 MB out at batch
// 1) take 0.74 ms against 1.0-1.1 ms through oneDNN 2.6's binary; the pass is memory-bound either way.
class ChannelScaleKernel final : public runtime::NodeKernel {
  public:
    ChannelScaleKernel(int threads, int image, int64_t images, int64_t pixels, int64_t channels, bool per_image)
        : threads_(threads),
          image_(image),
          images_(images),
          pixels_(pixels),
          channels_(channels),
          per_image_(per_image) {}
    Status run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) override {
        const int64_t count = images_ * pixels_ * channels_;
        const Tensor* x = inputs.size() == 2 ? inputs[image_] : nullptr;
        const Tensor* s = inputs.size() == 2 ? inputs[1 - image_] : nullptr;
        if (!x || !s || x->numel() != count || s->numel() != (per_image_ ? images_ : 1) * channels_ ||
            outputs.empty() || outputs[0].numel() != count)
            return internal_error("channel scale kernel: tensor sizes differ from the compiled ones");
        const float* xd = x->data<float>();
        const float* sd = s->data<float>();
        float* yd = outputs[0].data<float>();
        const ThreadScope threads(threads_);
#pragma omp parallel for collapse(2) schedule(static)
        for (int64_t n = 0; n < images_; ++n)
            for (int64_t p = 0; p < pixels_; ++p) {
                const float* scale = sd + (per_image_ ? n * channels_ : 0);
                const int64_t row = (n * pixels_ + p) * channels_;
#pragma omp simd
                for (int64_t c = 0; c < channels_; ++c) yd[row + c] = xd[row + c] * scale[c];
            }
        return Status::ok();
    }
    int in_place_input() const override {
        return image_;
    }

  private:
    int threads_, image_;
    int64_t images_, pixels_, channels_;
    bool per_image_;
};

}  // namespace

Compiled compile_erf(const ir::Node& node, Context& ctx) {
    if (!all_float32(node)) return decline();
    return std::unique_ptr<runtime::NodeKernel>(new ErfKernel(ctx.threads(), shape_numel(shape_of(*node.inputs[0]))));
}

Compiled compile_unary(const ir::Node& node, Context& ctx) {
    const ir::Value& x = *node.inputs[0];
    const ir::Value& y = *node.outputs[0];
    const bool float_data = x.dtype == DType::kFloat32 && y.dtype == DType::kFloat32;
    if (!float_data || !x.shape_known() || shape_numel(*x.shape) == 0) return decline();
    const std::optional<std::vector<EltwiseOp>> chain = unary_chain(node);
    if (!chain) return decline();
    // Elementwise work ignores the shape: one flat dimension.
    const dnnl::memory::desc flat({shape_numel(*x.shape)}, kF32, dims{1});
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    dnnl::memory src = kernel->input(0, flat);
    const dnnl::memory dst = kernel->output(0, flat);
    for (const EltwiseOp& op : *chain) {
        const dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, op.alg, flat, op.alpha, op.beta);
        const dnnl::eltwise_forward::primitive_desc pd(desc, user_attr(), ctx.engine());
        kernel->add(dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
        src = dst;  // later operations of the chain work in place
    }
    kernel->allow_in_place(0);
    return DnnlKernel::finish(std::move(kernel));
}

Compiled compile_binary(const ir::Node& node, Context& ctx) {
    if (!all_float32(node) || node.inputs.size() != 2) return decline();
    const std::string& op = node.op_type;
    const Shape& out_shape = shape_of(*node.outputs[0]);
    const size_t rank = std::max<size_t>(out_shape.size(), 1);
    const dims out = padded(out_shape, rank);
    const Shape& first = shape_of(*node.inputs[0]);
    // Before opset 7 the second operand may align at an axis rather than at the end.
    FOVEA_ASSIGN(const Shape second,
                 ops::broadcast_operand_shape(node, 1, shape_of(*node.inputs[1]), static_cast<int64_t>(first.size())));
    const dims a = padded(first, rank), b = padded(second, rank);
    alg algorithm = alg::binary_add;
    if (op == "Sub") algorithm = alg::binary_sub;
    if (op == "Mul") algorithm = alg::binary_mul;
    if (op == "Div") algorithm = alg::binary_div;
    if (op == "Max") algorithm = alg::binary_max;
    if (op == "Min") algorithm = alg::binary_min;

    // oneDNN broadcasts only its second operand. When the first input is the broadcast one, the operands swap:
    // free for commutative ops; a - b = -(b - a) and a / b = 1 / (b / a) take a post-op.
    dnnl::post_ops post_ops;
    BinaryPlan plan{0, 1, b};
    if (a != out) {
        if (b != out || !fits_src1(a, out)) return decline();
        plan = {1, 0, a};
        if (algorithm == alg::binary_sub) post_ops.append_eltwise(1.0f, alg::eltwise_linear, -1.0f, 0.0f);
        if (algorithm == alg::binary_div) post_ops.append_eltwise(1.0f, alg::eltwise_pow, 1.0f, -1.0f);
    } else if (!fits_src1(b, out)) {
        return decline();
    }
    if (algorithm == alg::binary_mul && rank == 4 && ctx.nhwc(*node.outputs[0])) {
        const ir::Value& image = *node.inputs[plan.src0];
        const ir::Value& scale = *node.inputs[plan.src1];
        const dims& s1 = plan.src1_dims;
        const bool f32 = ctx.storage_type(image) == kF32 && ctx.storage_type(*node.outputs[0]) == kF32 &&
                         ctx.storage_type(scale) == kF32;
        // [N, C, 1, 1] holds the same bytes channels-last or not.
        if (f32 && ctx.nhwc(image) && s1[1] == out[1] && per_channel_operand(s1, out))
            return std::unique_ptr<runtime::NodeKernel>(new ChannelScaleKernel(
                ctx.threads(), static_cast<int>(plan.src0), out[0], out[2] * out[3], out[1], s1[0] > 1));
    }
    dnnl::primitive_attr attr = user_attr();
    attr.set_post_ops(post_ops);
    dnnl::memory::desc dst, src1;
    if (ctx.nhwc(*node.outputs[0])) {
        // NHWC images keep their four dims (the layout plan took this node only for an operand that is the same
        // image, also NHWC, or one value per channel, whose bytes read the same in either layout).
        // bf16 precision may store images of the same shape in bf16, all of them or none (precision.h).
        dst = ctx.layout_desc(*node.outputs[0], ctx.storage_type(*node.outputs[0]));
        const ir::Value& other = *node.inputs[plan.src1];
        const dims& s1 = plan.src1_dims;
        if (ctx.nhwc(other)) {
            src1 = ctx.layout_desc(other, ctx.storage_type(other));
        } else if (rank == 4 && per_channel_operand(s1, out)) {
            // One value per channel (and image): NHWC bytes as [N, H*W, C] against [N or 1, 1, C], a broadcast
            // oneDNN's jit binary kernel takes; the 4-D form [N, C, 1, 1] against acdb data can be slower (a
            // squeeze-excitation scale of EfficientNet-B0, 1x96x56x56: 0.32 ms against 0.13).
            dst = dnnl::memory::desc({out[0], out[2] * out[3], out[1]}, ctx.storage_type(*node.outputs[0]),
                                     dnnl::memory::format_tag::abc);
            src1 = dnnl::memory::desc({s1[0], 1, s1[1]}, ctx.storage_type(other), dnnl::memory::format_tag::abc);
        } else {
            src1 = plain_desc(Shape(s1.begin(), s1.end()), ctx.storage_type(other));
        }
    } else {
        const auto [dst_dims, src1_dims] = canonical_broadcast(out, plan.src1_dims);
        dst = plain_desc(Shape(dst_dims.begin(), dst_dims.end()), kF32);
        src1 = plain_desc(Shape(src1_dims.begin(), src1_dims.end()), kF32);
    }
    const dnnl::binary::desc desc(algorithm, dst, src1, dst);
    const dnnl::binary::primitive_desc pd(desc, attr, ctx.engine());
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    kernel->add(dnnl::binary(pd), {{DNNL_ARG_SRC_0, kernel->input(plan.src0, dst)},
                                   {DNNL_ARG_SRC_1, kernel->input(plan.src1, src1)},
                                   {DNNL_ARG_DST, kernel->output(0, dst)}});
    kernel->allow_in_place(static_cast<int>(plan.src0));  // oneDNN's binary may write over its first source
    return DnnlKernel::finish(std::move(kernel));
}

Compiled compile_sum(const ir::Node& node, Context& ctx) {
    if (!all_float32(node) || node.inputs.empty()) return decline();
    const Shape& out = shape_of(*node.outputs[0]);
    for (const ir::Value* in : node.inputs)
        if (!in || shape_of(*in) != out) return decline();
    const dnnl::memory::desc flat({shape_numel(out)}, kF32, dims{1});
    const float scale = node.op_type == "Mean" ? 1.0f / static_cast<float>(node.inputs.size()) : 1.0f;
    const std::vector<float> scales(node.inputs.size(), scale);
    const std::vector<dnnl::memory::desc> srcs(node.inputs.size(), flat);
    const dnnl::sum::primitive_desc pd(flat, scales, srcs, ctx.engine(), user_attr());
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_DST, kernel->output(0, flat)}};
    for (size_t i = 0; i < node.inputs.size(); ++i)
        args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = kernel->input(i, flat);
    kernel->add(dnnl::sum(pd), std::move(args));
    return DnnlKernel::finish(std::move(kernel));
}

}  // namespace fovea::cpu
