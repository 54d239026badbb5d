// Frame: one decoded picture and where it came from. Header-only, so every layer above media can carry frames.
// No CUDA header here: a picture in GPU memory is reached through DeviceSurface's plain pointers.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>

#include "fovea/status.h"

namespace fovea::media {

using Clock = std::chrono::steady_clock;

enum class PixelFormat : uint8_t {
    kBGR24,  // packed 8-bit B,G,R: what CPU decoding, image folders and the synthetic source produce
    kNV12,   // 8-bit luma plane, then interleaved U,V at half resolution (hardware decoders)
};

// An NV12 picture in CUDA device memory, in the primary context of `device` (the CUDA runtime's numbering), so that
// kernels launched through the runtime API read it directly.
struct DevicePlanes {
    const uint8_t* luma = nullptr;    // height rows of width bytes
    const uint8_t* chroma = nullptr;  // height / 2 rows of interleaved U,V (width bytes)
    int luma_pitch = 0, chroma_pitch = 0;  // bytes from one row to the next
    int device = 0;
};

// A decoded picture in GPU memory (NV12, even size), shared by every copy of the Frame that carries it; the media
// layer makes them from NVDEC's output. The memory is reused once the last Frame lets go of it: keep a Frame alive
// until the GPU work that reads it has finished. host() is the one way to its pixels on the CPU.
class DeviceSurface {
  public:
    virtual ~DeviceSurface() = default;
    DeviceSurface(const DeviceSurface&) = delete;
    DeviceSurface& operator=(const DeviceSurface&) = delete;

    const DevicePlanes& planes() const { return planes_; }
    int width() const { return width_; }
    int height() const { return height_; }

    // The picture in host memory, NV12 with `width` bytes per row and the UV rows right after the luma rows (the
    // layout of a host NV12 Frame). Downloaded on the first call, by whichever thread asks first (the others wait),
    // then shared by every caller: at most one download per picture. A failed download is remembered, not retried.
    // Treat the bytes as read-only: every holder of the picture shares them.
    Result<std::shared_ptr<uint8_t[]>> host() const {
        std::lock_guard lock(mu_);
        if (!fetched_) {
            fetched_ = true;
            const size_t luma = static_cast<size_t>(width_) * static_cast<size_t>(height_);
            std::shared_ptr<uint8_t[]> pixels(new uint8_t[luma + luma / 2]);
            status_ = download(pixels.get(), width_);
            if (status_.is_ok()) host_ = std::move(pixels);
        }
        if (!status_.is_ok()) return status_;
        return host_;
    }
    // How many downloads host() has made (0 or 1): lets tests and statistics see that pictures stayed on the GPU.
    int downloads() const {
        std::lock_guard lock(mu_);
        return fetched_ ? 1 : 0;
    }

  protected:
    DeviceSurface(const DevicePlanes& planes, int width, int height)
        : planes_(planes), width_(width), height_(height) {}
    // Copies the picture into dst: NV12, `stride` bytes per row, the UV rows after `height` luma rows. Blocking.
    virtual Status download(uint8_t* dst, int stride) const = 0;

  private:
    DevicePlanes planes_;
    int width_ = 0, height_ = 0;
    mutable std::mutex mu_;
    mutable bool fetched_ = false;
    mutable Status status_;
    mutable std::shared_ptr<uint8_t[]> host_;
};

// Pixels are shared between copies of a Frame: copying is cheap and does not duplicate the image. A frame decoded by
// NVDEC carries its picture in GPU memory (`device`) and no host pixels until host_frame() fetches them.
struct Frame {
    int width = 0;
    int height = 0;
    int stride = 0;  // bytes from one host row to the next (BGR24: >= 3 * width; NV12: of the luma plane)
    PixelFormat format = PixelFormat::kBGR24;  // kNV12 for device pictures
    std::shared_ptr<uint8_t[]> pixels;  // host memory; NV12 keeps the UV plane right after height rows. Null for a
                                        // picture that is only on the GPU: use host_frame()
    std::shared_ptr<const DeviceSurface> device;  // the picture in GPU memory, or null

    int64_t index = 0;                 // frame number since the source was opened, dropped frames included
    int64_t pts_us = -1;               // presentation time from the container; -1 when unknown
    Clock::time_point capture_time{};  // when the source produced the frame: latency is measured from here
    int64_t wall_time_us = 0;          // the system clock at capture, microseconds since the epoch (for events)

    bool empty() const { return pixels == nullptr && device == nullptr; }  // no picture at all
    bool on_host() const { return pixels != nullptr; }
    bool on_device() const { return device != nullptr; }
    // Host rows; only for frames with host pixels (on_host()).
    uint8_t* row(int y) { return pixels.get() + static_cast<size_t>(y) * static_cast<size_t>(stride); }
    const uint8_t* row(int y) const { return pixels.get() + static_cast<size_t>(y) * static_cast<size_t>(stride); }
};

// The frame with host pixels: the frame itself when it has them; for a picture only on the GPU, a copy of the frame
// whose pixels are the picture's host copy (DeviceSurface::host(): downloaded once, on first demand, shared by every
// copy of the frame and every thread). Everything that reads pixels on the CPU goes through here.
inline Result<Frame> host_frame(const Frame& frame) {
    if (frame.pixels != nullptr || frame.device == nullptr) return frame;
    Result<std::shared_ptr<uint8_t[]>> pixels = frame.device->host();
    if (!pixels.is_ok()) return pixels.status();
    Frame f = frame;
    f.pixels = std::move(*pixels);
    f.stride = frame.width;
    f.format = PixelFormat::kNV12;
    return f;
}

// A zero-filled BGR24 frame with a tight stride.
inline Frame make_bgr_frame(int width, int height) {
    Frame f;
    f.width = width;
    f.height = height;
    f.stride = width * 3;
    f.format = PixelFormat::kBGR24;
    f.pixels = std::make_shared<uint8_t[]>(static_cast<size_t>(f.stride) * static_cast<size_t>(height));
    return f;
}

// Stamps a frame as captured now.
inline void stamp_capture(Frame& f) {
    f.capture_time = Clock::now();
    f.wall_time_us = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
}

}  // namespace fovea::media
