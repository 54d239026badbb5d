// Frames to device images for CudaPreprocessor. Frames decoded on the GPU (media::Frame::device, on the current
// device) are used where they are, without a copy; host frames are copied into pinned staging, then go up in one
// asynchronous copy. A batch may mix both. No CUDA header here; without CUDA in the build, create() returns
// kUnsupported.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "fovea/status.h"
#include "media/frame.h"
#include "vision/preprocess_cuda.h"

namespace fovea::vision {

class CudaFrameUploader {
  public:
    static Result<std::unique_ptr<CudaFrameUploader>> create();
    ~CudaFrameUploader();
    CudaFrameUploader(const CudaFrameUploader&) = delete;
    CudaFrameUploader& operator=(const CudaFrameUploader&) = delete;

    // Enqueues the copy of the host frames on cuda_stream (a cudaStream_t). Their images point into device memory
    // that stays valid until the next upload, which first waits for this one's copy to finish (the staging is
    // reused); the images of GPU frames point into the frames themselves, which must outlive the work that reads them.
    // A GPU frame on another device than the current one is downloaded (media::host_frame) and goes up like a host
    // frame.
    Result<std::vector<DeviceImage>> upload(std::span<const media::Frame* const> frames, void* cuda_stream);

    // Frames so far that were used in GPU memory as decoded, and frames that went up from the host (any thread).
    int64_t device_frames() const { return device_frames_; }
    int64_t uploaded_frames() const { return uploaded_frames_; }

  private:
    CudaFrameUploader() = default;
    std::atomic<int64_t> device_frames_ = 0, uploaded_frames_ = 0;
    int cuda_device_ = 0;  // the current device when created
    void* pinned_ = nullptr;
    void* device_ = nullptr;
    size_t capacity_ = 0;
    void* copied_ = nullptr;  // cudaEvent_t: the last copy out of the staging
};

}  // namespace fovea::vision
