// Data movement (any element type, moved as same-sized integers) and resampling.
#include "backends/cuda/kernels/common.cuh"
#include "backends/cuda/kernels/fast_div.h"

#include <type_traits>
#include <vector>

namespace fovea::cuda {

namespace {

// Rows of `cols` elements; E is as wide as the rows' alignment allows (see widest()).
template <typename E>
__global__ void copy_rows_kernel(const E* src, uint32_t src_pitch, E* dst, uint32_t dst_pitch, FastDiv cols,
                                 uint32_t n) {
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        const uint32_t r = cols.div(i), c = i - r * cols.d;
        dst[r * dst_pitch + c] = src[r * src_pitch + c];
    }
}

template <typename E>
__global__ void copy_rows_wide_kernel(const E* src, int64_t src_pitch, E* dst, int64_t dst_pitch, int64_t rows,
                                      int64_t cols) {
    FOVEA_GRID_LOOP(i, rows * cols) {
        const int64_t r = i / cols, c = i % cols;
        dst[r * dst_pitch + c] = src[r * src_pitch + c];
    }
}

// One thread per element of dst: its column picks the piece (the last whose first column it has reached).
struct ConcatRows {
    int count = 0;
    const void* src[kMaxConcatPieces] = {};
    uint32_t pitch[kMaxConcatPieces] = {}, start[kMaxConcatPieces] = {};
};

template <typename E>
__global__ void concat_rows_kernel(ConcatRows p, E* dst, FastDiv cols, uint32_t n) {
    constexpr int kPerThread = 4;  // loads in flight per thread (a block apart, coalesced across the warp)
    for (uint32_t chunk = blockIdx.x * blockDim.x * kPerThread; chunk < n;
         chunk += gridDim.x * blockDim.x * kPerThread) {
        E v[kPerThread];
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) {
            const uint32_t i = min(chunk + j * blockDim.x + threadIdx.x, n - 1);
            const uint32_t r = cols.div(i), c = i - r * cols.d;
            int k = 0;
#pragma unroll
            for (int m = 1; m < kMaxConcatPieces; ++m)
                if (m < p.count && c >= p.start[m]) k = m;
            v[j] = static_cast<const E*>(p.src[k])[r * p.pitch[k] + c - p.start[k]];
        }
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) {
            const uint32_t i = chunk + j * blockDim.x + threadIdx.x;
            if (i < n) dst[i] = v[j];
        }
    }
}

// A gather over at most kMaxDims dims with 32-bit indices; dims unrolled so that the parameters stay in registers.
struct StridedDims {
    int rank = 0;
    FastDiv size[kMaxDims];
    uint32_t src_stride[kMaxDims] = {};
};

template <typename E>
__global__ void strided_copy_kernel(StridedDims p, const E* src, E* dst, uint32_t n) {
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        uint32_t rest = i, at = 0;
#pragma unroll
        for (int d = kMaxDims - 1; d >= 0; --d) {
            if (d >= p.rank) continue;
            const uint32_t q = p.size[d].div(rest);
            at += (rest - q * p.size[d].d) * p.src_stride[d];
            rest = q;
        }
        dst[i] = src[at];
    }
}

