#include "backends/cpu/activation.h"

namespace fovea::cpu {

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
