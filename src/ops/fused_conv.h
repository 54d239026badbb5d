// The optimizer's fused ops (domain "fovea"), which the backends run with their epilogue in the same pass:
//   FusedConv(X, W, B?, Sum?):   Y = activation(Conv(X, W, B) + Sum)
//   FusedMatMul(A, B, Bias?):    Y = activation(MatMul(A, transB ? B^T : B) + Bias), B 2-D, Bias [N]; the Linear
//                                layers of classifiers and transformers (MatMul + Add, Gemm, with their activation)
//   ConcatAffine(Scale, Shift, X1, ..., Xn), axis 1:  Y = activation(Concat(X1..Xn) * Scale + Shift), Scale and Shift
//                                one value per output channel: DenseNet's concatenation and the BatchNormalization
//                                and ReLU that open each layer, one pass instead of a copy and a pass over the copy
// Inference, the reference kernels and the faster backends read the epilogue through this header, so they agree.
#pragma once

#include <algorithm>
#include <cmath>
#include <string_view>
#include <vector>

#include "fovea/status.h"
#include "ir/graph.h"

namespace fovea::ops {

enum class Activation { kNone, kRelu, kClip, kLeakyRelu, kSigmoid, kSiLU, kHardSwish, kHardSigmoid, kTanh, kGelu };

// The `activation` and `activation_params` attributes of one FusedConv node.
struct Epilogue {
    Activation activation = Activation::kNone;
    std::vector<float> params;  // Clip [min, max]; LeakyRelu [alpha]; HardSigmoid [alpha, beta]; otherwise empty
    bool has_sum = false;       // input 3 (the residual) is present
};

// The attribute spelling of `a` ("" for none), as the optimizer writes it.
std::string_view activation_name(Activation a);
// Reads and checks a FusedConv node's epilogue; errors name the node.
Result<Epilogue> read_epilogue(const ir::Node& node);

// The activation of `x`, computed as the ONNX ops it replaces compute it (in the accumulator type A).
template <typename A>
A apply_activation(const Epilogue& e, A x) {
    auto sigmoid = [](A v) { return A(1) / (A(1) + std::exp(-v)); };
    auto hard_sigmoid = [](A v, A alpha, A beta) { return std::max(A(0), std::min(A(1), alpha * v + beta)); };
    switch (e.activation) {
        case Activation::kNone:
            return x;
        case Activation::kRelu:
            return x < A(0) ? A(0) : x;
        case Activation::kClip:
            // In Clip's order: the lower bound first, so that min > max clips everything to max.
            if (x < A(e.params[0])) x = A(e.params[0]);
            if (x > A(e.params[1])) x = A(e.params[1]);
            return x;
        case Activation::kLeakyRelu:
            return x < A(0) ? A(e.params[0]) * x : x;
        case Activation::kSigmoid:
            return sigmoid(x);
        case Activation::kSiLU:
            return x * sigmoid(x);
        case Activation::kHardSwish:
            return x * hard_sigmoid(x, A(1) / A(6), A(0.5));
        case Activation::kHardSigmoid:
            return hard_sigmoid(x, A(e.params[0]), A(e.params[1]));
        case Activation::kTanh:
            return std::tanh(x);
        case Activation::kGelu:
            return x * (A(1) + std::erf(x / std::sqrt(A(2)))) * A(0.5);
    }
    return x;  // unreachable: every enumerator returns above
}

}  // namespace fovea::ops
