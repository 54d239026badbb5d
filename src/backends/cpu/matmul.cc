// Matrix products on oneDNN matmul: MatMul (batch dims broadcast), Gemm (transposes through strides, alpha and
// beta folded into weights, bias and a post-op) and FusedMatMul (bias and activation in the epilogue).
#include <algorithm>

#include "backends/cpu/activation.h"
#include "backends/cpu/kernels.h"
#include "ops/fused_conv.h"

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

// Dot products of `x` with `count` (1 to 4) consecutive rows of `w`, each `depth` long. Built for AVX-512, AVX2 and
// the baseline; the loader picks one at start-up.
__attribute__((target_clones("avx512f", "avx2", "default"))) void dot_rows(const float* x, const float* w,
                                                                           int64_t depth, int64_t count, float* out) {
    const float* w0 = w;
    const float* w1 = w + depth * std::min<int64_t>(1, count - 1);
    const float* w2 = w + depth * std::min<int64_t>(2, count - 1);
    const float* w3 = w + depth * std::min<int64_t>(3, count - 1);
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
    for (int64_t i = 0; i < depth; ++i) {
        s0 += x[i] * w0[i];
        s1 += x[i] * w1[i];
        s2 += x[i] * w2[i];
        s3 += x[i] * w3[i];
    }
    const float sums[4] = {s0, s1, s2, s3};
    std::copy(sums, sums + count, out);
}

// y[m, n] = activation(x[m, :] . w[n, :] + b[n]) for a few rows m: Linear layers and squeeze-excitation 1x1
// convolutions at small batch, where the product is a pass over the weights. oneDNN 2.6 reads such weights at
// 22-25 GB/s on 2 cores (MobileNetV3-Small's classifier: 165 and 106 us at batch 1); this reads them at about
// 100 GB/s (41 and 24 us), four rows at a time with each row's block of weights staying in L1 across the rows.
class SkinnyProductKernel final : public runtime::NodeKernel {
  public:
    SkinnyProductKernel(int threads, int64_t rows, int64_t depth, int64_t width, ops::Epilogue epilogue)
        : threads_(threads), rows_(rows), depth_(depth), width_(width), epilogue_(std::move(epilogue)) {}
    Status run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) override {
        const Tensor* x = inputs.size() > 1 ? inputs[0] : nullptr;
        const Tensor* w = inputs.size() > 1 ? inputs[1] : nullptr;
        const Tensor* b = inputs.size() > 2 ? inputs[2] : nullptr;
        if (!x || !w || x->numel() != rows_ * depth_ || w->numel() != width_ * depth_ || (b && b->numel() != width_) ||
            outputs.empty() || outputs[0].numel() != rows_ * width_)
            return internal_error("skinny product kernel: tensor sizes differ from the compiled ones");
        const float* xd = x->data<float>();
        const float* wd = w->data<float>();
        const float* bd = b ? b->data<float>() : nullptr;
        float* yd = outputs[0].data<float>();
        const int64_t blocks = (width_ + 3) / 4;
        // Below this many multiply-adds, waking the second core costs more than it saves.
        const bool parallel = rows_ * depth_ * width_ >= 32768;
        const ThreadScope threads(threads_);
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t block = 0; block < blocks; ++block) {
            const int64_t n0 = block * 4, count = std::min<int64_t>(4, width_ - n0);
            for (int64_t m = 0; m < rows_; ++m) {
                float sums[4];
                dot_rows(xd + m * depth_, wd + n0 * depth_, depth_, count, sums);
                for (int64_t r = 0; r < count; ++r)
                    yd[m * width_ + n0 + r] = ops::apply_activation(epilogue_, sums[r] + (bd ? bd[n0 + r] : 0.0f));
            }
        }
        return Status::ok();
    }

  private:
    int threads_;
    int64_t rows_, depth_, width_;
    ops::Epilogue epilogue_;
};

}  // namespace

std::unique_ptr<runtime::NodeKernel> skinny_product(const ir::Node& node, const Context& ctx, int64_t rows,
                                                    int64_t depth, int64_t width, const ops::Epilogue& epilogue) {
    constexpr int64_t kMaxRows = 8;  // beyond a few rows oneDNN's blocked kernels reuse each weight better
    const ir::Value& x = *node.inputs[0];
    const ir::Value& y = *node.outputs[0];
    const auto f32 = dnnl::memory::data_type::f32;
    if (rows > kMaxRows || !node.inputs[1]->constant || ctx.compute_type(node) != f32 || ctx.storage_type(x) != f32 ||
        ctx.storage_type(y) != f32)
        return nullptr;
    return std::make_unique<SkinnyProductKernel>(ctx.threads(), rows, depth, width, epilogue);
}

