// Data movement (any element type, moved as same-sized integers) and resampling.
#include "backends/cuda/kernels/common.cuh"

namespace fovea::cuda {

namespace {

template <typename E>
__global__ void copy_rows_kernel(const E* src, int64_t src_pitch, E* dst, int64_t dst_pitch, int64_t rows,
                                 int64_t cols) {
    FOVEA_GRID_LOOP(i, rows * cols) {
        const int64_t r = i / cols, c = i % cols;
        dst[r * dst_pitch + c] = src[r * src_pitch + c];
    }
}

template <typename E>
__global__ void strided_copy_kernel(GatherDims p, const E* src, E* dst, int64_t n) {
    FOVEA_GRID_LOOP(i, n) {
        int64_t rest = i, at = 0;
        for (int d = p.rank - 1; d >= 0; --d) {
            at += (rest % p.size[d]) * p.src_stride[d];
            rest /= p.size[d];
        }
        dst[i] = src[at];
    }
}

template <typename E>
__global__ void pad_kernel(PadParams p, const E* src, E* dst, int64_t n) {
    E value;
    memcpy(&value, &p.value_bits, sizeof(E));
    FOVEA_GRID_LOOP(i, n) {
        int64_t rest = i, at = 0, stride = 1;
        bool outside = false;
        for (int d = p.rank - 1; d >= 0; --d) {
            int64_t c = rest % p.size[d] - p.begin[d];
            rest /= p.size[d];
            const int64_t len = p.in_size[d];
            if (c < 0 || c >= len) {
                switch (p.mode) {
                    case PadMode::kConstant:
                        outside = true;
                        break;
                    case PadMode::kEdge:
                        c = c < 0 ? 0 : len - 1;
                        break;
                    case PadMode::kReflect: {
                        // Mirror without repeating the edge; the period is 2 * (len - 1).
                        const int64_t period = len > 1 ? 2 * (len - 1) : 1;
                        c = ((c % period) + period) % period;
                        if (c >= len) c = period - c;
                        break;
                    }
                }
            }
            at += c * stride;
            stride *= len;
        }
        dst[i] = outside ? value : src[at];
    }
}

template <typename E>
__global__ void gather_kernel(const E* src, const int64_t* indices, int64_t count, E* dst, int64_t outer,
                              int64_t axis, int64_t inner) {
    FOVEA_GRID_LOOP(i, outer * count * inner) {
        const int64_t in = i % inner, j = (i / inner) % count, o = i / (inner * count);
        int64_t k = indices[j];
        if (k < 0) k += axis;
        dst[i] = src[(o * axis + k) * inner + in];
    }
}

template <typename T>
__global__ void resize_kernel(ResizeParams p, const ResizeTap* taps, const T* x, T* y, int64_t n) {
    FOVEA_GRID_LOOP(i, n) {
        const ResizeTap* tap[kMaxDims];
        int64_t rest = i;
        for (int d = p.rank - 1; d >= 0; --d) {
            tap[d] = taps + p.tap_offset[d] + rest % p.size[d];
            rest /= p.size[d];
        }
        // Sum over the 2^rank corners; corners with a zero weight (unresized axes, nearest) are skipped.
        float acc = 0.f;
        for (int corner = 0; corner < (1 << p.rank); ++corner) {
            float w = 1.f;
            int64_t at = 0;
            for (int d = 0; d < p.rank && w != 0.f; ++d) {
                const bool second = (corner >> d) & 1;
                w *= second ? tap[d]->w1 : tap[d]->w0;
                at += (second ? tap[d]->i1 : tap[d]->i0) * p.in_stride[d];
            }
            if (w != 0.f) acc += w * load(x, at);
        }
        store(y, i, acc);
    }
}

// Calls f(E*) with the integer type of `element_size` bytes.
template <typename F>
cudaError_t by_size(int element_size, F&& f) {
    switch (element_size) {
        case 1:
            f(static_cast<uint8_t*>(nullptr));
            break;
        case 2:
            f(static_cast<uint16_t*>(nullptr));
            break;
        case 4:
            f(static_cast<uint32_t*>(nullptr));
            break;
        case 8:
            f(static_cast<uint64_t*>(nullptr));
            break;
        default:
            return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

int64_t numel(int rank, const int64_t* size) {
    int64_t n = 1;
    for (int d = 0; d < rank; ++d) n *= size[d];
    return n;
}

struct CopyRows {
    const void* src;
    int64_t src_pitch;
    void* dst;
    int64_t dst_pitch, rows, cols;
    cudaStream_t stream;
    template <typename E>
    void operator()(E*) const {
        copy_rows_kernel<E><<<blocks_for(rows * cols), kThreads, 0, stream>>>(
            static_cast<const E*>(src), src_pitch, static_cast<E*>(dst), dst_pitch, rows, cols);
    }
};

struct StridedCopy {
    const GatherDims& p;
    const void* src;
    void* dst;
    int64_t n;
    cudaStream_t stream;
    template <typename E>
    void operator()(E*) const {
        strided_copy_kernel<E><<<blocks_for(n), kThreads, 0, stream>>>(p, static_cast<const E*>(src),
                                                                       static_cast<E*>(dst), n);
    }
};

struct Pad {
    const PadParams& p;
    const void* src;
    void* dst;
    int64_t n;
    cudaStream_t stream;
    template <typename E>
    void operator()(E*) const {
        pad_kernel<E><<<blocks_for(n), kThreads, 0, stream>>>(p, static_cast<const E*>(src), static_cast<E*>(dst), n);
    }
};

struct Gather {
    const void* src;
    const int64_t* indices;
    int64_t count;
    void* dst;
    int64_t outer, axis, inner;
    cudaStream_t stream;
    template <typename E>
    void operator()(E*) const {
        gather_kernel<E><<<blocks_for(outer * count * inner), kThreads, 0, stream>>>(
            static_cast<const E*>(src), indices, count, static_cast<E*>(dst), outer, axis, inner);
    }
};

}  // namespace

cudaError_t launch_copy_rows(int element_size, const void* src, int64_t src_pitch, void* dst, int64_t dst_pitch,
                             int64_t rows, int64_t cols, cudaStream_t stream) {
    if (rows * cols == 0) return cudaSuccess;
    return by_size(element_size, CopyRows{src, src_pitch, dst, dst_pitch, rows, cols, stream});
}

cudaError_t launch_strided_copy(int element_size, const GatherDims& p, const void* src, void* dst,
                                cudaStream_t stream) {
    const int64_t n = numel(p.rank, p.size);
    if (n == 0) return cudaSuccess;
    return by_size(element_size, StridedCopy{p, src, dst, n, stream});
}

cudaError_t launch_pad(int element_size, const PadParams& p, const void* src, void* dst, cudaStream_t stream) {
    const int64_t n = numel(p.rank, p.size);
    if (n == 0) return cudaSuccess;
    return by_size(element_size, Pad{p, src, dst, n, stream});
}

cudaError_t launch_gather(int element_size, const void* src, const int64_t* indices, int64_t count, void* dst,
                          int64_t outer, int64_t axis, int64_t inner, cudaStream_t stream) {
    if (outer * count * inner == 0) return cudaSuccess;
    return by_size(element_size, Gather{src, indices, count, dst, outer, axis, inner, stream});
}

cudaError_t launch_resize(Float t, const ResizeParams& p, const ResizeTap* taps, const void* x, void* y,
                          cudaStream_t stream) {
    const int64_t n = numel(p.rank, p.size);
    if (n == 0) return cudaSuccess;
    if (t == Float::kF32)
        resize_kernel<<<blocks_for(n), kThreads, 0, stream>>>(p, taps, static_cast<const float*>(x),
                                                              static_cast<float*>(y), n);
    else
        resize_kernel<<<blocks_for(n), kThreads, 0, stream>>>(p, taps, static_cast<const __half*>(x),
                                                              static_cast<__half*>(y), n);
    return cudaGetLastError();
}

}  // namespace fovea::cuda
