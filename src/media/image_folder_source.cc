// A directory of still images (.jpg/.jpeg/.png/.bmp), in name order, decoded by FFmpeg at their native size; and
// read_image(), one such file on its own.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "media/ffmpeg_util.h"
#include "media/source_impl.h"

namespace fovea::media::detail {
namespace {

bool is_image_name(const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp";
}

// Decodes the single picture of an image file into a BGR24 frame. stills_only refuses files that FFmpeg opens as
// something other than a still picture (a video, say), which a folder's extension filter otherwise keeps out.
Status decode_image(const std::string& path, BgrConverter& bgr, Frame& out, bool stills_only = false) {
    AVFormatContext* raw = nullptr;
    AVDictionary* opts = nullptr;
    av_dict_set(&opts, "pattern_type", "none", 0);  // a '%' in a file name is not a sequence pattern
    int err = avformat_open_input(&raw, path.c_str(), nullptr, &opts);
    av_dict_free(&opts);
    if (err < 0) return status_from_av(err, "cannot open");
    FormatInputPtr fmt(raw);
    if (fmt->nb_streams < 1 || fmt->streams[0]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) {
        return invalid_argument("not an image");
    }
    if (stills_only) {
        // Still pictures open through image2 or a per-codec "<codec>_pipe" demuxer (png_pipe, jpeg_pipe, ...).
        const std::string demuxer = fmt->iformat->name;
        if (demuxer != "image2" && !demuxer.ends_with("_pipe"))
            return invalid_argument("not an image (FFmpeg reads it as '" + demuxer + "')");
    }
    const AVCodecParameters* par = fmt->streams[0]->codecpar;
    const AVCodec* codec = avcodec_find_decoder(par->codec_id);
    if (!codec) return unsupported(std::string("no decoder for ") + avcodec_get_name(par->codec_id));
    CodecContextPtr dec(avcodec_alloc_context3(codec));
    PacketPtr pkt(av_packet_alloc());
    AvFramePtr frame(av_frame_alloc());
    if (!dec || !pkt || !frame) return internal_error("out of memory");
    err = avcodec_parameters_to_context(dec.get(), par);
    if (err < 0) return status_from_av(err, "decoder parameters");
    dec->thread_count = 1;  // one small picture: threads cost more than they save
    err = avcodec_open2(dec.get(), codec, nullptr);
    if (err < 0) return status_from_av(err, "cannot open decoder");
    err = av_read_frame(fmt.get(), pkt.get());
    if (err < 0) return status_from_av(err, "read failed");
    err = avcodec_send_packet(dec.get(), pkt.get());
    if (err < 0) return status_from_av(err, "decode failed");
    avcodec_send_packet(dec.get(), nullptr);
    err = avcodec_receive_frame(dec.get(), frame.get());
    if (err < 0) return status_from_av(err, "decode failed");
    if (frame->decode_error_flags != 0 || (frame->flags & AV_FRAME_FLAG_CORRUPT)) {
        return invalid_argument("damaged image data");
    }
    return bgr.convert(*frame, out);
}

class ImageFolderSource final : public Source {
  public:
    explicit ImageFolderSource(SourceSpec spec) : spec_(std::move(spec)), label_(source_label(spec_)) {}

    Status open() override {
        close();
        std::error_code ec;
        if (!std::filesystem::is_directory(spec_.uri, ec)) {
            return not_found(label_ + ": no such directory");
        }
        for (const auto& entry : std::filesystem::directory_iterator(spec_.uri, ec)) {
            if (entry.is_regular_file(ec) && is_image_name(entry.path())) files_.push_back(entry.path().string());
        }
        if (ec) return io_error(label_ + ": cannot list the directory: " + ec.message());
        if (files_.empty()) return not_found(label_ + ": no .jpg, .jpeg, .png or .bmp files in the directory");
        std::sort(files_.begin(), files_.end());
        open_ = true;
        return Status::ok();
    }

    Result<bool> read(Frame& frame) override {
        if (!open_) return invalid_argument(label_ + ": read before open");
        for (;;) {
            if (pos_ == files_.size()) {
                if (!spec_.loop) return false;
                // Looping over a folder where nothing decodes would spin forever.
                if (decoded_this_pass_ == 0)
                    return invalid_argument(label_ + ": no image in the directory decodes (last: " + last_error_ + ")");
                pos_ = 0;
                decoded_this_pass_ = 0;
            }
            const std::string& path = files_[pos_++];
            const Status status = decode_image(path, bgr_, frame);
            if (!status.is_ok()) {
                ++counters_.corrupt;
                last_error_ = path + ": " + status.message();
                continue;
            }
            ++decoded_this_pass_;
            break;
        }
        const double fps = effective_fps(spec_);
        const int64_t pts_us = static_cast<int64_t>(static_cast<double>(next_index_) * 1e6 / fps);
        if (spec_.realtime) pace(pts_us);
        frame.index = next_index_++;
        frame.pts_us = pts_us;
        stamp_capture(frame);
        ++counters_.frames;
        return true;
    }

    void close() override {
        open_ = false;
        files_.clear();
        pos_ = 0;
        decoded_this_pass_ = 0;
        next_index_ = 0;
        bgr_.reset();
    }

    const SourceCounters& counters() const override { return counters_; }

    std::string describe() const override {
        if (!open_) return "images " + spec_.uri + " (not open)";
        char fps[32];
        std::snprintf(fps, sizeof(fps), "%.4g fps", effective_fps(spec_));
        return "images " + spec_.uri + " (" + std::to_string(files_.size()) + " files, " + fps + ")";
    }

  private:
    // Sleeps until the frame's time; a consumer more than a second late is rebased rather than fed a burst.
    void pace(int64_t pts_us) {
        const auto now = Clock::now();
        if (next_index_ == 0 || now - (start_ + std::chrono::microseconds(pts_us)) > std::chrono::seconds(1)) {
            start_ = now - std::chrono::microseconds(pts_us);
        }
        const auto target = start_ + std::chrono::microseconds(pts_us);
        if (target > now) counters_.paced_us += std::chrono::duration_cast<std::chrono::microseconds>(target - now).count();
        std::this_thread::sleep_until(target);
    }

    SourceSpec spec_;
    std::string label_;
    std::vector<std::string> files_;
    size_t pos_ = 0;
    int64_t decoded_this_pass_ = 0;
    bool open_ = false;
    int64_t next_index_ = 0;
    Clock::time_point start_{};
    BgrConverter bgr_;
    SourceCounters counters_;
    std::string last_error_;
};

}  // namespace

std::unique_ptr<Source> make_image_folder_source(const SourceSpec& spec) {
    return std::make_unique<ImageFolderSource>(spec);
}

}  // namespace fovea::media::detail

namespace fovea::media {

Result<Frame> read_image(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) return invalid_argument(path + ": is a directory, not an image");
    detail::BgrConverter bgr;
    Frame frame;
    const Status s = detail::decode_image(path, bgr, frame, /*stills_only=*/true);
    if (!s.is_ok()) {
        // A file that is no picture at all shows as FFmpeg's "Invalid data found when processing input", at opening
        // or decoding (an image extension picks the decoder).
        if (s.code() == StatusCode::kInvalidArgument && s.message().rfind("not an image", 0) != 0)
            return invalid_argument(path + ": not an image, or a damaged one (" + s.message() + ")");
        return s.with_context(path);
    }
    stamp_capture(frame);
    return frame;
}

void quiet_ffmpeg_log() { av_log_set_level(AV_LOG_QUIET); }

}  // namespace fovea::media
