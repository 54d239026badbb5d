// Plain interface between CudaYoloDecoder (C++20) and its kernels (yolo_cuda.cu, C++17).
#pragma once

#include <cstddef>
#include <cstdint>

namespace fovea::vision::device {

// One box that passed its class's threshold: the raw head values, so that the host builds boxes with the very
// arithmetic of the CPU decoders.
struct YoloCandidate {
    float cx, cy, w, h, score;
    int32_t class_id;
    int32_t index;  // box index in the item: the CPU decoders' order, which NMS breaks score ties by
};

// Bytes before the candidates in the decoder's buffer: max_batch counts, rounded to 16.
inline size_t yolo_counts_bytes(int max_batch) { return (static_cast<size_t>(max_batch) * 4 + 15) / 16 * 16; }

// v5: head [count, boxes, channels]; v8: head [count, channels, boxes]. counts must be zero; each item appends to
// its own candidates[item * cap ...], counting past cap without writing. Returns nullptr or CUDA's message.
const char* launch_yolo_candidates(bool v5, const float* head, int64_t boxes, int64_t channels, int count,
                                   const float* thresholds, float floor, int32_t* counts, YoloCandidate* candidates,
                                   int cap, void* stream);

}  // namespace fovea::vision::device
