// Depthwise convolution of NHWC maps (MobileNet's and EfficientNet's 3x3 and 5x5 per-channel filters) with the
// bias + activation (+ residual) epilogue. A thread makes sixteen bytes of channels of one output pixel; a warp's
// threads cover consecutive channel groups, then consecutive pixels of a row, so each filter tap reads one contiguous
// run of the input row and neighbouring taps hit in L1.
#include "backends/cuda/kernels/common.cuh"
#include "backends/cuda/kernels/fast_div.h"

namespace fovea::cuda {

namespace {

template <typename T>
__global__ void depthwise_nhwc_kernel(DepthwiseParams p, UnaryParams f, const T* x, const T* w, const T* bias,
                                      const T* sum, T* y, uint32_t vectors, FastDiv groups, FastDiv out_w,
                                      FastDiv out_h) {
    constexpr int V = 16 / sizeof(T);
    union Vec {
        uint4 raw;
        T e[V];
    };
    for (uint32_t v = blockIdx.x * blockDim.x + threadIdx.x; v < vectors; v += blockDim.x * gridDim.x) {
        // v = ((n * out_h + oh) * out_w + ow) * groups + g
        const uint32_t pixel = groups.div(v), row = out_w.div(pixel);
        const int c0 = static_cast<int>(v - pixel * groups.d) * V;
        const int ow = static_cast<int>(pixel - row * out_w.d);
        const int n = static_cast<int>(out_h.div(row)), oh = static_cast<int>(row - n * out_h.d);
        float acc[V];
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] = 0.f;
        const int ih0 = oh * p.stride_h - p.pad_h, iw0 = ow * p.stride_w - p.pad_w;
        for (int r = 0; r < p.kernel_h; ++r) {
            const int ih = ih0 + r * p.dilation_h;
            if (ih < 0 || ih >= p.in_h) continue;
            const T* row = x + ((static_cast<int64_t>(n) * p.in_h + ih) * p.in_w) * p.channels + c0;
            for (int s = 0; s < p.kernel_w; ++s) {
                const int iw = iw0 + s * p.dilation_w;
                if (iw < 0 || iw >= p.in_w) continue;
                Vec in, wt;
                in.raw = *reinterpret_cast<const uint4*>(row + static_cast<int64_t>(iw) * p.channels);
                wt.raw = *reinterpret_cast<const uint4*>(w + (r * p.kernel_w + s) * p.channels + c0);
#pragma unroll
                for (int k = 0; k < V; ++k) acc[k] += load(in.e, k) * load(wt.e, k);
            }
        }
        Vec out, add;
        if (sum) add.raw = reinterpret_cast<const uint4*>(sum)[v];
#pragma unroll
        for (int k = 0; k < V; ++k) {
            float a = acc[k];
            if (bias) a += load(bias, c0 + k);
            if (sum) a += load(add.e, k);
            store(out.e, k, apply_unary(f, a));
        }
        reinterpret_cast<uint4*>(y)[v] = out.raw;
    }
}

}  // namespace

bool depthwise_supported(Float t, const DepthwiseParams& p, const void* x, const void* w, const void* sum,
                         const void* y) {
    const int v = t == Float::kF16 ? 8 : 4;
    auto aligned = [](const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; };
    const int64_t vectors = static_cast<int64_t>(p.batch) * p.out_h * p.out_w * (p.channels / v);
    return p.channels % v == 0 && fits_fast_div(vectors) &&
           fits_fast_div(static_cast<int64_t>(p.batch) * p.in_h * p.in_w * p.channels) && aligned(x) && aligned(w) &&
           aligned(y) && (!sum || aligned(sum));
}

cudaError_t launch_depthwise_nhwc(Float t, const DepthwiseParams& p, UnaryParams f, const void* x, const void* w,
                                  const void* bias, const void* sum, void* y, cudaStream_t stream) {
    const int v = t == Float::kF16 ? 8 : 4;
    const int64_t vectors = static_cast<int64_t>(p.batch) * p.out_h * p.out_w * (p.channels / v);
    if (vectors == 0) return cudaSuccess;
    const auto n = static_cast<uint32_t>(vectors);
    const FastDiv groups(static_cast<uint32_t>(p.channels / v)), out_w(static_cast<uint32_t>(p.out_w)),
        out_h(static_cast<uint32_t>(p.out_h));
    if (t == Float::kF32)
        depthwise_nhwc_kernel<float><<<blocks_for(vectors), kThreads, 0, stream>>>(
            p, f, static_cast<const float*>(x), static_cast<const float*>(w), static_cast<const float*>(bias),
            static_cast<const float*>(sum), static_cast<float*>(y), n, groups, out_w, out_h);
    else
        depthwise_nhwc_kernel<__half><<<blocks_for(vectors), kThreads, 0, stream>>>(
            p, f, static_cast<const __half*>(x), static_cast<const __half*>(w), static_cast<const __half*>(bias),
            static_cast<const __half*>(sum), static_cast<__half*>(y), n, groups, out_w, out_h);
    return cudaGetLastError();
}

}  // namespace fovea::cuda
