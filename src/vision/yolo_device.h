// Plain interface between CudaYoloDecoder (C++20) and its kernels (yolo_cuda.cu, C++17).
#pragma once

#include <cstddef>
#include <cstdint>

namespace fovea::vision::device {

// One box that passed its class's threshold, as corners made with box_from_center()'s arithmetic (no FMA), so
// that the GPU NMS sees the very floats the CPU decoders build. Also the layout of the kept detections.
struct YoloCandidate {
    float x1, y1, x2, y2, score;
    int32_t class_id;
    int32_t index;  // box index in the item: the CPU decoders' order, which NMS breaks score ties by
};

// The decoder's device workspace, all sized in create() for max_batch items of at most cap candidates.
// counts, kept_counts and kept lie in one block of result_bytes() bytes that decode() copies back whole.
struct YoloWorkspace {
    int32_t* counts = nullptr;       // [max_batch] boxes that passed, per item; may exceed cap
    int32_t* kept_counts = nullptr;  // [max_batch] detections NMS kept, per item (0 for an item over the cap)
    YoloCandidate* kept = nullptr;   // [max_batch * max_out], item i at i * max_out, best first
    YoloCandidate* candidates = nullptr;         // [max_batch * cap], item i at i * cap, in atomic (arrival) order
    uint64_t* keys = nullptr;                    // [max_batch * cap] sort keys by slot: (score desc, index asc)
    uint64_t* sorted_keys = nullptr;             // [max_batch * cap]
    int32_t* slots = nullptr;                    // [max_batch * cap] slot in candidates, sorted along the keys
    int32_t* sorted_slots = nullptr;             // [max_batch * cap]
    int32_t* segment_begin = nullptr;            // [max_batch] the sort's segments
    int32_t* segment_end = nullptr;              // [max_batch]
    uint64_t* mask = nullptr;                    // [max_batch * cap * words] suppression bits, row = sorted rank
    void* sort_temp = nullptr;                   // CUB's scratch
    size_t sort_temp_bytes = 0;
    int cap = 0;      // candidates per item
    int words = 0;    // 64-bit words per mask row: ceil(cap / 64)
    int max_out = 0;  // kept detections per item: max_detections clamped to [1, cap] (<= 0: cap)
};

// The copied-back block: counts and kept_counts (max_batch ints each, each rounded to 16 bytes), then kept.
inline size_t yolo_counts_bytes(int max_batch) { return (static_cast<size_t>(max_batch) * 4 + 15) / 16 * 16; }
inline size_t yolo_result_bytes(int max_batch, int max_out) {
    return 2 * yolo_counts_bytes(max_batch) +
           static_cast<size_t>(max_batch) * static_cast<size_t>(max_out) * sizeof(YoloCandidate);
}

// CUB's scratch for sorting max_batch segments of cap candidates; nullptr or CUDA's message.
const char* yolo_sort_temp_bytes(int max_batch, int cap, size_t* bytes);

// v5: head [count, boxes, channels]; v8: head [count, channels, boxes]. ws.counts must be zero; each item appends
// to its own ws.candidates[item * cap ...] (with its sort key and slot), counting past cap without writing.
// Returns nullptr or CUDA's message.
const char* launch_yolo_candidates(bool v5, const float* head, int64_t boxes, int64_t channels, int count,
                                   const float* thresholds, float floor, const YoloWorkspace& ws, void* stream);

// After launch_yolo_candidates on the same stream: per item with at most cap candidates, sorts them by (score
// desc, box index asc), builds the IoU bitmasks and runs the greedy scan, writing kept and kept_counts exactly as
// nms() would. An item over the cap gets kept_counts 0 (the host decodes it). Returns nullptr or CUDA's message.
const char* launch_yolo_nms(int64_t boxes, int count, float iou_threshold, bool class_agnostic,
                            const YoloWorkspace& ws, void* stream);

}  // namespace fovea::vision::device
