// Elementwise kernels: unary maps, the bias + activation (+ residual) epilogue, broadcasting binary ops, casts.
#include <optional>
#include <type_traits>

#include "backends/cuda/kernels/common.cuh"
#include "backends/cuda/kernels/fast_div.h"

namespace fovea::cuda {

namespace {

// Each thread takes kPerThread elements a block apart (each access still coalesced across the warp) and issues
// their loads together: one two-byte load in flight per thread leaves HBM mostly idle.
constexpr int kPerThread = 4;

unsigned blocks_per_thread_chunks(int64_t n) {
    return blocks_for((n + kPerThread - 1) / kPerThread);
}

// Element j of this thread's chunk: i = chunk + j * blockDim.x + threadIdx.x, for chunks a grid apart.
#define FOVEA_CHUNK_LOOP(chunk, n)                                                                \
    for (int64_t chunk = static_cast<int64_t>(blockIdx.x) * blockDim.x * kPerThread; chunk < (n); \
         chunk += static_cast<int64_t>(gridDim.x) * blockDim.x * kPerThread)

// y = f(x), converting between float types on the way (a cast is the identity map).
template <typename From, typename To>
__global__ void map_kernel(UnaryParams f, const From* x, To* y, int64_t n) {
    FOVEA_CHUNK_LOOP(chunk, n) {
        float v[kPerThread];
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) {
            const int64_t i = chunk + j * blockDim.x + threadIdx.x;
            v[j] = i < n ? load(x, i) : 0.f;
        }
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) {
            const int64_t i = chunk + j * blockDim.x + threadIdx.x;
            if (i < n) store(y, i, apply_unary(f, v[j]));
        }
    }
}

// 32-bit index math where the tensor allows it: 64-bit division costs several times more.
template <typename T, typename I>
__global__ void bias_activation_kernel(UnaryParams f, T* y, const T* bias, const T* sum, I n, I channels, I inner) {
    for (I i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        float v = load(y, i);
        if (bias) v += load(bias, (i / inner) % channels);
        if (sum) v += load(sum, i);
        store(y, i, apply_unary(f, v));
    }
}

// Sixteen bytes per thread: the epilogue of a convolution reads and writes its whole output, so it runs at memory
// speed only with wide accesses. Each vector's elements share a channel (inner % V == 0) or run over consecutive
// channels (inner == 1, channels % V == 0).
template <typename T>
__global__ void bias_activation_vec_kernel(UnaryParams f, T* y, const T* bias, const T* sum, uint32_t vectors,
                                           FastDiv inner, FastDiv channels) {
    constexpr int V = 16 / sizeof(T);
    for (uint32_t v = blockIdx.x * blockDim.x + threadIdx.x; v < vectors; v += blockDim.x * gridDim.x) {
        union Vec {
            uint4 raw;
            T e[V];
        };
        Vec out, in, add;
        in.raw = reinterpret_cast<const uint4*>(y)[v];
        if (sum) add.raw = reinterpret_cast<const uint4*>(sum)[v];
        const uint32_t c0 = channels.mod(inner.div(v * V));
        const uint32_t c_step = inner.d == 1 ? 1 : 0;
#pragma unroll
        for (int k = 0; k < V; ++k) {
            float x = load(in.e, k);
            if (bias) x += load(bias, c0 + k * c_step);
            if (sum) x += load(add.e, k);
            store(out.e, k, apply_unary(f, x));
        }
        reinterpret_cast<uint4*>(y)[v] = out.raw;
    }
}

__device__ __forceinline__ float apply_binary(Binary op, float a, float b) {
    switch (op) {
        case Binary::kAdd:
            return a + b;
        case Binary::kSub:
            return a - b;
        case Binary::kMul:
            return a * b;
        case Binary::kDiv:
            return a / b;
        case Binary::kPow:
            return powf(a, b);
        case Binary::kMax:
            return fmaxf(a, b);
        case Binary::kMin:
            return fminf(a, b);
        case Binary::kPRelu:
            return a < 0.f ? a * b : a;
    }
    return a;
}

