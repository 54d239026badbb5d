#include "media/cuda_frames.h"

#include <string>

#ifdef FOVEA_HAVE_CUDA
#include <cuda.h>
#include <cuda_runtime_api.h>

#include "core/cuda_status.h"
extern "C" {
#include <libavutil/hwcontext.h>
#include <libavutil/hwcontext_cuda.h>
}
#endif

namespace fovea::media::detail {

#ifdef FOVEA_HAVE_CUDA

namespace {

// Idle buffers kept per pool beyond those in use: enough for the usual churn, little memory held after a burst.
constexpr size_t kMaxIdleBuffers = 4;

// Makes `device` current on this thread for the guard's lifetime (threads start on device 0).
class DeviceGuard {
  public:
    explicit DeviceGuard(int device) {
        if (cudaGetDevice(&previous_) == cudaSuccess && previous_ != device) {
            if (cudaSetDevice(device) == cudaSuccess) switched_ = true;
        }
    }
    ~DeviceGuard() {
        if (switched_) cudaSetDevice(previous_);
    }
    DeviceGuard(const DeviceGuard&) = delete;
    DeviceGuard& operator=(const DeviceGuard&) = delete;

  private:
    int previous_ = 0;
    bool switched_ = false;
};

using PrimaryCtxRetainFn = CUresult(CUDAAPI*)(CUcontext*, CUdevice);
using PrimaryCtxReleaseFn = CUresult(CUDAAPI*)(CUdevice);
using DeviceGetFn = CUresult(CUDAAPI*)(CUdevice*, int);

// What the FFmpeg device's free callback needs to release our retain of the primary context.
struct PrimaryContextRetain {
    PrimaryCtxReleaseFn release = nullptr;
    CUdevice device = 0;
};

void release_primary_context(AVHWDeviceContext* ctx) {
    auto* retain = static_cast<PrimaryContextRetain*>(ctx->user_opaque);
    if (retain == nullptr) return;
    retain->release(retain->device);
    delete retain;
    ctx->user_opaque = nullptr;
}

template <typename Fn>
Status driver_entry_point(const char* name, Fn& fn) {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult found{};
    // The 12.0 ABI of each symbol (cuDevicePrimaryCtxRelease is its _v2 there).
    const cudaError_t e = cudaGetDriverEntryPointByVersion(name, &p, 12000, cudaEnableDefault, &found);
    if (e != cudaSuccess || found != cudaDriverEntryPointSuccess || p == nullptr) {
        cudaGetLastError();
        return unsupported(std::string("the CUDA driver has no ") + name);
    }
    fn = reinterpret_cast<Fn>(p);
    return Status::ok();
}

}  // namespace

// A pooled buffer: luma rows, then chroma rows, at the pool's pitch. Back to the pool when the last Frame lets go.
class PooledSurface final : public DeviceSurface {
  public:
    PooledSurface(std::shared_ptr<DeviceFramePool> pool, void* buffer, const DevicePlanes& planes)
        : DeviceSurface(planes, pool->width(), pool->height()), pool_(std::move(pool)), buffer_(buffer) {}
    ~PooledSurface() override { pool_->give_back(buffer_); }

  protected:
    Status download(uint8_t* dst, int stride) const override {
        const DevicePlanes& p = planes();
        DeviceGuard guard(p.device);
        const auto w = static_cast<size_t>(width()), s = static_cast<size_t>(stride);
        // Synchronous copies: the picture was complete when the pool handed it out.
        FOVEA_TRY(cuda_status(cudaMemcpy2D(dst, s, p.luma, static_cast<size_t>(p.luma_pitch), w,
                                           static_cast<size_t>(height()), cudaMemcpyDeviceToHost),
                              "downloading a GPU frame's luma"));
        FOVEA_TRY(cuda_status(cudaMemcpy2D(dst + s * static_cast<size_t>(height()), s, p.chroma,
                                           static_cast<size_t>(p.chroma_pitch), w, static_cast<size_t>(height() / 2),
                                           cudaMemcpyDeviceToHost),
                              "downloading a GPU frame's chroma"));
        return Status::ok();
    }

