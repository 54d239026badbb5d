// YOLO head decoding on the GPU, NMS included: the head stays in device memory; kernels pick each box's best class
// and score, keep those above their class's threshold, sort each item's candidates by score and run class-wise (or
// agnostic) greedy NMS; only the kept detections (at most max_detections per item) cross to the host. Results
// equal decode_yolov5/decode_yolov8 (postprocess.h) on the same tensor: same boxes, scores, classes and order.
// No CUDA header here (pointers and the stream are void*); without CUDA in the build, create() returns kUnsupported.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "fovea/status.h"
#include "vision/postprocess.h"

namespace fovea::vision {

enum class YoloHead {
    kV5,  // [N, boxes, 5 + classes]: cx, cy, w, h, objectness, class scores
    kV8,  // [N, 4 + classes, boxes], channel-major
};

// Owns device and pinned buffers for max_batch items. Not thread-safe; decodes reuse the buffers.
class CudaYoloDecoder {
  public:
    // max_candidates: per item; an item with more passing boxes is decoded on the host from a full copy of it, so
    // the cap costs time, never results. The NMS bitmask takes max_batch * max_candidates^2 / 8 bytes of device
    // memory (2 MiB per item at 4096); max_candidates is at most 262144.
    static Result<std::unique_ptr<CudaYoloDecoder>> create(YoloHead head, const DetectOptions& options, int max_batch,
                                                           int max_candidates = 4096);
    ~CudaYoloDecoder();
    CudaYoloDecoder(const CudaYoloDecoder&) = delete;
    CudaYoloDecoder& operator=(const CudaYoloDecoder&) = delete;

    // `head`: float32 device memory of shape [>= count, a, b] (v5: a = boxes, b = 5 + classes; v8: a = 4 + classes,
    // b = boxes), ready in cuda_stream's order (a cudaStream_t). Enqueues the kernels and one copy to pinned memory on
    // that stream and waits for it. Returns `count` detection lists, model-input coordinates.
    Result<std::vector<std::vector<Detection>>> decode(const void* head, int64_t a, int64_t b, int count,
                                                       void* cuda_stream);

    // Candidates that passed the thresholds in the last decode, per item (before the cap and NMS); for tests.
    const std::vector<int>& last_counts() const { return last_counts_; }

  private:
    CudaYoloDecoder() = default;
    Status upload_thresholds(int64_t classes);

    YoloHead head_ = YoloHead::kV5;
    DetectOptions options_;
    int max_batch_ = 0, max_candidates_ = 0;
    int max_out_ = 0;              // kept detections per item the device writes: max_detections within [1, cap]
    int64_t classes_ = -1;         // what the threshold table was built for
    float* thresholds_ = nullptr;  // device: one per class
    void* device_ = nullptr;       // device: what comes back (counts, kept counts, kept detections)
    void* pinned_ = nullptr;       // host mirror of device_
    size_t bytes_ = 0;             // of device_ and pinned_
    void* scratch_ = nullptr;      // device: candidates, sort keys, bitmasks, CUB's scratch
    size_t sort_temp_bytes_ = 0;
    std::vector<int> last_counts_;
};

}  // namespace fovea::vision