template <typename T>
__global__ void binary_kernel(BinaryParams p, const T* a, const T* b, T* y, int64_t n) {
    FOVEA_GRID_LOOP(i, n) {
        int64_t rest = i, ia = 0, ib = 0;
        for (int d = p.rank - 1; d >= 0; --d) {
            const int64_t c = rest % p.size[d];
            rest /= p.size[d];
            ia += c * p.a_stride[d];
            ib += c * p.b_stride[d];
        }
        store(y, i, apply_binary(p.op, load(a, ia), load(b, ib)));
    }
}

template <typename T>
__global__ void chain_kernel(ChainParams p, const T* x, T* y, int64_t n) {
    FOVEA_GRID_LOOP(i, n) {
        int64_t rest = i, ix = 0, at[kMaxChainSteps] = {};
        for (int d = p.rank - 1; d >= 0; --d) {
            const int64_t c = rest % p.size[d];
            rest /= p.size[d];
            ix += c * p.x_stride[d];
#pragma unroll
            for (int s = 0; s < kMaxChainSteps; ++s) at[s] += c * p.step[s].stride[d];
        }
        float v = load(x, ix);
#pragma unroll
        for (int s = 0; s < kMaxChainSteps; ++s) {
            if (s >= p.steps) break;
            const ChainStep& step = p.step[s];
            if (!step.binary) {
                v = apply_unary(step.unary, v);
                continue;
            }
            const float o = load(static_cast<const T*>(step.operand), at[s]);
            v = step.operand_first ? apply_binary(step.op, o, v) : apply_binary(step.op, v, o);
        }
        store(y, i, v);
    }
}

// The same with 32-bit indices (FastDiv) and the rank R fixed at compile time, so that each element's coordinates
// stay in registers and only binary steps pay for an operand's offset: the general kernel's 64-bit divisions, and its
// offsets for every step slot, cost more than the memory traffic of a detector head's decode.
struct Chain32 {
    int steps = 0;
    FastDiv size[kMaxDims];
    uint32_t x_stride[kMaxDims] = {};
    uint32_t stride[kMaxChainSteps][kMaxDims] = {};
    UnaryParams unary[kMaxChainSteps];
    Binary op[kMaxChainSteps] = {};
    bool binary[kMaxChainSteps] = {}, operand_first[kMaxChainSteps] = {};
    const void* operand[kMaxChainSteps] = {};
};

template <typename T, int R>
__global__ void chain32_kernel(Chain32 p, const T* x, T* y, uint32_t n) {
    for (uint32_t chunk = blockIdx.x * blockDim.x * kPerThread; chunk < n;
         chunk += gridDim.x * blockDim.x * kPerThread) {
        uint32_t c[kPerThread][R];
        float v[kPerThread];
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) {
            uint32_t rest = min(chunk + j * blockDim.x + threadIdx.x, n - 1);  // the tail repeats the last element
#pragma unroll
            for (int d = R - 1; d > 0; --d) {
                const uint32_t q = p.size[d].div(rest);
                c[j][d] = rest - q * p.size[d].d;
                rest = q;
            }
            c[j][0] = rest;
            uint32_t ix = 0;
#pragma unroll
            for (int d = 0; d < R; ++d) ix += c[j][d] * p.x_stride[d];
            v[j] = load(x, ix);
        }
#pragma unroll
        for (int s = 0; s < kMaxChainSteps; ++s) {
            if (s >= p.steps) break;
#pragma unroll
            for (int j = 0; j < kPerThread; ++j) {
                if (!p.binary[s]) {
                    v[j] = apply_unary(p.unary[s], v[j]);
                    continue;
                }
                uint32_t at = 0;
#pragma unroll
                for (int d = 0; d < R; ++d) at += c[j][d] * p.stride[s][d];
                const float o = load(static_cast<const T*>(p.operand[s]), at);
                v[j] = p.operand_first[s] ? apply_binary(p.op[s], o, v[j]) : apply_binary(p.op[s], v[j], o);
            }
        }
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) {
            const uint32_t i = chunk + j * blockDim.x + threadIdx.x;
            if (i < n) store(y, i, v[j]);
        }
    }
}

