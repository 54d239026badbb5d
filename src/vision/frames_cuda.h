// Host frames to device memory for CudaPreprocessor: copied into pinned staging, then one asynchronous copy to the
// device. No CUDA header here; without CUDA in the build, create() returns kUnsupported.
#pragma once

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

    // Enqueues the copy on cuda_stream (a cudaStream_t). The images point into device memory that stays valid until
    // the next upload, which first waits for this one's copy to finish (the staging is reused).
    Result<std::vector<DeviceImage>> upload(std::span<const media::Frame* const> frames, void* cuda_stream);

  private:
    CudaFrameUploader() = default;
    void* pinned_ = nullptr;
    void* device_ = nullptr;
    size_t capacity_ = 0;
    void* copied_ = nullptr;  // cudaEvent_t: the last copy out of the staging
};

}  // namespace fovea::vision
