// NVDEC pictures kept in GPU memory: FFmpeg's CUDA device on the CUDA runtime's primary context, and a pool of our
// own NV12 buffers that decoded pictures are copied into. Internal to src/media; no CUDA header here. In a build
// without CUDA, device_frames_built() is false and the rest fails with kUnsupported.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "media/ffmpeg_util.h"
#include "media/frame.h"

namespace fovea::media::detail {

// Whether this build keeps NVDEC pictures on the GPU (it has the CUDA runtime whose kernels read them).
bool device_frames_built();

// FFmpeg's CUDA device (for AVCodecContext::hw_device_ctx) on the primary context of the CUDA runtime's current
// device, whose index goes to `device`. The decoder's surfaces then live in the very context our kernels run in.
//
// Not av_hwdevice_ctx_create(..., AV_CUDA_USE_PRIMARY_CONTEXT): FFmpeg 5.1 wants the primary context with
// CU_CTX_SCHED_BLOCKING_SYNC and refuses one that is already active with other flags ("Primary context already
// active with incompatible flags"), which is what a pipeline's CUDA engine, created before its streams, leaves. We
// retain the primary context ourselves (driver entry points through the runtime: no link to libcuda) and hand it to
// FFmpeg, which then uses it as it is and never destroys it; the device's free callback releases our retain.
Status create_cuda_device(AVBufferRef** out, int& device);

// NV12 device buffers of one frame size, recycled. A decoded picture is copied into one (device to device, ~3 MB
// for 1080p: microseconds) and the AVFrame is released at once, so NVDEC gets its surface back immediately.
//
// Why not keep the AVFrame: FFmpeg 5.1's nvdec hands out its mapped decode surfaces themselves, from a fixed pool
// (the DPB, + 3, + frame threads, + extra_hw_frames; NVDEC allows about 32). Every frame held in a queue, a batch, or
// the event bus on its way to a snapshot would hold one; when they run out the decoder fails frames ("No decoder
// surfaces left") rather than waiting, and raising extra_hw_frames to cover queue_depth + max_batch + the sinks
// overruns the 32 and makes decoder creation fail. Our buffers have no such cap: memory grows with the frames in
// flight, which the pipeline's queues bound, and idle buffers beyond a few are freed.
//
// Thread-safe. Surfaces keep their pool alive, so frames may outlive the source that made them.
class DeviceFramePool : public std::enable_shared_from_this<DeviceFramePool> {
  public:
    static Result<std::shared_ptr<DeviceFramePool>> create(int device, int width, int height);
    ~DeviceFramePool();
    DeviceFramePool(const DeviceFramePool&) = delete;
    DeviceFramePool& operator=(const DeviceFramePool&) = delete;

    // Copies a decoded picture (an AV_PIX_FMT_CUDA frame with NV12 surfaces, of the pool's size) into a pooled
    // buffer. Returns once the copy has finished: the AVFrame may be released right after.
    Result<std::shared_ptr<const DeviceSurface>> copy(const AVFrame& picture);

    int width() const { return width_; }
    int height() const { return height_; }
    int device() const { return device_; }

  private:
    DeviceFramePool(int device, int width, int height) : device_(device), width_(width), height_(height) {}
    Result<void*> take();
    void give_back(void* buffer);
    friend class PooledSurface;

    int device_ = 0, width_ = 0, height_ = 0;
    size_t pitch_ = 0;
    void* stream_ = nullptr;  // cudaStream_t: ordered after the legacy default stream NVDEC maps surfaces on
    std::mutex mu_;
    std::vector<void*> idle_;
};

}  // namespace fovea::media::detail