template <typename E>
__global__ void strided_copy_wide_kernel(GatherDims p, const E* src, E* dst, int64_t n) {
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
__global__ void nchw_to_nhwc_kernel(const E* src, E* dst, FastDiv hw, uint32_t channels, uint32_t pitch,
                                    uint32_t pixels) {
    for (uint32_t p = blockIdx.x * blockDim.x + threadIdx.x; p < pixels; p += blockDim.x * gridDim.x) {
        const uint32_t n = hw.div(p), i = p - n * hw.d;
        const E* s = src + n * channels * hw.d + i;
        E* d = dst + p * pitch;
        for (uint32_t c = 0; c < channels; ++c) d[c] = s[c * hw.d];
    }
}

template <typename E>
__global__ void nchw_to_nhwc_wide_kernel(const E* src, E* dst, int64_t hw, int64_t channels, int64_t pitch,
                                         int64_t pixels) {
    FOVEA_GRID_LOOP(p, pixels) {
        const int64_t n = p / hw, i = p % hw;
        for (int64_t c = 0; c < channels; ++c) dst[p * pitch + c] = src[(n * channels + c) * hw + i];
    }
}

// dst[b][m][l][(i * 2 + j) * C + k] = src[b][k][2m + i - top][2l + j - left], zero outside the image and in
// channels past 4C. One thread per destination pixel with C fixed at compile time, so that the pixel's channels
// stay in registers and leave as 16-byte stores (the pitch is a multiple of 16 bytes: 8 halves or 4 floats), and
// 32-bit indices through FastDiv. A thread per element with 64-bit index arithmetic took about 0.29 ms on the H200
// for ResNet-50's batch of 128 (its convolution 0.33 ms); that form remains for sizes past 2^31.
template <typename E, int C>
__global__ void space_to_depth_kernel(const E* src, E* dst, SpaceToDepth p, FastDiv out_w, FastDiv out_h,
                                      uint32_t pixels) {
    constexpr int kMaxPitch = 16, kWords = kMaxPitch * sizeof(E) / sizeof(uint4);
    const uint32_t plane = static_cast<uint32_t>(p.h * p.w), pitch_bytes = static_cast<uint32_t>(p.pitch * sizeof(E));
    for (uint32_t pixel = blockIdx.x * blockDim.x + threadIdx.x; pixel < pixels; pixel += blockDim.x * gridDim.x) {
        const uint32_t rest = out_w.div(pixel), l = pixel - rest * out_w.d, b = out_h.div(rest);
        const uint32_t m = rest - b * out_h.d;
        E v[kMaxPitch] = {};
#pragma unroll
        for (int block = 0; block < 4; ++block) {
            const int row = static_cast<int>(2 * m) + block / 2 - static_cast<int>(p.top);
            const int col = static_cast<int>(2 * l) + block % 2 - static_cast<int>(p.left);
            if (row < 0 || row >= p.h || col < 0 || col >= p.w) continue;
            const E* s = src + b * C * plane + static_cast<uint32_t>(row * p.w + col);
#pragma unroll
            for (int k = 0; k < C; ++k) v[block * C + k] = s[k * plane];
        }
        auto* d = reinterpret_cast<uint4*>(dst + static_cast<size_t>(pixel) * p.pitch);
#pragma unroll
        for (int word = 0; word < kWords; ++word) {
            if (word * sizeof(uint4) >= pitch_bytes) break;
            uint4 packed;
            memcpy(&packed, reinterpret_cast<const char*>(v) + word * sizeof(uint4), sizeof(uint4));
            d[word] = packed;
        }
    }
}

template <typename E>
__global__ void space_to_depth_wide_kernel(const E* src, E* dst, SpaceToDepth p, int64_t count) {
    FOVEA_GRID_LOOP(e, count) {
        const int64_t channel = e % p.pitch, pixel = e / p.pitch;
        const int64_t l = pixel % p.out_w, m = pixel / p.out_w % p.out_h, b = pixel / (p.out_w * p.out_h);
        E v{};
        if (channel < 4 * p.channels) {
            const int64_t k = channel % p.channels, block = channel / p.channels;
            const int64_t row = 2 * m + block / 2 - p.top, col = 2 * l + block % 2 - p.left;
            if (row >= 0 && row < p.h && col >= 0 && col < p.w) v = src[((b * p.channels + k) * p.h + row) * p.w + col];
        }
        dst[e] = v;
    }
}

// dst[b][x][y] = src[b][y][x] for x < rows, y < cols: a batch of 2-D transposes (NCHW <-> NHWC and the like) through
// a shared-memory tile, so that both the reads and the writes are coalesced.
constexpr int kTile = 32, kTileRows = 8;

template <typename E>
__global__ void transpose_kernel(const E* src, E* dst, uint32_t rows, uint32_t cols) {
    __shared__ E tile[kTile][kTile + 1];
    const size_t plane = static_cast<size_t>(blockIdx.z) * rows * cols;
    src += plane;
    dst += plane;
    // Read a tile of src ([cols][rows]) along its rows, write it to dst ([rows][cols]) along its rows.
    const uint32_t x0 = blockIdx.x * kTile, y0 = blockIdx.y * kTile;
    for (uint32_t j = threadIdx.y; j < kTile; j += kTileRows) {
        const uint32_t y = y0 + j, x = x0 + threadIdx.x;
        if (y < cols && x < rows) tile[j][threadIdx.x] = src[static_cast<size_t>(y) * rows + x];
    }
    __syncthreads();
    for (uint32_t j = threadIdx.y; j < kTile; j += kTileRows) {
        const uint32_t x = x0 + j, y = y0 + threadIdx.x;
        if (x < rows && y < cols) dst[static_cast<size_t>(x) * cols + y] = tile[threadIdx.x][j];
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
__global__ void gather_kernel(const E* src, const int64_t* indices, int64_t count, E* dst, int64_t outer, int64_t axis,
                              int64_t inner) {
    FOVEA_GRID_LOOP(i, outer * count * inner) {
        const int64_t in = i % inner, j = (i / inner) % count, o = i / (inner * count);
        int64_t k = indices[j];
        if (k < 0) k += axis;
        dst[i] = src[(o * axis + k) * inner + in];
    }
}

template <typename E>
__global__ void gather_elements_kernel(GatherElementsDims p, const E* src, const int64_t* indices, E* dst, int64_t n) {
    FOVEA_GRID_LOOP(i, n) {
        int64_t rest = i, at = 0;
        for (int d = p.rank - 1; d >= 0; --d) {
            int64_t c = rest % p.size[d];
            rest /= p.size[d];
            if (d == p.axis) {
                c = indices[i];
                if (c < 0) c += p.axis_len;
                c = c < 0 ? 0 : c >= p.axis_len ? p.axis_len - 1 : c;
            }
            at += c * p.x_stride[d];
        }
        dst[i] = src[at];
    }
}

// Taps per dim resolved with unrolled dims (registers, not local memory); only the dims in `blend` (those whose taps
// mix two inputs or scale one) take part in the corner sum, so nearest resizes are a single load per output.
struct ResizeDims {
    int rank = 0;
    uint32_t blend = 0;
    FastDiv size[kMaxDims];
    uint32_t in_stride[kMaxDims] = {};
    uint32_t tap_offset[kMaxDims] = {};
};

template <typename T>
__global__ void resize_kernel(ResizeDims p, const ResizeTap* taps, const T* x, T* y, uint32_t n) {
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        uint32_t rest = i, base = 0;
        int32_t step[kMaxDims];
        float w0[kMaxDims], w1[kMaxDims];
#pragma unroll
        for (int d = kMaxDims - 1; d >= 0; --d) {
            step[d] = 0;
            w0[d] = 1.f;
            w1[d] = 0.f;
            if (d >= p.rank) continue;
            const uint32_t q = p.size[d].div(rest);
            const ResizeTap tap = taps[p.tap_offset[d] + rest - q * p.size[d].d];
            rest = q;
            base += tap.i0 * p.in_stride[d];
            step[d] = (tap.i1 - tap.i0) * static_cast<int32_t>(p.in_stride[d]);
            w0[d] = tap.w0;
            w1[d] = tap.w1;
        }
        if (p.blend == 0) {
            y[i] = x[base];
            continue;
        }
        // Every subset of the blended dims is one corner: take the second tap along the dims in the subset.
        float acc = 0.f;
        for (uint32_t corner = p.blend;; corner = (corner - 1) & p.blend) {
            float w = 1.f;
            int32_t at = static_cast<int32_t>(base);
#pragma unroll
            for (int d = 0; d < kMaxDims; ++d) {
                if (!((p.blend >> d) & 1)) continue;
                const bool second = (corner >> d) & 1;
                w *= second ? w1[d] : w0[d];
                at += second ? step[d] : 0;
            }
            if (w != 0.f) acc += w * load(x, at);
            if (corner == 0) break;
        }
        store(y, i, acc);
    }
}

// Rows of `inner` elements picked by nearest taps over the outer dims (launch_resize_rows).
template <typename E>
__global__ void resize_rows_kernel(ResizeDims p, const ResizeTap* taps, const E* x, E* y, FastDiv inner, uint32_t n) {
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        uint32_t rest = inner.div(i), base = i - rest * inner.d;
#pragma unroll
        for (int d = kMaxDims - 1; d >= 0; --d) {
            if (d >= p.rank) continue;
            const uint32_t q = p.size[d].div(rest);
            base += taps[p.tap_offset[d] + rest - q * p.size[d].d].i0 * p.in_stride[d];
            rest = q;
        }
        y[i] = x[base];
    }
}

template <typename T>
__global__ void resize_wide_kernel(ResizeParams p, const ResizeTap* taps, const T* x, T* y, int64_t n) {
    FOVEA_GRID_LOOP(i, n) {
        const ResizeTap* tap[kMaxDims];
        int64_t rest = i;
        for (int d = p.rank - 1; d >= 0; --d) {
            tap[d] = taps + p.tap_offset[d] + rest % p.size[d];
            rest /= p.size[d];
        }
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
        case 16:
            f(static_cast<uint4*>(nullptr));
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

// The widest element (up to 16 bytes) whose size divides `bytes` of every count and both addresses: data moved as
// that type takes a fraction of the instructions and memory transactions of 2-byte elements.
int widest(int element_size, const int64_t* counts, int n_counts, const void* a, const void* b) {
    int width = 16;
    for (; width > element_size; width /= 2) {
        bool ok = reinterpret_cast<uintptr_t>(a) % width == 0 && reinterpret_cast<uintptr_t>(b) % width == 0;
        for (int i = 0; i < n_counts; ++i) ok = ok && (counts[i] * element_size) % width == 0;
        if (ok) break;
    }
    return width;
}

struct CopyRows {
    const void* src;
    int64_t src_pitch;
    void* dst;
    int64_t dst_pitch, rows, cols;
    cudaStream_t stream;
    template <typename E>
    void operator()(E*) const {
        const int64_t n = rows * cols;
        if (fits_fast_div(n) && fits_fast_div(rows * src_pitch) && fits_fast_div(rows * dst_pitch))
            copy_rows_kernel<E><<<blocks_for(n), kThreads, 0, stream>>>(
                static_cast<const E*>(src), static_cast<uint32_t>(src_pitch), static_cast<E*>(dst),
                static_cast<uint32_t>(dst_pitch), FastDiv(static_cast<uint32_t>(cols)), static_cast<uint32_t>(n));
        else
            copy_rows_wide_kernel<E><<<blocks_for(n), kThreads, 0, stream>>>(
                static_cast<const E*>(src), src_pitch, static_cast<E*>(dst), dst_pitch, rows, cols);
    }
};

// Dims merged where the source is contiguous across them, size-1 dims dropped: fewer divisions per element, and
// the batched-transpose and widening cases become visible.
GatherDims coalesced(const GatherDims& p) {
    GatherDims q;
    for (int d = 0; d < p.rank; ++d) {
        if (p.size[d] == 1) continue;
        if (q.rank > 0 && q.src_stride[q.rank - 1] == p.src_stride[d] * p.size[d]) {
            q.size[q.rank - 1] *= p.size[d];
            q.src_stride[q.rank - 1] = p.src_stride[d];
            continue;
        }
        q.size[q.rank] = p.size[d];
        q.src_stride[q.rank] = p.src_stride[d];
        ++q.rank;
    }
    if (q.rank == 0) {  // a single element
        q.rank = 1;
        q.size[0] = 1;
        q.src_stride[0] = 1;
    }
    return q;
}

struct StridedCopy {
    const GatherDims& p;  // coalesced, in elements of E
    const void* src;
    void* dst;
    int64_t n;
    cudaStream_t stream;
    template <typename E>
    void operator()(E*) const {
        const auto* s = static_cast<const E*>(src);
        auto* d = static_cast<E*>(dst);
        // 32-bit offsets: strides not negative (reversed slices take the general kernel) and the reach below 2^31.
        int64_t reach = 1;
        bool forward = true;
        for (int k = 0; k < p.rank; ++k) {
            reach += (p.size[k] - 1) * p.src_stride[k];
            forward = forward && p.src_stride[k] >= 0;
        }
        const bool narrow = forward && fits_fast_div(n) && fits_fast_div(reach);
        // [B][X][Y] from [B][Y][X]: a batch of 2-D transposes. Tiles pay off where both sides are long; NCHW images
        // of 3 channels go element by element.
        const int r = p.rank;
        const bool transpose = narrow && (r == 2 || r == 3) && p.size[r - 1] >= 16 && p.size[r - 2] >= 16 &&
                               p.src_stride[r - 2] == 1 && p.src_stride[r - 1] == p.size[r - 2] &&
                               (r == 2 || (p.src_stride[0] == p.size[1] * p.size[2] && p.size[0] < 65536)) &&
                               sizeof(E) <= 8;
        if (transpose) {
            const auto rows = static_cast<uint32_t>(p.size[r - 2]), cols = static_cast<uint32_t>(p.size[r - 1]);
            const dim3 grid((rows + kTile - 1) / kTile, (cols + kTile - 1) / kTile,
                            r == 3 ? static_cast<unsigned>(p.size[0]) : 1u);
            if (grid.y < 65536) {
                transpose_kernel<E><<<grid, dim3(kTile, kTileRows), 0, stream>>>(s, d, rows, cols);
                return;
            }
        }
        if (narrow) {
            StridedDims q;
            q.rank = p.rank;
            for (int k = 0; k < p.rank; ++k) {
                q.size[k] = FastDiv(static_cast<uint32_t>(p.size[k]));
                q.src_stride[k] = static_cast<uint32_t>(p.src_stride[k]);
            }
            strided_copy_kernel<E><<<blocks_for(n), kThreads, 0, stream>>>(q, s, d, static_cast<uint32_t>(n));
        } else {
            strided_copy_wide_kernel<E><<<blocks_for(n), kThreads, 0, stream>>>(p, s, d, n);
        }
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
    const int64_t counts[] = {src_pitch, dst_pitch, cols};
    const int width = widest(element_size, counts, 3, src, dst);
    const int64_t k = width / element_size;
    return by_size(width, CopyRows{src, src_pitch / k, dst, dst_pitch / k, rows, cols / k, stream});
}

cudaError_t launch_concat_rows(int element_size, const ConcatPiece* pieces, int count, void* dst, int64_t rows,
                               cudaStream_t stream) {
    if (count < 1 || count > kMaxConcatPieces) return cudaErrorNotSupported;
    int64_t total = 0;
    for (int i = 0; i < count; ++i) total += pieces[i].cols;
    if (rows * total == 0) return cudaSuccess;
    // The widest element every piece's address, pitch and column count (and the joined row) is a multiple of.
    int width = 16;
    for (; width > element_size; width /= 2) {
        bool ok = reinterpret_cast<uintptr_t>(dst) % width == 0 && total * element_size % width == 0;
        for (int i = 0; i < count && ok; ++i)
            ok = reinterpret_cast<uintptr_t>(pieces[i].src) % width == 0 &&
                 pieces[i].pitch * element_size % width == 0 && pieces[i].cols * element_size % width == 0;
        if (ok) break;
    }
    const int64_t k = width / element_size;
    ConcatRows p;
    p.count = count;
    int64_t start = 0;
    for (int i = 0; i < count; ++i) {
        if (!fits_fast_div(rows * pieces[i].pitch + pieces[i].cols)) return cudaErrorNotSupported;
        p.src[i] = pieces[i].src;
        p.pitch[i] = static_cast<uint32_t>(pieces[i].pitch / k);
        p.start[i] = static_cast<uint32_t>(start / k);
        start += pieces[i].cols;
    }
    const int64_t n = rows * total / k;
    if (!fits_fast_div(n)) return cudaErrorNotSupported;
    return by_size(width, [&](auto* type) {
        using E = std::remove_pointer_t<decltype(type)>;
        concat_rows_kernel<E><<<blocks_for((n + 3) / 4), kThreads, 0, stream>>>(
            p, static_cast<E*>(dst), FastDiv(static_cast<uint32_t>(total / k)), static_cast<uint32_t>(n));
    });
}

cudaError_t launch_nchw_to_nhwc(int element_size, const void* src, void* dst, int64_t n, int64_t channels, int64_t hw,
                                int64_t dst_pitch, cudaStream_t stream) {
    const int64_t pixels = n * hw;
    if (pixels * channels == 0) return cudaSuccess;
    return by_size(element_size, [&](auto* type) {
        using E = std::remove_pointer_t<decltype(type)>;
        if (fits_fast_div(pixels * dst_pitch) && fits_fast_div(pixels * channels))
            nchw_to_nhwc_kernel<E><<<blocks_for(pixels), kThreads, 0, stream>>>(
                static_cast<const E*>(src), static_cast<E*>(dst), FastDiv(static_cast<uint32_t>(hw)),
                static_cast<uint32_t>(channels), static_cast<uint32_t>(dst_pitch), static_cast<uint32_t>(pixels));
        else
            nchw_to_nhwc_wide_kernel<E><<<blocks_for(pixels), kThreads, 0, stream>>>(
                static_cast<const E*>(src), static_cast<E*>(dst), hw, channels, dst_pitch, pixels);
    });
}

cudaError_t launch_space_to_depth(int element_size, const SpaceToDepth& p, const void* src, void* dst,
                                  cudaStream_t stream) {
    const int64_t pixels = p.n * p.out_h * p.out_w, count = pixels * p.pitch;
    if (count == 0) return cudaSuccess;
    const bool fast = p.channels >= 1 && p.channels <= 4 && p.pitch <= 16 && (p.pitch * element_size) % 16 == 0 &&
                      reinterpret_cast<uintptr_t>(dst) % 16 == 0 && fits_fast_div(count) &&
                      fits_fast_div(p.n * p.channels * p.h * p.w);
    return by_size(element_size, [&](auto* type) {
        using E = std::remove_pointer_t<decltype(type)>;
        const auto* s = static_cast<const E*>(src);
        auto* d = static_cast<E*>(dst);
        if (!fast) {
            space_to_depth_wide_kernel<E><<<blocks_for(count), kThreads, 0, stream>>>(s, d, p, count);
            return;
        }
        const FastDiv out_w(static_cast<uint32_t>(p.out_w)), out_h(static_cast<uint32_t>(p.out_h));
        const auto n = static_cast<uint32_t>(pixels);
        const unsigned grid = blocks_for(pixels);
        switch (p.channels) {
            case 1:
                space_to_depth_kernel<E, 1><<<grid, kThreads, 0, stream>>>(s, d, p, out_w, out_h, n);
                break;
            case 2:
                space_to_depth_kernel<E, 2><<<grid, kThreads, 0, stream>>>(s, d, p, out_w, out_h, n);
                break;
            case 3:
                space_to_depth_kernel<E, 3><<<grid, kThreads, 0, stream>>>(s, d, p, out_w, out_h, n);
                break;
            default:
                space_to_depth_kernel<E, 4><<<grid, kThreads, 0, stream>>>(s, d, p, out_w, out_h, n);
                break;
        }
    });
}

cudaError_t launch_strided_copy(int element_size, const GatherDims& p, const void* src, void* dst,
                                cudaStream_t stream) {
    const int64_t n = numel(p.rank, p.size);
    if (n == 0) return cudaSuccess;
    GatherDims q = coalesced(p);
    // A contiguous innermost run moves as wider elements.
    int width = element_size;
    if (q.src_stride[q.rank - 1] == 1) {
        int64_t counts[kMaxDims];
        counts[0] = q.size[q.rank - 1];
        for (int d = 0; d < q.rank - 1; ++d) counts[d + 1] = q.src_stride[d];
        width = widest(element_size, counts, q.rank, src, dst);
        const int64_t k = width / element_size;
        q.size[q.rank - 1] /= k;
        for (int d = 0; d < q.rank - 1; ++d) q.src_stride[d] /= k;
    }
    return by_size(width, StridedCopy{q, src, dst, n / (width / element_size), stream});
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
    int64_t reach = 1;
    for (int d = 0; d < p.rank; ++d) reach += p.size[d] * p.in_stride[d];  // a bound on the input's extent
    if (fits_fast_div(n) && fits_fast_div(reach)) {
        ResizeDims q;
        q.rank = p.rank;
        q.blend = p.blend;
        for (int d = 0; d < p.rank; ++d) {
            q.size[d] = FastDiv(static_cast<uint32_t>(p.size[d]));
            q.in_stride[d] = static_cast<uint32_t>(p.in_stride[d]);
            q.tap_offset[d] = static_cast<uint32_t>(p.tap_offset[d]);
        }
        const auto count = static_cast<uint32_t>(n);
        if (t == Float::kF32)
            resize_kernel<<<blocks_for(n), kThreads, 0, stream>>>(q, taps, static_cast<const float*>(x),
                                                                  static_cast<float*>(y), count);
        else
            resize_kernel<<<blocks_for(n), kThreads, 0, stream>>>(q, taps, static_cast<const __half*>(x),
                                                                  static_cast<__half*>(y), count);
        return cudaGetLastError();
    }
    if (t == Float::kF32)
        resize_wide_kernel<<<blocks_for(n), kThreads, 0, stream>>>(p, taps, static_cast<const float*>(x),
                                                                   static_cast<float*>(y), n);
    else
        resize_wide_kernel<<<blocks_for(n), kThreads, 0, stream>>>(p, taps, static_cast<const __half*>(x),
                                                                   static_cast<__half*>(y), n);
    return cudaGetLastError();
}

cudaError_t launch_resize_rows(int element_size, const ResizeParams& p, const ResizeTap* taps, const void* x, void* y,
                               int64_t inner, cudaStream_t stream) {
    const int64_t n = numel(p.rank, p.size) * inner;
    if (n == 0) return cudaSuccess;
    int64_t reach = inner;
    for (int d = 0; d < p.rank; ++d) reach += p.size[d] * p.in_stride[d];
    if (!fits_fast_div(n) || !fits_fast_div(reach) || p.blend != 0) return cudaErrorNotSupported;
    std::vector<int64_t> counts{inner};
    for (int d = 0; d < p.rank; ++d) counts.push_back(p.in_stride[d]);
    const int width = widest(element_size, counts.data(), static_cast<int>(counts.size()), x, y);
    const int64_t k = width / element_size;
    ResizeDims q;
    q.rank = p.rank;
    for (int d = 0; d < p.rank; ++d) {
        q.size[d] = FastDiv(static_cast<uint32_t>(p.size[d]));
        q.in_stride[d] = static_cast<uint32_t>(p.in_stride[d] / k);
        q.tap_offset[d] = static_cast<uint32_t>(p.tap_offset[d]);
    }
    return by_size(width, [&](auto* type) {
        using E = std::remove_pointer_t<decltype(type)>;
        resize_rows_kernel<E><<<blocks_for(n / k), kThreads, 0, stream>>>(
            q, taps, static_cast<const E*>(x), static_cast<E*>(y), FastDiv(static_cast<uint32_t>(inner / k)),
            static_cast<uint32_t>(n / k));
    });
}

cudaError_t launch_gather_elements(int element_size, const GatherElementsDims& p, const void* src,
                                   const int64_t* indices, void* dst, cudaStream_t stream) {
    const int64_t n = numel(p.rank, p.size);
    if (n == 0) return cudaSuccess;
    return by_size(element_size, [&](auto* type) {
        using E = std::remove_pointer_t<decltype(type)>;
        gather_elements_kernel<E>
            <<<blocks_for(n), kThreads, 0, stream>>>(p, static_cast<const E*>(src), indices, static_cast<E*>(dst), n);
    });
}

}  // namespace fovea::cuda
