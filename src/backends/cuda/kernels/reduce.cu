// Reductions over one axis of [outer, count, inner] views (softmax, Reduce*, global pooling), LayerNormalization's
// row statistics, and 2-D pooling.
#include <cfloat>

#include "backends/cuda/kernels/common.cuh"
#include "backends/cuda/kernels/fast_div.h"

namespace fovea::cuda {

namespace {

__device__ __forceinline__ float combine(Reduce op, float a, float b) {
    switch (op) {
        case Reduce::kSum:
        case Reduce::kMean:
            return a + b;
        case Reduce::kMax:
            return fmaxf(a, b);
        case Reduce::kMin:
            return fminf(a, b);
    }
    return a;
}

__device__ __forceinline__ float identity_of(Reduce op) {
    return op == Reduce::kMax ? -FLT_MAX : op == Reduce::kMin ? FLT_MAX : 0.f;
}

// Block-wide reduction of one value per thread; every thread gets the result.
__device__ float block_reduce(Reduce op, float v) {
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1) v = combine(op, v, __shfl_xor_sync(0xffffffffu, v, o));
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    __syncthreads();  // partial[] may still be read from a previous call
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < static_cast<int>(blockDim.x / 32) ? partial[lane] : identity_of(op);
    for (int o = 16; o > 0; o >>= 1) v = combine(op, v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// inner == 1: one block per row, the row read by all its threads.
template <typename T>
__global__ void softmax_rows_kernel(bool log, const T* x, T* y, int64_t count) {
    const T* row = x + blockIdx.x * count;
    T* out = y + blockIdx.x * count;
    float m = -FLT_MAX;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) m = fmaxf(m, load(row, i));
    m = block_reduce(Reduce::kMax, m);
    float s = 0.f;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) s += expf(load(row, i) - m);
    s = block_reduce(Reduce::kSum, s);
    const float log_s = logf(s), inv = 1.f / s;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
        const float v = load(row, i) - m;
        store(out, i, log ? v - log_s : expf(v) * inv);
    }
}

// inner > 1: one thread per (outer, inner) column; neighbouring threads read neighbouring addresses.
template <typename T>
__global__ void softmax_columns_kernel(bool log, const T* x, T* y, int64_t outer, int64_t count, int64_t inner) {
    FOVEA_GRID_LOOP(c, outer * inner) {
        const int64_t base = (c / inner) * count * inner + c % inner;
        float m = -FLT_MAX;
        for (int64_t k = 0; k < count; ++k) m = fmaxf(m, load(x, base + k * inner));
        float s = 0.f;
        for (int64_t k = 0; k < count; ++k) s += expf(load(x, base + k * inner) - m);
        const float log_s = logf(s), inv = 1.f / s;
        for (int64_t k = 0; k < count; ++k) {
            const float v = load(x, base + k * inner) - m;
            store(y, base + k * inner, log ? v - log_s : expf(v) * inv);
        }
    }
}

template <typename T>
__global__ void reduce_rows_kernel(Reduce op, const T* x, T* y, int64_t count) {
    const T* row = x + blockIdx.x * count;
    float v = identity_of(op);
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) v = combine(op, v, load(row, i));
    v = block_reduce(op, v);
    if (threadIdx.x == 0) store(y, blockIdx.x, op == Reduce::kMean ? v / static_cast<float>(count) : v);
}

template <typename T>
__global__ void reduce_columns_kernel(Reduce op, const T* x, T* y, int64_t outer, int64_t count, int64_t inner) {
    FOVEA_GRID_LOOP(c, outer * inner) {
        const int64_t base = (c / inner) * count * inner + c % inner;
        float v = identity_of(op);
        for (int64_t k = 0; k < count; ++k) v = combine(op, v, load(x, base + k * inner));
        store(y, c, op == Reduce::kMean ? v / static_cast<float>(count) : v);
    }
}

// Long columns (global pooling of NHWC maps, [N, H*W, C]) in two passes: block (slice, o, split) reduces kSliceColumns
// adjacent columns over one split's rows, its threads' rows interleaved, into partials[o, split, column]; then one
// thread per column combines the splits. One thread per column took 0.3 ms for a 32-channel 112x112 map at batch 1.
constexpr int kSliceColumns = 32, kSliceRows = 8, kRowsPerSplit = 64, kMaxSplits = 64;

