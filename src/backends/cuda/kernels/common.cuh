// What the .cu files share: float loads and stores for both storage types, the activation math, launch sizes.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "backends/cuda/kernels/kernels.h"

namespace fovea::cuda {

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(__half* p, int64_t i, float v) { p[i] = __float2half(v); }

// As ops/fused_conv.h and the reference kernels compute them, in float.
__device__ __forceinline__ float apply_unary(const UnaryParams& f, float x) {
    switch (f.op) {
        case Unary::kIdentity:
            return x;
        case Unary::kRelu:
            return x < 0.f ? 0.f : x;
        case Unary::kClip:
            if (x < f.p0) x = f.p0;
            if (x > f.p1) x = f.p1;
            return x;
        case Unary::kLeakyRelu:
            return x < 0.f ? f.p0 * x : x;
        case Unary::kSigmoid:
            return 1.f / (1.f + expf(-x));
        case Unary::kSiLU:
            return x / (1.f + expf(-x));
        case Unary::kHardSwish:
            return x * fmaxf(0.f, fminf(1.f, x * (1.f / 6.f) + 0.5f));
        case Unary::kHardSigmoid:
            return fmaxf(0.f, fminf(1.f, f.p0 * x + f.p1));
        case Unary::kTanh:
            return tanhf(x);
        case Unary::kGelu:
            return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
        case Unary::kExp:
            return expf(x);
        case Unary::kLog:
            return logf(x);
        case Unary::kSqrt:
            return sqrtf(x);
        case Unary::kNeg:
            return -x;
        case Unary::kAbs:
            return fabsf(x);
        case Unary::kErf:
            return erff(x);
        case Unary::kReciprocal:
            return 1.f / x;
        case Unary::kSoftplus:
            return x > 20.f ? x : log1pf(expf(x));
        case Unary::kElu:
            return x < 0.f ? f.p0 * (expf(x) - 1.f) : x;
        case Unary::kFloor:
            return floorf(x);
        case Unary::kCeil:
            return ceilf(x);
        case Unary::kPowScalar:
            return powf(x, f.p0);
    }
    return x;
}

constexpr int kThreads = 256;

// Blocks for n elements, one thread each (grid-stride loops cover the rest).
inline unsigned blocks_for(int64_t n) {
    const int64_t b = (n + kThreads - 1) / kThreads;
    return static_cast<unsigned>(b < 1 ? 1 : (b > (1 << 20) ? (1 << 20) : b));
}

#define FOVEA_GRID_LOOP(i, n) \
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
         i += static_cast<int64_t>(blockDim.x) * gridDim.x)

}  // namespace fovea::cuda
