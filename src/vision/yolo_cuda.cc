// CudaYoloDecoder's host side: buffers, launches, the one copy back, and the host fallback for items over the cap.
// The kernels (candidates, sort, NMS) are in yolo_cuda.cu, behind yolo_device.h.
#include "vision/yolo_cuda.h"

#include <algorithm>
#include <climits>
#include <cstddef>
#include <string>

#ifdef FOVEA_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "core/cuda_status.h"
#include "vision/yolo_device.h"
#endif

namespace fovea::vision {

#ifdef FOVEA_HAVE_CUDA

namespace {

// The scan keeps one bit per candidate in shared memory: 32 KiB at this cap, under the 48 KiB every GPU gives.
constexpr int kMaxCandidates = 1 << 18;
constexpr int kMaxBatch = 65535;  // items are a grid dimension

Status cuda_error(cudaError_t e, const std::string& what) {
    return cuda_status(e, "CudaYoloDecoder: " + what);
}

size_t align_up(size_t bytes) { return (bytes + 255) / 256 * 256; }

// The kernels' view of `result` (device_) and `scratch`; with a null scratch it only measures (*scratch_bytes).
device::YoloWorkspace workspace(void* result, void* scratch, int max_batch, int cap, int max_out, size_t sort_bytes,
                                size_t* scratch_bytes) {
    device::YoloWorkspace ws;
    ws.cap = cap;
    ws.words = (cap + 63) / 64;
    ws.max_out = max_out;
    ws.sort_temp_bytes = sort_bytes;
    if (result != nullptr) {
        auto* r = static_cast<std::byte*>(result);
        const size_t counts = device::yolo_counts_bytes(max_batch);
        ws.counts = reinterpret_cast<int32_t*>(r);
        ws.kept_counts = reinterpret_cast<int32_t*>(r + counts);
        ws.kept = reinterpret_cast<device::YoloCandidate*>(r + 2 * counts);
    }
    size_t at = 0;
    auto take = [&](size_t bytes) -> void* {
        void* p = scratch != nullptr ? static_cast<std::byte*>(scratch) + at : nullptr;
        at += align_up(bytes);
        return p;
    };
    const size_t slots = static_cast<size_t>(max_batch) * static_cast<size_t>(cap);
    const size_t items = static_cast<size_t>(max_batch);
    ws.candidates = static_cast<device::YoloCandidate*>(take(slots * sizeof(device::YoloCandidate)));
    ws.keys = static_cast<uint64_t*>(take(slots * sizeof(uint64_t)));
    ws.sorted_keys = static_cast<uint64_t*>(take(slots * sizeof(uint64_t)));
    ws.slots = static_cast<int32_t*>(take(slots * sizeof(int32_t)));
    ws.sorted_slots = static_cast<int32_t*>(take(slots * sizeof(int32_t)));
    ws.segment_begin = static_cast<int32_t*>(take(items * sizeof(int32_t)));
    ws.segment_end = static_cast<int32_t*>(take(items * sizeof(int32_t)));
    ws.mask = static_cast<uint64_t*>(take(slots * static_cast<size_t>(ws.words) * sizeof(uint64_t)));
    ws.sort_temp = take(sort_bytes);
    *scratch_bytes = at;
    return ws;
}

}  // namespace

Result<std::unique_ptr<CudaYoloDecoder>> CudaYoloDecoder::create(YoloHead head, const DetectOptions& options,
                                                                 int max_batch, int max_candidates) {
    if (max_batch <= 0 || max_candidates <= 0)
        return invalid_argument("CudaYoloDecoder: max_batch and max_candidates must be positive");
    if (max_batch > kMaxBatch || max_candidates > kMaxCandidates ||
        static_cast<int64_t>(max_batch) * max_candidates > INT32_MAX)
        return invalid_argument("CudaYoloDecoder: max_batch " + std::to_string(max_batch) + " x max_candidates " +
                                std::to_string(max_candidates) + " is too large");
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        cudaGetLastError();
        return unsupported("CudaYoloDecoder: no CUDA device (or no driver)");
    }
    std::unique_ptr<CudaYoloDecoder> d(new CudaYoloDecoder());
    d->head_ = head;
    d->options_ = options;
    d->max_batch_ = max_batch;
    d->max_candidates_ = max_candidates;
    d->max_out_ = options.max_detections > 0 ? std::min(options.max_detections, max_candidates) : max_candidates;
    if (const char* e = device::yolo_sort_temp_bytes(max_batch, max_candidates, &d->sort_temp_bytes_))
        return internal_error(std::string("CudaYoloDecoder: sizing the sort: ") + e);
    d->bytes_ = device::yolo_result_bytes(max_batch, d->max_out_);
    size_t scratch_bytes = 0;
    workspace(nullptr, nullptr, max_batch, max_candidates, d->max_out_, d->sort_temp_bytes_, &scratch_bytes);
    FOVEA_TRY(cuda_error(cudaMalloc(&d->device_, d->bytes_), "cudaMalloc"));
    FOVEA_TRY(cuda_error(cudaMalloc(&d->scratch_, scratch_bytes),
                         "cudaMalloc of the NMS workspace (" + std::to_string(scratch_bytes) + " bytes)"));
    FOVEA_TRY(cuda_error(cudaMallocHost(&d->pinned_, d->bytes_), "cudaMallocHost"));
    return d;
}

