// A media::DeviceSurface whose "device" planes live in host memory: the plumbing of frames decoded on the GPU (the
// lazy, shared, once-only download and every consumer's host path) tested on machines without a GPU. Header-only:
// the media, vision and pipeline tests share it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "media/frame.h"

namespace fovea::media::testing {

class HostBackedSurface final : public DeviceSurface {
  public:
    // A copy of a host NV12 frame, the chroma in an allocation of its own with a wider pitch than the luma (as the
    // device frames' planes may be). fail: every download fails. slow_ms: each download takes this long (races).
    static std::shared_ptr<HostBackedSurface> from(const Frame& nv12, bool fail = false, int slow_ms = 0) {
        const int luma_pitch = nv12.width + 16, chroma_pitch = nv12.width + 48;
        auto luma = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(luma_pitch) * nv12.height, 0xEE);
        auto chroma = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(chroma_pitch) * nv12.height / 2, 0xEE);
        for (int y = 0; y < nv12.height; ++y)
            std::memcpy(luma->data() + static_cast<size_t>(y) * luma_pitch, nv12.row(y), static_cast<size_t>(nv12.width));
        for (int y = 0; y < nv12.height / 2; ++y)
            std::memcpy(chroma->data() + static_cast<size_t>(y) * chroma_pitch, nv12.row(nv12.height + y),
                        static_cast<size_t>(nv12.width));
        DevicePlanes p;
        p.luma = luma->data();
        p.chroma = chroma->data();
        p.luma_pitch = luma_pitch;
        p.chroma_pitch = chroma_pitch;
        p.device = -1;  // no CUDA device: never used in place by the GPU path
        return std::shared_ptr<HostBackedSurface>(
            new HostBackedSurface(p, nv12.width, nv12.height, std::move(luma), std::move(chroma), fail, slow_ms));
    }
    int calls() const { return calls_; }

  protected:
    Status download(uint8_t* dst, int stride) const override {
        ++calls_;
        if (slow_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms_));
        if (fail_) return io_error("the test surface refuses to download");
        const DevicePlanes& p = planes();
        for (int y = 0; y < height(); ++y)
            std::memcpy(dst + static_cast<size_t>(y) * stride, p.luma + static_cast<size_t>(y) * p.luma_pitch,
                        static_cast<size_t>(width()));
        for (int y = 0; y < height() / 2; ++y)
            std::memcpy(dst + static_cast<size_t>(height() + y) * stride, p.chroma + static_cast<size_t>(y) * p.chroma_pitch,
                        static_cast<size_t>(width()));
        return Status::ok();
    }

  private:
    HostBackedSurface(const DevicePlanes& p, int w, int h, std::shared_ptr<std::vector<uint8_t>> luma,
                      std::shared_ptr<std::vector<uint8_t>> chroma, bool fail, int slow_ms)
        : DeviceSurface(p, w, h), luma_(std::move(luma)), chroma_(std::move(chroma)), fail_(fail), slow_ms_(slow_ms) {}
    std::shared_ptr<std::vector<uint8_t>> luma_, chroma_;
    bool fail_ = false;
    int slow_ms_ = 0;
    mutable std::atomic<int> calls_ = 0;
};

// The frame as the GPU decode path makes it: the picture only in the surface, no host pixels, the metadata kept.
inline Frame device_only_frame(const Frame& nv12, std::shared_ptr<const DeviceSurface> surface) {
    Frame f = nv12;
    f.pixels = nullptr;
    f.stride = 0;
    f.format = PixelFormat::kNV12;
    f.device = std::move(surface);
    return f;
}

}  // namespace fovea::media::testing