// The common shapes: same-shape operands, or b one value per (row of `inner`) block, as a per-channel scale.
template <typename T>
__global__ void binary_same_kernel(Binary op, const T* a, const T* b, T* y, int64_t n) {
    FOVEA_CHUNK_LOOP(chunk, n) {
        float va[kPerThread], vb[kPerThread];
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) {
            const int64_t i = chunk + j * blockDim.x + threadIdx.x;
            va[j] = i < n ? load(a, i) : 0.f;
            vb[j] = i < n ? load(b, i) : 0.f;
        }
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) {
            const int64_t i = chunk + j * blockDim.x + threadIdx.x;
            if (i < n) store(y, i, apply_binary(op, va[j], vb[j]));
        }
    }
}

template <typename T>
__global__ void binary_rows_kernel(Binary op, const T* a, const T* b, T* y, uint32_t n, uint32_t inner) {
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        store(y, i, apply_binary(op, load(a, i), load(b, i / inner)));
}

// b constant over a middle run of dims: a and y as [outer, mid, inner], b as [outer, inner] (a squeeze-excitation
// block's x * scale in NHWC: [N, H*W, C] times [N, C]). The general kernel's 64-bit index arithmetic made this
// 10x slower than its bytes. Sixteen bytes of a and y per thread (inner % V == 0, so a vector's elements share a row
// of b); the scalar variant takes the rest.
template <typename T>
__global__ void binary_mid_vec_kernel(Binary op, const T* a, const T* b, T* y, uint32_t vectors, FastDiv inner,
                                      FastDiv mid_inner) {
    constexpr int V = 16 / sizeof(T);
    for (uint32_t v = blockIdx.x * blockDim.x + threadIdx.x; v < vectors; v += blockDim.x * gridDim.x) {
        union Vec {
            uint4 raw;
            T e[V];
        };
        Vec in, out;
        in.raw = reinterpret_cast<const uint4*>(a)[v];
        const uint32_t i = v * V;
        const uint32_t row = mid_inner.div(i) * inner.d + inner.mod(i);
#pragma unroll
        for (int k = 0; k < V; ++k) store(out.e, k, apply_binary(op, load(in.e, k), load(b, row + k)));
        reinterpret_cast<uint4*>(y)[v] = out.raw;
    }
}

template <typename T>
__global__ void binary_mid_kernel(Binary op, const T* a, const T* b, T* y, uint32_t n, FastDiv inner,
                                  FastDiv mid_inner) {
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        store(y, i, apply_binary(op, load(a, i), load(b, mid_inner.div(i) * inner.d + inner.mod(i))));
}

