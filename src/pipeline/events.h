// Events and the bus that carries them (and per-frame results) from the inference workers to the sinks.
#pragma once

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "pipeline/frame_job.h"

namespace fovea::pipeline {

// An alarm: a rule fired on a frame of a stream.
struct Event {
    std::string rule;
    std::string stream;
    int64_t frame_index = 0;
    int64_t capture_wall_us = 0;  // system clock at capture
    double latency_ms = 0;        // capture to event
    std::vector<DetectionResult> detections;
    std::vector<std::string> labels;  // class names of the primary model, for the JSON
    media::Frame frame;               // for snapshots; not serialized
};

nlohmann::json detections_to_json(const std::vector<DetectionResult>& dets, const std::vector<std::string>& labels);
nlohmann::json event_to_json(const Event& e);

// What a sink receives. Sinks run on the bus's own thread, one message at a time, in order.
class Sink {
  public:
    virtual ~Sink() = default;
    virtual void on_event(const Event& /*event*/) {}
    virtual void on_frame(const FrameResult& /*result*/, const std::string& /*stream*/) {}
    virtual void flush() {}  // at the end of a run
};

// A bounded queue in front of the sinks. Events are never dropped (publishers wait for room); per-frame results
// are dropped when the sinks fall behind, and counted.
class EventBus {
  public:
    explicit EventBus(size_t capacity = 512);
    ~EventBus();
    EventBus(const EventBus&) = delete;
    EventBus& operator=(const EventBus&) = delete;

    void add_sink(std::unique_ptr<Sink> sink);  // before start()
    void start();
    void publish(Event event);
    void publish(FrameResult result, std::string stream);
    void stop();  // delivers what is queued, flushes the sinks, joins the thread

    int64_t events() const;
    int64_t dropped_frames() const;

  private:
    using Message = std::variant<Event, std::pair<FrameResult, std::string>>;
    void loop();

    const size_t capacity_;
    std::vector<std::unique_ptr<Sink>> sinks_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Message> queue_;
    bool stopping_ = false;
    int64_t events_ = 0;
    int64_t dropped_frames_ = 0;
    std::thread thread_;
};

}  // namespace fovea::pipeline
