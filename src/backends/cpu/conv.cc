// Convolutions: Conv, fovea's FusedConv (activation and residual as post-ops) and ConvTranspose (deconvolution).
#include <algorithm>
#include <cstdlib>
#include <string>

#include "backends/cpu/activation.h"
#include "backends/cpu/kernels.h"
#include "ops/fused_conv.h"
#include "ops/nn_geometry.h"
#include "ops/op.h"

namespace fovea::cpu {

namespace {

using dims = dnnl::memory::dims;
constexpr auto kF32 = dnnl::memory::data_type::f32;

dims to_dims(const std::vector<int64_t>& v) {
    return dims(v.begin(), v.end());
}

// oneDNN counts dilation from 0 (taps adjacent); ONNX from 1.
dims dnnl_dilations(const std::vector<int64_t>& d) {
    dims out;
    for (int64_t v : d) out.push_back(v - 1);
    return out;
}

Shape spatial(const Shape& s) {
    return Shape(s.begin() + 2, s.end());
}

// The weights as oneDNN's logical [G,] O, I, k... over ONNX's bytes. Conv stores [M, C/G, k...], which is already
// [G, M/G, C/G, k...]; ConvTranspose stores [C, M/G, k...], i.e. [G, C/G, M/G, k...] with input and output swapped.
dnnl::memory::desc weights_desc(const Shape& w, int64_t group, bool transposed) {
    const Shape kernel(w.begin() + 2, w.end());
    const int64_t k = shape_numel(kernel);
    const int64_t out_per_group = transposed ? w[1] : w[0] / group;
    const int64_t in_per_group = transposed ? w[0] / group : w[1];
    dims logical{out_per_group, in_per_group};
    dims strides = transposed ? dims{k, out_per_group * k} : dims{in_per_group * k, k};
    if (group > 1) {
        logical.insert(logical.begin(), group);
        strides.insert(strides.begin(), out_per_group * in_per_group * k);
    }
    const std::vector<int64_t> kernel_strides = contiguous_strides(kernel);
    logical.insert(logical.end(), kernel.begin(), kernel.end());
    strides.insert(strides.end(), kernel_strides.begin(), kernel_strides.end());
    return dnnl::memory::desc(logical, kF32, strides);
}

// Winograd for 3x3, stride 1 fp32 convolutions between wide images (ResNet's): oneDNN 2.6's F(2,3)/F(4,3) kernels
// took ResNet-50's 3x3 layers from 8.4 to 5.8 ms at batch 1 and by 40% at batch 8 on 2 AVX-512 cores, each layer
// faster (0.64-0.77x); ResNet-50 against ONNX Runtime went from 1.02/1.09x to 0.92/0.93x at batch 1/8. Narrow outputs
// lose: DenseNet-121 (128 -> 32 channels) went from 23 to 25 ms. The cost: rel. L2 against ONNX Runtime 1.9e-5 on
// ResNet-50 (bound 1e-4), and transformed weights (peak RSS 243 -> 283 MB at batch 1).
bool prefers_winograd(const Shape& xs, const Shape& ws, int64_t group, const ops::Window& win,
                      dnnl::memory::data_type compute) {
    static const bool enabled = [] {
        const char* env = std::getenv("FOVEA_CPU_WINOGRAD");  // 0: direct convolutions only (exact-math comparisons)
        return !env || std::string(env) != "0";
    }();
    if (!enabled || compute != kF32 || group != 1 || xs.size() != 4 || ws[2] != 3 || ws[3] != 3) return false;
    for (size_t i = 0; i < 2; ++i)
        if (win.strides[i] != 1 || win.dilations[i] != 1) return false;
    return ws[0] >= 64 && ws[1] >= 64;
}

Compiled compile_windowed(const ir::Node& node, Context& ctx, bool transposed) {
    if (!all_float32(node) || !node.input(1)) return decline();
    const bool fused = node.op_type == "FusedConv";
    const ir::Value& x = *node.inputs[0];
    const ir::Value& w = *node.inputs[1];
    const ir::Value* b = node.input(2);
    const ir::Value* sum = fused ? node.input(3) : nullptr;
    const Shape& xs = shape_of(x);
    const Shape& ws = shape_of(w);
    const Shape& ys = shape_of(*node.outputs[0]);
    if (xs.size() < 3 || xs.size() > 5 || ws.size() != xs.size()) return decline();
    if (sum && shape_of(*sum) != ys) return decline();
    const int64_t group = node.attr_int("group", 1);
    FOVEA_ASSIGN(const ops::Window win,
                 ops::resolve_window(node, transposed ? ops::WindowKind::kConvTranspose : ops::WindowKind::kConv,
                                     spatial(xs), spatial(ws)));
    dims pad_end = to_dims(win.pad_end);
    if (transposed) {
        // oneDNN derives the output from the pads; ONNX output_padding and output_shape only change the end pad.
        for (size_t i = 0; i < pad_end.size(); ++i)
            pad_end[i] = (xs[i + 2] - 1) * win.strides[i] + (win.kernel[i] - 1) * win.dilations[i] + 1 -
                         win.pad_begin[i] - ys[i + 2];
    }
    // An output longer than the natural one is a negative end pad, which oneDNN's deconvolution computes as ONNX
    // does (values from the bias alone); convolutions never need one.
    for (size_t i = 0; i < pad_end.size(); ++i)
        if (win.pad_begin[i] < 0 || (pad_end[i] < 0 && !transposed)) return decline();

    ops::Epilogue epilogue;
    if (fused) {
        FOVEA_ASSIGN(epilogue, ops::read_epilogue(node));
    }
    // A 1x1 convolution of 1x1 images (squeeze-excitation): a matrix product of the batch by the weights.
    auto ones = [](const auto& v) { return std::all_of(v.begin(), v.end(), [](int64_t d) { return d == 1; }); };
    auto zeros = [](const auto& v) { return std::all_of(v.begin(), v.end(), [](int64_t d) { return d == 0; }); };
    if (!transposed && !sum && group == 1 && ones(win.kernel) && ones(spatial(xs)) && ones(spatial(ys)) &&
        zeros(win.pad_begin) && zeros(pad_end))
        if (auto skinny = skinny_product(node, ctx, xs[0], xs[1], ys[1], epilogue)) return skinny;
    dnnl::post_ops post_ops;
    if (sum) post_ops.append_sum(1.0f);
    // oneDNN 2.6's deconvolution runs about 5x slower when given a bias (PP-OCRv4 det's two: 7.5 against 1.4 ms and
    // 11 against 2.8 ms on 2 cores), and far slower still with post-ops: the bias is added by a binary primitive
    // after it, in place. (ConvTranspose carries no epilogue, so nothing else comes after the bias.)
    const bool bias_after = transposed && b;
    // SiLU and Sigmoid run after the convolution in a pass of our own (activation.cc), 3-4x cheaper than oneDNN's
    // post-op; without that post-op, SiLU convolutions may also take Winograd. The pass sees the output as stored,
    // so only an fp32 one.
    const ActivationPass own_pass =
        ctx.storage_type(*node.outputs[0]) == kF32 ? own_activation_pass(epilogue) : nullptr;
    if (!own_pass) append_chain(post_ops, activation_chain(epilogue));
    dnnl::primitive_attr attr = user_attr();
    attr.set_post_ops(post_ops);

    // The layouts the images arrive and leave in: NHWC where the backend keeps them so (see layout.h), else plain.
    const dnnl::memory::desc src_plain = ctx.layout_desc(x, ctx.storage_type(x));
    const dnnl::memory::desc dst_plain = ctx.layout_desc(*node.outputs[0], ctx.storage_type(*node.outputs[0]));
    const dnnl::memory::desc weights_plain = weights_desc(ws, group, transposed);
    const dnnl::memory::desc bias_plain = b ? plain_desc(shape_of(*b), kF32) : dnnl::memory::desc();
    const dnnl::memory::desc bias_arg = bias_after ? dnnl::memory::desc() : bias_plain;  // the primitive's own
    // The convolution picks its own layout (NHWC with oneDNN 2.6 on AVX-512) and the kernel reorders to and from
    // where the images are not already in it: on ResNet-50, one thread, 166 ms against 223 ms with NCHW forced on
    // the primitive (gemm-based then), the reorders of plain images included.
    // Source and weights are read in the compute type (bf16 precision converts them in those reorders, unless the
    // source is stored in bf16); the destination is written in its storage type.
    constexpr auto kAny = dnnl::memory::format_tag::any;
    const dnnl::memory::desc src_md(src_plain.dims(), ctx.compute_type(node), kAny);
    // A deconvolution to a few channels writes them where they are stored: the blocked layout oneDNN would pick pads
    // them to 16 (PP-OCRv4 det's last layer, 1 channel at 640x640: 16 times the bytes, then a reorder).
    const bool few_channels_out = transposed && ys[1] < 8;
    const dnnl::memory::desc dst_md =
        few_channels_out ? dst_plain : dnnl::memory::desc(dst_plain.dims(), ctx.storage_type(*node.outputs[0]), kAny);
    const dnnl::memory::desc weights_md(weights_plain.dims(), ctx.compute_type(node), kAny);
    const dims strides = to_dims(win.strides), dilations = dnnl_dilations(win.dilations);
    const dims pad_begin = to_dims(win.pad_begin);

    dnnl::primitive primitive;
    dnnl::memory::desc src_desc, weights_desc_chosen, dst_desc;
    if (transposed) {
        const dnnl::deconvolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                                     dnnl::algorithm::deconvolution_direct, src_md, weights_md,
                                                     bias_arg, dst_md, strides, dilations, pad_begin, pad_end);
        const dnnl::deconvolution_forward::primitive_desc pd(desc, attr, ctx.engine());
        primitive = dnnl::deconvolution_forward(pd);
        src_desc = pd.src_desc();
        weights_desc_chosen = pd.weights_desc();
        dst_desc = pd.dst_desc();
    } else {
        const auto describe = [&](dnnl::algorithm algorithm) {
            const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, src_md,
                                                       weights_md, bias_plain, dst_md, strides, dilations, pad_begin,
                                                       pad_end);
            return dnnl::convolution_forward::primitive_desc(desc, attr, ctx.engine());
        };
        dnnl::convolution_forward::primitive_desc pd;
        if (prefers_winograd(xs, ws, group, win, ctx.compute_type(node))) {
            try {
                pd = describe(dnnl::algorithm::convolution_winograd);
            } catch (const dnnl::error&) {  // not for every epilogue: direct then
            }
        }
        if (!pd) pd = describe(dnnl::algorithm::convolution_direct);
        primitive = dnnl::convolution_forward(pd);
        src_desc = pd.src_desc();
        weights_desc_chosen = pd.weights_desc();
        dst_desc = pd.dst_desc();
    }

    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    std::unordered_map<int, dnnl::memory> args;
    args[DNNL_ARG_SRC] = kernel->input_as(0, src_plain, src_desc);
    // Constant weights are reordered once, here; others on every run.
    args[DNNL_ARG_WEIGHTS] = w.constant
                                 ? reorder_constant(ctx, *kernel, *w.constant, weights_plain, weights_desc_chosen)
                                 : kernel->input_as(1, weights_plain, weights_desc_chosen);
    if (b && !bias_after) args[DNNL_ARG_BIAS] = kernel->input(2, bias_plain);
    const bool dst_is_plain = dst_desc == dst_plain;
    const dnnl::memory dst = dst_is_plain ? kernel->output(0, dst_plain) : kernel->temporary(dst_desc);
    // The sum post-op adds what the destination holds: the residual is copied there first, unless the output has
    // taken over the residual's buffer (the residual's last reader is this node), which makes the copy a no-op.
    if (sum) {
        const dnnl::memory residual = kernel->input(3, ctx.layout_desc(*sum, ctx.storage_type(*sum)));
        kernel->add_reorder(residual, dst);
        // Safe where the residual goes to a temporary, or is a plain copy into the output (then skipped); not where
        // a layout conversion would read and write the same bytes.
        if (!dst_is_plain || residual.get_desc() == dst.get_desc()) kernel->allow_in_place(3);
    }
    args[DNNL_ARG_DST] = dst;
    kernel->add(primitive, std::move(args));
    const dnnl::memory out = dst_is_plain ? dst : kernel->output(0, dst_plain);
    if (!dst_is_plain) kernel->add_reorder(dst, out);
    if (bias_after) {  // on the output in its stored layout, where oneDNN's binary has a fast kernel
        Shape channel(xs.size(), 1);
        channel[1] = ys[1];
        const dnnl::memory bias = kernel->input(2, plain_desc(channel, kF32));
        const dnnl::binary::primitive_desc add(
            dnnl::binary::desc(dnnl::algorithm::binary_add, out.get_desc(), bias.get_desc(), out.get_desc()),
            user_attr(), ctx.engine());
        kernel->add(dnnl::binary(add), {{DNNL_ARG_SRC_0, out}, {DNNL_ARG_SRC_1, bias}, {DNNL_ARG_DST, out}});
    }
    if (own_pass) kernel->add_output_pass(own_pass);
    return DnnlKernel::finish(std::move(kernel));
}

}  // namespace

Compiled compile_conv(const ir::Node& node, Context& ctx) {
    return compile_windowed(node, ctx, false);
}

Compiled compile_conv_transpose(const ir::Node& node, Context& ctx) {
    return compile_windowed(node, ctx, true);
}

}  // namespace fovea::cpu
