#include "media/encode.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

extern "C" {
#include <libavutil/opt.h>
}

#include "media/ffmpeg_util.h"

namespace fovea::media {
namespace {

using detail::AvFramePtr;
using detail::CodecContextPtr;
using detail::PacketPtr;
using detail::SwsPtr;

// Converts a Frame into `dst` (already allocated in its pixel format and size), full or limited range.
Status convert_into(const Frame& frame, AVFrame& dst, bool full_range, SwsPtr& sws) {
    const AVPixelFormat src_format = detail::av_format_of(frame.format);
    const auto dst_format = static_cast<AVPixelFormat>(dst.format);
    const AVPixelFormat plain_dst = dst_format == AV_PIX_FMT_YUVJ420P ? AV_PIX_FMT_YUV420P : dst_format;
    // swscale's fast BGR24->YUV420P path ignores the range; accurate rounding avoids it (JPEG is full range).
    const int flags = full_range ? SWS_BILINEAR | SWS_ACCURATE_RND : SWS_BILINEAR;
    sws.reset(sws_getCachedContext(sws.release(), frame.width, frame.height, src_format, dst.width, dst.height,
                                   plain_dst, flags, nullptr, nullptr, nullptr));
    if (!sws) return unsupported("no pixel conversion to the encoder's format");
    const int* bt601 = sws_getCoefficients(SWS_CS_ITU601);
    // NV12 input is limited-range video; BGR input full-range RGB.
    const int src_range = frame.format == PixelFormat::kBGR24 ? 1 : 0;
    sws_setColorspaceDetails(sws.get(), bt601, src_range, bt601, full_range ? 1 : 0, 0, 1 << 16, 1 << 16);
    const uint8_t* src[4];
    int src_linesize[4];
    detail::frame_planes(frame, src, src_linesize);
    const int rows = sws_scale(sws.get(), src, src_linesize, 0, frame.height, dst.data, dst.linesize);
    if (rows != dst.height) return internal_error("swscale produced " + std::to_string(rows) + " rows");
    return Status::ok();
}

}  // namespace

Result<std::vector<uint8_t>> encode_jpeg(const Frame& input, int quality) {
    // A frame decoded on the GPU is fetched here (once per frame, shared with every other reader).
    Result<Frame> host = host_frame(input);
    if (!host.is_ok()) return host.status().with_context("encode_jpeg");
    const Frame& frame = *host;
    FOVEA_TRY(detail::check_frame(frame, "encode_jpeg"));
    if (quality < 1 || quality > 100) {
        return invalid_argument("encode_jpeg: quality must be in [1, 100], got " + std::to_string(quality));
    }
    const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    if (!codec) return unsupported("encode_jpeg: this FFmpeg has no mjpeg encoder");
    CodecContextPtr enc(avcodec_alloc_context3(codec));
    AvFramePtr picture(av_frame_alloc());
    PacketPtr pkt(av_packet_alloc());
    if (!enc || !picture || !pkt) return internal_error("encode_jpeg: out of memory");
    // 4:2:0 needs even sizes; odd ones are encoded with the last row/column repeated by swscale's scaler.
    enc->width = frame.width;
    enc->height = frame.height;
    enc->pix_fmt = AV_PIX_FMT_YUVJ420P;
    enc->color_range = AVCOL_RANGE_JPEG;
    enc->time_base = AVRational{1, 25};
    // Quality 100 maps to quantizer 2 (mjpeg's finest by default), 1 to 31 (coarsest).
    const int q = 2 + static_cast<int>(std::lround((100.0 - quality) * 29.0 / 99.0));
    enc->flags |= AV_CODEC_FLAG_QSCALE;
    enc->global_quality = q * FF_QP2LAMBDA;
    enc->qmin = enc->qmax = q;
    int err = avcodec_open2(enc.get(), codec, nullptr);
    if (err < 0) return detail::status_from_av(err, "encode_jpeg: cannot open the mjpeg encoder");

    picture->format = enc->pix_fmt;
    picture->width = frame.width;
    picture->height = frame.height;
    picture->quality = enc->global_quality;
    picture->color_range = AVCOL_RANGE_JPEG;
    err = av_frame_get_buffer(picture.get(), 0);
    if (err < 0) return detail::status_from_av(err, "encode_jpeg: picture buffer");
    SwsPtr sws;
    FOVEA_TRY(convert_into(frame, *picture, true, sws).with_context("encode_jpeg"));

    err = avcodec_send_frame(enc.get(), picture.get());
    if (err < 0) return detail::status_from_av(err, "encode_jpeg: encoding");
    err = avcodec_receive_packet(enc.get(), pkt.get());
    if (err < 0) return detail::status_from_av(err, "encode_jpeg: encoding");
    return std::vector<uint8_t>(pkt->data, pkt->data + pkt->size);
}

Status write_jpeg(const std::string& path, const Frame& frame, int quality) {
    FOVEA_ASSIGN(const std::vector<uint8_t> bytes, encode_jpeg(frame, quality));
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return io_error("write_jpeg: cannot create " + path + ": " + std::strerror(errno));
    const size_t written = std::fwrite(bytes.data(), 1, bytes.size(), f);
    const int write_errno = errno;
    if (std::fclose(f) != 0 || written != bytes.size()) {
        return io_error("write_jpeg: cannot write " + path + ": " + std::strerror(write_errno));
    }
    return Status::ok();
}

struct VideoWriter::Impl {
    std::string path;
    int width = 0;
    int height = 0;
    AVFormatContext* out = nullptr;  // owned; freed in close() (output contexts have no unique_ptr helper)
    AVStream* stream = nullptr;
    CodecContextPtr enc;
    AvFramePtr picture;
    PacketPtr pkt;
    SwsPtr sws;
    std::string codec_name;
    int64_t next_pts = 0;
    bool header_written = false;
    bool closed = false;

