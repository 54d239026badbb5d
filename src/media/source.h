// Source: where frames come from (files, network streams, V4L2 cameras, image folders, a synthetic pattern).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "fovea/status.h"
#include "media/frame.h"

namespace fovea::media {

// What to open and how. make_source validates it; nothing is opened until Source::open.
struct SourceSpec {
    std::string name;   // for messages ("cam3"); the uri when empty
    std::string uri;    // file path, rtsp/rtmp/http(s) URL, /dev/videoN, image directory, or "synthetic"
    std::string type;   // "file" | "rtsp" | "rtmp" | "http" | "v4l2" | "images" | "synthetic"; empty: inferred from uri
    bool loop = false;  // file/images: start over at the end instead of ending (ignored by live sources)
    bool realtime = true;  // file/images: pace frames by their timestamps like a live camera; false: as fast as decoded
    double fps = 0;        // images/synthetic: frames per second (0: 25); v4l2: requested rate (0: device default)
    int width = 0, height = 0;       // synthetic: frame size (0: 1280x720); v4l2: requested size (0: device default)
    std::string transport = "tcp";   // rtsp: "tcp" | "udp"
    int timeout_ms = 5000;           // network sources: open and read timeout; a stalled stream fails after this
    std::string hw_decode = "auto";  // "auto" (CUDA/NVDEC when a GPU is usable, else CPU), "cuda" (required), "none"
    uint64_t seed = 0;               // synthetic: content is a pure function of (seed, frame index)
};

struct SourceCounters {
    int64_t frames = 0;   // frames returned by read()
    int64_t corrupt = 0;  // packets or frames that failed to decode, skipped
    int64_t paced_us = 0;  // time read() slept to keep stored media at real time (not decoding work)
};

// One stream of frames. Not thread-safe: one thread owns it. Lifetime: open, read until false or an error, close;
// open may be called again after close (a reconnect), and the frame index then starts over at 0.
class Source {
  public:
    virtual ~Source() = default;
    // Connects or opens; an error names the uri and the reason.
    virtual Status open() = 0;
    // true: a frame (stamped, index set); false: end of stream; error: broken stream or connection (or a stall
    // longer than timeout_ms). Frames are BGR24, or NV12 when hardware decoding is in use.
    virtual Result<bool> read(Frame& frame) = 0;
    // Releases everything; idempotent.
    virtual void close() = 0;
    virtual const SourceCounters& counters() const = 0;
    // e.g. "file clip.mp4 (h264 1920x1080 30 fps, cpu decode)" after open.
    virtual std::string describe() const = 0;
};

// Validates the spec (unknown type, bad values) without opening anything.
Result<std::unique_ptr<Source>> make_source(const SourceSpec& spec);

// One still image (JPEG, PNG, BMP, ... whatever FFmpeg decodes as a single picture) as a BGR24 frame at its native
// size, stamped as captured now. Errors name the path: a missing file (not_found), a file that is no image, or a
// video (invalid_argument).
Result<Frame> read_image(const std::string& path);
// Turns FFmpeg's own log lines off for the whole process (they repeat, on stderr, what errors already say): for
// command-line tools that print one line per error.
void quiet_ffmpeg_log();

// The type make_source would use for this spec ("file", "rtsp", ...), or an error for an unknown scheme.
Result<std::string> resolve_source_type(const SourceSpec& spec);

}  // namespace fovea::media
