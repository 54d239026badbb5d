// Pipeline: streams in, events out. Owns the streams, the primary model's batch queue and worker, the cascades,
// the rules and the event bus, and keeps the statistics that `fovea run` prints.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/batch_queue.h"
#include "pipeline/config.h"
#include "pipeline/events.h"
#include "pipeline/model.h"
#include "pipeline/rules.h"
#include "pipeline/stream.h"

namespace fovea::pipeline {

struct RunOptions {
    std::string device;   // overrides every model's backend when set ("cpu", "cuda", "ref")
    bool console = true;  // the live view (the config's sinks.console can turn it off too)
};

class Pipeline {
  public:
    // Loads every model (compiling their sessions) and opens the sinks; starts nothing.
    static Result<std::unique_ptr<Pipeline>> create(PipelineConfig config, RunOptions options = {});
    ~Pipeline();
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    // Another consumer of events and per-frame results (e.g. an evaluator); before start(). Frame results are
    // published for it even when no configured sink wants them.
    void add_sink(std::unique_ptr<Sink> sink);

    void start();
    // Stops the streams, drains the queue through the model, delivers the last events, flushes the sinks.
    void stop();
    // Runs until `duration_s` passes (0: the config's duration; both 0: until every stream has stopped or `stop_flag`
    // turns true), then stops. With `warmup_s` > 0 it first runs that long and then starts the statistics afresh
    // (reset_stats), so that decoder start-up and the first batches do not count; `duration_s` follows the warm-up.
    // When the time (or `stop_flag`) ends a run whose streams still run, the summary is the window up to that moment:
    // what the teardown does (decoders closing, the last frames drained) is reported apart, as `after_window`.
    void run(double duration_s, const std::atomic<bool>* stop_flag = nullptr, double warmup_s = 0);
    // Zeroes every counter and histogram and starts the summary's time window now. Frames in flight count in the
    // window they finish in.
    void reset_stats();

    // Streams can come and go while running (the stream registry); names are unique.
    Status add_stream(StreamConfig config);
    Status remove_stream(const std::string& name);

    // The run so far (or its measured window, see run()): per stream, per stage, batches, events.
    nlohmann::json summary() const;
    std::string summary_text() const;  // the table `fovea run` prints at exit
    const PipelineConfig& config() const { return config_; }

  private:
    struct StreamSlot {
        std::unique_ptr<StreamStats> stats;
        std::unique_ptr<Stream> stream;  // null once removed
        std::string name;
    };

    Pipeline() = default;
    void worker_loop();
    void process_batch(std::vector<FrameJob>& batch);
    void run_cascades(std::vector<FrameResult>& results);
    void console_loop();
    std::string console_text(double interval_s);
    bool all_streams_stopped() const;
    std::string streams_name(int id) const;

    PipelineConfig config_;
    RunOptions options_;
    std::unique_ptr<ModelRunner> primary_;
    bool device_path_ = false;  // the primary detector runs GPU-resident (frames in, candidates out)
    std::map<std::string, std::unique_ptr<ModelRunner>> secondaries_;
    std::unique_ptr<BatchQueue<FrameJob>> queue_;
    std::unique_ptr<RuleEngine> rules_;
    EventBus bus_;
    bool extra_sinks_ = false;

    mutable std::mutex streams_mu_;
    std::vector<StreamSlot> streams_;  // index = stream id; grows only, so ids stay valid

    std::thread worker_;
    std::thread console_;
    std::atomic<bool> running_{false};
    std::atomic<bool> console_stop_{false};
    std::mutex console_mu_;
    std::condition_variable console_cv_;
    Clock::time_point started_{};
    Clock::time_point stopped_{};
    nlohmann::json live_summary() const;
    mutable std::mutex window_mu_;
    std::optional<nlohmann::json> window_summary_;  // taken when run() ends the window with the streams running
    // Where the summary's window begins: started_, or the last reset_stats() (read by other threads).
    std::atomic<Clock::rep> window_start_{0};
    Clock::time_point window_start() const { return Clock::time_point(Clock::duration(window_start_.load())); }

    // Stage timings over all streams, next to the per-stream ones.
    struct Stages {
        Histogram decode, preprocess, queue, infer, post, latency;
    };
    Stages stages_;

    // Batch statistics (worker thread writes, summary reads).
    mutable std::mutex batch_mu_;
    std::map<int, int64_t> batch_sizes_;  // inputs per batch -> how many batches
    Histogram batch_infer_us_;
    int64_t inference_errors_ = 0;
    std::string last_inference_error_;
    std::vector<int64_t> console_last_inferred_;
};

}  // namespace fovea::pipeline