  private:
    std::shared_ptr<DeviceFramePool> pool_;
    void* buffer_;
};

bool device_frames_built() {
    return true;
}

Status create_cuda_device(AVBufferRef** out, int& device) {
    *out = nullptr;
    FOVEA_TRY(cuda_status(cudaGetDevice(&device), "cudaGetDevice"));
    // Brings up the runtime and its primary context on this device (a no-op when the engine already did).
    FOVEA_TRY(cuda_status(cudaFree(nullptr), "initializing the CUDA runtime"));
    PrimaryCtxRetainFn retain = nullptr;
    PrimaryCtxReleaseFn release = nullptr;
    DeviceGetFn device_get = nullptr;
    FOVEA_TRY(driver_entry_point("cuDevicePrimaryCtxRetain", retain));
    FOVEA_TRY(driver_entry_point("cuDevicePrimaryCtxRelease", release));
    FOVEA_TRY(driver_entry_point("cuDeviceGet", device_get));
    CUdevice cu_device = 0;
    if (device_get(&cu_device, device) != CUDA_SUCCESS)
        return internal_error("cuDeviceGet(" + std::to_string(device) + ") failed");
    CUcontext context = nullptr;
    if (retain(&context, cu_device) != CUDA_SUCCESS) return internal_error("cannot retain the primary CUDA context");

    AVBufferRef* ref = av_hwdevice_ctx_alloc(AV_HWDEVICE_TYPE_CUDA);
    if (ref == nullptr) {
        release(cu_device);
        return internal_error("out of memory");
    }
    auto* hw = reinterpret_cast<AVHWDeviceContext*>(ref->data);
    static_cast<AVCUDADeviceContext*>(hw->hwctx)->cuda_ctx = context;  // stream stays null: the legacy default stream
    hw->user_opaque = new PrimaryContextRetain{release, cu_device};
    hw->free = &release_primary_context;  // also runs when init fails and ref is dropped
    const int err = av_hwdevice_ctx_init(ref);
    if (err < 0) {
        av_buffer_unref(&ref);
        return status_from_av(err, "FFmpeg's CUDA device on the primary context");
    }
    *out = ref;
    return Status::ok();
}

Result<std::shared_ptr<DeviceFramePool>> DeviceFramePool::create(int device, int width, int height) {
    if (width <= 0 || height <= 0 || width % 2 != 0 || height % 2 != 0)
        return invalid_argument("GPU frames are NV12 of an even size, not " + std::to_string(width) + "x" +
                                std::to_string(height));
    std::shared_ptr<DeviceFramePool> pool(new DeviceFramePool(device, width, height));
    DeviceGuard guard(device);
    // A blocking stream: it waits for the legacy default stream, where NVDEC finishes the surfaces it maps (FFmpeg's
    // device has no stream of its own), so the copy never reads a picture before it is there.
    cudaStream_t stream = nullptr;
    FOVEA_TRY(cuda_status(cudaStreamCreateWithFlags(&stream, cudaStreamDefault), "creating a stream"));
    pool->stream_ = stream;
    return pool;
}

DeviceFramePool::~DeviceFramePool() {
    DeviceGuard guard(device_);
    for (void* b : idle_) cudaFree(b);
    if (stream_) cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
}

Result<void*> DeviceFramePool::take() {
    {
        std::lock_guard lock(mu_);
        if (!idle_.empty()) {
            void* b = idle_.back();
            idle_.pop_back();
            return b;
        }
    }
    void* b = nullptr;
    size_t pitch = 0;
    FOVEA_TRY(cuda_status(cudaMallocPitch(&b, &pitch, static_cast<size_t>(width_), static_cast<size_t>(height_) * 3 / 2),
                          "allocating a GPU frame"));
    std::lock_guard lock(mu_);
    if (pitch_ == 0) pitch_ = pitch;
    if (pitch != pitch_) {  // cudaMallocPitch gives one pitch per width; this would be a runtime surprise
        cudaFree(b);
        return internal_error("cudaMallocPitch changed its pitch");
    }
    return b;
}

void DeviceFramePool::give_back(void* buffer) {
    {
        std::lock_guard lock(mu_);
        if (idle_.size() < kMaxIdleBuffers) {
            idle_.push_back(buffer);
            return;
        }
    }
    // Past a burst: give the memory back (cudaFree synchronizes the device, so this stays rare).
    DeviceGuard guard(device_);
    cudaFree(buffer);
}

Result<std::shared_ptr<const DeviceSurface>> DeviceFramePool::copy(const AVFrame& picture) {
    if (picture.format != AV_PIX_FMT_CUDA || picture.data[0] == nullptr || picture.data[1] == nullptr)
        return invalid_argument("not a CUDA frame");
    if (picture.width != width_ || picture.height != height_)
        return invalid_argument("a " + std::to_string(picture.width) + "x" + std::to_string(picture.height) +
                                " picture for a pool of " + std::to_string(width_) + "x" + std::to_string(height_));
    DeviceGuard guard(device_);
    FOVEA_ASSIGN(void* buffer, take());
    auto* base = static_cast<uint8_t*>(buffer);
    DevicePlanes planes;
    planes.luma = base;
    planes.chroma = base + pitch_ * static_cast<size_t>(height_);
    planes.luma_pitch = planes.chroma_pitch = static_cast<int>(pitch_);
    planes.device = device_;
    // From here the buffer belongs to the surface: an error below returns it to the pool with the surface.
    auto surface = std::make_shared<PooledSurface>(shared_from_this(), buffer, planes);
    auto stream = static_cast<cudaStream_t>(stream_);
    const auto w = static_cast<size_t>(width_);
    // data[1] is not data[0] + pitch * height: NVDEC's surfaces are coded-height tall (1088 rows for 1080p).
    FOVEA_TRY(cuda_status(cudaMemcpy2DAsync(base, pitch_, picture.data[0], static_cast<size_t>(picture.linesize[0]), w,
                                            static_cast<size_t>(height_), cudaMemcpyDeviceToDevice, stream),
                          "copying a decoded frame's luma"));
    FOVEA_TRY(cuda_status(cudaMemcpy2DAsync(base + pitch_ * static_cast<size_t>(height_), pitch_, picture.data[1],
                                            static_cast<size_t>(picture.linesize[1]), w,
                                            static_cast<size_t>(height_ / 2), cudaMemcpyDeviceToDevice, stream),
                          "copying a decoded frame's chroma"));
    // The caller releases the AVFrame (and NVDEC unmaps its surface) right after: the copy must be done by then.
    FOVEA_TRY(cuda_status(cudaStreamSynchronize(stream), "copying a decoded frame"));
    return std::shared_ptr<const DeviceSurface>(std::move(surface));
}

#else  // no CUDA in this build: NVDEC pictures are downloaded as they come (av_source.cc)

bool device_frames_built() {
    return false;
}

Status create_cuda_device(AVBufferRef** out, int& device) {
    *out = nullptr;
    device = 0;
    return unsupported("this build has no CUDA runtime");
}

Result<std::shared_ptr<DeviceFramePool>> DeviceFramePool::create(int, int, int) {
    return unsupported("this build has no CUDA runtime");
}

DeviceFramePool::~DeviceFramePool() = default;

Result<std::shared_ptr<const DeviceSurface>> DeviceFramePool::copy(const AVFrame&) {
    return unsupported("this build has no CUDA runtime");
}

Result<void*> DeviceFramePool::take() {
    return unsupported("this build has no CUDA runtime");
}

void DeviceFramePool::give_back(void*) {}

#endif

}  // namespace fovea::media::detail
