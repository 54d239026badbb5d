// CudaYoloDecoder's host side: buffers, the one copy back, and the host finish (order, boxes, NMS). The kernels are
// in yolo_cuda.cu, behind yolo_device.h.
#include "vision/yolo_cuda.h"

#include <algorithm>
#include <climits>
#include <cstddef>
#include <string>

#ifdef FOVEA_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "vision/yolo_device.h"
#endif

namespace fovea::vision {

#ifdef FOVEA_HAVE_CUDA

namespace {

Status cuda_error(cudaError_t e, const std::string& what) {
    return e == cudaSuccess ? Status::ok() : internal_error("CudaYoloDecoder: " + what + ": " + cudaGetErrorString(e));
}

}  // namespace

Result<std::unique_ptr<CudaYoloDecoder>> CudaYoloDecoder::create(YoloHead head, const DetectOptions& options,
                                                                 int max_batch, int max_candidates) {
    if (max_batch <= 0 || max_candidates <= 0)
        return invalid_argument("CudaYoloDecoder: max_batch and max_candidates must be positive");
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
    d->bytes_ = device::yolo_counts_bytes(max_batch) +
                static_cast<size_t>(max_batch) * static_cast<size_t>(max_candidates) * sizeof(device::YoloCandidate);
    FOVEA_TRY(cuda_error(cudaMalloc(&d->device_, d->bytes_), "cudaMalloc"));
    FOVEA_TRY(cuda_error(cudaMallocHost(&d->pinned_, d->bytes_), "cudaMallocHost"));
    return d;
}

CudaYoloDecoder::~CudaYoloDecoder() {
    if (thresholds_) cudaFree(thresholds_);
    if (device_) cudaFree(device_);
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
    auto* counts = static_cast<int32_t*>(device_);
    auto* candidates = reinterpret_cast<device::YoloCandidate*>(static_cast<std::byte*>(device_) +
                                                                device::yolo_counts_bytes(max_batch_));
    FOVEA_TRY(cuda_error(cudaMemsetAsync(counts, 0, sizeof(int32_t) * static_cast<size_t>(count), stream), "memset"));
    if (const char* e = device::launch_yolo_candidates(v5, static_cast<const float*>(head), boxes, channels, count,
                                                       thresholds_, floor, counts, candidates, max_candidates_, stream))
        return internal_error(std::string("CudaYoloDecoder: launching the kernel: ") + e);
    // One copy: the counts and every item's candidate slots (a few hundred KB at most), whatever the counts are.
    const size_t used = device::yolo_counts_bytes(max_batch_) + static_cast<size_t>(count) *
                                                                     static_cast<size_t>(max_candidates_) *
                                                                     sizeof(device::YoloCandidate);
    FOVEA_TRY(cuda_error(cudaMemcpyAsync(pinned_, device_, used, cudaMemcpyDeviceToHost, stream), "copy to host"));
    FOVEA_TRY(cuda_error(cudaStreamSynchronize(stream), "decoding"));

    const auto* host_counts = static_cast<const int32_t*>(pinned_);
    const auto* host_candidates = reinterpret_cast<const device::YoloCandidate*>(
        static_cast<const std::byte*>(pinned_) + device::yolo_counts_bytes(max_batch_));
    std::vector<device::YoloCandidate> sorted;
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
        // Atomics append in any order; the CPU decoders append in box order, which NMS's stable sort keeps on ties.
        const device::YoloCandidate* first = host_candidates + static_cast<int64_t>(i) * max_candidates_;
        sorted.assign(first, first + n);
        std::sort(sorted.begin(), sorted.end(),
                  [](const device::YoloCandidate& x, const device::YoloCandidate& y) { return x.index < y.index; });
        std::vector<Detection> dets;
        dets.reserve(sorted.size());
        for (const device::YoloCandidate& c : sorted)
            dets.push_back({box_from_center(c.cx, c.cy, c.w, c.h), c.score, c.class_id});
        out[static_cast<size_t>(i)] =
            nms(std::move(dets), options_.iou_threshold, options_.class_agnostic, options_.max_detections);
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
