#include "pipeline/stream.h"

#include <algorithm>
#include <cstdio>

namespace fovea::pipeline {
namespace {

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

}  // namespace

const char* stream_state_name(StreamState s) {
    switch (s) {
        case StreamState::kStarting:
            return "starting";
        case StreamState::kRunning:
            return "running";
        case StreamState::kReconnecting:
            return "reconnecting";
        case StreamState::kStopped:
            return "stopped";
    }
    return "?";
}

Stream::Stream(int id, StreamConfig config, const vision::PreprocessSpec& spec, BatchQueue<FrameJob>& queue,
               StreamStats& stats, bool device_preprocess)
    : id_(id), config_(std::move(config)), spec_(spec), queue_(queue), stats_(stats) {
    spec_.equalize = config_.equalize;
    spec_.clahe_clip = config_.clahe_clip;
    spec_.clahe_tile = config_.clahe_tile;
    if (device_preprocess) device_spec_ = std::make_shared<const vision::PreprocessSpec>(spec_);
    item_bytes_ = vision::input_item_bytes(spec_);
    // A live camera cannot wait: its oldest frame goes. A file read faster than real time can, so nothing is lost.
    const auto type = media::resolve_source_type(config_.source);
    const std::string kind = type.is_ok() ? type.value() : "";
    const bool stored = kind == "file" || kind == "images" || kind == "synthetic";
    live_ = config_.source.realtime || !stored;
}

Stream::~Stream() { stop(); }

void Stream::start() { thread_ = std::thread([this] { run(); }); }

void Stream::stop() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool Stream::wait_backoff(int ms) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stop_.load(); });
}

void Stream::run() {
    const std::string& name = config_.source.name;
    int backoff_ms = config_.reconnect.initial_ms;
    bool first = true;
    std::string last_logged;
    Clock::time_point logged_at{};
    while (!stop_) {
        auto made = media::make_source(config_.source);
        Status status = made.is_ok() ? (*made)->open() : made.status();
        if (status.is_ok()) {
            stats_.state = StreamState::kRunning;
            backoff_ms = config_.reconnect.initial_ms;
            first = false;
            media::Source& source = **made;
            int64_t corrupt_seen = 0, paced_seen = 0;
            while (!stop_) {
                const Clock::time_point t0 = Clock::now();
                media::Frame frame;
                Result<bool> got = source.read(frame);
                const int64_t corrupt = source.counters().corrupt;
                stats_.corrupt += corrupt - corrupt_seen;
                corrupt_seen = corrupt;
                // Decode time is the read minus the sleep that keeps stored media at real time.
                const int64_t paced = source.counters().paced_us;
                const double read_us = micros(Clock::now() - t0) - static_cast<double>(paced - paced_seen);
                paced_seen = paced;
                if (!got.is_ok()) {
                    status = got.status();
                    break;
                }
                if (!*got) {
                    status = Status(StatusCode::kOutOfRange, "end of stream");
                    if (config_.stop_at_end) stop_ = true;
                    break;
                }
                ++stats_.decoded;
                handle_frame(std::move(frame), std::max(0.0, read_us));
            }
            source.close();
        }
        if (stop_) break;
        // End of stream, a broken connection or a camera that is gone: wait, then try again, ever more patiently.
        stats_.state = StreamState::kReconnecting;
        stats_.set_error(status.message());
        if (!first) ++stats_.reconnects;
        // One line per new kind of failure, and a reminder every 30 s while it lasts, not one per attempt.
        const Clock::time_point now = Clock::now();
        if (status.message() != last_logged || now - logged_at > std::chrono::seconds(30)) {
            std::fprintf(stderr, "fovea: stream '%s': %s; reconnecting (backoff %d ms, up to %d ms)\n", name.c_str(),
                         status.message().c_str(), backoff_ms, config_.reconnect.max_ms);
            last_logged = status.message();
            logged_at = now;
        }
        if (!wait_backoff(backoff_ms)) break;
        backoff_ms = static_cast<int>(std::min<double>(config_.reconnect.max_ms, backoff_ms * config_.reconnect.multiplier));
    }
    stats_.state = StreamState::kStopped;
}

void Stream::handle_frame(media::Frame frame, double decode_us) {
    stats_.decode_us.add(decode_us);
    if (config_.max_fps > 0 && accepted_ > 0 &&
        frame.capture_time - last_accepted_ < std::chrono::duration<double>(0.999 / config_.max_fps)) {
        ++stats_.skipped;
        return;
    }
    last_accepted_ = frame.capture_time;
    if (accepted_++ % config_.interval != 0) {
        ++stats_.skipped;
        return;
    }

    const Clock::time_point t0 = Clock::now();
    FrameJob job;
    job.stream = id_;
    const std::vector<vision::Rect> whole{vision::Rect{}};
    const std::vector<vision::Rect>& rois = config_.rois.empty() ? whole : config_.rois;
    // On the GPU-resident path only the ROIs are resolved here; the worker preprocesses the batch on the device.
    job.device_spec = device_spec_;
    if (!device_spec_) job.input_data = std::make_shared<std::byte[]>(item_bytes_ * rois.size());
    for (size_t i = 0; i < rois.size(); ++i) {
        auto roi = vision::resolve_roi(rois[i], frame.width, frame.height);
        vision::InputTransform t;
        Status s = !roi.is_ok()  ? roi.status()
                   : device_spec_ ? Status::ok()
                                  : vision::preprocess(frame, *roi, spec_, job.input_data.get() + i * item_bytes_, t);
        if (!s.is_ok()) {
            // A frame that cannot be preprocessed (odd size, ROI outside it) is counted and skipped, not fatal.
            ++stats_.failed;
            stats_.set_error("frame " + std::to_string(frame.index) + ": " + s.message());
            return;
        }
        job.rois.push_back(*roi);
        job.transforms.push_back(t);
    }
    job.preprocess_us = micros(Clock::now() - t0);
    job.decode_us = decode_us;
    job.frame = std::move(frame);
    stats_.preprocess_us.add(job.preprocess_us);
    ++stats_.queued;
    if (queue_.push(std::move(job), /*wait=*/!live_)) ++stats_.dropped;
}

}  // namespace fovea::pipeline