// A oneDNN matmul of the node's input 0 (read as `src`) by its input 1 (`weights`) into `dst`, with `bias` (empty:
// none) and `attr`: the kernel and the arguments bound so far, for the caller to add the bias's and run passes.
struct MatmulPlan {
    std::unique_ptr<DnnlKernel> kernel;
    dnnl::matmul::primitive_desc pd;
    std::unordered_map<int, dnnl::memory> args;
};

MatmulPlan plan_matmul(const ir::Node& node, Context& ctx, const dnnl::memory::desc& src,
                       const dnnl::memory::desc& weights, const dnnl::memory::desc& bias, const dnnl::memory::desc& dst,
                       const dnnl::primitive_attr& attr) {
    const dnnl::matmul::desc desc(in_compute_type(ctx, node, src), weights_request(ctx, node, weights), bias, dst);
    MatmulPlan p{std::make_unique<DnnlKernel>(ctx, node), dnnl::matmul::primitive_desc(desc, attr, ctx.engine()), {}};
    p.args = {{DNNL_ARG_SRC, p.kernel->input_as(0, src, p.pd.src_desc())},
              {DNNL_ARG_WEIGHTS, weights_memory(ctx, *p.kernel, *node.inputs[1], 1, weights, p.pd.weights_desc())},
              {DNNL_ARG_DST, p.kernel->output(0, dst)}};
    return p;
}

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
    auto [kernel, pd, args] = plan_matmul(node, ctx, src, weights, dnnl::memory::desc(), dst, user_attr());
    kernel->add(dnnl::matmul(pd), std::move(args));
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
    // A Linear layer (B stored [n, k], C one value per column, no scaling) at small batch.
    if (!trans_a && trans_b && alpha == 1.0f && !scaled_c && (!c || c_shape == Shape{1, n}))
        if (auto skinny = skinny_product(node, ctx, m, k, n, ops::Epilogue{})) return skinny;
    const dnnl::memory::desc src = matrix_desc(m, k, trans_a), weights = matrix_desc(k, n, trans_b);
    const dnnl::memory::desc dst = plain_desc(y, kF32);
    const dnnl::memory::desc bias = c ? plain_desc(c_shape, kF32) : dnnl::memory::desc();
    dnnl::primitive_attr attr = user_attr();
    if (alpha != 1.0f) {
        dnnl::post_ops post_ops;
        post_ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, alpha, 0.0f);
        attr.set_post_ops(post_ops);
    }
    auto [kernel, pd, args] = plan_matmul(node, ctx, src, weights, bias, dst, attr);
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

// FusedMatMul: A's leading dims fold into rows; the bias rides on the product, the activation too (as post-ops, or
// after it in our own pass for SiLU and Sigmoid, as for convolutions).
Compiled compile_fused_matmul(const ir::Node& node, Context& ctx) {
    if (!all_float32(node)) return decline();
    FOVEA_ASSIGN(const ops::Epilogue epilogue, ops::read_epilogue(node));
    const Shape& a = shape_of(*node.inputs[0]);
    const Shape& y = shape_of(*node.outputs[0]);
    const bool trans_b = node.attr_int("transB", 0) != 0;
    const int64_t k = a.back(), n = y.back();
    if (k == 0 || n == 0) return decline();
    const int64_t m = shape_numel(a) / k;
    const ir::Value* bias = node.input(2);
    if (trans_b)
        if (auto skinny = skinny_product(node, ctx, m, k, n, epilogue)) return skinny;
    const dnnl::memory::desc src = matrix_desc(m, k, false), weights = matrix_desc(k, n, trans_b);
    const dnnl::memory::desc dst = plain_desc(Shape{m, n}, kF32);
    const dnnl::memory::desc bias_desc = bias ? plain_desc(Shape{1, n}, kF32) : dnnl::memory::desc();
    const ActivationPass own_pass =
        ctx.storage_type(*node.outputs[0]) == kF32 ? own_activation_pass(epilogue) : nullptr;
    dnnl::post_ops post_ops;
    if (!own_pass) append_chain(post_ops, activation_chain(epilogue));
    dnnl::primitive_attr attr = user_attr();
    attr.set_post_ops(post_ops);
    auto [kernel, pd, args] = plan_matmul(node, ctx, src, weights, bias_desc, dst, attr);
    if (bias) args[DNNL_ARG_BIAS] = kernel->input(2, bias_desc);
    kernel->add(dnnl::matmul(pd), std::move(args));
    if (own_pass) kernel->add_output_pass(own_pass);
    return DnnlKernel::finish(std::move(kernel));
}

}  // namespace fovea::cpu
