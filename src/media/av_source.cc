// Sources that FFmpeg demuxes and decodes: files, RTSP, RTMP, HTTP(S) and V4L2 cameras.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

extern "C" {
#include <libavutil/hwcontext.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
}

#include "media/cuda_frames.h"
#include "media/ffmpeg_util.h"
#include "media/source_impl.h"

namespace fovea::media::detail {
namespace {

// A decoder that fails on every packet must not spin forever; a stream this broken is reported as an error.
constexpr int kMaxConsecutiveDecodeErrors = 500;
// Damaged files can make the demuxer fail repeatedly at one spot before it resyncs.
constexpr int kMaxConsecutiveReadErrors = 64;
// A realtime consumer this far behind the clock is rebased instead of being fed a burst of catch-up frames.
constexpr int64_t kMaxPacingLagUs = 1'000'000;
// AV_CUDA_USE_PRIMARY_CONTEXT of libavutil/hwcontext_cuda.h (FFmpeg >= 4.3), which cannot be included here: it needs
// cuda.h, and a build without CUDA has none.
constexpr int kAvCudaUsePrimaryContext = 1 << 0;

int64_t to_us(int64_t ts, AVRational tb) {
    return av_rescale_q(ts, tb, AVRational{1, 1'000'000});
}

class AvSource final : public Source {
  public:
    AvSource(SourceSpec spec, SourceKind kind) : spec_(std::move(spec)), kind_(kind), label_(source_label(spec_)) {}
    ~AvSource() override { close(); }
    AvSource(const AvSource&) = delete;
    AvSource& operator=(const AvSource&) = delete;

    Status open() override;
    Result<bool> read(Frame& frame) override;
    void close() override;
    const SourceCounters& counters() const override { return counters_; }
    std::string describe() const override;

  private:
    bool network() const {
        return kind_ == SourceKind::kRtsp || kind_ == SourceKind::kRtmp || kind_ == SourceKind::kHttp;
    }
    // Live sources deliver frames at their own pace; pacing them again would only add latency.
    bool live() const { return kind_ != SourceKind::kFile; }
    bool deadline_applies() const { return network() || kind_ == SourceKind::kV4l2; }

    Status open_input();
    Status open_decoder(const AVCodec* codec);
    Status setup_hw(const AVCodec* codec);
    Result<bool> read_packet();
    Status restart();
    Status seek_to_start();
    Status emit(AVFrame* decoded, Frame& out);
    Result<bool> emit_on_device(const AVFrame& decoded, Frame& out);
    void pace(int64_t pts_us);
    Status input_error(int err, const std::string& doing) const;

    void arm_deadline() {
        deadline_ = Clock::now() + std::chrono::milliseconds(spec_.timeout_ms);
        deadline_armed_ = deadline_applies();
        timed_out_ = false;
    }
    void disarm_deadline() { deadline_armed_ = false; }
    static int interrupt_cb(void* opaque);
    static AVPixelFormat pick_hw_format(AVCodecContext* ctx, const AVPixelFormat* formats);

    SourceSpec spec_;
    SourceKind kind_;
    std::string label_;

    FormatInputPtr fmt_;
    CodecContextPtr dec_;
    BufferRefPtr hw_device_;
    AvFramePtr frame_;
    AvFramePtr sw_frame_;
    PacketPtr pkt_;
    BgrConverter bgr_;
    int stream_index_ = -1;
    AVRational time_base_{1, 1};
    int64_t frame_duration_us_ = 40'000;
    bool open_ = false;
    bool demux_eof_ = false;
    bool pkt_pending_ = false;
    bool hw_active_ = false;
    bool device_frames_ = false;  // NVDEC pictures stay on the GPU (Frame::device) instead of being downloaded
    int cuda_device_ = 0;
    std::shared_ptr<DeviceFramePool> device_pool_;
    std::string hw_note_;
    std::string description_;  // up to the decode mode, which describe() appends

