#include "vision/frames_cuda.h"

#include <cstring>
#include <string>

#ifdef FOVEA_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "core/cuda_status.h"
#endif

namespace fovea::vision {

#ifdef FOVEA_HAVE_CUDA

namespace {

Status cuda_error(cudaError_t e, const std::string& what) {
    return cuda_status(e, "CudaFrameUploader: " + what);
}

size_t frame_bytes(const media::Frame& f) {
    const size_t rows = f.format == media::PixelFormat::kNV12 ? static_cast<size_t>(f.height) * 3 / 2
                                                               : static_cast<size_t>(f.height);
    return rows * static_cast<size_t>(f.stride);
}

}  // namespace

Result<std::unique_ptr<CudaFrameUploader>> CudaFrameUploader::create() {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        cudaGetLastError();
        return unsupported("CudaFrameUploader: no CUDA device (or no driver)");
    }
    std::unique_ptr<CudaFrameUploader> u(new CudaFrameUploader());
    FOVEA_TRY(cuda_error(cudaGetDevice(&u->cuda_device_), "cudaGetDevice"));
    cudaEvent_t event = nullptr;
    FOVEA_TRY(cuda_error(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "creating an event"));
    u->copied_ = event;
    return u;
}

CudaFrameUploader::~CudaFrameUploader() {
    if (copied_) {
        cudaEventSynchronize(static_cast<cudaEvent_t>(copied_));
        cudaEventDestroy(static_cast<cudaEvent_t>(copied_));
    }
    if (pinned_) cudaFreeHost(pinned_);
    if (device_) cudaFree(device_);
}

Result<std::vector<DeviceImage>> CudaFrameUploader::upload(std::span<const media::Frame* const> frames,
                                                           void* cuda_stream) {
    // Host pixels of the frames that go up (GPU frames of another device: their downloaded copy).
    std::vector<media::Frame> host(frames.size());
    std::vector<size_t> offsets(frames.size(), 0);
    size_t total = 0;
    for (size_t i = 0; i < frames.size(); ++i) {
        const media::Frame* f = frames[i];
        if (f == nullptr || f->empty()) return invalid_argument("CudaFrameUploader: an empty frame");
        if (f->on_device() && f->device->planes().device == cuda_device_) continue;
        FOVEA_ASSIGN(host[i], media::host_frame(*f));
        offsets[i] = total;
        total += (frame_bytes(host[i]) + 255) / 256 * 256;
    }
    std::vector<DeviceImage> images(frames.size());
    for (size_t i = 0; i < frames.size(); ++i) {
        if (host[i].on_host()) continue;
        images[i] = device_image(*frames[i]);  // zero-copy: the decoder's picture, where it is
        ++device_frames_;
    }
    if (total == 0) return images;  // every frame is on the GPU already: nothing to copy

    FOVEA_TRY(cuda_error(cudaEventSynchronize(static_cast<cudaEvent_t>(copied_)), "waiting for the last copy"));
    if (total > capacity_) {
        // Grows only, with headroom, so that a stream of same-sized batches allocates once.
        if (pinned_) cudaFreeHost(pinned_);
        if (device_) cudaFree(device_);
        pinned_ = device_ = nullptr;
        capacity_ = 0;
        const size_t want = total + total / 4;
        FOVEA_TRY(cuda_error(cudaMallocHost(&pinned_, want), "cudaMallocHost"));
        FOVEA_TRY(cuda_error(cudaMalloc(&device_, want), "cudaMalloc"));
        capacity_ = want;
    }
    for (size_t i = 0; i < frames.size(); ++i) {
        const media::Frame& f = host[i];
        if (!f.on_host()) continue;
        std::memcpy(static_cast<std::byte*>(pinned_) + offsets[i], f.pixels.get(), frame_bytes(f));
        images[i] = {static_cast<const uint8_t*>(device_) + offsets[i], f.width, f.height, f.stride, f.format};
        ++uploaded_frames_;
    }
    auto stream = static_cast<cudaStream_t>(cuda_stream);
    FOVEA_TRY(cuda_error(cudaMemcpyAsync(device_, pinned_, total, cudaMemcpyHostToDevice, stream), "copy to device"));
    FOVEA_TRY(cuda_error(cudaEventRecord(static_cast<cudaEvent_t>(copied_), stream), "recording an event"));
    return images;
}

#else  // no CUDA in this build

Result<std::unique_ptr<CudaFrameUploader>> CudaFrameUploader::create() {
    return unsupported("CudaFrameUploader: this build has no CUDA");
}
CudaFrameUploader::~CudaFrameUploader() = default;
Result<std::vector<DeviceImage>> CudaFrameUploader::upload(std::span<const media::Frame* const>, void*) {
    return unsupported("CudaFrameUploader: this build has no CUDA");
}

#endif

}  // namespace fovea::vision