CudaYoloDecoder::~CudaYoloDecoder() {
    if (thresholds_) cudaFree(thresholds_);
    if (device_) cudaFree(device_);
    if (scratch_) cudaFree(scratch_);
    if (pinned_) cudaFreeHost(pinned_);
}

Status CudaYoloDecoder::upload_thresholds(int64_t classes) {
    if (classes == classes_) return Status::ok();
    std::vector<float> t(static_cast<size_t>(classes));
    for (size_t c = 0; c < t.size(); ++c) t[c] = options_.threshold(static_cast<int>(c));
    if (thresholds_) cudaFree(thresholds_);
    thresholds_ = nullptr;
    void* p = nullptr;
    FOVEA_TRY(cuda_error(cudaMalloc(&p, t.size() * sizeof(float)), "cudaMalloc"));
    thresholds_ = static_cast<float*>(p);
    // Synchronous and rare (once per class count): the table is ready before any kernel on any stream reads it.
    FOVEA_TRY(cuda_error(cudaMemcpy(p, t.data(), t.size() * sizeof(float), cudaMemcpyHostToDevice), "thresholds"));
    classes_ = classes;
    return Status::ok();
}

Result<std::vector<std::vector<Detection>>> CudaYoloDecoder::decode(const void* head, int64_t a, int64_t b, int count,
                                                                    void* cuda_stream) {
    const bool v5 = head_ == YoloHead::kV5;
    const int64_t boxes = v5 ? a : b, channels = v5 ? b : a;
    if (count < 0 || count > max_batch_)
        return invalid_argument("CudaYoloDecoder: " + std::to_string(count) + " items exceed max_batch " +
                                std::to_string(max_batch_));
    if (head == nullptr && count > 0) return invalid_argument("CudaYoloDecoder: the head is null");
    if (boxes > INT32_MAX) return invalid_argument("CudaYoloDecoder: too many boxes");
    std::vector<std::vector<Detection>> out(static_cast<size_t>(count));
    last_counts_.assign(static_cast<size_t>(count), 0);
    // The CPU decoders' degenerate cases: nothing to find.
    if (count == 0 || boxes <= 0 || channels <= (v5 ? 5 : 4)) return out;
    FOVEA_TRY(upload_thresholds(channels - (v5 ? 5 : 4)));
    float floor = options_.conf_threshold;
    for (float c : options_.class_thresholds) floor = std::min(floor, c);

    auto stream = static_cast<cudaStream_t>(cuda_stream);
    size_t scratch_bytes = 0;
    const device::YoloWorkspace ws =
        workspace(device_, scratch_, max_batch_, max_candidates_, max_out_, sort_temp_bytes_, &scratch_bytes);
    FOVEA_TRY(
        cuda_error(cudaMemsetAsync(ws.counts, 0, sizeof(int32_t) * static_cast<size_t>(count), stream), "memset"));
    if (const char* e = device::launch_yolo_candidates(v5, static_cast<const float*>(head), boxes, channels, count,
                                                       thresholds_, floor, ws, stream))
        return internal_error(std::string("CudaYoloDecoder: launching the candidate kernel: ") + e);
    if (const char* e =
            device::launch_yolo_nms(boxes, count, options_.iou_threshold, options_.class_agnostic, ws, stream))
        return internal_error(std::string("CudaYoloDecoder: launching NMS: ") + e);
    // One copy: both count arrays and every item's kept slots (max_out each), whatever the counts are.
    const size_t counts_bytes = device::yolo_counts_bytes(max_batch_);
    const size_t used = 2 * counts_bytes + static_cast<size_t>(count) * static_cast<size_t>(max_out_) *
                                               sizeof(device::YoloCandidate);
    FOVEA_TRY(cuda_error(cudaMemcpyAsync(pinned_, device_, used, cudaMemcpyDeviceToHost, stream), "copy to host"));
    FOVEA_TRY(cuda_error(cudaStreamSynchronize(stream), "decoding"));

    const auto* host = static_cast<const std::byte*>(pinned_);
    const auto* host_counts = reinterpret_cast<const int32_t*>(host);
    const auto* host_kept_counts = reinterpret_cast<const int32_t*>(host + counts_bytes);
    const auto* host_kept = reinterpret_cast<const device::YoloCandidate*>(host + 2 * counts_bytes);
    for (int i = 0; i < count; ++i) {
        const int n = host_counts[i];
        last_counts_[static_cast<size_t>(i)] = n;
        if (n > max_candidates_) {
            // Over the cap: this item's head, whole, through the CPU decoder (exact, slower).
            std::vector<float> item(static_cast<size_t>(a * b));
            const auto* src = static_cast<const float*>(head) + static_cast<int64_t>(i) * a * b;
            FOVEA_TRY(cuda_error(cudaMemcpy(item.data(), src, item.size() * sizeof(float), cudaMemcpyDeviceToHost),
                                 "copying an item over the cap"));
            out[static_cast<size_t>(i)] = v5 ? decode_yolov5(item.data(), a, b, options_)
                                             : decode_yolov8(item.data(), a, b, options_);
            continue;
        }
        const int kept = std::clamp(host_kept_counts[i], 0, max_out_);
        const device::YoloCandidate* first = host_kept + static_cast<int64_t>(i) * max_out_;
        std::vector<Detection>& dets = out[static_cast<size_t>(i)];
        dets.reserve(static_cast<size_t>(kept));
        for (const device::YoloCandidate* c = first; c != first + kept; ++c)
            dets.push_back({{c->x1, c->y1, c->x2, c->y2}, c->score, c->class_id});
    }
    return out;
}

#else  // no CUDA in this build

Result<std::unique_ptr<CudaYoloDecoder>> CudaYoloDecoder::create(YoloHead, const DetectOptions&, int, int) {
    return unsupported("CudaYoloDecoder: this build has no CUDA");
}
CudaYoloDecoder::~CudaYoloDecoder() = default;
Status CudaYoloDecoder::upload_thresholds(int64_t) { return unsupported("no CUDA"); }
Result<std::vector<std::vector<Detection>>> CudaYoloDecoder::decode(const void*, int64_t, int64_t, int, void*) {
    return unsupported("CudaYoloDecoder: this build has no CUDA");
}

#endif

}  // namespace fovea::vision