inline int64_t column_splits(int64_t count) {
    const int64_t s = (count + kRowsPerSplit - 1) / kRowsPerSplit;
    return s < 1 ? 1 : (s > kMaxSplits ? kMaxSplits : s);
}

template <typename T>
__global__ void reduce_column_slices_kernel(Reduce op, const T* x, float* partials, int64_t count, int64_t inner) {
    const int64_t column = blockIdx.x * static_cast<int64_t>(kSliceColumns) + threadIdx.x, o = blockIdx.y;
    const int64_t rows = (count + gridDim.z - 1) / gridDim.z, r0 = blockIdx.z * rows;
    const int64_t r1 = r0 + rows < count ? r0 + rows : count;
    float v = identity_of(op);
    if (column < inner)
        for (int64_t r = r0 + threadIdx.y; r < r1; r += kSliceRows)
            v = combine(op, v, load(x, (o * count + r) * inner + column));
    __shared__ float part[kSliceRows][kSliceColumns + 1];
    part[threadIdx.y][threadIdx.x] = v;
    __syncthreads();
    if (threadIdx.y != 0 || column >= inner) return;
    for (int k = 1; k < kSliceRows; ++k) v = combine(op, v, part[k][threadIdx.x]);
    partials[(o * gridDim.z + blockIdx.z) * inner + column] = v;
}

template <typename T>
__global__ void reduce_partials_kernel(Reduce op, const float* partials, T* y, int64_t outer, int64_t inner,
                                       int64_t splits, int64_t count) {
    FOVEA_GRID_LOOP(c, outer * inner) {
        const int64_t o = c / inner, i = c % inner;
        float v = identity_of(op);
        for (int64_t k = 0; k < splits; ++k) v = combine(op, v, partials[(o * splits + k) * inner + i]);
        store(y, c, op == Reduce::kMean ? v / static_cast<float>(count) : v);
    }
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// One normalized row, split over `lanes` threads starting at `lane`; `sum` reduces a per-thread float over them. Two
// passes over x (mean, then squared deviations), as the reference computes the variance: E[x^2] - mean^2 would cancel
// badly for rows far from zero.
// `channels` > 0 (InstanceNormalization): one scale and bias per row, those of its channel (row % channels); 0
// (LayerNormalization): one per element of the row.
template <typename T, typename Sum>
__device__ void layer_norm_row(const T* x, const T* scale, const T* bias, T* y, T* mean_out, T* inv_std_out,
                               int64_t row, int64_t size, int64_t channels, float epsilon, int lane, int lanes,
                               Sum sum) {
    const T* in = x + row * size;
    T* out = y + row * size;
    float s = 0.f;
    for (int64_t i = lane; i < size; i += lanes) s += load(in, i);
    const float mean = sum(s) / static_cast<float>(size);
    float v = 0.f;
    for (int64_t i = lane; i < size; i += lanes) {
        const float d = load(in, i) - mean;
        v += d * d;
    }
    const float inv_std = 1.f / sqrtf(sum(v) / static_cast<float>(size) + epsilon);
    const int64_t channel = channels > 0 ? row % channels : 0;
    for (int64_t i = lane; i < size; i += lanes) {
        const int64_t at = channels > 0 ? channel : i;
        float r = (load(in, i) - mean) * inv_std * load(scale, at);
        if (bias) r += load(bias, at);
        store(out, i, r);
    }
    if (lane == 0) {
        if (mean_out) store(mean_out, row, mean);
        if (inv_std_out) store(inv_std_out, row, inv_std);
    }
}

// Rows up to kLayerNormWarpMax long (transformer widths): a warp per row, no shared memory or block barriers. A warp
// past the last row leaves as a whole, so the shuffles always see all 32 lanes.
template <typename T>
__global__ void layer_norm_warp_kernel(const T* x, const T* scale, const T* bias, T* y, T* mean_out, T* inv_std_out,
                                       int64_t rows, int64_t size, int64_t channels, float epsilon) {
    const int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;
    layer_norm_row(x, scale, bias, y, mean_out, inv_std_out, row, size, channels, epsilon,
                   static_cast<int>(threadIdx.x % 32), 32, [](float v) { return warp_sum(v); });
}

// Longer rows: a block per row.
template <typename T>
__global__ void layer_norm_block_kernel(const T* x, const T* scale, const T* bias, T* y, T* mean_out, T* inv_std_out,
                                        int64_t size, int64_t channels, float epsilon) {
    layer_norm_row(x, scale, bias, y, mean_out, inv_std_out, blockIdx.x, size, channels, epsilon,
                   static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x),
                   [](float v) { return block_reduce(Reduce::kSum, v); });
}

