// FFmpeg plumbing shared by the media sources and encoders: owning pointers, error text, pixel conversion.
// Internal to src/media: nothing outside it includes FFmpeg headers.
#pragma once

#include <memory>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
}

#include "fovea/status.h"
#include "media/frame.h"

namespace fovea::media::detail {

struct FormatInputDeleter {
    void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct CodecContextDeleter {
    void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
    void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
    void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsDeleter {
    void operator()(SwsContext* s) const { sws_freeContext(s); }
};
struct BufferRefDeleter {
    void operator()(AVBufferRef* b) const { av_buffer_unref(&b); }
};
struct DictDeleter {
    void operator()(AVDictionary* d) const { av_dict_free(&d); }
};
using FormatInputPtr = std::unique_ptr<AVFormatContext, FormatInputDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using AvFramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;
using BufferRefPtr = std::unique_ptr<AVBufferRef, BufferRefDeleter>;

// Loads libavdevice and registers its inputs (v4l2) once per process; false when it cannot be loaded.
bool init_ffmpeg_devices();

// av_strerror's text for an AVERROR code.
std::string av_error_text(int err);

// A Status whose code follows the error (missing file: not_found, unreadable data: invalid_argument, else io_error),
// with `what` as the message prefix and FFmpeg's text after it.
Status status_from_av(int err, const std::string& what);

// Checks a Frame's fields before handing its pixels to FFmpeg.
Status check_frame(const Frame& frame, const char* what);

// Pointers and line sizes of a Frame's planes, as swscale wants them.
void frame_planes(const Frame& frame, const uint8_t* data[4], int linesize[4]);
AVPixelFormat av_format_of(PixelFormat format);

// Converts decoded pictures to BGR24 Frames; keeps its swscale context between pictures of the same shape.
class BgrConverter {
  public:
    Status convert(const AVFrame& src, Frame& out);
    void reset() { sws_.reset(); }

  private:
    SwsPtr sws_;
};

}  // namespace fovea::media::detail
