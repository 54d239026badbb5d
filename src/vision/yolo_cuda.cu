// Kernels of CudaYoloDecoder: one thread per (box, item). Comparisons and the one product mirror
// decode_yolov5/decode_yolov8 exactly (strict > keeps the first best class; NaN fails every test).
#include <cuda_runtime.h>

#include "vision/yolo_device.h"

namespace fovea::vision::device {

namespace {

__device__ void append(int item, int cap, int32_t* counts, YoloCandidate* candidates, const YoloCandidate& c) {
    const int slot = atomicAdd(&counts[item], 1);
    if (slot < cap) candidates[static_cast<int64_t>(item) * cap + slot] = c;
}

__global__ void yolov5_kernel(const float* head, int64_t boxes, int64_t channels, const float* thresholds,
                              float floor, int32_t* counts, YoloCandidate* candidates, int cap) {
    const int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int item = static_cast<int>(blockIdx.y);
    if (b >= boxes) return;
    const float* row = head + (static_cast<int64_t>(item) * boxes + b) * channels;
    const float obj = row[4];
    if (!(obj >= floor)) return;
    int best = 0;
    float best_score = row[5];
    for (int64_t c = 1; c < channels - 5; ++c) {
        const float v = row[5 + c];
        if (v > best_score) {
            best_score = v;
            best = static_cast<int>(c);
        }
    }
    const float score = __fmul_rn(obj, best_score);
    if (score >= thresholds[best])
        append(item, cap, counts, candidates,
               YoloCandidate{row[0], row[1], row[2], row[3], score, best, static_cast<int32_t>(b)});
}

__global__ void yolov8_kernel(const float* head, int64_t boxes, int64_t channels, const float* thresholds,
                              int32_t* counts, YoloCandidate* candidates, int cap) {
    const int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const int item = static_cast<int>(blockIdx.y);
    if (b >= boxes) return;
    const float* p = head + static_cast<int64_t>(item) * channels * boxes;
    float best_score = p[4 * boxes + b];
    int best = 0;
    for (int64_t c = 1; c < channels - 4; ++c) {
        const float v = p[(4 + c) * boxes + b];
        if (v > best_score) {
            best_score = v;
            best = static_cast<int>(c);
        }
    }
    if (best_score >= thresholds[best])
        append(item, cap, counts, candidates,
               YoloCandidate{p[b], p[boxes + b], p[2 * boxes + b], p[3 * boxes + b], best_score, best,
                             static_cast<int32_t>(b)});
}

}  // namespace

const char* launch_yolo_candidates(bool v5, const float* head, int64_t boxes, int64_t channels, int count,
                                   const float* thresholds, float floor, int32_t* counts, YoloCandidate* candidates,
                                   int cap, void* stream) {
    if (count <= 0 || boxes <= 0) return nullptr;
    constexpr int kThreads = 256;
    const dim3 grid(static_cast<unsigned>((boxes + kThreads - 1) / kThreads), static_cast<unsigned>(count));
    auto s = static_cast<cudaStream_t>(stream);
    if (v5)
        yolov5_kernel<<<grid, kThreads, 0, s>>>(head, boxes, channels, thresholds, floor, counts, candidates, cap);
    else
        yolov8_kernel<<<grid, kThreads, 0, s>>>(head, boxes, channels, thresholds, counts, candidates, cap);
    const cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

}  // namespace fovea::vision::device