constexpr int64_t kLayerNormWarpMax = 1024;

template <typename T>
cudaError_t layer_norm_typed(const T* x, const T* scale, const T* bias, T* y, T* mean, T* inv_std, int64_t rows,
                             int64_t size, int64_t channels, float epsilon, cudaStream_t stream) {
    if (size <= kLayerNormWarpMax) {
        constexpr int64_t kRowsPerBlock = kThreads / 32;
        const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
        if (blocks >= (int64_t(1) << 31)) return cudaErrorInvalidValue;
        layer_norm_warp_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
            x, scale, bias, y, mean, inv_std, rows, size, channels, epsilon);
    } else {
        if (rows >= (int64_t(1) << 31)) return cudaErrorInvalidValue;
        layer_norm_block_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
            x, scale, bias, y, mean, inv_std, size, channels, epsilon);
    }
    return cudaGetLastError();
}

template <typename T>
cudaError_t layer_norm_dispatch(const void* x, const void* scale, const void* bias, void* y, void* mean, void* inv_std,
                                int64_t rows, int64_t size, int64_t channels, float epsilon, cudaStream_t stream) {
    return layer_norm_typed(static_cast<const T*>(x), static_cast<const T*>(scale), static_cast<const T*>(bias),
                            static_cast<T*>(y), static_cast<T*>(mean), static_cast<T*>(inv_std), rows, size, channels,
                            epsilon, stream);
}

// TopK: block-wide selections (launch_topk). `better` is the output order: larger (or smaller) value first, then
// the lower index.
__device__ __forceinline__ bool topk_better(bool largest, float a, int64_t ia, float b, int64_t ib) {
    if (a != b) return largest ? a > b : a < b;
    return ia < ib;
}

template <typename T>
__global__ void topk_kernel(bool largest, const T* x, T* values, int64_t* indices, int64_t count, int64_t inner,
                            int64_t k) {
    __shared__ float best_value[kThreads];
    __shared__ int64_t best_index[kThreads];
    __shared__ float last_value;
    __shared__ int64_t last_index;
    const int64_t column = blockIdx.x, o = column / inner, in = column % inner;
    const T* row = x + o * count * inner + in;
    for (int64_t r = 0; r < k; ++r) {
        float mine = 0.f;
        int64_t mine_at = -1;
        for (int64_t j = threadIdx.x; j < count; j += blockDim.x) {
            const float v = load(row, j * inner);
            if (r > 0 && !topk_better(largest, last_value, last_index, v, j)) continue;  // taken already
            if (mine_at < 0 || topk_better(largest, v, j, mine, mine_at)) {
                mine = v;
                mine_at = j;
            }
        }
        best_value[threadIdx.x] = mine;
        best_index[threadIdx.x] = mine_at;
        __syncthreads();
        for (int half = blockDim.x / 2; half > 0; half /= 2) {
            if (threadIdx.x < half) {
                const float v = best_value[threadIdx.x + half];
                const int64_t at = best_index[threadIdx.x + half];
                if (at >= 0 && (best_index[threadIdx.x] < 0 ||
                                topk_better(largest, v, at, best_value[threadIdx.x], best_index[threadIdx.x]))) {
                    best_value[threadIdx.x] = v;
                    best_index[threadIdx.x] = at;
                }
            }
            __syncthreads();
        }
        if (threadIdx.x == 0) {
            const int64_t out = (o * k + r) * inner + in;
            store(values, out, best_value[0]);
            indices[out] = best_index[0];
            last_value = best_value[0];
            last_index = best_index[0];
        }
        __syncthreads();
    }
}

// One thread per output: the index of the first (or, with `last`, the last) extreme along the column.
template <typename T>
__global__ void arg_reduce_kernel(bool max, bool last, const T* x, int64_t* y, int64_t outer, int64_t count,
                                  int64_t inner) {
    FOVEA_GRID_LOOP(c, outer * inner) {
        const int64_t base = (c / inner) * count * inner + c % inner;
        float best = load(x, base);
        int64_t at = 0;
        for (int64_t k = 1; k < count; ++k) {
            const float v = load(x, base + k * inner);
            const bool better = max ? v > best : v < best;
            if (better || (last && v == best)) {
                best = v;
                at = k;
            }
        }
        y[c] = at;
    }
}

