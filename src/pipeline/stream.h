// Stream: one source under supervision. Its thread reads frames, applies the rate cap and interval, preprocesses
// each ROI for the model and queues the job; when the source ends or breaks it reconnects with exponential backoff.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "pipeline/batch_queue.h"
#include "pipeline/config.h"
#include "pipeline/frame_job.h"
#include "pipeline/histogram.h"

namespace fovea::pipeline {

enum class StreamState { kStarting, kRunning, kReconnecting, kStopped };
const char* stream_state_name(StreamState s);

// Counters and timings of one stream; written by its thread and the inference worker, read by anyone.
struct StreamStats {
    std::atomic<int64_t> decoded{0};    // frames read from the source
    std::atomic<int64_t> skipped{0};    // left out on purpose: max_fps and interval
    std::atomic<int64_t> queued{0};     // sent to the model
    std::atomic<int64_t> dropped{0};    // pushed out of the queue by newer frames (inference too slow)
    std::atomic<int64_t> inferred{0};   // results produced
    std::atomic<int64_t> corrupt{0};    // damaged packets or frames the source skipped
    std::atomic<int64_t> failed{0};     // frames that could not be preprocessed
    std::atomic<int64_t> reconnects{0};
    std::atomic<int64_t> alarms{0};
    std::atomic<StreamState> state{StreamState::kStarting};
    Histogram decode_us, preprocess_us, queue_us, infer_us, post_us, latency_us;

    mutable std::mutex error_mu;
    std::string last_error;  // guarded by error_mu
    void set_error(std::string e) {
        std::lock_guard lock(error_mu);
        last_error = std::move(e);
    }
    std::string error() const {
        std::lock_guard lock(error_mu);
        return last_error;
    }
};

class Stream {
  public:
    // `spec` is the model's input spec (the stream's equalization is applied on top). The queue and stats must
    // outlive the stream. `device_preprocess`: frames go to the queue unpreprocessed (the worker does it on the GPU).
    Stream(int id, StreamConfig config, const vision::PreprocessSpec& spec, BatchQueue<FrameJob>& queue,
           StreamStats& stats, bool device_preprocess = false);
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    void start();
    void stop();  // returns once the thread has closed its source
    const StreamConfig& config() const { return config_; }
    int id() const { return id_; }

  private:
    void run();
    bool wait_backoff(int ms);  // false when stopping
    void handle_frame(media::Frame frame, double decode_us);

    const int id_;
    const StreamConfig config_;
    vision::PreprocessSpec spec_;
    size_t item_bytes_;
    std::shared_ptr<const vision::PreprocessSpec> device_spec_;  // set on the GPU-resident path
    bool live_ = true;  // frames come at the source's pace: drop rather than wait when the model is behind
    BatchQueue<FrameJob>& queue_;
    StreamStats& stats_;

    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::condition_variable cv_;
    std::thread thread_;

    int64_t accepted_ = 0;
    Clock::time_point last_accepted_{};
};

}  // namespace fovea::pipeline