template <typename T>
cudaError_t binary_typed(const BinaryParams& p, const T* a, const T* b, T* y, cudaStream_t stream) {
    int64_t n = 1;
    for (int d = 0; d < p.rank; ++d) n *= p.size[d];
    if (n == 0) return cudaSuccess;
    // Contiguous a, and b either contiguous too or constant over a trailing block of dims.
    bool a_contiguous = true, b_contiguous = true;
    int64_t expect = 1;
    for (int d = p.rank - 1; d >= 0; --d) {
        if (p.size[d] != 1) {
            a_contiguous = a_contiguous && p.a_stride[d] == expect;
            b_contiguous = b_contiguous && p.b_stride[d] == expect;
        }
        expect *= p.size[d];
    }
    if (a_contiguous && b_contiguous) {
        binary_same_kernel<T><<<blocks_per_thread_chunks(n), kThreads, 0, stream>>>(p.op, a, b, y, n);
        return cudaGetLastError();
    }
    if (a_contiguous && n < (int64_t(1) << 31)) {
        // b = [outer..., 1...]: zero strides on a trailing run of dims, contiguous before it.
        int split = p.rank;
        while (split > 0 && (p.b_stride[split - 1] == 0 || p.size[split - 1] == 1)) --split;
        int64_t inner = 1, outer_expect = 1;
        for (int d = split; d < p.rank; ++d) inner *= p.size[d];
        bool rows = split < p.rank;
        for (int d = split - 1; d >= 0 && rows; --d) {
            if (p.size[d] != 1) rows = p.b_stride[d] == outer_expect;
            outer_expect *= p.size[d];
        }
        if (rows) {
            binary_rows_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(p.op, a, b, y, static_cast<uint32_t>(n),
                                                                          static_cast<uint32_t>(inner));
            return cudaGetLastError();
        }
    }
    if (a_contiguous && fits_fast_div(n)) {
        // b = [outer, 1..., inner]: contiguous over the trailing dims, constant over a middle run, contiguous before.
        int d = p.rank - 1;
        int64_t inner = 1, mid = 1, outer = 1;
        while (d >= 0 && (p.size[d] == 1 || (p.b_stride[d] != 0 && p.b_stride[d] == inner))) inner *= p.size[d--];
        while (d >= 0 && (p.size[d] == 1 || p.b_stride[d] == 0)) mid *= p.size[d--];
        bool mid_pattern = inner > 1 && mid > 1;
        for (; d >= 0 && mid_pattern; --d) {
            if (p.size[d] != 1) mid_pattern = p.b_stride[d] == inner * outer;
            outer *= p.size[d];
        }
        if (mid_pattern) {
            constexpr int V = 16 / sizeof(T);
            const FastDiv in(static_cast<uint32_t>(inner)), mid_in(static_cast<uint32_t>(mid * inner));
            const bool aligned = reinterpret_cast<uintptr_t>(a) % 16 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0;
            if (aligned && inner % V == 0) {
                const int64_t vectors = n / V;
                binary_mid_vec_kernel<T><<<blocks_for(vectors), kThreads, 0, stream>>>(
                    p.op, a, b, y, static_cast<uint32_t>(vectors), in, mid_in);
            } else {
                binary_mid_kernel<T>
                    <<<blocks_for(n), kThreads, 0, stream>>>(p.op, a, b, y, static_cast<uint32_t>(n), in, mid_in);
            }
            return cudaGetLastError();
        }
    }
    binary_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(p, a, b, y, n);
    return cudaGetLastError();
}

template <typename T>
void bias_activation_typed(UnaryParams f, T* y, const T* bias, const T* sum, int64_t n, int64_t channels, int64_t inner,
                           cudaStream_t stream) {
    constexpr int64_t V = 16 / sizeof(T);
    const bool aligned = reinterpret_cast<uintptr_t>(y) % 16 == 0 && reinterpret_cast<uintptr_t>(sum) % 16 == 0;
    const bool shared = inner % V == 0 || (inner == 1 && channels % V == 0);
    if (aligned && shared && n % V == 0 && fits_fast_div(n)) {
        bias_activation_vec_kernel<T><<<blocks_for(n / V), kThreads, 0, stream>>>(
            f, y, bias, sum, static_cast<uint32_t>(n / V), FastDiv(static_cast<uint32_t>(inner)),
            FastDiv(static_cast<uint32_t>(channels)));
    } else if (n < (int64_t(1) << 31))
        bias_activation_kernel<T, uint32_t><<<blocks_for(n), kThreads, 0, stream>>>(
            f, y, bias, sum, static_cast<uint32_t>(n), static_cast<uint32_t>(channels), static_cast<uint32_t>(inner));
    else
        bias_activation_kernel<T, int64_t><<<blocks_for(n), kThreads, 0, stream>>>(f, y, bias, sum, n, channels, inner);
}

}  // namespace

cudaError_t launch_unary(Float t, UnaryParams f, const void* x, void* y, int64_t n, cudaStream_t stream) {
    if (n == 0) return cudaSuccess;
    if (t == Float::kF32)
        map_kernel<float, float><<<blocks_per_thread_chunks(n), kThreads, 0, stream>>>(f, static_cast<const float*>(x),
                                                                                       static_cast<float*>(y), n);
    else
        map_kernel<__half, __half><<<blocks_per_thread_chunks(n), kThreads, 0, stream>>>(
            f, static_cast<const __half*>(x), static_cast<__half*>(y), n);
    return cudaGetLastError();
}