// Max or average over the window of output pixel (oy, ox); `in` points at the plane's (or the channel's) first
// element and `step` is the distance between horizontally adjacent pixels: 1 in NCHW, the channel count in NHWC.
// I is the index type: 32-bit where the tensor allows it.
template <typename I, typename T>
__device__ float pool_window(const Pool2dParams& p, const T* in, I oy, I ox, I step) {
    const I y0 = oy * static_cast<I>(p.s_h) - static_cast<I>(p.pad_top);
    const I x0 = ox * static_cast<I>(p.s_w) - static_cast<I>(p.pad_left);
    const I in_h = static_cast<I>(p.in_h), in_w = static_cast<I>(p.in_w);
    float acc = p.max ? -FLT_MAX : 0.f;
    I taken = 0, padded = 0;
    for (I ky = 0; ky < static_cast<I>(p.k_h); ++ky) {
        const I iy = y0 + ky * static_cast<I>(p.d_h);
        for (I kx = 0; kx < static_cast<I>(p.k_w); ++kx) {
            const I ix = x0 + kx * static_cast<I>(p.d_w);
            // Positions in the declared padding count for count_include_pad; those past it (ceil_mode) never do.
            if (iy >= -static_cast<I>(p.pad_top) && iy < in_h + static_cast<I>(p.pad_bottom) &&
                ix >= -static_cast<I>(p.pad_left) && ix < in_w + static_cast<I>(p.pad_right))
                ++padded;
            if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) continue;
            const float v = load(in, (iy * in_w + ix) * step);
            acc = p.max ? fmaxf(acc, v) : acc + v;
            ++taken;
        }
    }
    if (p.max) return acc;
    const I div = p.count_include_pad ? padded : taken;
    return div > 0 ? acc / static_cast<float>(div) : 0.f;
}

// Output index o runs over (image, oy, ox, c) with `per` = the channel count in NHWC (c fastest, so neighbouring
// threads read neighbouring channels), or over (plane, oy, ox) with `per` = 1 in NCHW.
template <typename T>
__global__ void pool2d_wide_kernel(Pool2dParams p, const T* x, T* y, int64_t n) {
    const int64_t per = p.channels_last ? p.channels : 1, plane = p.in_h * p.in_w * per;
    FOVEA_GRID_LOOP(o, n) {
        const int64_t pixel = o / per, c = o % per;
        const int64_t row = pixel / p.out_w, ox = pixel % p.out_w, image = row / p.out_h, oy = row % p.out_h;
        store(y, o, pool_window<int64_t>(p, x + image * plane + c, oy, ox, per));
    }
}

// The same with 32-bit indices and divisions by multiplication (`per`: channels (NHWC) or 1, out_w, out_h).
template <typename T>
__global__ void pool2d_fast_kernel(Pool2dParams p, FastDiv per, FastDiv out_w, FastDiv out_h, const T* x, T* y,
                                   int32_t n) {
    const int32_t plane = static_cast<int32_t>(p.in_h * p.in_w * (p.channels_last ? p.channels : 1));
    for (int32_t o = blockIdx.x * blockDim.x + threadIdx.x; o < n; o += blockDim.x * gridDim.x) {
        const uint32_t pixel = per.div(o), c = o - pixel * per.d;
        const uint32_t row = out_w.div(pixel), ox = pixel - row * out_w.d;
        const uint32_t image = out_h.div(row), oy = row - image * out_h.d;
        const T* in = x + static_cast<int32_t>(image) * plane + static_cast<int32_t>(c);
        store(y, o,
              pool_window<int32_t>(p, in, static_cast<int32_t>(oy), static_cast<int32_t>(ox),
                                   static_cast<int32_t>(per.d)));
    }
}

