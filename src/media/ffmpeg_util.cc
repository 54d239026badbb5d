#include "media/ffmpeg_util.h"

#include <dlfcn.h>

#include <cerrno>
#include <mutex>

extern "C" {
#include <libavutil/error.h>
#include <libavutil/pixdesc.h>
}

namespace fovea::media::detail {

bool init_ffmpeg_devices() {
    // libavdevice is loaded only when a camera is opened: linking it would drag libavfilter and some hundred more
    // libraries (SDL, X11, rsvg, ...) into every process, and into every bundle sent to a GPU machine.
    static bool ok = false;
    static std::once_flag once;
    std::call_once(once, [] {
        void* lib = dlopen("libavdevice.so." FOVEA_AVDEVICE_SOVERSION, RTLD_NOW | RTLD_GLOBAL);
        if (!lib) return;
        auto register_all = reinterpret_cast<void (*)()>(dlsym(lib, "avdevice_register_all"));
        if (!register_all) return;
        register_all();
        ok = true;
    });
    return ok;
}

std::string av_error_text(int err) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {};
    if (av_strerror(err, buf, sizeof(buf)) < 0) return "FFmpeg error " + std::to_string(err);
    return buf;
}

Status status_from_av(int err, const std::string& what) {
    std::string message = what + ": " + av_error_text(err);
    // HTTP_NOT_FOUND: a 404 from an RTSP or HTTP server (a wrong path on a live server).
    if (err == AVERROR(ENOENT) || err == AVERROR_STREAM_NOT_FOUND || err == AVERROR_PROTOCOL_NOT_FOUND ||
        err == AVERROR_HTTP_NOT_FOUND) {
        return not_found(std::move(message));
    }
    if (err == AVERROR_INVALIDDATA || err == AVERROR_DECODER_NOT_FOUND || err == AVERROR_DEMUXER_NOT_FOUND) {
        return invalid_argument(std::move(message));
    }
    if (err == AVERROR(ENOSYS) || err == AVERROR_PATCHWELCOME) return unsupported(std::move(message));
    return io_error(std::move(message));
}

Status check_frame(const Frame& frame, const char* what) {
    if (frame.empty()) return invalid_argument(std::string(what) + ": empty frame");
    if (!frame.on_host()) return invalid_argument(std::string(what) + ": a GPU frame without host pixels (host_frame)");
    if (frame.width <= 0 || frame.height <= 0) {
        return invalid_argument(std::string(what) + ": bad frame size " + std::to_string(frame.width) + "x" +
                                std::to_string(frame.height));
    }
    const int min_stride = frame.format == PixelFormat::kBGR24 ? frame.width * 3 : frame.width;
    if (frame.stride < min_stride) {
        return invalid_argument(std::string(what) + ": stride " + std::to_string(frame.stride) + " < " +
                                std::to_string(min_stride));
    }
    if (frame.format == PixelFormat::kNV12 && (frame.width % 2 != 0 || frame.height % 2 != 0)) {
        return invalid_argument(std::string(what) + ": NV12 frame with odd size");
    }
    return Status::ok();
}

AVPixelFormat av_format_of(PixelFormat format) {
    switch (format) {
        case PixelFormat::kBGR24:
            return AV_PIX_FMT_BGR24;
        case PixelFormat::kNV12:
            return AV_PIX_FMT_NV12;
    }
    return AV_PIX_FMT_NONE;
}

void frame_planes(const Frame& frame, const uint8_t* data[4], int linesize[4]) {
    data[0] = frame.pixels.get();
    linesize[0] = frame.stride;
    data[1] = data[2] = data[3] = nullptr;
    linesize[1] = linesize[2] = linesize[3] = 0;
    if (frame.format == PixelFormat::kNV12) {
        data[1] = frame.pixels.get() + static_cast<size_t>(frame.stride) * static_cast<size_t>(frame.height);
        linesize[1] = frame.stride;
    }
}

namespace {
// The deprecated "J" formats are full-range YUV; swscale wants the plain format plus an explicit range.
AVPixelFormat unjpeg(AVPixelFormat f, bool& full_range) {
    switch (f) {
        case AV_PIX_FMT_YUVJ420P:
            full_range = true;
            return AV_PIX_FMT_YUV420P;
        case AV_PIX_FMT_YUVJ422P:
            full_range = true;
            return AV_PIX_FMT_YUV422P;
        case AV_PIX_FMT_YUVJ444P:
            full_range = true;
            return AV_PIX_FMT_YUV444P;
        case AV_PIX_FMT_YUVJ440P:
            full_range = true;
            return AV_PIX_FMT_YUV440P;
        case AV_PIX_FMT_YUVJ411P:
            full_range = true;
            return AV_PIX_FMT_YUV411P;
        default:
            return f;
    }
}
}  // namespace

Status BgrConverter::convert(const AVFrame& src, Frame& out) {
    bool full_range = src.color_range == AVCOL_RANGE_JPEG;
    const AVPixelFormat in_format = unjpeg(static_cast<AVPixelFormat>(src.format), full_range);
    sws_.reset(sws_getCachedContext(sws_.release(), src.width, src.height, in_format, src.width, src.height,
                                    AV_PIX_FMT_BGR24, SWS_BILINEAR, nullptr, nullptr, nullptr));
    if (!sws_) {
        const char* name = av_get_pix_fmt_name(in_format);
        return unsupported(std::string("no conversion from pixel format ") + (name ? name : "?") + " to bgr24");
    }
    if (!(av_pix_fmt_desc_get(in_format)->flags & AV_PIX_FMT_FLAG_RGB)) {
        // Source range and matrix from the stream (BT.601 when unspecified); the output is full-range RGB.
        const int space = src.colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_ITU601;
        const int* coefs = sws_getCoefficients(space);
        sws_setColorspaceDetails(sws_.get(), coefs, full_range ? 1 : 0, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0,
                                 1 << 16, 1 << 16);
    }
    // Every byte is written by swscale: skip make_bgr_frame's zero fill (6 MB per 1080p frame).
    out = Frame{};
    out.width = src.width;
    out.height = src.height;
    out.stride = src.width * 3;
    out.format = PixelFormat::kBGR24;
    out.pixels = std::make_shared_for_overwrite<uint8_t[]>(static_cast<size_t>(out.stride) * src.height);
    uint8_t* dst[4] = {out.pixels.get(), nullptr, nullptr, nullptr};
    int dst_linesize[4] = {out.stride, 0, 0, 0};
    const int rows = sws_scale(sws_.get(), src.data, src.linesize, 0, src.height, dst, dst_linesize);
    if (rows != src.height) return internal_error("swscale produced " + std::to_string(rows) + " rows");
    return Status::ok();
}

}  // namespace fovea::media::detail