cudaError_t launch_bias_activation(Float t, UnaryParams f, void* y, const void* bias, const void* sum, int64_t n,
                                   int64_t channels, int64_t inner, cudaStream_t stream) {
    if (n == 0) return cudaSuccess;
    if (t == Float::kF32)
        bias_activation_typed(f, static_cast<float*>(y), static_cast<const float*>(bias),
                              static_cast<const float*>(sum), n, channels, inner, stream);
    else
        bias_activation_typed(f, static_cast<__half*>(y), static_cast<const __half*>(bias),
                              static_cast<const __half*>(sum), n, channels, inner, stream);
    return cudaGetLastError();
}

cudaError_t launch_binary(Float t, const BinaryParams& p, const void* a, const void* b, void* y, cudaStream_t stream) {
    if (t == Float::kF32)
        return binary_typed(p, static_cast<const float*>(a), static_cast<const float*>(b), static_cast<float*>(y),
                            stream);
    return binary_typed(p, static_cast<const __half*>(a), static_cast<const __half*>(b), static_cast<__half*>(y),
                        stream);
}

namespace {

// Adjacent dims merged where x and every operand are contiguous across them, size-1 dims dropped: fewer divisions
// per element (a same-shape chain becomes one dim).
ChainParams coalesced(const ChainParams& p) {
    ChainParams q = p;
    q.rank = 0;
    for (int d = 0; d < p.rank; ++d) {
        if (p.size[d] == 1) continue;
        bool merge = q.rank > 0;
        const int last = q.rank - 1;
        if (merge) {
            merge = q.x_stride[last] == p.x_stride[d] * p.size[d];
            for (int s = 0; s < p.steps && merge; ++s)
                merge = !p.step[s].binary || q.step[s].stride[last] == p.step[s].stride[d] * p.size[d];
        }
        const int at = merge ? last : q.rank++;
        q.size[at] = merge ? q.size[at] * p.size[d] : p.size[d];
        q.x_stride[at] = p.x_stride[d];
        for (int s = 0; s < p.steps; ++s) q.step[s].stride[at] = p.step[s].stride[d];
    }
    return q;
}

// The 32-bit form of `p` over n elements, when every index fits FastDiv's dividends.
std::optional<Chain32> narrowed(const ChainParams& p, int64_t n) {
    if (!fits_fast_div(n)) return std::nullopt;
    Chain32 q;
    q.steps = p.steps;
    auto reach = [&](const int64_t* strides) {  // the largest offset read
        int64_t r = 0;
        for (int d = 0; d < p.rank; ++d) r += (p.size[d] - 1) * strides[d];
        return r;
    };
    if (!fits_fast_div(reach(p.x_stride))) return std::nullopt;
    for (int d = 0; d < p.rank; ++d) {
        q.size[d] = FastDiv(static_cast<uint32_t>(p.size[d]));
        q.x_stride[d] = static_cast<uint32_t>(p.x_stride[d]);
    }
    for (int s = 0; s < p.steps; ++s) {
        const ChainStep& step = p.step[s];
        q.binary[s] = step.binary;
        q.unary[s] = step.unary;
        q.op[s] = step.op;
        q.operand_first[s] = step.operand_first;
        q.operand[s] = step.operand;
        if (!step.binary) continue;
        if (!fits_fast_div(reach(step.stride))) return std::nullopt;
        for (int d = 0; d < p.rank; ++d) q.stride[s][d] = static_cast<uint32_t>(step.stride[d]);
    }
    return q;
}

template <typename T, int R>
void chain32(const Chain32& q, const void* x, void* y, int64_t n, cudaStream_t stream) {
    chain32_kernel<T, R><<<blocks_per_thread_chunks(n), kThreads, 0, stream>>>(
        q, static_cast<const T*>(x), static_cast<T*>(y), static_cast<uint32_t>(n));
}

template <typename T>
void chain_typed(const ChainParams& p, const void* x, void* y, int64_t n, cudaStream_t stream) {
    const std::optional<Chain32> q = narrowed(p, n);
    if (!q) {
        chain_kernel<<<blocks_for(n), kThreads, 0, stream>>>(p, static_cast<const T*>(x), static_cast<T*>(y), n);
        return;
    }
    switch (p.rank) {  // rank 0 (every dim 1): one element, which rank 1 with size 1 reads
        case 0:
        case 1:
            return chain32<T, 1>(*q, x, y, n, stream);
        case 2:
            return chain32<T, 2>(*q, x, y, n, stream);
        case 3:
            return chain32<T, 3>(*q, x, y, n, stream);
        case 4:
            return chain32<T, 4>(*q, x, y, n, stream);
        case 5:
            return chain32<T, 5>(*q, x, y, n, stream);
        default:
            return chain32<T, 6>(*q, x, y, n, stream);
    }
}

}  // namespace