// NHWC with channels in multiples of a 16-byte vector: each thread pools one vector of channels, so a window's loads
// are 16 bytes wide.
template <typename T>
__global__ void pool2d_nhwc_vec_kernel(Pool2dParams p, FastDiv vectors_per_pixel, FastDiv out_w, FastDiv out_h,
                                       const T* x, T* y, uint32_t n) {
    constexpr int V = 16 / sizeof(T);
    union Vec {
        uint4 raw;
        T e[V];
    };
    const int32_t in_h = static_cast<int32_t>(p.in_h), in_w = static_cast<int32_t>(p.in_w);
    const int32_t channels = static_cast<int32_t>(p.channels);
    for (uint32_t v = blockIdx.x * blockDim.x + threadIdx.x; v < n; v += blockDim.x * gridDim.x) {
        const uint32_t pixel = vectors_per_pixel.div(v), cv = v - pixel * vectors_per_pixel.d;
        const uint32_t row = out_w.div(pixel), ox = pixel - row * out_w.d;
        const uint32_t image = out_h.div(row), oy = row - image * out_h.d;
        const T* in = x + static_cast<int32_t>(image) * in_h * in_w * channels + static_cast<int32_t>(cv) * V;
        const int32_t y0 = static_cast<int32_t>(oy * p.s_h - p.pad_top),
                      x0 = static_cast<int32_t>(ox * p.s_w - p.pad_left);
        float acc[V];
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] = p.max ? -FLT_MAX : 0.f;
        int32_t taken = 0, padded = 0;
        for (int32_t ky = 0; ky < p.k_h; ++ky) {
            const int32_t iy = y0 + ky * static_cast<int32_t>(p.d_h);
            for (int32_t kx = 0; kx < p.k_w; ++kx) {
                const int32_t ix = x0 + kx * static_cast<int32_t>(p.d_w);
                if (iy >= -p.pad_top && iy < in_h + p.pad_bottom && ix >= -p.pad_left && ix < in_w + p.pad_right)
                    ++padded;
                if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) continue;
                Vec in_v;
                in_v.raw = *reinterpret_cast<const uint4*>(in + (iy * in_w + ix) * channels);
#pragma unroll
                for (int k = 0; k < V; ++k) {
                    const float value = load(in_v.e, k);
                    acc[k] = p.max ? fmaxf(acc[k], value) : acc[k] + value;
                }
                ++taken;
            }
        }
        const int32_t div = p.count_include_pad ? padded : taken;
        Vec out;
#pragma unroll
        for (int k = 0; k < V; ++k)
            store(out.e, k, p.max ? acc[k] : (div > 0 ? acc[k] / static_cast<float>(div) : 0.f));
        reinterpret_cast<uint4*>(y)[v] = out.raw;
    }
}

template <typename T>
void pool2d_typed(const Pool2dParams& p, const T* x, T* y, cudaStream_t stream) {
    const int64_t n = p.planes * p.out_h * p.out_w * (p.channels_last ? p.channels : 1);
    const int64_t in = p.planes * p.in_h * p.in_w * (p.channels_last ? p.channels : 1);
    constexpr int64_t V = 16 / sizeof(T);
    const bool vectors = p.channels_last && p.channels % V == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                         reinterpret_cast<uintptr_t>(y) % 16 == 0;
    if (vectors && fits_fast_div(n) && fits_fast_div(in)) {
        pool2d_nhwc_vec_kernel<<<blocks_for(n / V), kThreads, 0, stream>>>(
            p, FastDiv(static_cast<uint32_t>(p.channels / V)), FastDiv(static_cast<uint32_t>(p.out_w)),
            FastDiv(static_cast<uint32_t>(p.out_h)), x, y, static_cast<uint32_t>(n / V));
    } else if (fits_fast_div(n) && fits_fast_div(in + p.in_w * (p.pad_bottom + 1))) {
        const FastDiv per(static_cast<uint32_t>(p.channels_last ? p.channels : 1));
        pool2d_fast_kernel<<<blocks_for(n), kThreads, 0, stream>>>(p, per, FastDiv(static_cast<uint32_t>(p.out_w)),
                                                                   FastDiv(static_cast<uint32_t>(p.out_h)), x, y,
                                                                   static_cast<int32_t>(n));
    } else {
        pool2d_wide_kernel<<<blocks_for(n), kThreads, 0, stream>>>(p, x, y, n);
    }
}