    // Moves every packet the encoder has ready into the file.
    Status drain() {
        for (;;) {
            int err = avcodec_receive_packet(enc.get(), pkt.get());
            if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return Status::ok();
            if (err < 0) return detail::status_from_av(err, "VideoWriter " + path + ": encoding");
            av_packet_rescale_ts(pkt.get(), enc->time_base, stream->time_base);
            pkt->stream_index = stream->index;
            err = av_interleaved_write_frame(out, pkt.get());  // takes the packet's data
            if (err < 0) return detail::status_from_av(err, "VideoWriter " + path + ": writing");
        }
    }

    void release() {
        if (out) {
            if (!(out->oformat->flags & AVFMT_NOFILE)) avio_closep(&out->pb);
            avformat_free_context(out);
            out = nullptr;
        }
        enc.reset();
        picture.reset();
        pkt.reset();
        sws.reset();
    }
};

VideoWriter::VideoWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

VideoWriter::~VideoWriter() {
    if (impl_) (void)close();
}

int64_t VideoWriter::frames_written() const {
    return impl_->next_pts;
}
const std::string& VideoWriter::codec_name() const {
    return impl_->codec_name;
}

Result<std::unique_ptr<VideoWriter>> VideoWriter::open(const std::string& path, int width, int height, double fps,
                                                       int crf, const std::string& preset) {
    const std::string label = "VideoWriter " + path;
    if (width <= 0 || height <= 0 || width % 2 != 0 || height % 2 != 0 || width > 16384 || height > 16384) {
        return invalid_argument(label + ": size must be even and positive, got " + std::to_string(width) + "x" +
                                std::to_string(height));
    }
    if (!std::isfinite(fps) || fps <= 0 || fps > 1000) {
        return invalid_argument(label + ": fps must be in (0, 1000], got " + std::to_string(fps));
    }
    if (crf < 0 || crf > 51) return invalid_argument(label + ": crf must be in [0, 51], got " + std::to_string(crf));

    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->width = width;
    impl->height = height;
    // From here on, every early return frees what was made through impl's release().
    struct Releaser {
        Impl* impl;
        ~Releaser() {
            if (impl) impl->release();
        }
    } releaser{impl.get()};

    int err = avformat_alloc_output_context2(&impl->out, nullptr, nullptr, path.c_str());
    if (err < 0 || !impl->out) {
        return invalid_argument(label + ": no container for this file extension (use .mp4, .mkv or .avi)");
    }
    const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
    if (!codec) return unsupported(label + ": this FFmpeg has neither libx264 nor mpeg4 encoders");
    if (avformat_query_codec(impl->out->oformat, codec->id, FF_COMPLIANCE_NORMAL) != 1) {
        return unsupported(label + ": container " + impl->out->oformat->name + " cannot hold " + codec->name);
    }
    impl->codec_name = codec->name;
    impl->enc.reset(avcodec_alloc_context3(codec));
    impl->picture.reset(av_frame_alloc());
    impl->pkt.reset(av_packet_alloc());
    if (!impl->enc || !impl->picture || !impl->pkt) return internal_error(label + ": out of memory");

    AVCodecContext* enc = impl->enc.get();
    const AVRational rate = av_d2q(fps, 100'000);
    enc->width = width;
    enc->height = height;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->framerate = rate;
    enc->time_base = av_inv_q(rate);
    enc->thread_count = 0;
    enc->color_range = AVCOL_RANGE_MPEG;
    enc->colorspace = AVCOL_SPC_SMPTE170M;  // BT.601, what swscale's conversion uses
    if (impl->out->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary* raw_opts = nullptr;
    if (impl->codec_name == "libx264") {
        av_dict_set(&raw_opts, "preset", preset.c_str(), 0);
        av_dict_set(&raw_opts, "crf", std::to_string(crf).c_str(), 0);
    } else {
        // mpeg4 has no crf: a fixed quantizer of similar intent (crf 23 -> q 5).
        const int q = std::max(2, std::min(31, static_cast<int>(std::lround(crf / 4.5))));
        enc->flags |= AV_CODEC_FLAG_QSCALE;
        enc->global_quality = q * FF_QP2LAMBDA;
    }
    err = avcodec_open2(enc, codec, &raw_opts);
    av_dict_free(&raw_opts);
    if (err < 0) {
        return detail::status_from_av(
            err, label + ": cannot open encoder " + impl->codec_name + " (preset '" + preset + "')");
    }

    impl->stream = avformat_new_stream(impl->out, nullptr);
    if (!impl->stream) return internal_error(label + ": out of memory");
    impl->stream->time_base = enc->time_base;
    impl->stream->avg_frame_rate = rate;
    err = avcodec_parameters_from_context(impl->stream->codecpar, enc);
    if (err < 0) return detail::status_from_av(err, label + ": stream parameters");

    if (!(impl->out->oformat->flags & AVFMT_NOFILE)) {
        err = avio_open(&impl->out->pb, path.c_str(), AVIO_FLAG_WRITE);
        if (err < 0) return detail::status_from_av(err, label + ": cannot create the file");
    }
    err = avformat_write_header(impl->out, nullptr);
    if (err < 0) return detail::status_from_av(err, label + ": cannot write the header");
    impl->header_written = true;

    AVFrame* picture = impl->picture.get();
    picture->format = enc->pix_fmt;
    picture->width = width;
    picture->height = height;
    err = av_frame_get_buffer(picture, 0);
    if (err < 0) return detail::status_from_av(err, label + ": picture buffer");

    releaser.impl = nullptr;
    return std::unique_ptr<VideoWriter>(new VideoWriter(std::move(impl)));
}

Status VideoWriter::write(const Frame& input) {
    Impl& w = *impl_;
    const std::string label = "VideoWriter " + w.path;
    if (w.closed) return invalid_argument(label + ": write after close");
    Result<Frame> host = host_frame(input);  // a GPU frame's pixels, fetched once
    if (!host.is_ok()) return host.status().with_context(label);
    const Frame& frame = *host;
    FOVEA_TRY(detail::check_frame(frame, label.c_str()));
    if (frame.width != w.width || frame.height != w.height) {
        return invalid_argument(label + ": frame is " + std::to_string(frame.width) + "x" +
                                std::to_string(frame.height) + ", the file " + std::to_string(w.width) + "x" +
                                std::to_string(w.height));
    }
    // The encoder may still hold the previous picture's buffer (lookahead): write into a fresh one then.
    int err = av_frame_make_writable(w.picture.get());
    if (err < 0) return detail::status_from_av(err, label + ": picture buffer");
    FOVEA_TRY(convert_into(frame, *w.picture, false, w.sws).with_context(label));
    w.picture->pts = w.next_pts;
    err = avcodec_send_frame(w.enc.get(), w.picture.get());
    if (err < 0) return detail::status_from_av(err, label + ": encoding");
    ++w.next_pts;
    return w.drain();
}

Status VideoWriter::close() {
    Impl& w = *impl_;
    if (w.closed) return Status::ok();
    w.closed = true;
    Status status = Status::ok();
    int err = avcodec_send_frame(w.enc.get(), nullptr);
    if (err < 0 && err != AVERROR_EOF) status = detail::status_from_av(err, "VideoWriter " + w.path + ": flushing");
    if (status.is_ok()) status = w.drain();
    if (w.header_written) {
        err = av_write_trailer(w.out);
        if (err < 0 && status.is_ok()) status = detail::status_from_av(err, "VideoWriter " + w.path + ": trailer");
    }
    w.release();
    return status;
}

}  // namespace fovea::media
