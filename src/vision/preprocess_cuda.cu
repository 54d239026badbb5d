// CUDA kernels of CudaPreprocessor. The arithmetic lives in preprocess_device.h (shared with host tests); this file
// only maps it onto threads: histograms per (tile, item), one LUT per tile, one thread per four model-input pixels.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "vision/preprocess_device.h"

namespace fovea::vision::device {

namespace {

constexpr int kBlockX = 32, kBlockY = 8, kPixelsPerThread = 4;

// Block (slice, tile, item): the luma histogram of a slice of one tile's rows, added to the tile's histogram.
// __grid_constant__: items[] is indexed by blockIdx, which must not copy the parameter block per thread.
__global__ void histogram_kernel(const __grid_constant__ LaunchParams p) {
    const ItemParams& it = p.items[blockIdx.z];
    __shared__ uint32_t local[kBins];
    for (int i = threadIdx.x; i < kBins; i += blockDim.x) local[i] = 0;
    __syncthreads();
    const int tile = blockIdx.y;
    if (tile < it.tiles_x * it.tiles_y) {
        const int rows_per_slice = (it.tile_h + gridDim.x - 1) / gridDim.x;
        const int r0 = blockIdx.x * rows_per_slice;
        const int r1 = min(r0 + rows_per_slice, it.tile_h);
        const int x0 = (tile % it.tiles_x) * it.tile_w, y0 = (tile / it.tiles_x) * it.tile_h;
        const int n = r1 > r0 ? (r1 - r0) * it.tile_w : 0;
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            const int ex = x0 + i % it.tile_w, ey = y0 + r0 + i / it.tile_w;
            atomicAdd(&local[domain_luma(it, ex, ey)], 1u);
        }
    }
    __syncthreads();
    uint32_t* hist = p.histograms + it.scratch_offset + static_cast<int64_t>(tile) * kBins;
    for (int i = threadIdx.x; i < kBins; i += blockDim.x)
        if (local[i] != 0) atomicAdd(&hist[i], local[i]);
}

// Block (tile, item): that tile's LUT. 256 serial steps per tile are cheap next to the histogram; one thread keeps
// the clipping and cumulation identical to the host code.
__global__ void lut_kernel(const __grid_constant__ LaunchParams p) {
    if (threadIdx.x != 0) return;
    const ItemParams& it = p.items[blockIdx.y];
    const int64_t offset = it.scratch_offset + static_cast<int64_t>(blockIdx.x) * kBins;
    if (p.spec.equalize == EqMode::kGlobal)
        global_lut(p.histograms + offset, it.roi_w * it.roi_h, p.luts + offset);
    else
        clahe_lut(p.histograms + offset, it.clip_limit, it.lut_scale, p.luts + offset);
}

// Thread (x, y) of item blockIdx.z: kPixelsPerThread consecutive model-input pixels of row y, all channels. Several
// pixels per thread write an NCHW row with one 8- or 16-byte store per channel.
__global__ void preprocess_kernel(const __grid_constant__ LaunchParams p) {
    const int x0 = (blockIdx.x * kBlockX + threadIdx.x) * kPixelsPerThread, y = blockIdx.y * kBlockY + threadIdx.y;
    const SpecParams& sp = p.spec;
    if (x0 >= sp.width || y >= sp.height) return;
    const ItemParams& it = p.items[blockIdx.z];
    const uint8_t* luts = sp.equalize == EqMode::kNone ? nullptr : p.luts + it.scratch_offset;
    const int n = min(kPixelsPerThread, sp.width - x0);
    // In phases, each over all the thread's pixels: every read is in flight before the first value is used, where
    // pixel after pixel would wait for memory once per pixel.
    Taps t[kPixelsPerThread];
    Bgr q[kPixelsPerThread][4] = {};
    float v[kPixelsPerThread][3];
#pragma unroll
    for (int k = 0; k < kPixelsPerThread; ++k) t[k] = pixel_taps(it, min(x0 + k, sp.width - 1), y);
#pragma unroll
    for (int k = 0; k < kPixelsPerThread; ++k) read_taps(it, t[k], q[k]);
#pragma unroll
    for (int k = 0; k < kPixelsPerThread; ++k) equalize_taps(it, sp, luts, t[k], q[k]);
#pragma unroll
    for (int k = 0; k < kPixelsPerThread; ++k) finish_pixel(sp, t[k], q[k], v[k]);
    const size_t first = output_index(sp, x0, y, 0);
    const size_t align = sp.fp16 ? 8 : 16;
    if (sp.nchw && n == kPixelsPerThread && sp.width % kPixelsPerThread == 0 &&
        reinterpret_cast<uintptr_t>(it.dst) % align == 0) {
        static_assert(kPixelsPerThread == 4, "one 4-element store per channel");
        const size_t plane = static_cast<size_t>(sp.width) * static_cast<size_t>(sp.height);
#pragma unroll
        for (int c = 0; c < 3; ++c) {
            if (c == sp.channels) break;
            if (sp.fp16) {
                const __half2 lo = __floats2half2_rn(v[0][c], v[1][c]), hi = __floats2half2_rn(v[2][c], v[3][c]);
                uint2 packed;
                packed.x = *reinterpret_cast<const uint32_t*>(&lo);
                packed.y = *reinterpret_cast<const uint32_t*>(&hi);
                reinterpret_cast<uint2*>(static_cast<__half*>(it.dst) + first + c * plane)[0] = packed;
            } else {
                reinterpret_cast<float4*>(static_cast<float*>(it.dst) + first + c * plane)[0] =
                    make_float4(v[0][c], v[1][c], v[2][c], v[3][c]);
            }
        }
        return;
    }
#pragma unroll
    for (int k = 0; k < kPixelsPerThread; ++k) {
#pragma unroll
        for (int c = 0; c < 3; ++c) {
            if (k >= n || c == sp.channels) break;
            const size_t i = output_index(sp, x0 + k, y, c);
            if (sp.fp16)
                static_cast<__half*>(it.dst)[i] = __float2half_rn(v[k][c]);
            else
                static_cast<float*>(it.dst)[i] = v[k][c];
        }
    }
}

}  // namespace

