// YOLO head decoding on the GPU: the head stays in device memory; a kernel picks each box's best class and score,
// keeps those above their class's threshold and compacts them per item; only those candidates cross to the host,
// where the CPU nms() finishes. Results equal decode_yolov5/decode_yolov8 (postprocess.h) on the same tensor.
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
    // the cap costs time, never results.
    static Result<std::unique_ptr<CudaYoloDecoder>> create(YoloHead head, const DetectOptions& options, int max_batch,
                                                           int max_candidates = 4096);
    ~CudaYoloDecoder();
    CudaYoloDecoder(const CudaYoloDecoder&) = delete;
    CudaYoloDecoder& operator=(const CudaYoloDecoder&) = delete;

    // `head`: float32 device memory of shape [>= count, a, b] (v5: a = boxes, b = 5 + classes; v8: a = 4 + classes,
    // b = boxes), ready in cuda_stream's order (a cudaStream_t). Enqueues the kernel and one copy to pinned memory on
    // that stream, waits for it, then runs nms() per item. Returns `count` detection lists, model-input coordinates.
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
    int64_t classes_ = -1;        // what the threshold table was built for
    float* thresholds_ = nullptr;  // device: one per class
    void* device_ = nullptr;       // device: counts (max_batch ints, padded) then candidates
    void* pinned_ = nullptr;       // host mirror of device_
    size_t bytes_ = 0;
    std::vector<int> last_counts_;
};

}  // namespace fovea::vision
