#include "pipeline/events.h"

#include <cstdio>

namespace fovea::pipeline {

nlohmann::json detections_to_json(const std::vector<DetectionResult>& dets, const std::vector<std::string>& labels) {
    nlohmann::json out = nlohmann::json::array();
    for (const DetectionResult& d : dets) {
        const vision::Box& b = d.det.box;
        nlohmann::json j = {
            {"class_id", d.det.class_id},
            {"score", d.det.score},
            {"box", {b.x1, b.y1, b.x2, b.y2}},
        };
        if (d.det.class_id >= 0 && static_cast<size_t>(d.det.class_id) < labels.size())
            j["class"] = labels[static_cast<size_t>(d.det.class_id)];
        if (d.roi != 0) j["roi"] = d.roi;
        if (!d.secondary_label.empty()) {
            j["secondary"] = {{"class", d.secondary_label}, {"score", d.secondary_score}};
        }
        if (!d.text.empty()) j["text"] = {{"value", d.text}, {"confidence", d.text_confidence}};
        out.push_back(std::move(j));
    }
    return out;
}

nlohmann::json event_to_json(const Event& e) {
    return {
        {"type", "alarm"},
        {"rule", e.rule},
        {"stream", e.stream},
        {"frame", e.frame_index},
        {"capture_time_us", e.capture_wall_us},
        {"latency_ms", e.latency_ms},
        {"detections", detections_to_json(e.detections, e.labels)},
    };
}

EventBus::EventBus(size_t capacity) : capacity_(capacity) {}

EventBus::~EventBus() { stop(); }

void EventBus::add_sink(std::unique_ptr<Sink> sink) { sinks_.push_back(std::move(sink)); }

void EventBus::start() { thread_ = std::thread([this] { loop(); }); }

void EventBus::publish(Event event) {
    std::unique_lock lock(mu_);
    // Events wait for room rather than vanish: an alarm must reach its sinks.
    cv_.wait(lock, [&] { return stopping_ || queue_.size() < capacity_; });
    ++events_;
    queue_.emplace_back(std::move(event));
    cv_.notify_all();
}

void EventBus::publish(FrameResult result, std::string stream) {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= capacity_) {
        ++dropped_frames_;
        return;
    }
    queue_.emplace_back(std::make_pair(std::move(result), std::move(stream)));
    cv_.notify_all();
}

void EventBus::loop() {
    for (;;) {
        Message m;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) break;
            m = std::move(queue_.front());
            queue_.pop_front();
            cv_.notify_all();
        }
        for (auto& sink : sinks_) {
            try {
                if (auto* e = std::get_if<Event>(&m))
                    sink->on_event(*e);
                else {
                    auto& [result, stream] = std::get<1>(m);
                    sink->on_frame(result, stream);
                }
            } catch (const std::exception& ex) {
                // A sink that throws loses its message, not the process.
                std::fprintf(stderr, "fovea: sink error: %s\n", ex.what());
            }
        }
    }
    for (auto& sink : sinks_) sink->flush();
}

void EventBus::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

int64_t EventBus::events() const {
    std::lock_guard lock(mu_);
    return events_;
}

int64_t EventBus::dropped_frames() const {
    std::lock_guard lock(mu_);
    return dropped_frames_;
}

}  // namespace fovea::pipeline