    Clock::time_point deadline_{};
    bool deadline_armed_ = false;
    bool timed_out_ = false;
    bool stalled_ = false;  // the last packet came only after a whole timeout of silence

    SourceCounters counters_;
    int64_t next_index_ = 0;
    int consecutive_decode_errors_ = 0;
    // Output pts keep increasing across loop restarts: pts + loop_offset_us_.
    int64_t loop_offset_us_ = 0;
    int64_t first_raw_pts_us_ = AV_NOPTS_VALUE;
    int64_t last_pts_us_ = AV_NOPTS_VALUE;
    int64_t last_raw_pts_us_ = AV_NOPTS_VALUE;
    bool new_pass_ = false;  // the demuxer went back to the start; the next backward pts begins the next pass
    Clock::time_point pace_start_{};
    int64_t pace_first_pts_us_ = AV_NOPTS_VALUE;
};

int AvSource::interrupt_cb(void* opaque) {
    auto* self = static_cast<AvSource*>(opaque);
    if (!self->deadline_armed_ || Clock::now() < self->deadline_) return 0;
    self->timed_out_ = true;
    return 1;
}

AVPixelFormat AvSource::pick_hw_format(AVCodecContext* ctx, const AVPixelFormat* formats) {
    auto* self = static_cast<AvSource*>(ctx->opaque);
    for (const AVPixelFormat* f = formats; *f != AV_PIX_FMT_NONE; ++f) {
        if (*f == AV_PIX_FMT_CUDA) return *f;
    }
    // The decoder offers no CUDA surface for this stream (profile or size NVDEC lacks): decode on the CPU.
    self->hw_active_ = false;
    self->hw_note_ = "cuda declined for this stream";
    for (const AVPixelFormat* f = formats; *f != AV_PIX_FMT_NONE; ++f) {
        const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(*f);
        if (desc && !(desc->flags & AV_PIX_FMT_FLAG_HWACCEL)) return *f;
    }
    return AV_PIX_FMT_NONE;
}

Status AvSource::input_error(int err, const std::string& doing) const {
    // ETIMEDOUT: FFmpeg's own socket timeout (the same timeout_ms, passed as its "timeout" option) beat ours.
    if (timed_out_ || err == AVERROR_EXIT || err == AVERROR(ETIMEDOUT)) {
        return io_error(label_ + ": " + doing + ": no data within " + std::to_string(spec_.timeout_ms) +
                        " ms (timeout)");
    }
    return status_from_av(err, label_ + ": " + doing);
}

Status AvSource::open() {
    close();
    if (kind_ == SourceKind::kV4l2 && !init_ffmpeg_devices())
        return unsupported(label_ + ": cameras need FFmpeg's libavdevice." FOVEA_AVDEVICE_SOVERSION
                                    ", which could not be loaded (Debian package libavdevice59)");
    Status status = open_input();
    if (!status.is_ok()) {
        close();
        return status;
    }
    open_ = true;
    return Status::ok();
}

Status AvSource::open_input() {
    if (kind_ == SourceKind::kFile) {
        // FFmpeg says "No such file or directory" for both; a directory given as a file deserves its own words.
        std::error_code ec;
        if (std::filesystem::is_directory(spec_.uri, ec)) {
            return invalid_argument(label_ + ": is a directory, not a video file");
        }
    }
    AVFormatContext* ctx = avformat_alloc_context();
    if (!ctx) return internal_error(label_ + ": out of memory");
    ctx->interrupt_callback.callback = &AvSource::interrupt_cb;
    ctx->interrupt_callback.opaque = this;

    AVDictionary* raw_opts = nullptr;
    const std::string timeout_us = std::to_string(static_cast<int64_t>(spec_.timeout_ms) * 1000);
    const AVInputFormat* input_format = nullptr;
    switch (kind_) {
        case SourceKind::kRtsp:
            av_dict_set(&raw_opts, "rtsp_transport", spec_.transport.c_str(), 0);
            av_dict_set(&raw_opts, "timeout", timeout_us.c_str(), 0);  // socket I/O timeout, microseconds
            break;
        case SourceKind::kHttp:
            av_dict_set(&raw_opts, "timeout", timeout_us.c_str(), 0);
            av_dict_set(&raw_opts, "rw_timeout", timeout_us.c_str(), 0);
            break;
        case SourceKind::kRtmp:
            // rtmp's own "timeout" is the listen timeout in seconds; rw_timeout bounds reads.
            av_dict_set(&raw_opts, "rw_timeout", timeout_us.c_str(), 0);
            break;
        case SourceKind::kV4l2:
            input_format = av_find_input_format("video4linux2");
            if (!input_format) return unsupported(label_ + ": this FFmpeg has no video4linux2 input");
            if (spec_.width > 0) {
                const std::string size = std::to_string(spec_.width) + "x" + std::to_string(spec_.height);
                av_dict_set(&raw_opts, "video_size", size.c_str(), 0);
            }
            if (spec_.fps > 0) av_dict_set(&raw_opts, "framerate", std::to_string(spec_.fps).c_str(), 0);
            break;
        case SourceKind::kFile:
        case SourceKind::kImages:
        case SourceKind::kSynthetic:
            break;
    }
    std::unique_ptr<AVDictionary*, void (*)(AVDictionary**)> opts(&raw_opts, av_dict_free);

    arm_deadline();
    int err = avformat_open_input(&ctx, spec_.uri.c_str(), input_format, &raw_opts);  // frees ctx on failure
    if (err < 0) return input_error(err, "cannot open");
    fmt_.reset(ctx);
    arm_deadline();
    err = avformat_find_stream_info(ctx, nullptr);
    if (err < 0) return input_error(err, "cannot read stream info");
    disarm_deadline();

    const AVCodec* codec = nullptr;
    const int index = av_find_best_stream(ctx, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (index == AVERROR_STREAM_NOT_FOUND) return invalid_argument(label_ + ": no video stream");
    if (index < 0 || !codec) {
        const int any = av_find_best_stream(ctx, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
        const char* name = any >= 0 ? avcodec_get_name(ctx->streams[any]->codecpar->codec_id) : "?";
        return unsupported(label_ + ": no decoder for video codec " + name);
    }
    stream_index_ = index;
    for (unsigned i = 0; i < ctx->nb_streams; ++i) {
        if (static_cast<int>(i) != index) ctx->streams[i]->discard = AVDISCARD_ALL;
    }
    AVStream* stream = ctx->streams[index];
    time_base_ = stream->time_base;
    const AVRational rate = av_guess_frame_rate(ctx, stream, nullptr);
    if (rate.num > 0 && rate.den > 0) frame_duration_us_ = av_rescale_q(1, av_inv_q(rate), AVRational{1, 1'000'000});
    FOVEA_TRY(open_decoder(codec));

    frame_.reset(av_frame_alloc());
    sw_frame_.reset(av_frame_alloc());
    pkt_.reset(av_packet_alloc());
    if (!frame_ || !sw_frame_ || !pkt_) return internal_error(label_ + ": out of memory");

    std::string where = spec_.uri;
    if (kind_ == SourceKind::kFile) where = std::filesystem::path(spec_.uri).filename().string();
    char fps_text[32] = "? fps";
    if (rate.num > 0 && rate.den > 0) std::snprintf(fps_text, sizeof(fps_text), "%.4g fps", av_q2d(rate));
    description_ = std::string(kind_name(kind_)) + " " + redact_uri(where) + " (" +
                   avcodec_get_name(stream->codecpar->codec_id) + " " + std::to_string(stream->codecpar->width) + "x" +
                   std::to_string(stream->codecpar->height) + " " + fps_text + ", ";
    return Status::ok();
}

Status AvSource::open_decoder(const AVCodec* codec) {
    AVStream* stream = fmt_->streams[stream_index_];
    dec_.reset(avcodec_alloc_context3(codec));
    if (!dec_) return internal_error(label_ + ": out of memory");
    int err = avcodec_parameters_to_context(dec_.get(), stream->codecpar);
    if (err < 0) return status_from_av(err, label_ + ": decoder parameters");
    dec_->pkt_timebase = stream->time_base;
    dec_->thread_count = 0;  // one per core
    // Frame threads delay output by one frame per thread: fine for files, not for a live camera.
    if (live()) dec_->thread_type = FF_THREAD_SLICE;
    FOVEA_TRY(setup_hw(codec));
    err = avcodec_open2(dec_.get(), codec, nullptr);
    if (err < 0) return status_from_av(err, label_ + ": cannot open decoder " + codec->name);
    return Status::ok();
}

Status AvSource::setup_hw(const AVCodec* codec) {
    hw_active_ = false;
    device_frames_ = false;
    hw_note_.clear();
    if (spec_.hw_decode == "none") return Status::ok();
    std::string why;
    bool supported = false;
    for (int i = 0;; ++i) {
        const AVCodecHWConfig* config = avcodec_get_hw_config(codec, i);
        if (!config) break;
        if (config->device_type == AV_HWDEVICE_TYPE_CUDA &&
            (config->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX)) {
            supported = true;
        }
    }
    if (!supported) {
        why = std::string("decoder ") + codec->name + " has no CUDA support in this FFmpeg";
    } else if (device_frames_built()) {
        // Frames stay on the GPU: FFmpeg decodes in the CUDA runtime's primary context, where our kernels read them.
        AVBufferRef* device = nullptr;
        const Status s = create_cuda_device(&device, cuda_device_);
        if (!s.is_ok()) {
            why = "no usable CUDA device (" + s.message() + ")";
        } else {
            hw_device_.reset(device);
            device_frames_ = true;
        }
    } else {
        // No CUDA runtime in this build: frames are downloaded as they come, so any context serves; the primary one
        // is what a CUDA-enabled process would share.
        AVBufferRef* device = nullptr;
        const int err =
            av_hwdevice_ctx_create(&device, AV_HWDEVICE_TYPE_CUDA, nullptr, nullptr, kAvCudaUsePrimaryContext);
        if (err < 0) {
            why = "no usable CUDA device (" + av_error_text(err) + ")";
        } else {
            hw_device_.reset(device);
        }
    }
    if (!why.empty()) {
        if (spec_.hw_decode == "cuda") return unsupported(label_ + ": hw_decode=cuda: " + why);
        hw_note_ = "cuda unavailable: " + why;
        return Status::ok();
    }
    dec_->hw_device_ctx = av_buffer_ref(hw_device_.get());
    if (!dec_->hw_device_ctx) return internal_error(label_ + ": out of memory");
    dec_->opaque = this;
    dec_->get_format = &AvSource::pick_hw_format;
    hw_active_ = true;
    return Status::ok();
}

void AvSource::close() {
    open_ = false;
    dec_.reset();
    hw_device_.reset();
    device_pool_.reset();  // frames still held keep their buffers (and the pool) alive
    fmt_.reset();
    frame_.reset();
    sw_frame_.reset();
    pkt_.reset();
    bgr_.reset();
    stream_index_ = -1;
    demux_eof_ = false;
    pkt_pending_ = false;
    deadline_armed_ = false;
    stalled_ = false;
    next_index_ = 0;
    consecutive_decode_errors_ = 0;
    loop_offset_us_ = 0;
    first_raw_pts_us_ = AV_NOPTS_VALUE;
    last_pts_us_ = AV_NOPTS_VALUE;
    last_raw_pts_us_ = AV_NOPTS_VALUE;
    new_pass_ = false;
    pace_first_pts_us_ = AV_NOPTS_VALUE;
}

std::string AvSource::describe() const {
    if (!open_) return std::string(kind_name(kind_)) + " " + redact_uri(spec_.uri) + " (not open)";
    // The decoder may decline CUDA for a stream only once decoding starts, so the mode is read now.
    std::string decode = !hw_active_ ? "cpu decode" : device_frames_ ? "cuda decode, frames on the GPU" : "cuda decode";
    if (!hw_note_.empty()) decode += "; " + hw_note_;
    return description_ + decode + ")";
}

Result<bool> AvSource::read_packet() {
    if (stalled_) {
        // The input fell silent for a whole timeout in the previous call, which still returned a packet: what the
        // demuxer held back (libavformat flushes its parser's last frame when a read fails). Waiting for a second
        // timeout would double the time it takes to notice a hung camera.
        stalled_ = false;
        timed_out_ = true;
        return input_error(AVERROR_EXIT, "read failed");
    }
    arm_deadline();
    int read_errors = 0;
    for (;;) {
        const int err = av_read_frame(fmt_.get(), pkt_.get());
        if (err >= 0) {
            if (pkt_->stream_index == stream_index_) {
                stalled_ = deadline_applies() && (timed_out_ || Clock::now() >= deadline_);
                disarm_deadline();
                return true;
            }
            av_packet_unref(pkt_.get());
            continue;
        }
        if (err == AVERROR(EAGAIN) && !timed_out_) {
            // Non-blocking inputs (some V4L2 drivers) have nothing yet; the deadline still bounds the wait.
            if (deadline_applies() && Clock::now() > deadline_) timed_out_ = true;
            if (!timed_out_) {
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
                continue;
            }
        }
        disarm_deadline();
        if (err == AVERROR_EOF) {
            const bool seekable = fmt_->pb && (fmt_->pb->seekable & AVIO_SEEKABLE_NORMAL);
            // A live network stream has no end: the server closing it is a broken connection.
            if (network() && !seekable) return io_error(label_ + ": stream ended: connection closed by the server");
            return false;
        }
        if (kind_ == SourceKind::kFile && err == AVERROR_INVALIDDATA && ++read_errors < kMaxConsecutiveReadErrors) {
            ++counters_.corrupt;
            continue;
        }
        return input_error(err, "read failed");
    }
}

Status AvSource::seek_to_start() {
    const int64_t start = fmt_->start_time == AV_NOPTS_VALUE ? 0 : fmt_->start_time;
    int err = avformat_seek_file(fmt_.get(), -1, INT64_MIN, start, start, 0);
    if (err < 0) err = av_seek_frame(fmt_.get(), stream_index_, 0, AVSEEK_FLAG_BACKWARD);
    if (err < 0) return status_from_av(err, label_ + ": cannot seek to the start to loop");
    return Status::ok();
}

// After the decoder drained to its end: start over with a flushed decoder.
Status AvSource::restart() {
    FOVEA_TRY(seek_to_start());
    new_pass_ = false;
    avcodec_flush_buffers(dec_.get());
    demux_eof_ = false;
    pkt_pending_ = false;
    if (last_pts_us_ != AV_NOPTS_VALUE && first_raw_pts_us_ != AV_NOPTS_VALUE) {
        loop_offset_us_ = last_pts_us_ + frame_duration_us_ - first_raw_pts_us_;
    }
    return Status::ok();
}

void AvSource::pace(int64_t pts_us) {
    if (pace_first_pts_us_ == AV_NOPTS_VALUE) {
        pace_first_pts_us_ = pts_us;
        pace_start_ = Clock::now();
        return;
    }
    const auto target = pace_start_ + std::chrono::microseconds(pts_us - pace_first_pts_us_);
    const auto now = Clock::now();
    if (now - target > std::chrono::microseconds(kMaxPacingLagUs)) {
        pace_start_ = now - std::chrono::microseconds(pts_us - pace_first_pts_us_);
        return;
    }
    if (target > now) counters_.paced_us += std::chrono::duration_cast<std::chrono::microseconds>(target - now).count();
    std::this_thread::sleep_until(target);
}

// A decoded NV12 picture into our own GPU buffer (cuda_frames.h says why it is copied rather than kept); false when
// this picture cannot stay on the GPU (not NV12, odd size), and it takes the host path.
Result<bool> AvSource::emit_on_device(const AVFrame& decoded, Frame& out) {
    const auto* frames_ctx =
        decoded.hw_frames_ctx ? reinterpret_cast<const AVHWFramesContext*>(decoded.hw_frames_ctx->data) : nullptr;
    if (frames_ctx == nullptr || frames_ctx->sw_format != AV_PIX_FMT_NV12 || decoded.width % 2 != 0 ||
        decoded.height % 2 != 0)
        return false;
    if (!device_pool_ || device_pool_->width() != decoded.width || device_pool_->height() != decoded.height) {
        FOVEA_ASSIGN(device_pool_, DeviceFramePool::create(cuda_device_, decoded.width, decoded.height));
    }
    FOVEA_ASSIGN(std::shared_ptr<const DeviceSurface> surface, device_pool_->copy(decoded));
    Frame f;
    f.width = decoded.width;
    f.height = decoded.height;
    f.format = PixelFormat::kNV12;
    f.device = std::move(surface);
    out = std::move(f);
    return true;
}

Status AvSource::emit(AVFrame* decoded, Frame& out) {
    const AVFrame* picture = decoded;
    bool on_device = false;
    if (decoded->format == AV_PIX_FMT_CUDA && device_frames_) {
        Result<bool> kept = emit_on_device(*decoded, out);
        if (!kept.is_ok()) {
            // GPU memory or the runtime failed us: this stream downloads its frames from now on, as it says.
            device_frames_ = false;
            device_pool_.reset();
            hw_note_ = "frames downloaded: " + kept.status().message();
        } else {
            on_device = *kept;
        }
    }
    if (!on_device && decoded->format == AV_PIX_FMT_CUDA) {
        av_frame_unref(sw_frame_.get());
        const int err = av_hwframe_transfer_data(sw_frame_.get(), decoded, 0);
        if (err < 0) return status_from_av(err, label_ + ": copying a CUDA frame to the host");
        picture = sw_frame_.get();
    }
    if (on_device) {
        // out carries the picture in GPU memory.
    } else if (picture->format == AV_PIX_FMT_NV12 && decoded->format == AV_PIX_FMT_CUDA && picture->width % 2 == 0 &&
               picture->height % 2 == 0) {
        Frame f;
        f.width = picture->width;
        f.height = picture->height;
        f.stride = picture->width;
        f.format = PixelFormat::kNV12;
        const size_t luma = static_cast<size_t>(f.stride) * static_cast<size_t>(f.height);
        f.pixels = std::shared_ptr<uint8_t[]>(new uint8_t[luma + luma / 2]);
        av_image_copy_plane(f.pixels.get(), f.stride, picture->data[0], picture->linesize[0], f.width, f.height);
        av_image_copy_plane(f.pixels.get() + luma, f.stride, picture->data[1], picture->linesize[1], f.width,
                            f.height / 2);
        out = std::move(f);
    } else {
        FOVEA_TRY(bgr_.convert(*picture, out).with_context(label_));
    }

    int64_t pts_us = AV_NOPTS_VALUE;
    const int64_t ts = decoded->best_effort_timestamp;
    if (ts != AV_NOPTS_VALUE) {
        const int64_t raw = to_us(ts, time_base_);
        if (first_raw_pts_us_ == AV_NOPTS_VALUE) first_raw_pts_us_ = raw;
        if (new_pass_ && last_raw_pts_us_ != AV_NOPTS_VALUE && raw <= last_raw_pts_us_ &&
            last_pts_us_ != AV_NOPTS_VALUE) {
            // The first picture of the next pass (pictures come out in presentation order): continue the timeline.
            loop_offset_us_ = last_pts_us_ + frame_duration_us_ - raw;
            new_pass_ = false;
        }
        last_raw_pts_us_ = raw;
        pts_us = raw + loop_offset_us_;
    } else if (last_pts_us_ != AV_NOPTS_VALUE) {
        pts_us = last_pts_us_ + frame_duration_us_;
    } else if (const int64_t start = fmt_->streams[stream_index_]->start_time; start != AV_NOPTS_VALUE) {
        // FFmpeg's RTSP demuxer gives the first keyframe of a session no timestamp (FFmpeg trac #5018); the stream's
        // start time is then the earliest timestamp that came, a later frame's, so this one goes a period before it.
        pts_us = to_us(start, time_base_) - frame_duration_us_;
    }
    if (pts_us != AV_NOPTS_VALUE) last_pts_us_ = pts_us;
    if (spec_.realtime && !live()) pace(pts_us != AV_NOPTS_VALUE ? pts_us : next_index_ * frame_duration_us_);

    out.index = next_index_++;
    out.pts_us = pts_us == AV_NOPTS_VALUE ? -1 : pts_us;
    stamp_capture(out);
    ++counters_.frames;
    return Status::ok();
}

Result<bool> AvSource::read(Frame& frame) {
    if (!open_) return invalid_argument(label_ + ": read before open");
    for (;;) {
        int err = avcodec_receive_frame(dec_.get(), frame_.get());
        if (err == 0) {
            const bool damaged = frame_->decode_error_flags != 0 || (frame_->flags & AV_FRAME_FLAG_CORRUPT);
            if (damaged) {
                ++counters_.corrupt;
                av_frame_unref(frame_.get());
                continue;
            }
            consecutive_decode_errors_ = 0;
            const Status status = emit(frame_.get(), frame);
            av_frame_unref(frame_.get());
            if (!status.is_ok()) return status;
            return true;
        }
        if (err == AVERROR_EOF) {
            if (spec_.loop && kind_ == SourceKind::kFile && counters_.frames > 0) {
                FOVEA_TRY(restart());
                continue;
            }
            return false;
        }
        if (err != AVERROR(EAGAIN)) {
            // The decoder could not rebuild a picture from what it was given: skip it, the next keyframe heals.
            ++counters_.corrupt;
            if (++consecutive_decode_errors_ > kMaxConsecutiveDecodeErrors) {
                return status_from_av(
                    err, label_ + ": " + std::to_string(kMaxConsecutiveDecodeErrors) + " decode errors in a row");
            }
            continue;
        }
        if (demux_eof_) return false;  // drained and the decoder wants more: nothing left
        if (!pkt_pending_) {
            FOVEA_ASSIGN(const bool got, read_packet());
            if (!got && spec_.loop && kind_ == SourceKind::kFile && counters_.frames > 0) {
                // Loop without draining the decoder: the demuxer goes back to the first keyframe and the decoder
                // reads on, as through one long stream. Draining and flushing instead likely makes a hardware decoder
                // start over: on NVDEC every stream's GPU work stalled for about a second per loop.
                FOVEA_TRY(seek_to_start());
                new_pass_ = true;
                continue;
            }
            if (!got) {
                demux_eof_ = true;
                avcodec_send_packet(dec_.get(), nullptr);  // enter draining: buffered frames come out, then EOF
                continue;
            }
        }
        err = avcodec_send_packet(dec_.get(), pkt_.get());
        if (err == AVERROR(EAGAIN)) {
            pkt_pending_ = true;  // the decoder is full: take its frames first, then resend
            continue;
        }
        pkt_pending_ = false;
        av_packet_unref(pkt_.get());
        if (err < 0) {
            ++counters_.corrupt;
            if (++consecutive_decode_errors_ > kMaxConsecutiveDecodeErrors) {
                return status_from_av(
                    err, label_ + ": " + std::to_string(kMaxConsecutiveDecodeErrors) + " decode errors in a row");
            }
        }
    }
}

}  // namespace

std::unique_ptr<Source> make_av_source(const SourceSpec& spec, SourceKind kind) {
    return std::make_unique<AvSource>(spec, kind);
}

}  // namespace fovea::media::detail