template <typename T>
void softmax_typed(bool log, const T* x, T* y, int64_t outer, int64_t count, int64_t inner, cudaStream_t stream) {
    if (inner == 1)
        softmax_rows_kernel<T><<<static_cast<unsigned>(outer), kThreads, 0, stream>>>(log, x, y, count);
    else
        softmax_columns_kernel<T><<<blocks_for(outer * inner), kThreads, 0, stream>>>(log, x, y, outer, count, inner);
}

// One warp per output of a 1x1 convolution of 1x1 maps: y[r, k] = f(x[r, :] . w[k, :] + bias[k] + sum[r, k]).
template <typename T>
__global__ void dense_rows_kernel(UnaryParams f, const T* x, const T* w, const T* bias, const T* sum, T* y,
                                  int64_t outputs, int64_t c, int64_t k) {
    const int64_t out = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    if (out >= outputs) return;  // whole warps leave together
    const int64_t r = out / k, col = out % k;
    const T* xr = x + r * c;
    const T* wr = w + col * c;
    float acc = 0.f;
    for (int64_t i = lane; i < c; i += 32) acc += load(xr, i) * load(wr, i);
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane != 0) return;
    if (bias) acc += load(bias, col);
    if (sum) acc += load(sum, out);
    store(y, out, apply_unary(f, acc));
}

template <typename T>
void reduce_typed(Reduce op, const T* x, T* y, int64_t outer, int64_t count, int64_t inner, float* scratch,
                  cudaStream_t stream) {
    // A block per row pays off only for long rows; short ones (and columns) take one thread each.
    if (inner == 1 && count >= 64 && outer < (int64_t(1) << 31)) {
        reduce_rows_kernel<T><<<static_cast<unsigned>(outer), kThreads, 0, stream>>>(op, x, y, count);
    } else if (scratch != nullptr && inner > 1) {
        const int64_t splits = column_splits(count);
        const dim3 grid(static_cast<unsigned>((inner + kSliceColumns - 1) / kSliceColumns),
                        static_cast<unsigned>(outer), static_cast<unsigned>(splits));
        reduce_column_slices_kernel<T>
            <<<grid, dim3(kSliceColumns, kSliceRows), 0, stream>>>(op, x, scratch, count, inner);
        reduce_partials_kernel<T>
            <<<blocks_for(outer * inner), kThreads, 0, stream>>>(op, scratch, y, outer, inner, splits, count);
    } else {
        reduce_columns_kernel<T><<<blocks_for(outer * inner), kThreads, 0, stream>>>(op, x, y, outer, count, inner);
    }
}

}  // namespace

cudaError_t launch_softmax(Float t, bool log, const void* x, void* y, int64_t outer, int64_t axis, int64_t inner,
                           cudaStream_t stream) {
    if (outer * axis * inner == 0) return cudaSuccess;
    if (outer >= (int64_t(1) << 31)) return cudaErrorInvalidValue;
    if (t == Float::kF32)
        softmax_typed(log, static_cast<const float*>(x), static_cast<float*>(y), outer, axis, inner, stream);
    else
        softmax_typed(log, static_cast<const __half*>(x), static_cast<__half*>(y), outer, axis, inner, stream);
    return cudaGetLastError();
}

size_t reduce_scratch_bytes(int64_t outer, int64_t count, int64_t inner) {
    return static_cast<size_t>(outer * column_splits(count) * inner) * sizeof(float);
}

cudaError_t launch_reduce(Float t, Reduce op, const void* x, void* y, int64_t outer, int64_t count, int64_t inner,
                          void* scratch, size_t scratch_bytes, cudaStream_t stream) {
    if (outer * inner == 0) return cudaSuccess;
    // Split only where it pays: columns long enough, and few enough of them that one thread each leaves the GPU idle.
    float* partials = scratch != nullptr && scratch_bytes >= reduce_scratch_bytes(outer, count, inner) &&
                              count >= 2 * kRowsPerSplit && outer < 65536
                          ? static_cast<float*>(scratch)
                          : nullptr;
    if (t == Float::kF32)
        reduce_typed(op, static_cast<const float*>(x), static_cast<float*>(y), outer, count, inner, partials, stream);
    else
        reduce_typed(op, static_cast<const __half*>(x), static_cast<__half*>(y), outer, count, inner, partials, stream);
    return cudaGetLastError();
}

