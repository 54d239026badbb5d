// Pooling: MaxPool, AveragePool (without the Indices output) and the global pools, on plain or NHWC images.
#include <algorithm>

#include "backends/cpu/kernels.h"
#include "ops/nn_geometry.h"

namespace fovea::cpu {

namespace {

using dims = dnnl::memory::dims;
Compiled pooling_kernel(const ir::Node& node, Context& ctx, dnnl::algorithm alg, const dims& kernel_shape,
                        const dims& strides, const dims& dilations, const dims& pad_begin, const dims& pad_end) {
    // A global pool's 1x1 output has the same bytes in both layouts; it is described as its source is.
    const bool nhwc = ctx.nhwc(*node.inputs[0]);
    // bf16 precision may store a windowed pool's images in bf16, both or neither (precision.h).
    const dnnl::memory::desc src = ctx.layout_desc(*node.inputs[0], ctx.storage_type(*node.inputs[0]));
    const dnnl::memory::desc dst = image_desc(shape_of(*node.outputs[0]), ctx.storage_type(*node.outputs[0]), nhwc);
    const dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, alg, src, dst, strides, kernel_shape,
                                              dilations, pad_begin, pad_end);
    const dnnl::pooling_v2_forward::primitive_desc pd(desc, user_attr(), ctx.engine());
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    kernel->add(dnnl::pooling_v2_forward(pd),
                {{DNNL_ARG_SRC, kernel->input(0, src)}, {DNNL_ARG_DST, kernel->output(0, dst)}});
    return DnnlKernel::finish(std::move(kernel));
}

}  // namespace

Compiled compile_pool(const ir::Node& node, Context& ctx) {
    const bool is_max = node.op_type == "MaxPool";
    const bool indices = node.outputs.size() > 1 && node.outputs[1];
    if (!all_float32(node) || indices) return decline();
    const Shape& xs = shape_of(*node.inputs[0]);
    const Shape& ys = shape_of(*node.outputs[0]);
    if (xs.size() < 3 || xs.size() > 5) return decline();
    FOVEA_ASSIGN(const ops::Window win,
                 ops::resolve_window(node, ops::WindowKind::kPool, Shape(xs.begin() + 2, xs.end()), {}));
    const bool count_include_pad = node.attr_int("count_include_pad", 0) != 0;
    dims pad_end;
    for (size_t i = 0; i < win.kernel.size(); ++i) {
        // oneDNN sizes the output by flooring; ceil_mode's extra windows reach into a longer end pad.
        const int64_t extent = (win.kernel[i] - 1) * win.dilations[i] + 1;
        const int64_t needed = (ys[i + 2] - 1) * win.strides[i] + extent - xs[i + 2] - win.pad_begin[i];
        // ONNX averages over the declared pads only; oneDNN would count the extension too.
        if (!is_max && count_include_pad && needed > win.pad_end[i]) return decline();
        pad_end.push_back(std::max(needed, win.pad_end[i]));
    }
    dims dilations;
    for (int64_t d : win.dilations) dilations.push_back(d - 1);
    const dnnl::algorithm alg = is_max              ? dnnl::algorithm::pooling_max
                                : count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                                    : dnnl::algorithm::pooling_avg_exclude_padding;
    return pooling_kernel(node, ctx, alg, dims(win.kernel.begin(), win.kernel.end()),
                          dims(win.strides.begin(), win.strides.end()), dilations,
                          dims(win.pad_begin.begin(), win.pad_begin.end()), pad_end);
}

Compiled compile_global_pool(const ir::Node& node, Context& ctx) {
    if (!all_float32(node)) return decline();
    const Shape& xs = shape_of(*node.inputs[0]);
    if (xs.size() < 3 || xs.size() > 5) return decline();
    const dims kernel_shape(xs.begin() + 2, xs.end());
    const dims ones(kernel_shape.size(), 1), zeros(kernel_shape.size(), 0);
    const dnnl::algorithm alg =
        node.op_type == "GlobalMaxPool" ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
    return pooling_kernel(node, ctx, alg, kernel_shape, ones, zeros, zeros, zeros);
}

}  // namespace fovea::cpu
