// Encoders: JPEG snapshots and video files, through FFmpeg's libavcodec.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fovea/status.h"
#include "media/frame.h"

namespace fovea::media {

// A JPEG (FFmpeg's mjpeg encoder, 4:2:0, full range) of a BGR24 or NV12 frame; quality 1 (smallest) to 100.
Result<std::vector<uint8_t>> encode_jpeg(const Frame& frame, int quality = 90);
// encode_jpeg written to `path` (replaced if present).
Status write_jpeg(const std::string& path, const Frame& frame, int quality = 90);

// Writes H.264 (libx264; mpeg4 when libavcodec lacks it) into the container the extension names (.mp4, .mkv, .avi),
// at a constant frame rate. Lifetime: open, write frames, close (the destructor closes too, dropping its Status).
class VideoWriter {
  public:
    // crf: libx264's constant rate factor (0-51, lower is better); preset: libx264's speed/size trade-off
    // ("ultrafast" ... "veryslow"). Width and height must be even (4:2:0).
    static Result<std::unique_ptr<VideoWriter>> open(const std::string& path, int width, int height, double fps,
                                                     int crf = 23, const std::string& preset = "veryfast");
    ~VideoWriter();
    VideoWriter(const VideoWriter&) = delete;
    VideoWriter& operator=(const VideoWriter&) = delete;

    // BGR24 or NV12, of the size given to open; converted to the encoder's format.
    Status write(const Frame& frame);
    // Flushes the encoder and writes the trailer; idempotent.
    Status close();

    int64_t frames_written() const;
    const std::string& codec_name() const;  // "libx264" or "mpeg4"

    struct Impl;

  private:
    explicit VideoWriter(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace fovea::media
