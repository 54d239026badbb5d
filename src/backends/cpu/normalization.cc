// Softmax and LogSoftmax, BatchNormalization (inference) and LayerNormalization.
#include "backends/cpu/kernels.h"
#include "ops/op.h"

namespace fovea::cpu {

namespace {

using dims = dnnl::memory::dims;
constexpr auto kF32 = dnnl::memory::data_type::f32;

int64_t product(const Shape& s, size_t begin, size_t end) {
    int64_t n = 1;
    for (size_t i = begin; i < end; ++i) n *= s[i];
    return n;
}

// True when value v is present with exactly `count` elements.
bool has_elements(const ir::Value* v, int64_t count) {
    return v && shape_numel(shape_of(*v)) == count;
}

}  // namespace

Compiled compile_softmax(const ir::Node& node, Context& ctx) {
    if (!all_float32(node)) return decline();
    const Shape& shape = shape_of(*node.inputs[0]);
    const bool legacy = node.opset < 13;
    FOVEA_ASSIGN(const int64_t axis_value,
                 ops::normalize_axis(node.attr_int("axis", legacy ? 1 : -1), static_cast<int64_t>(shape.size())));
    const auto axis = static_cast<size_t>(axis_value);
    // Before opset 13 the input is seen as a matrix of [dims before axis] x [the rest], normalized per row.
    const dnnl::algorithm alg =
        node.op_type == "LogSoftmax" ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate;
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    const int64_t outer = product(shape, 0, axis);
    const int64_t inner = legacy ? 1 : product(shape, axis + 1, shape.size());
    const int64_t size = legacy ? product(shape, axis, shape.size()) : shape[axis];
    if (inner == 1) {
        // The axis is the innermost dim: [rows, size], normalized per row.
        const dnnl::memory::desc data = plain_desc({outer, size}, kF32);
        const dnnl::softmax_v2_forward::desc desc(dnnl::prop_kind::forward_inference, alg, data, data, 1);
        const dnnl::softmax_v2_forward::primitive_desc pd(desc, user_attr(), ctx.engine());
        kernel->add(dnnl::softmax_v2_forward(pd),
                    {{DNNL_ARG_SRC, kernel->input(0, data)}, {DNNL_ARG_DST, kernel->output(0, data)}});
        return DnnlKernel::finish(std::move(kernel));
    }
    // An axis with dims after it: oneDNN 2.6 has a jit softmax only over the innermost dim and falls to its
    // reference kernel otherwise (37 ms of YOLOv8n's 90, the DFL head's softmax over 16 bins of 4 x 8400 values).
    // So the axis moves innermost ([outer, axis, inner] read as [outer, inner, axis]), the jit softmax runs there,
    // and the result moves back: two reorders of the tensor, a fraction of a millisecond.
    const dnnl::memory::desc plain = plain_desc({outer, inner, size}, kF32);
    const dnnl::memory::desc transposed({outer, inner, size}, kF32, dims{size * inner, 1, inner});
    const dnnl::memory rows = kernel->temporary(plain);
    kernel->add_reorder(kernel->input(0, transposed), rows);
    const dnnl::softmax_v2_forward::desc desc(dnnl::prop_kind::forward_inference, alg, plain, plain, 2);
    const dnnl::softmax_v2_forward::primitive_desc pd(desc, user_attr(), ctx.engine());
    kernel->add(dnnl::softmax_v2_forward(pd), {{DNNL_ARG_SRC, rows}, {DNNL_ARG_DST, rows}});  // in place
    kernel->add_reorder(rows, kernel->output(0, transposed));
    return DnnlKernel::finish(std::move(kernel));
}

Compiled compile_batch_norm(const ir::Node& node, Context& ctx) {
    // Training mode (running statistics as outputs) and the per-activation statistics of spatial=0 stay on ref.
    const bool training = node.attr_int("training_mode", 0) != 0 || (node.outputs.size() > 1 && node.outputs[1]);
    const bool per_channel = node.opset >= 9 || node.attr_int("spatial", 1) != 0;
    if (!all_float32(node) || training || !per_channel || node.inputs.size() != 5) return decline();
    const Shape& shape = shape_of(*node.inputs[0]);
    if (shape.size() < 2 || shape.size() > 5) return decline();
    const int64_t channels = shape[1];
    for (size_t i = 1; i < 5; ++i)
        if (!has_elements(node.input(i), channels)) return decline();
    const dnnl::memory::desc data = ctx.layout_desc(*node.inputs[0], kF32);  // the output's layout too
    const dnnl::memory::desc param = plain_desc({channels}, kF32);
    const auto flags = dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
                       dnnl::normalization_flags::use_shift;
    const dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, data,
                                                       node.attr_float("epsilon", 1e-5f), flags);
    const dnnl::batch_normalization_forward::primitive_desc pd(desc, user_attr(), ctx.engine());
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    kernel->add(dnnl::batch_normalization_forward(pd), {{DNNL_ARG_SRC, kernel->input(0, data)},
                                                        {DNNL_ARG_SCALE, kernel->input(1, param)},
                                                        {DNNL_ARG_SHIFT, kernel->input(2, param)},
                                                        {DNNL_ARG_MEAN, kernel->input(3, param)},
                                                        {DNNL_ARG_VARIANCE, kernel->input(4, param)},
                                                        {DNNL_ARG_DST, kernel->output(0, data)}});
    return DnnlKernel::finish(std::move(kernel));
}

Compiled compile_layer_norm(const ir::Node& node, Context& ctx) {
    const bool statistics =
        (node.outputs.size() > 1 && node.outputs[1]) || (node.outputs.size() > 2 && node.outputs[2]);
    if (!all_float32(node) || statistics) return decline();
    const Shape& shape = shape_of(*node.inputs[0]);
    FOVEA_ASSIGN(const int64_t axis_value,
                 ops::normalize_axis(node.attr_int("axis", -1), static_cast<int64_t>(shape.size())));
    const auto axis = static_cast<size_t>(axis_value);
    // oneDNN normalizes the last dim: the dims from axis on are one row.
    const int64_t size = product(shape, axis, shape.size());
    const ir::Value* bias = node.input(2);
    if (!has_elements(node.input(1), size) || (bias && !has_elements(bias, size))) return decline();
    const dnnl::memory::desc data = plain_desc({product(shape, 0, axis), size}, kF32);
    const dnnl::memory::desc param = plain_desc({size}, kF32);
    auto flags = dnnl::normalization_flags::use_scale;
    if (bias) flags = flags | dnnl::normalization_flags::use_shift;
    const dnnl::layer_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, data,
                                                       node.attr_float("epsilon", 1e-5f), flags);
    const dnnl::layer_normalization_forward::primitive_desc pd(desc, user_attr(), ctx.engine());
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, kernel->input(0, data)},
                                               {DNNL_ARG_SCALE, kernel->input(1, param)},
                                               {DNNL_ARG_DST, kernel->output(0, data)}};
    if (bias) args[DNNL_ARG_SHIFT] = kernel->input(2, param);
    kernel->add(dnnl::layer_normalization_forward(pd), std::move(args));
    return DnnlKernel::finish(std::move(kernel));
}

}  // namespace fovea::cpu
