// Frame: one decoded picture and where it came from. Header-only, so every layer above media can carry frames.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

namespace fovea::media {

using Clock = std::chrono::steady_clock;

enum class PixelFormat : uint8_t {
    kBGR24,  // packed 8-bit B,G,R: what CPU decoding, image folders and the synthetic source produce
    kNV12,   // 8-bit luma plane, then interleaved U,V at half resolution (hardware decoders)
};

// Pixels are shared between copies of a Frame: copying is cheap and does not duplicate the image.
struct Frame {
    int width = 0;
    int height = 0;
    int stride = 0;  // bytes from one row to the next (BGR24: >= 3 * width; NV12: of the luma plane)
    PixelFormat format = PixelFormat::kBGR24;
    std::shared_ptr<uint8_t[]> pixels;  // host memory; NV12 keeps the UV plane right after height rows

    int64_t index = 0;                 // frame number since the source was opened, dropped frames included
    int64_t pts_us = -1;               // presentation time from the container; -1 when unknown
    Clock::time_point capture_time{};  // when the source produced the frame: latency is measured from here
    int64_t wall_time_us = 0;          // the system clock at capture, microseconds since the epoch (for events)

    bool empty() const { return pixels == nullptr; }
    uint8_t* row(int y) { return pixels.get() + static_cast<size_t>(y) * static_cast<size_t>(stride); }
    const uint8_t* row(int y) const { return pixels.get() + static_cast<size_t>(y) * static_cast<size_t>(stride); }
};

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
