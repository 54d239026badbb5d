// Batched preprocessing on the GPU: one fused pass from decoded frames in device memory to a model's input tensor.
// Same conventions as preprocess() (preprocess.h): outputs agree with the CPU path to about one grey level.
// No CUDA header here (the stream is a void*), so CPU-only code includes this freely; without CUDA in the build,
// create() returns kUnsupported.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "fovea/status.h"
#include "media/frame.h"
#include "vision/preprocess.h"

namespace fovea::vision {

// A frame in device memory. NV12: the interleaved UV plane is at `chroma` with its own pitch (NVDEC's surfaces and
// our pooled copies of them); a null `chroma` means it follows `height` luma rows at the same pitch (as media::Frame
// lays it out on the host, and CudaFrameUploader uploads it).
struct DeviceImage {
    const uint8_t* data = nullptr;
    int width = 0, height = 0, pitch = 0;  // pitch in bytes
    media::PixelFormat format = media::PixelFormat::kBGR24;
    const uint8_t* chroma = nullptr;  // NV12 only
    int chroma_pitch = 0;
};

// The picture of a frame decoded on the GPU (media::Frame::device, which must be set), as CudaPreprocessor reads it.
// The frame must outlive the preprocessing that reads it.
inline DeviceImage device_image(const media::Frame& frame) {
    const media::DevicePlanes& p = frame.device->planes();
    return {p.luma, frame.width, frame.height, p.luma_pitch, media::PixelFormat::kNV12, p.chroma, p.chroma_pitch};
}

// Owns its device scratch (histograms and LUTs for equalization), sized for max_batch. Not thread-safe; runs
// reuse the scratch, so two runs must be ordered (the same stream, or the caller synchronizes).
class CudaPreprocessor {
  public:
    // Validates the spec; allocates scratch on the current device.
    static Result<std::unique_ptr<CudaPreprocessor>> create(const PreprocessSpec& spec, int max_batch);
    ~CudaPreprocessor();
    CudaPreprocessor(const CudaPreprocessor&) = delete;
    CudaPreprocessor& operator=(const CudaPreprocessor&) = delete;

    // Writes images.size() items into dst (device, input_item_bytes(spec) each, item i at i * bytes),
    // asynchronously on cuda_stream (a cudaStream_t; null = the default stream); fills transforms (host) at once.
    // rois and transforms have one entry per image; images and dst must stay valid until the stream has run.
    Status run(std::span<const DeviceImage> images, std::span<const Rect> rois, void* dst, void* cuda_stream,
               std::span<InputTransform> transforms);

    const PreprocessSpec& spec() const { return spec_; }
    int max_batch() const { return max_batch_; }

  private:
    CudaPreprocessor(const PreprocessSpec& spec, int max_batch) : spec_(spec), max_batch_(max_batch) {}
    PreprocessSpec spec_;
    int max_batch_ = 0;
    uint32_t* histograms_ = nullptr;  // device: [max_batch][tiles][256]
    uint8_t* luts_ = nullptr;         // device: [max_batch][tiles][256]
};

// Whether a CUDA device can be used: false (never throws, never aborts) without a driver or a GPU, or in a build
// without CUDA.
bool cuda_device_available();

}  // namespace fovea::vision
