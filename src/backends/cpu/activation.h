// Activations as chains of oneDNN eltwise operations: FusedConv epilogues (post-ops) and the unary kernels share them.
#pragma once

#include <cstdint>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "ops/fused_conv.h"

namespace fovea::cpu {

// y = alg(x; alpha, beta), as oneDNN defines each algorithm.
struct EltwiseOp {
    dnnl::algorithm alg;
    float alpha = 0.0f;
    float beta = 0.0f;
};

// The chain computing `epilogue`'s activation (empty for none); its params are checked by ops::read_epilogue.
std::vector<EltwiseOp> activation_chain(const ops::Epilogue& epilogue);

// Appends `chain` to `ops` as eltwise post-ops.
void append_chain(dnnl::post_ops& ops, const std::vector<EltwiseOp>& chain);

// An activation applied in place to `count` fp32 values.
using ActivationPass = void (*)(float* data, int64_t count);
// fovea's own pass for `epilogue`'s activation where it beats oneDNN 2.6's post-op (SiLU and Sigmoid, whose exp the
// post-op computes slowly); nullptr for the others.
ActivationPass own_activation_pass(const ops::Epilogue& epilogue);

}  // namespace fovea::cpu