cudaError_t launch_chain(Float t, const ChainParams& params, const void* x, void* y, cudaStream_t stream) {
    int64_t n = 1;
    for (int d = 0; d < params.rank; ++d) n *= params.size[d];
    if (n == 0) return cudaSuccess;
    const ChainParams p = coalesced(params);
    if (t == Float::kF32)
        chain_typed<float>(p, x, y, n, stream);
    else
        chain_typed<__half>(p, x, y, n, stream);
    return cudaGetLastError();
}

cudaError_t launch_cast(Float from, Float to, const void* x, void* y, int64_t n, cudaStream_t stream) {
    if (n == 0) return cudaSuccess;
    if (from == Float::kF32 && to == Float::kF16)
        map_kernel<<<blocks_per_thread_chunks(n), kThreads, 0, stream>>>(UnaryParams{}, static_cast<const float*>(x),
                                                                         static_cast<__half*>(y), n);
    else if (from == Float::kF16 && to == Float::kF32)
        map_kernel<<<blocks_per_thread_chunks(n), kThreads, 0, stream>>>(UnaryParams{}, static_cast<const __half*>(x),
                                                                         static_cast<float*>(y), n);
    else
        return cudaMemcpyAsync(y, x, static_cast<size_t>(n) * (from == Float::kF32 ? 4 : 2), cudaMemcpyDeviceToDevice,
                               stream);
    return cudaGetLastError();
}

namespace {

// Every value of an Element passes through Wide on its way to another: double for floats (exact for every int32 and
// float), int64 between integers (exact).
template <typename T>
__device__ __forceinline__ auto widen(T v) {
    if constexpr (std::is_same_v<T, __half>)
        return static_cast<double>(__half2float(v));
    else if constexpr (std::is_floating_point_v<T>)
        return static_cast<double>(v);
    else
        return static_cast<int64_t>(v);
}

template <typename To, typename W>
__device__ __forceinline__ To narrow(W v) {
    if constexpr (std::is_same_v<To, bool>)
        return v != 0;
    else if constexpr (std::is_same_v<To, __half>)
        return __float2half(static_cast<float>(v));
    else
        return static_cast<To>(v);
}

template <typename From, typename To>
__global__ void convert_kernel(const From* x, To* y, int64_t n) {
    FOVEA_GRID_LOOP(i, n) y[i] = narrow<To>(widen(x[i]));
}

template <typename From, typename To>
cudaError_t convert_pair(const void* x, void* y, int64_t n, cudaStream_t stream) {
    convert_kernel<From, To>
        <<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const From*>(x), static_cast<To*>(y), n);
    return cudaGetLastError();
}

