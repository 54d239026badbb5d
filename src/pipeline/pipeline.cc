#include "pipeline/pipeline.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "pipeline/sinks.h"

namespace fovea::pipeline {
namespace {

double micros(Clock::duration d) {
    return std::chrono::duration<double, std::micro>(d).count();
}

nlohmann::json histogram_ms(const Histogram& h) {
    auto ms = [](double us) { return std::round(us) / 1000.0; };
    nlohmann::json j = {{"count", h.count()},         {"mean", ms(h.mean())},        {"p50", ms(h.quantile(0.5))},
                        {"p90", ms(h.quantile(0.9))}, {"p99", ms(h.quantile(0.99))}, {"max", ms(h.max())}};
    if (h.max_at_s() >= 0) j["max_at_s"] = std::round(h.max_at_s() * 1000) / 1000;
    return j;
}

}  // namespace

Pipeline::~Pipeline() {
    stop();
}

Result<std::unique_ptr<Pipeline>> Pipeline::create(PipelineConfig config, RunOptions options) {
    std::unique_ptr<Pipeline> p(new Pipeline());
    if (!options.device.empty())
        for (auto& [name, model] : config.models) model.backend = options.device;
    p->config_ = std::move(config);
    p->options_ = options;
    const PipelineConfig& c = p->config_;

    FOVEA_ASSIGN(p->primary_, ModelRunner::load(c.models.at(c.primary)));
    const OutputKind kind = p->primary_->config().output;
    if (p->primary_->backend() == "cuda" && (kind == OutputKind::kYoloV5 || kind == OutputKind::kYoloV8)) {
        const Status gpu = p->primary_->enable_device_path();
        p->device_path_ = gpu.is_ok();
        if (!gpu.is_ok())
            std::fprintf(
                stderr, "fovea: model '%s': GPU-resident path unavailable, preprocessing and decoding on the CPU: %s\n",
                p->primary_->config().name.c_str(), gpu.message().c_str());
    }
    for (const CascadeConfig& k : c.cascades) {
        if (p->secondaries_.contains(k.model)) continue;
        FOVEA_ASSIGN(p->secondaries_[k.model], ModelRunner::load(c.models.at(k.model)));
    }
    p->queue_ = std::make_unique<BatchQueue<FrameJob>>(c.queue_depth);
    p->rules_ = std::make_unique<RuleEngine>(c.rules, std::vector<std::string>{});

    const std::vector<std::string>& labels = p->primary_->config().labels;
    if (!c.sinks.jsonl_path.empty()) {
        FOVEA_ASSIGN(auto sink, JsonlSink::open(c.sinks.jsonl_path, c.sinks.jsonl_detections, labels));
        p->bus_.add_sink(std::move(sink));
    }
    if (!c.sinks.snapshot_dir.empty()) {
        FOVEA_ASSIGN(auto sink, SnapshotSink::open(c.sinks.snapshot_dir, c.sinks.snapshot_quality));
        p->bus_.add_sink(std::move(sink));
    }
    if (!c.sinks.video_path.empty())
        p->bus_.add_sink(
            std::make_unique<VideoSink>(c.sinks.video_path, c.sinks.video_streams, c.sinks.video_fps, labels));
    for (const StreamConfig& s : c.streams) FOVEA_TRY(p->add_stream(s));
    return p;
}

Status Pipeline::add_stream(StreamConfig config) {
    std::lock_guard lock(streams_mu_);
    for (const StreamSlot& slot : streams_)
        if (slot.stream && slot.name == config.source.name)
            return invalid_argument("a stream named '" + config.source.name + "' is already running");
    FOVEA_TRY(media::make_source(config.source).status());
    StreamSlot slot;
    slot.name = config.source.name;
    slot.stats = std::make_unique<StreamStats>();
    const int id = static_cast<int>(streams_.size());
    slot.stream =
        std::make_unique<Stream>(id, std::move(config), primary_->input_spec(), *queue_, *slot.stats, device_path_);
    {
        std::lock_guard rules_lock(batch_mu_);
        rules_->add_stream(slot.name);
        console_last_inferred_.push_back(0);
    }
    if (running_) slot.stream->start();
    streams_.push_back(std::move(slot));
    return Status::ok();
}

Status Pipeline::remove_stream(const std::string& name) {
    std::unique_ptr<Stream> gone;
    {
        std::lock_guard lock(streams_mu_);
        for (StreamSlot& slot : streams_)
            if (slot.stream && slot.name == name) gone = std::move(slot.stream);
    }
    if (!gone) return not_found("no running stream named '" + name + "'");
    gone->stop();
    queue_->discard_stream(gone->id());
    return Status::ok();
}

void Pipeline::add_sink(std::unique_ptr<Sink> sink) {
    bus_.add_sink(std::move(sink));
    extra_sinks_ = true;
}

void Pipeline::start() {
    if (running_.exchange(true)) return;
    started_ = Clock::now();
    window_start_ = started_.time_since_epoch().count();
    bus_.start();
    worker_ = std::thread([this] { worker_loop(); });
    {
        std::lock_guard lock(streams_mu_);
        for (StreamSlot& slot : streams_)
            if (slot.stream) slot.stream->start();
    }
    if (options_.console && config_.sinks.console) console_ = std::thread([this] { console_loop(); });
}

void Pipeline::stop() {
    if (!running_.exchange(false)) return;
    {
        std::lock_guard lock(streams_mu_);
        for (StreamSlot& slot : streams_)
            if (slot.stream) slot.stream->stop();
    }
    queue_->close();
    if (worker_.joinable()) worker_.join();
    stopped_ = Clock::now();
    bus_.stop();
    {
        std::lock_guard lock(console_mu_);
        console_stop_ = true;
    }
    console_cv_.notify_all();
    if (console_.joinable()) console_.join();
}

bool Pipeline::all_streams_stopped() const {
    std::lock_guard lock(streams_mu_);
    return std::all_of(streams_.begin(), streams_.end(),
                       [](const StreamSlot& s) { return s.stats->state == StreamState::kStopped; });
}

void Pipeline::run(double duration_s, const std::atomic<bool>* stop_flag, double warmup_s) {
    if (duration_s <= 0) duration_s = config_.duration_s;
    start();
    bool warming = warmup_s > 0, cut = false;  // cut: the window ends with the streams still running
    for (;;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (stop_flag && stop_flag->load()) {
            cut = true;
            break;
        }
        const double elapsed = std::chrono::duration<double>(Clock::now() - window_start()).count();
        if (warming) {
            if (elapsed >= warmup_s) {
                reset_stats();
                warming = false;
            }
            continue;
        }
        if (duration_s > 0 && elapsed >= duration_s) {
            cut = true;
            break;
        }
        if (all_streams_stopped() && queue_->size() == 0) break;
    }
    if (cut) {
        nlohmann::json window = live_summary();
        std::lock_guard lock(window_mu_);
        window_summary_ = std::move(window);
    }
    stop();
}

void Pipeline::reset_stats() {
    {
        std::lock_guard lock(window_mu_);
        window_summary_.reset();
    }
    {
        std::lock_guard lock(streams_mu_);
        for (StreamSlot& slot : streams_) {
            StreamStats& s = *slot.stats;
            for (std::atomic<int64_t>* counter : {&s.decoded, &s.skipped, &s.queued, &s.dropped, &s.inferred,
                                                  &s.corrupt, &s.failed, &s.reconnects, &s.alarms})
                *counter = 0;
            for (Histogram* h : {&s.decode_us, &s.preprocess_us, &s.queue_us, &s.infer_us, &s.post_us, &s.latency_us})
                h->reset();
        }
    }
    for (Histogram* h :
         {&stages_.decode, &stages_.preprocess, &stages_.queue, &stages_.infer, &stages_.post, &stages_.latency})
        h->reset();
    {
        std::lock_guard lock(batch_mu_);
        batch_sizes_.clear();
        batch_infer_us_.reset();
        inference_errors_ = 0;
    }
    window_start_ = Clock::now().time_since_epoch().count();
}

void Pipeline::worker_loop() {
    const int max_batch = primary_->max_batch();
    const auto max_delay = std::chrono::microseconds(primary_->config().max_delay_us);
    for (;;) {
        std::vector<FrameJob> batch = queue_->next_batch(max_batch, max_delay);
        if (batch.empty()) return;
        process_batch(batch);
    }
}

void Pipeline::process_batch(std::vector<FrameJob>& batch) {
    Stages& stages = stages_;
    const Clock::time_point t0 = Clock::now();
    const double at = std::chrono::duration<double>(t0 - window_start()).count();  // for the stages' maxima
    std::vector<StreamStats*> stats;
    {
        std::lock_guard lock(streams_mu_);
        for (const FrameJob& job : batch) stats.push_back(streams_[static_cast<size_t>(job.stream)].stats.get());
    }
    // Every job's ROI inputs, in order: the runner copies them into its batch tensor.
    const size_t item = primary_->item_bytes();
    std::vector<const std::byte*> inputs;
    for (size_t j = 0; j < batch.size(); ++j) {
        const FrameJob& job = batch[j];
        for (int roi = 0; job.input_data && roi < job.inputs(); ++roi)
            inputs.push_back(job.input_data.get() + static_cast<size_t>(roi) * item);
        stats[j]->queue_us.add(micros(t0 - job.enqueued));
        stages.queue.add(micros(t0 - job.enqueued), at);
        stages.decode.add(job.decode_us, at);
        stages.preprocess.add(job.preprocess_us, at);
    }
    int total = static_cast<int>(inputs.size());
    Result<std::vector<ItemOutput>> outputs = std::vector<ItemOutput>{};
    if (device_path_) {
        // GPU-resident: the jobs carry frames and ROIs; the transforms come back from the device preprocessing.
        std::vector<ModelRunner::FrameItem> items;
        for (const FrameJob& job : batch)
            for (const vision::Rect& roi : job.rois) items.push_back({&job.frame, roi, job.device_spec.get()});
        total = static_cast<int>(items.size());
        std::vector<vision::InputTransform> transforms;
        outputs = primary_->run_frames(items, transforms);
        auto next = transforms.begin();
        if (outputs.is_ok())
            for (FrameJob& job : batch) {
                job.transforms.assign(next, next + static_cast<std::ptrdiff_t>(job.rois.size()));
                next += static_cast<std::ptrdiff_t>(job.rois.size());
            }
    } else {
        outputs = primary_->run(inputs);
    }
    const Clock::time_point t1 = Clock::now();
    {
        std::lock_guard lock(batch_mu_);
        ++batch_sizes_[total];
        batch_infer_us_.add(micros(t1 - t0), at);
        if (!outputs.is_ok()) {
            // A failed batch loses its frames, not the pipeline.
            ++inference_errors_;
            last_inference_error_ = outputs.status().message();
        }
    }
    if (!outputs.is_ok()) {
        std::fprintf(stderr, "fovea: inference failed: %s\n", outputs.status().message().c_str());
        return;
    }
    std::vector<FrameResult> results;
    size_t k = 0;
    for (size_t j = 0; j < batch.size(); ++j) {
        FrameJob& job = batch[j];
        FrameResult r;
        r.stream = job.stream;
        r.frame = job.frame;
        for (int roi = 0; roi < job.inputs(); ++roi, ++k) {
            ItemOutput& o = (*outputs)[k];
            vision::map_to_frame(o.detections, job.transforms[static_cast<size_t>(roi)], job.frame.width,
                                 job.frame.height);
            for (const vision::Detection& d : o.detections) r.detections.push_back({d, roi});
            if (roi == 0) {
                r.classes = std::move(o.classes);
                r.text = std::move(o.text.text);
                r.text_confidence = o.text.confidence;
            }
        }
        stats[j]->infer_us.add(micros(t1 - t0));
        stages.infer.add(micros(t1 - t0), at);
        results.push_back(std::move(r));
    }
    run_cascades(results);

    const std::vector<std::string>& labels = primary_->config().labels;
    const bool frames_wanted = extra_sinks_ || config_.sinks.jsonl_detections || !config_.sinks.video_path.empty();
    for (size_t j = 0; j < results.size(); ++j) {
        FrameResult& r = results[j];
        std::vector<Alarm> alarms;
        {
            std::lock_guard lock(batch_mu_);
            alarms = rules_->evaluate(r.stream, r.detections);
        }
        r.done = Clock::now();
        const double latency = micros(r.done - r.frame.capture_time);
        stats[j]->post_us.add(micros(r.done - t1));
        stats[j]->latency_us.add(latency);
        stages.post.add(micros(r.done - t1), at);
        stages.latency.add(latency, at);
        ++stats[j]->inferred;
        for (Alarm& a : alarms) {
            ++stats[j]->alarms;
            Event e;
            e.rule = a.rule->name;
            e.stream = streams_name(r.stream);
            e.frame_index = r.frame.index;
            e.capture_wall_us = r.frame.wall_time_us;
            e.latency_ms = latency / 1000.0;
            e.detections = std::move(a.detections);
            for (DetectionResult& d : RuleEngine::attached(*a.rule, e.detections, r.detections))
                e.detections.push_back(std::move(d));
            e.labels = labels;
            e.frame = r.frame;
            bus_.publish(std::move(e));
        }
        if (frames_wanted) bus_.publish(std::move(r), streams_name(results[j].stream));
    }
}

std::string Pipeline::streams_name(int id) const {
    std::lock_guard lock(streams_mu_);
    return streams_[static_cast<size_t>(id)].name;
}

void Pipeline::run_cascades(std::vector<FrameResult>& results) {
    for (const CascadeConfig& k : config_.cascades) {
        ModelRunner& model = *secondaries_.at(k.model);
        const size_t item = model.item_bytes();
        struct Crop {
            size_t result, det;
        };
        std::vector<Crop> crops;
        std::vector<std::byte> inputs;  // crops back to back
        for (size_t r = 0; r < results.size(); ++r) {
            const media::Frame& frame = results[r].frame;
            int taken = 0;
            for (size_t d = 0; d < results[r].detections.size() && taken < k.max_crops_per_frame; ++d) {
                const vision::Detection& det = results[r].detections[d].det;
                if (det.score < k.min_score) continue;
                if (!k.classes.empty() &&
                    std::find(k.classes.begin(), k.classes.end(), det.class_id) == k.classes.end())
                    continue;
                const float pw = (det.box.x2 - det.box.x1) * k.padding, ph = (det.box.y2 - det.box.y1) * k.padding;
                const int x1 = std::max(0, static_cast<int>(std::floor(det.box.x1 - pw)));
                const int y1 = std::max(0, static_cast<int>(std::floor(det.box.y1 - ph)));
                const int x2 = std::min(frame.width, static_cast<int>(std::ceil(det.box.x2 + pw)));
                const int y2 = std::min(frame.height, static_cast<int>(std::ceil(det.box.y2 + ph)));
                if (x2 - x1 < 2 || y2 - y1 < 2) continue;
                inputs.resize(inputs.size() + item);
                vision::InputTransform t;
                const Status s = vision::preprocess(frame, vision::Rect{x1, y1, x2 - x1, y2 - y1}, model.input_spec(),
                                                    inputs.data() + inputs.size() - item, t);
                if (!s.is_ok()) {
                    inputs.resize(inputs.size() - item);
                    continue;
                }
                crops.push_back({r, d});
                ++taken;
            }
        }
        if (crops.empty()) continue;
        std::vector<const std::byte*> items;
        for (size_t c = 0; c < crops.size(); ++c) items.push_back(inputs.data() + c * item);
        auto outputs = model.run(items);
        if (!outputs.is_ok()) {
            std::fprintf(stderr, "fovea: cascade '%s' failed: %s\n", k.model.c_str(),
                         outputs.status().message().c_str());
            continue;
        }
        for (size_t c = 0; c < crops.size(); ++c) {
            DetectionResult& d = results[crops[c].result].detections[crops[c].det];
            ItemOutput& o = (*outputs)[c];
            if (!o.classes.empty()) {
                const int id = o.classes[0].class_id;
                d.secondary_label = model.label(id).empty() ? std::to_string(id) : model.label(id);
                d.secondary_score = o.classes[0].score;
            }
            if (!o.text.text.empty()) {
                d.text = o.text.text;
                d.text_confidence = o.text.confidence;
            }
        }
    }
}

nlohmann::json Pipeline::summary() const {
    nlohmann::json now = live_summary();
    std::lock_guard lock(window_mu_);
    if (!window_summary_) return now;
    // The window's numbers; the streams' states and errors as they are now; the teardown's counts apart.
    nlohmann::json j = *window_summary_;
    for (auto& stream : j["streams"])
        for (const auto& current : now["streams"])
            if (current["name"] == stream["name"]) {
                stream["state"] = current["state"];
                stream["last_error"] = current["last_error"];
            }
    nlohmann::json after;
    for (const char* key : {"decoded", "inferred", "dropped", "alarms", "events"})
        after[key] = now["totals"][key].get<int64_t>() - j["totals"][key].get<int64_t>();
    after["seconds"] = now["duration_s"].get<double>() - j["duration_s"].get<double>();
    j["after_window"] = std::move(after);
    return j;
}

nlohmann::json Pipeline::live_summary() const {
    const Stages& stages = stages_;
    const Clock::time_point end = running_ ? Clock::now() : stopped_;
    const double seconds = std::max(1e-9, std::chrono::duration<double>(end - window_start()).count());
    nlohmann::json streams = nlohmann::json::array();
    int64_t inferred = 0, dropped = 0, decoded = 0, alarms = 0;
    {
        std::lock_guard lock(streams_mu_);
        for (const StreamSlot& slot : streams_) {
            const StreamStats& s = *slot.stats;
            inferred += s.inferred;
            dropped += s.dropped;
            decoded += s.decoded;
            alarms += s.alarms;
            streams.push_back({{"name", slot.name},
                               {"state", stream_state_name(s.state)},
                               {"decoded", s.decoded.load()},
                               {"skipped", s.skipped.load()},
                               {"queued", s.queued.load()},
                               {"dropped", s.dropped.load()},
                               {"inferred", s.inferred.load()},
                               {"corrupt", s.corrupt.load()},
                               {"failed", s.failed.load()},
                               {"reconnects", s.reconnects.load()},
                               {"alarms", s.alarms.load()},
                               {"inferred_fps", static_cast<double>(s.inferred) / seconds},
                               {"latency_ms", histogram_ms(s.latency_us)},
                               {"last_error", s.error()}});
        }
    }
    nlohmann::json batches = nlohmann::json::object();
    nlohmann::json j;
    {
        std::lock_guard lock(batch_mu_);
        for (const auto& [size, n] : batch_sizes_) batches[std::to_string(size)] = n;
        j["batch_inference_ms"] = histogram_ms(batch_infer_us_);
        j["inference_errors"] = inference_errors_;
        if (!last_inference_error_.empty()) j["last_inference_error"] = last_inference_error_;
    }
    j["duration_s"] = seconds;
    j["model"] = {{"name", primary_->config().name},
                  {"path", primary_->config().path},
                  {"backend", primary_->backend()},
                  {"precision", primary_->config().precision},
                  {"max_batch", primary_->max_batch()}};
    j["totals"] = {{"streams", streams.size()},
                   {"decoded", decoded},
                   {"inferred", inferred},
                   {"dropped", dropped},
                   {"alarms", alarms},
                   {"events", bus_.events()},
                   {"inferred_fps", static_cast<double>(inferred) / seconds},
                   {"sink_dropped_frames", bus_.dropped_frames()}};
    j["stages_ms"] = {{"decode", histogram_ms(stages.decode)},    {"preprocess", histogram_ms(stages.preprocess)},
                      {"queue_wait", histogram_ms(stages.queue)}, {"inference", histogram_ms(stages.infer)},
                      {"postprocess", histogram_ms(stages.post)}, {"capture_to_event", histogram_ms(stages.latency)}};
    j["batch_sizes"] = batches;
    j["gpu_resident"] = device_path_;
    if (device_path_)  // frames read in GPU memory as NVDEC decoded them, and frames uploaded from the host
        j["gpu_frames"] = {{"in_place", primary_->device_frames()}, {"uploaded", primary_->uploaded_frames()}};
    j["streams"] = streams;
    return j;
}

std::string Pipeline::summary_text() const {
    const nlohmann::json j = summary();
    std::ostringstream o;
    char line[256];
    o << "fovea run: " << j["totals"]["streams"] << " streams, " << j["model"]["name"].get<std::string>() << " on "
      << j["model"]["backend"].get<std::string>() << ", " << std::round(j["duration_s"].get<double>() * 10) / 10
      << " s\n";
    std::snprintf(line, sizeof line, "%-14s %-12s %8s %8s %8s %7s %7s %8s %8s %6s\n", "stream", "state", "decoded",
                  "inferred", "dropped", "corrupt", "reconn", "p50 ms", "p99 ms", "alarms");
    o << line;
    for (const auto& s : j["streams"]) {
        std::snprintf(line, sizeof line, "%-14.14s %-12s %8lld %8lld %8lld %7lld %7lld %8.1f %8.1f %6lld\n",
                      s["name"].get<std::string>().c_str(), s["state"].get<std::string>().c_str(),
                      s["decoded"].get<long long>(), s["inferred"].get<long long>(), s["dropped"].get<long long>(),
                      s["corrupt"].get<long long>(), s["reconnects"].get<long long>(),
                      s["latency_ms"]["p50"].get<double>(), s["latency_ms"]["p99"].get<double>(),
                      s["alarms"].get<long long>());
        o << line;
    }
    o << "stages (ms)         mean      p50      p99      max   max at s\n";
    for (const char* stage : {"decode", "preprocess", "queue_wait", "inference", "postprocess", "capture_to_event"}) {
        const auto& h = j["stages_ms"][stage];
        std::snprintf(line, sizeof line, "  %-16s %8.2f %8.2f %8.2f %8.2f %10.3f\n", stage, h["mean"].get<double>(),
                      h["p50"].get<double>(), h["p99"].get<double>(), h["max"].get<double>(),
                      h.value("max_at_s", -1.0));
        o << line;
    }
    o << "batches:";
    for (const auto& [size, n] : j["batch_sizes"].items()) o << " " << size << "x" << n;
    const auto& t = j["totals"];
    std::snprintf(line, sizeof line, "\ntotal: %.1f inferred frames/s, %lld dropped, %lld alarms, %lld events\n",
                  t["inferred_fps"].get<double>(), t["dropped"].get<long long>(), t["alarms"].get<long long>(),
                  t["events"].get<long long>());
    o << line;
    if (j.contains("after_window")) {
        const auto& a = j["after_window"];
        std::snprintf(line, sizeof line,
                      "after the window (stopping, %.1f s, not counted above): %lld decoded, %lld inferred, %lld "
                      "dropped, %lld events\n",
                      a["seconds"].get<double>(), a["decoded"].get<long long>(), a["inferred"].get<long long>(),
                      a["dropped"].get<long long>(), a["events"].get<long long>());
        o << line;
    }
    return o.str();
}

std::string Pipeline::console_text(double interval_s) {
    std::ostringstream o;
    char line[256];
    int64_t dropped = 0, alarms = 0;
    double fps_total = 0;
    std::lock_guard lock(streams_mu_);
    for (size_t i = 0; i < streams_.size(); ++i) {
        const StreamStats& s = *streams_[i].stats;
        const int64_t inferred = s.inferred;
        int64_t& last = console_last_inferred_[i];
        const double fps = static_cast<double>(std::max<int64_t>(0, inferred - last)) / interval_s;  // 0 after a reset
        last = inferred;
        fps_total += fps;
        dropped += s.dropped;
        alarms += s.alarms;
        std::snprintf(line, sizeof line,
                      "%-14.14s %-12s %6.1f fps  drops %-6lld p50 %6.1f ms  p99 %6.1f ms  alarms %lld\n",
                      streams_[i].name.c_str(), stream_state_name(s.state), fps, static_cast<long long>(s.dropped),
                      s.latency_us.quantile(0.5) / 1000.0, s.latency_us.quantile(0.99) / 1000.0,
                      static_cast<long long>(s.alarms));
        o << line;
    }
    std::snprintf(line, sizeof line, "all: %.1f fps, %lld drops, %lld alarms\n", fps_total,
                  static_cast<long long>(dropped), static_cast<long long>(alarms));
    o << line;
    return o.str();
}

void Pipeline::console_loop() {
    const bool tty = isatty(STDOUT_FILENO) != 0;
    const double interval = config_.sinks.console_interval_s;
    int printed_lines = 0;
    for (;;) {
        {
            std::unique_lock lock(console_mu_);
            if (console_cv_.wait_for(lock, std::chrono::duration<double>(interval),
                                     [&] { return console_stop_.load(); }))
                return;
        }
        const std::string text = console_text(interval);
        if (tty) {
            // Redraw in place: up over the previous view, clear to the end of the screen.
            if (printed_lines > 0) std::printf("\x1b[%dF\x1b[J", printed_lines);
            std::fputs(text.c_str(), stdout);
            printed_lines = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
        } else {
            // Not a terminal: one plain line per interval (the last line of the view).
            const size_t last = text.rfind('\n', text.size() - 2);
            const double t = std::chrono::duration<double>(Clock::now() - started_).count();
            std::printf("[%7.1f s] %s", t, text.substr(last == std::string::npos ? 0 : last + 1).c_str());
        }
        std::fflush(stdout);
    }
}

}  // namespace fovea::pipeline