cudaError_t launch_layer_norm(Float t, const void* x, const void* scale, const void* bias, void* y, void* mean,
                              void* inv_std, int64_t rows, int64_t size, float epsilon, cudaStream_t stream) {
    if (rows == 0 || size == 0) return cudaSuccess;
    if (t == Float::kF32)
        return layer_norm_dispatch<float>(x, scale, bias, y, mean, inv_std, rows, size, 0, epsilon, stream);
    return layer_norm_dispatch<__half>(x, scale, bias, y, mean, inv_std, rows, size, 0, epsilon, stream);
}

cudaError_t launch_instance_norm(Float t, const void* x, const void* scale, const void* bias, void* y, int64_t rows,
                                 int64_t channels, int64_t size, float epsilon, cudaStream_t stream) {
    if (rows == 0 || size == 0) return cudaSuccess;
    if (channels <= 0) return cudaErrorInvalidValue;
    if (t == Float::kF32)
        return layer_norm_dispatch<float>(x, scale, bias, y, nullptr, nullptr, rows, size, channels, epsilon, stream);
    return layer_norm_dispatch<__half>(x, scale, bias, y, nullptr, nullptr, rows, size, channels, epsilon, stream);
}

cudaError_t launch_arg_reduce(Float t, bool max, bool last, const void* x, int64_t* y, int64_t outer, int64_t count,
                              int64_t inner, cudaStream_t stream) {
    if (outer * inner == 0) return cudaSuccess;
    if (count <= 0) return cudaErrorInvalidValue;
    if (t == Float::kF32)
        arg_reduce_kernel<float><<<blocks_for(outer * inner), kThreads, 0, stream>>>(
            max, last, static_cast<const float*>(x), y, outer, count, inner);
    else
        arg_reduce_kernel<__half><<<blocks_for(outer * inner), kThreads, 0, stream>>>(
            max, last, static_cast<const __half*>(x), y, outer, count, inner);
    return cudaGetLastError();
}

cudaError_t launch_pool2d(Float t, const Pool2dParams& p, const void* x, void* y, cudaStream_t stream) {
    if (p.planes * p.out_h * p.out_w == 0) return cudaSuccess;
    if (t == Float::kF32)
        pool2d_typed(p, static_cast<const float*>(x), static_cast<float*>(y), stream);
    else
        pool2d_typed(p, static_cast<const __half*>(x), static_cast<__half*>(y), stream);
    return cudaGetLastError();
}

cudaError_t launch_dense_rows(Float t, UnaryParams f, const void* x, const void* w, const void* bias, const void* sum,
                              void* y, int64_t rows, int64_t c, int64_t k, cudaStream_t stream) {
    const int64_t outputs = rows * k;
    if (outputs == 0) return cudaSuccess;
    const int64_t blocks = (outputs * 32 + kThreads - 1) / kThreads;
    if (blocks >= (int64_t(1) << 31)) return cudaErrorInvalidValue;
    if (t == Float::kF32)
        dense_rows_kernel<float><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
            f, static_cast<const float*>(x), static_cast<const float*>(w), static_cast<const float*>(bias),
            static_cast<const float*>(sum), static_cast<float*>(y), outputs, c, k);
    else
        dense_rows_kernel<__half><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
            f, static_cast<const __half*>(x), static_cast<const __half*>(w), static_cast<const __half*>(bias),
            static_cast<const __half*>(sum), static_cast<__half*>(y), outputs, c, k);
    return cudaGetLastError();
}

cudaError_t launch_topk(Float t, bool largest, const void* x, void* values, int64_t* indices, int64_t outer,
                        int64_t count, int64_t inner, int64_t k, cudaStream_t stream) {
    const int64_t columns = outer * inner;
    if (columns == 0 || k == 0) return cudaSuccess;
    if (k > kMaxTopK || columns > int64_t{0x7fffffff}) return cudaErrorNotSupported;
    const auto blocks = static_cast<unsigned>(columns);
    if (t == Float::kF32)
        topk_kernel<<<blocks, kThreads, 0, stream>>>(largest, static_cast<const float*>(x), static_cast<float*>(values),
                                                     indices, count, inner, k);
    else
        topk_kernel<<<blocks, kThreads, 0, stream>>>(largest, static_cast<const __half*>(x),
                                                     static_cast<__half*>(values), indices, count, inner, k);
    return cudaGetLastError();
}

}  // namespace fovea::cuda