const char* launch_preprocess(const LaunchParams& p, int hist_slices, void* stream) {
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (p.count <= 0) return nullptr;
    if (p.spec.equalize != EqMode::kNone) {
        // The chunk's items are consecutive in the scratch: clear their histograms in one call.
        const size_t bytes = static_cast<size_t>(p.count) * static_cast<size_t>(p.tiles) * kBins * sizeof(uint32_t);
        if (cudaError_t e = cudaMemsetAsync(p.histograms + p.items[0].scratch_offset, 0, bytes, s); e != cudaSuccess)
            return cudaGetErrorString(e);
        histogram_kernel<<<dim3(hist_slices, p.tiles, p.count), 256, 0, s>>>(p);
        lut_kernel<<<dim3(p.tiles, p.count), 32, 0, s>>>(p);
    }
    const int row_threads = (p.spec.width + kPixelsPerThread - 1) / kPixelsPerThread;
    const dim3 grid((row_threads + kBlockX - 1) / kBlockX, (p.spec.height + kBlockY - 1) / kBlockY, p.count);
    preprocess_kernel<<<grid, dim3(kBlockX, kBlockY), 0, s>>>(p);
    const cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

const char* device_alloc(void** ptr, size_t bytes) {
    const cudaError_t e = cudaMalloc(ptr, bytes);
    return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

void device_free(void* ptr) {
    if (ptr != nullptr) cudaFree(ptr);
}

bool device_available() {
    int count = 0;
    // Without a driver this returns an error; it does not throw or abort.
    return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

}  // namespace fovea::vision::device
