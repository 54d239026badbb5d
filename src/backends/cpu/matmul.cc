// Matrix products on oneDNN matmul: MatMul (batch dims broadcast) and Gemm (transposes through strides, alpha and
// beta folded into weights, bias and a post-op).
#include <algorithm>

#include "backends/cpu/kernels.h"

namespace fovea::cpu {

namespace {

using dims = dnnl::memory::dims;
constexpr auto kF32 = dnnl::memory::data_type::f32;
constexpr auto kAny = dnnl::memory::format_tag::any;

// A row-major m x n matrix, or the transpose of a stored n x m one.
dnnl::memory::desc matrix_desc(int64_t m, int64_t n, bool transposed) {
    return dnnl::memory::desc({m, n}, kF32, transposed ? dims{1, m} : dims{n, 1});
}

// `plain` read in the compute type (bf16 precision converts it first), in the same layout.
dnnl::memory::desc in_compute_type(const Context& ctx, const ir::Node& node, const dnnl::memory::desc& plain) {
    dnnl::memory::desc converted = plain;
    converted.data.data_type = static_cast<dnnl_data_type_t>(ctx.compute_type(node));
    return converted;
}

// Constant weights computed in bf16 get oneDNN's preferred (packed) layout, once, since they are converted anyway.
// In fp32 the primitive reads the graph's own tensor as it is: a packed copy doubled the weights' memory (ConvNeXt-T
// peak RSS 279 against 186 MB at batch 1) for little speed (its batch-1 latency the same, batch 8 about 4% faster,
// PP-OCRv4 rec within 2%, on 2 cores). Others are read as they come.
dnnl::memory::desc weights_request(const Context& ctx, const ir::Node& node, const dnnl::memory::desc& plain) {
    const ir::Value& w = *node.inputs[1];
    const bool converted = ctx.compute_type(node) != plain.data_type();
    return w.constant && converted ? dnnl::memory::desc(plain.dims(), ctx.compute_type(node), kAny)
                                   : in_compute_type(ctx, node, plain);
}

dnnl::memory weights_memory(Context& ctx, DnnlKernel& kernel, const ir::Value& w, size_t index,
                            const dnnl::memory::desc& plain, const dnnl::memory::desc& chosen) {
    return w.constant ? reorder_constant(ctx, kernel, *w.constant, plain, chosen)
                      : kernel.input_as(index, plain, chosen);
}

}  // namespace

Compiled compile_matmul(const ir::Node& node, Context& ctx) {
    if (!all_float32(node)) return decline();
    Shape a = shape_of(*node.inputs[0]), b = shape_of(*node.inputs[1]);
    // A 1-D A is a row vector and a 1-D B a column vector; the output lacks that dim, but has the same bytes.
    if (a.size() == 1) a.insert(a.begin(), 1);
    if (b.size() == 1) b.push_back(1);
    const size_t rank = std::max(a.size(), b.size());
    a.insert(a.begin(), rank - a.size(), 1);
    b.insert(b.begin(), rank - b.size(), 1);
    Shape out(rank);
    for (size_t i = 0; i + 2 < rank; ++i) out[i] = std::max(a[i], b[i]);
    out[rank - 2] = a[rank - 2];
    out[rank - 1] = b[rank - 1];
    if (shape_numel(out) != shape_numel(shape_of(*node.outputs[0]))) return decline();
    // Weights shared by every batch (a Linear layer over [N, H, W, C], as in ConvNeXt): one 2-D product over all rows.
    // oneDNN packs 2-D constant weights once; batched ones it leaves plain and repacks on every run.
    if (rank > 2 && std::all_of(b.begin(), b.end() - 2, [](int64_t d) { return d == 1; })) {
        const int64_t rows = shape_numel(a) / a[rank - 1];
        a = {rows, a[rank - 1]};
        b = {b[rank - 2], b[rank - 1]};
        out = {rows, out[rank - 1]};
    }
    const dnnl::memory::desc src = plain_desc(a, kF32), weights = plain_desc(b, kF32), dst = plain_desc(out, kF32);
    const ir::Value& w = *node.inputs[1];
    const dnnl::matmul::desc desc(in_compute_type(ctx, node, src), weights_request(ctx, node, weights), dst);
    const dnnl::matmul::primitive_desc pd(desc, user_attr(), ctx.engine());
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    kernel->add(dnnl::matmul(pd), {{DNNL_ARG_SRC, kernel->input_as(0, src, pd.src_desc())},
                                   {DNNL_ARG_WEIGHTS, weights_memory(ctx, *kernel, w, 1, weights, pd.weights_desc())},
                                   {DNNL_ARG_DST, kernel->output(0, dst)}});
    return DnnlKernel::finish(std::move(kernel));
}

Compiled compile_gemm(const ir::Node& node, Context& ctx) {
    if (!all_float32(node)) return decline();
    const Shape& a = shape_of(*node.inputs[0]);
    const Shape& b = shape_of(*node.inputs[1]);
    const Shape& y = shape_of(*node.outputs[0]);
    if (a.size() != 2 || b.size() != 2 || y.size() != 2) return decline();
    const bool trans_a = node.attr_int("transA", 0) != 0, trans_b = node.attr_int("transB", 0) != 0;
    const float alpha = node.attr_float("alpha", 1.0f), beta = node.attr_float("beta", 1.0f);
    const int64_t m = y[0], n = y[1], k = trans_a ? a[0] : a[1];
    const ir::Value* c = node.input(2);
    // Y = alpha * (A B + C'), C' = beta / alpha * C: alpha is a post-op scaling what matmul computes with its bias.
    // C' must be known now unless it is C itself.
    const bool scaled_c = c && (alpha != 1.0f || beta != 1.0f);
    if (alpha == 0.0f || (scaled_c && !c->constant)) return decline();
    Shape c_shape;
    if (c) {
        c_shape = shape_of(*c);
        if (c_shape.size() > 2) return decline();
        c_shape.insert(c_shape.begin(), 2 - c_shape.size(), 1);
    }
    const dnnl::memory::desc src = matrix_desc(m, k, trans_a), weights = matrix_desc(k, n, trans_b);
    const dnnl::memory::desc dst = plain_desc(y, kF32);
    const dnnl::memory::desc bias = c ? plain_desc(c_shape, kF32) : dnnl::memory::desc();
    dnnl::primitive_attr attr = user_attr();
    if (alpha != 1.0f) {
        dnnl::post_ops post_ops;
        post_ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, alpha, 0.0f);
        attr.set_post_ops(post_ops);
    }
    const ir::Value& w = *node.inputs[1];
    const dnnl::matmul::desc desc(in_compute_type(ctx, node, src), weights_request(ctx, node, weights), bias, dst);
    const dnnl::matmul::primitive_desc pd(desc, attr, ctx.engine());
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, kernel->input_as(0, src, pd.src_desc())},
        {DNNL_ARG_WEIGHTS, weights_memory(ctx, *kernel, w, 1, weights, pd.weights_desc())},
        {DNNL_ARG_DST, kernel->output(0, dst)}};
    if (c && !scaled_c) args[DNNL_ARG_BIAS] = kernel->input(2, bias);
    if (scaled_c) {
        dnnl::memory folded = kernel->owned(bias);
        const float factor = beta / alpha;
        const float* from = c->constant->data<float>();
        auto* to = static_cast<float*>(folded.get_data_handle());
        for (int64_t i = 0; i < c->constant->numel(); ++i) to[i] = factor * from[i];
        args[DNNL_ARG_BIAS] = folded;
    }
    kernel->add(dnnl::matmul(pd), std::move(args));
    return DnnlKernel::finish(std::move(kernel));
}

}  // namespace fovea::cpu
