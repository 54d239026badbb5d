// Kernels of CudaYoloDecoder. Candidates: one thread per (box, item); comparisons and products mirror
// decode_yolov5/decode_yolov8 exactly (strict > keeps the first best class; NaN fails every test). NMS: a CUB
// segmented sort per item, a bitmask of suppressions (one thread per 64-box word of a row), then a greedy scan with
// one block per item. Every float operation that the host code does is spelled with an _rn intrinsic, so that nvcc
// cannot fuse it into an FMA and round differently from the CPU path.
#include <cuda_runtime.h>

#include <cub/device/device_segmented_radix_sort.cuh>

#include "vision/yolo_device.h"

namespace fovea::vision::device {

namespace {

constexpr int kWord = 64;          // boxes per mask word
constexpr int kScanThreads = 256;  // the greedy scan's block

// Bits that hold every box index of an item (at least 1, at most 31 since boxes <= INT32_MAX).
int index_bits(int64_t boxes) {
    int bits = 1;
    while (bits < 31 && (int64_t{1} << bits) < boxes) ++bits;
    return bits;
}

// Ascending order of the key = descending score, then ascending box index: nms()'s stable sort of the CPU decoders'
// box-ordered list. -0 becomes +0 because nms() compares them equal, leaving their order to the index.
__device__ uint64_t sort_key(float score, int32_t index, int bits) {
    uint32_t u = __float_as_uint(score == 0.0f ? 0.0f : score);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // float order as unsigned order (no NaN reaches here)
    return (static_cast<uint64_t>(~u) << bits) | static_cast<uint32_t>(index);
}

// box_from_center(), without contraction.
__device__ YoloCandidate make_candidate(float cx, float cy, float w, float h, float score, int cls, int64_t b) {
    const float hw = __fmul_rn(w, 0.5f), hh = __fmul_rn(h, 0.5f);
    const auto index = static_cast<int32_t>(b);
    return YoloCandidate{__fsub_rn(cx, hw), __fsub_rn(cy, hh), __fadd_rn(cx, hw), __fadd_rn(cy, hh), score, cls, index};
}

// Atomics give each candidate an arbitrary slot; the key, not the slot, fixes its rank.
__device__ void append(int item, const YoloWorkspace& ws, int bits, const YoloCandidate& c) {
    const int slot = atomicAdd(&ws.counts[item], 1);
    if (slot >= ws.cap) return;
    const int64_t at = static_cast<int64_t>(item) * ws.cap + slot;
    ws.candidates[at] = c;
    ws.keys[at] = sort_key(c.score, c.index, bits);
    ws.slots[at] = slot;
}

__global__ void yolov5_kernel(const float* head, int64_t boxes, int64_t channels, const float* thresholds,
                              float floor, YoloWorkspace ws, int bits) {
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
        append(item, ws, bits, make_candidate(row[0], row[1], row[2], row[3], score, best, b));
}

__global__ void yolov8_kernel(const float* head, int64_t boxes, int64_t channels, const float* thresholds,
                              YoloWorkspace ws, int bits) {
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
        append(item, ws, bits,
               make_candidate(p[b], p[boxes + b], p[2 * boxes + b], p[3 * boxes + b], best_score, best, b));
}

// Candidates NMS takes for an item: an item over the cap is left to the host.
__device__ int nms_count(const YoloWorkspace& ws, int item) {
    const int n = ws.counts[item];
    return n <= ws.cap ? n : 0;
}

__global__ void segments_kernel(YoloWorkspace ws, int count) {
    const int item = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    if (item >= count) return;
    ws.segment_begin[item] = item * ws.cap;
    ws.segment_end[item] = item * ws.cap + nms_count(ws, item);
}

// std::min / std::max as libstdc++ writes them (which operand wins on NaN and on ±0 matters for exactness).
__device__ float lesser(float a, float b) { return b < a ? b : a; }
__device__ float greater(float a, float b) { return a < b ? b : a; }

// iou() of postprocess.cc, operation for operation; `a` is the higher-ranked box, as nms() passes them.
__device__ float iou(const YoloCandidate& a, const YoloCandidate& b) {
    const float iw = __fsub_rn(lesser(a.x2, b.x2), greater(a.x1, b.x1));
    const float ih = __fsub_rn(lesser(a.y2, b.y2), greater(a.y1, b.y1));
    const float inter = iw > 0 && ih > 0 ? __fmul_rn(iw, ih) : 0.0f;
    const float area_a = __fmul_rn(greater(0.0f, __fsub_rn(a.x2, a.x1)), greater(0.0f, __fsub_rn(a.y2, a.y1)));
    const float area_b = __fmul_rn(greater(0.0f, __fsub_rn(b.x2, b.x1)), greater(0.0f, __fsub_rn(b.y2, b.y1)));
    const float uni = __fsub_rn(__fadd_rn(area_a, area_b), inter);
    return uni > 0 ? __fdiv_rn(inter, uni) : 0.0f;
}

// Block (col, row, item) of kWord threads: thread t writes word `col` of row row * kWord + t (sorted ranks): bit c
// set when box col * kWord + c ranks below the row's box and would be suppressed by it. Words left of the diagonal
// are never written nor read.
__global__ void mask_kernel(YoloWorkspace ws, float iou_threshold, bool class_agnostic) {
    const int col_block = static_cast<int>(blockIdx.x), row_block = static_cast<int>(blockIdx.y);
    const int item = static_cast<int>(blockIdx.z);
    const int n = nms_count(ws, item);
    if (col_block < row_block || col_block * kWord >= n) return;  // uniform over the block
    const int t = static_cast<int>(threadIdx.x);
    const YoloCandidate* cand = ws.candidates + static_cast<int64_t>(item) * ws.cap;
    const int32_t* order = ws.sorted_slots + static_cast<int64_t>(item) * ws.cap;
    __shared__ YoloCandidate cols[kWord];
    const int col = col_block * kWord + t;
    if (col < n) cols[t] = cand[order[col]];
    __syncthreads();
    const int row = row_block * kWord + t;
    if (row >= n) return;
    const YoloCandidate a = cand[order[row]];
    const int end = min(kWord, n - col_block * kWord);
    uint64_t bits = 0;
    for (int c = col_block == row_block ? t + 1 : 0; c < end; ++c) {
        const YoloCandidate& b = cols[c];
        if ((class_agnostic || a.class_id == b.class_id) && iou(a, b) > iou_threshold) bits |= uint64_t{1} << c;
    }
    ws.mask[(static_cast<int64_t>(item) * ws.cap + row) * ws.words + col_block] = bits;
}

// One block per item, 64 ranks at a time: thread 0 settles the word's boxes in rank order against what earlier
// words removed and the word's own diagonal bits, then all threads write the kept ones and fold their mask rows
// into the later words. Stops at max_out kept, as nms() does.
__global__ void scan_kernel(YoloWorkspace ws) {
    extern __shared__ uint64_t removed[];  // ws.words
    __shared__ uint64_t diag[kWord];
    __shared__ uint64_t keep_bits;
    const int item = static_cast<int>(blockIdx.x), t = static_cast<int>(threadIdx.x);
    const int n = nms_count(ws, item);
    const int words = (n + kWord - 1) / kWord;
    for (int w = t; w < words; w += blockDim.x) removed[w] = 0;
    const uint64_t* mask = ws.mask + static_cast<int64_t>(item) * ws.cap * ws.words;
    const YoloCandidate* cand = ws.candidates + static_cast<int64_t>(item) * ws.cap;
    const int32_t* order = ws.sorted_slots + static_cast<int64_t>(item) * ws.cap;
    YoloCandidate* out = ws.kept + static_cast<int64_t>(item) * ws.max_out;
    int kept = 0;  // the same in every thread: it only ever adds popcounts of keep_bits
    for (int w = 0; w < words && kept < ws.max_out; ++w) {
        const int base = w * kWord, len = min(kWord, n - base);
        if (t < len) diag[t] = mask[static_cast<int64_t>(base + t) * ws.words + w];
        __syncthreads();  // diag, and removed[w] from the previous word's fold
        if (t == 0) {
            uint64_t gone = removed[w], keep = 0;
            for (int i = 0, room = ws.max_out - kept; i < len && room > 0; ++i) {
                if (!((gone >> i) & 1)) {
                    keep |= uint64_t{1} << i;
                    gone |= diag[i];
                    --room;
                }
            }
            keep_bits = keep;
        }
        __syncthreads();
        const uint64_t keep = keep_bits;
        if (t < len && ((keep >> t) & 1))
            out[kept + __popcll(keep & ((uint64_t{1} << t) - 1))] = cand[order[base + t]];
        kept += __popcll(keep);
        for (int v = w + 1 + t; v < words; v += blockDim.x) {
            uint64_t acc = removed[v];
            for (uint64_t k = keep; k != 0; k &= k - 1)
                acc |= mask[static_cast<int64_t>(base + __ffsll(static_cast<long long>(k)) - 1) * ws.words + v];
            removed[v] = acc;
        }
        // The next word's first __syncthreads orders these writes before thread 0 reads removed[w + 1] and before
        // diag and keep_bits are overwritten.
    }
    if (t == 0) ws.kept_counts[item] = kept;
}

const char* last_error() {
    const cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

}  // namespace

const char* yolo_sort_temp_bytes(int max_batch, int cap, size_t* bytes) {
    *bytes = 0;
    const cudaError_t e = cub::DeviceSegmentedRadixSort::SortPairs(
        nullptr, *bytes, static_cast<const uint64_t*>(nullptr), static_cast<uint64_t*>(nullptr),
        static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr), max_batch * cap, max_batch,
        static_cast<const int32_t*>(nullptr), static_cast<const int32_t*>(nullptr));
    return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

const char* launch_yolo_candidates(bool v5, const float* head, int64_t boxes, int64_t channels, int count,
                                   const float* thresholds, float floor, const YoloWorkspace& ws, void* stream) {
    if (count <= 0 || boxes <= 0) return nullptr;
    constexpr int kThreads = 256;
    const dim3 grid(static_cast<unsigned>((boxes + kThreads - 1) / kThreads), static_cast<unsigned>(count));
    auto s = static_cast<cudaStream_t>(stream);
    const int bits = index_bits(boxes);
    if (v5)
        yolov5_kernel<<<grid, kThreads, 0, s>>>(head, boxes, channels, thresholds, floor, ws, bits);
    else
        yolov8_kernel<<<grid, kThreads, 0, s>>>(head, boxes, channels, thresholds, ws, bits);
    return last_error();
}

const char* launch_yolo_nms(int64_t boxes, int count, float iou_threshold, bool class_agnostic,
                            const YoloWorkspace& ws, void* stream) {
    if (count <= 0 || boxes <= 0) return nullptr;
    auto s = static_cast<cudaStream_t>(stream);
    segments_kernel<<<(count + 255) / 256, 256, 0, s>>>(ws, count);
    if (const char* e = last_error()) return e;
    // Only the key's low 32 + index_bits bits differ; fewer bits, fewer radix passes. CUB checks that the scratch
    // sized in create() suffices (it depends on the item count only).
    size_t temp = ws.sort_temp_bytes;
    const cudaError_t e = cub::DeviceSegmentedRadixSort::SortPairs(
        ws.sort_temp, temp, ws.keys, ws.sorted_keys, ws.slots, ws.sorted_slots, count * ws.cap, count,
        ws.segment_begin, ws.segment_end, 0, 32 + index_bits(boxes), s);
    if (e != cudaSuccess) return cudaGetErrorString(e);
    const dim3 grid(static_cast<unsigned>(ws.words), static_cast<unsigned>(ws.words), static_cast<unsigned>(count));
    mask_kernel<<<grid, kWord, 0, s>>>(ws, iou_threshold, class_agnostic);
    if (const char* err = last_error()) return err;
    scan_kernel<<<count, kScanThreads, static_cast<size_t>(ws.words) * sizeof(uint64_t), s>>>(ws);
    return last_error();
}

}  // namespace fovea::vision::device