// Calls f with a value of e's C++ type.
template <typename F>
cudaError_t visit_element(Element e, F&& f) {
    switch (e) {
        case Element::kF32:
            return f(float{});
        case Element::kF16:
            return f(__half{});
        case Element::kF64:
            return f(double{});
        case Element::kI64:
            return f(int64_t{});
        case Element::kI32:
            return f(int32_t{});
        case Element::kI8:
            return f(int8_t{});
        case Element::kU8:
            return f(uint8_t{});
        case Element::kBool:
            return f(bool{});
    }
    return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t launch_convert(Element from, Element to, const void* x, void* y, int64_t n, cudaStream_t stream) {
    if (n == 0) return cudaSuccess;
    return visit_element(from, [&](auto a) {
        return visit_element(to, [&](auto b) { return convert_pair<decltype(a), decltype(b)>(x, y, n, stream); });
    });
}

namespace {

// The offsets of element i of y in each of the operands.
__device__ __forceinline__ void broadcast_offsets(const Broadcast3& p, int64_t i, int64_t* at) {
    at[0] = at[1] = at[2] = 0;
    for (int d = p.rank - 1; d >= 0; --d) {
        const int64_t c = i % p.size[d];
        i /= p.size[d];
        for (int k = 0; k < 3; ++k) at[k] += c * p.stride[k][d];
    }
}

template <typename T>
__device__ __forceinline__ bool compare(Compare op, T a, T b) {
    switch (op) {
        case Compare::kEqual:
            return a == b;
        case Compare::kGreater:
            return a > b;
        case Compare::kGreaterOrEqual:
            return a >= b;
        case Compare::kLess:
            return a < b;
        case Compare::kLessOrEqual:
            return a <= b;
        case Compare::kAnd:
            return a && b;
        case Compare::kOr:
            return a || b;
        case Compare::kXor:
            return a != b;
    }
    return false;
}

template <typename T>
__global__ void compare_kernel(Compare op, Broadcast3 p, const T* a, const T* b, bool* y, int64_t n) {
    FOVEA_GRID_LOOP(i, n) {
        int64_t at[3];
        broadcast_offsets(p, i, at);
        if constexpr (std::is_same_v<T, bool>)
            y[i] = compare(op, a[at[0]], b[at[1]]);
        else
            y[i] = compare(op, load(a, at[0]), load(b, at[1]));
    }
}

template <typename T>
__global__ void where_kernel(Broadcast3 p, const bool* cond, const T* a, const T* b, T* y, int64_t n) {
    FOVEA_GRID_LOOP(i, n) {
        int64_t at[3];
        broadcast_offsets(p, i, at);
        y[i] = cond[at[0]] ? a[at[1]] : b[at[2]];
    }
}

int64_t elements(const Broadcast3& p) {
    int64_t n = 1;
    for (int d = 0; d < p.rank; ++d) n *= p.size[d];
    return n;
}

}  // namespace

cudaError_t launch_compare(Float t, Compare op, const Broadcast3& p, const void* a, const void* b, bool* y,
                           cudaStream_t stream) {
    const int64_t n = elements(p);
    if (n == 0) return cudaSuccess;
    if (op == Compare::kAnd || op == Compare::kOr || op == Compare::kXor)
        compare_kernel<bool><<<blocks_for(n), kThreads, 0, stream>>>(op, p, static_cast<const bool*>(a),
                                                                     static_cast<const bool*>(b), y, n);
    else if (t == Float::kF32)
        compare_kernel<float><<<blocks_for(n), kThreads, 0, stream>>>(op, p, static_cast<const float*>(a),
                                                                      static_cast<const float*>(b), y, n);
    else
        compare_kernel<__half><<<blocks_for(n), kThreads, 0, stream>>>(op, p, static_cast<const __half*>(a),
                                                                       static_cast<const __half*>(b), y, n);
    return cudaGetLastError();
}

cudaError_t launch_where(int element_size, const Broadcast3& p, const bool* cond, const void* a, const void* b, void* y,
                         cudaStream_t stream) {
    const int64_t n = elements(p);
    if (n == 0) return cudaSuccess;
    auto run = [&](auto zero) {
        using T = decltype(zero);
        where_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(p, cond, static_cast<const T*>(a),
                                                                static_cast<const T*>(b), static_cast<T*>(y), n);
        return cudaGetLastError();
    };
    switch (element_size) {
        case 1:
            return run(uint8_t{});
        case 2:
            return run(uint16_t{});
        case 4:
            return run(uint32_t{});
        case 8:
            return run(uint64_t{});
    }
    return cudaErrorInvalidValue;
}

}  // namespace fovea::cuda
