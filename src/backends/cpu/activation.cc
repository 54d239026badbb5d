#include "backends/cpu/activation.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace fovea::cpu {

namespace {

// e^x as 2^n * 2^f (n = round(x log2 e), |f| <= 1/2) with a degree-6 polynomial for 2^f: relative error about 1e-7,
// in plain arithmetic that vectorizes. x is clamped to [-87, 88], where e^x is a normal float; NaN stays NaN in
// the callers below, through x itself.
inline float exp_approx(float x) {
    x = std::min(88.0f, std::max(-87.0f, x));
    const float t = x * 1.44269504088896341f;
    const float n = std::nearbyint(t);
    const float f = t - n;
    float p = 1.535336188319500e-4f;
    p = p * f + 1.339887440266574e-3f;
    p = p * f + 9.618437357674640e-3f;
    p = p * f + 5.550332471162809e-2f;
    p = p * f + 2.402264791363012e-1f;
    p = p * f + 6.931472028550421e-1f;
    p = p * f + 1.0f;
    int32_t bits;
    std::memcpy(&bits, &p, sizeof bits);
    bits += static_cast<int32_t>(n) * (1 << 23);  // times 2^n, in the exponent field
    std::memcpy(&p, &bits, sizeof bits);
    return p;
}

// On 2 AVX-512 cores these take about 0.09 ns per value; oneDNN 2.6's swish post-op adds about 0.34 ns to a
// convolution (EfficientNet-B0's 1x1 expansion 24 -> 144 at 56x56: 64 us with ReLU, 216 us with SiLU), its
// standalone eltwise 0.18.
__attribute__((target_clones("avx512f", "avx2", "default"))) void silu_pass(float* data, int64_t count) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) data[i] = data[i] / (1.0f + exp_approx(-data[i]));
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void sigmoid_pass(float* data, int64_t count) {
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) data[i] = 1.0f / (1.0f + exp_approx(-data[i]));
}

}  // namespace

ActivationPass own_activation_pass(const ops::Epilogue& epilogue) {
    if (epilogue.activation == ops::Activation::kSiLU) return silu_pass;
    if (epilogue.activation == ops::Activation::kSigmoid) return sigmoid_pass;
    return nullptr;
}

std::vector<EltwiseOp> activation_chain(const ops::Epilogue& epilogue) {
    using alg = dnnl::algorithm;
    const std::vector<float>& p = epilogue.params;
    switch (epilogue.activation) {
        case ops::Activation::kNone:
            return {};
        case ops::Activation::kRelu:
            return {{alg::eltwise_relu}};
        case ops::Activation::kClip:
            // oneDNN clips to the lower bound first, as Clip does (min > max gives max everywhere).
            return {{alg::eltwise_clip, p[0], p[1]}};
        case ops::Activation::kLeakyRelu:
            return {{alg::eltwise_relu, p[0]}};
        case ops::Activation::kSigmoid:
            return {{alg::eltwise_logistic}};
        case ops::Activation::kSiLU:
            return {{alg::eltwise_swish, 1.0f}};
        case ops::Activation::kHardSwish:
            // oneDNN's hardswish is x * relu6(x + 3) / 6: ONNX HardSwish's alpha 1/6 and beta 1/2.
            return {{alg::eltwise_hardswish}};
        case ops::Activation::kHardSigmoid:
            // oneDNN 2.6 has no hardsigmoid: max(0, min(1, alpha * x + beta)) is linear, then clip.
            return {{alg::eltwise_linear, p[0], p[1]}, {alg::eltwise_clip, 0.0f, 1.0f}};
        case ops::Activation::kTanh:
            return {{alg::eltwise_tanh}};
        case ops::Activation::kGelu:
            return {{alg::eltwise_gelu_erf}};
    }
    return {};  // unreachable: every enumerator returns above
}

void append_chain(dnnl::post_ops& ops, const std::vector<EltwiseOp>& chain) {
    for (const EltwiseOp& op : chain) ops.append_eltwise(1.0f, op.alg, op.alpha, op.beta);
}

}  // namespace fovea::cpu
