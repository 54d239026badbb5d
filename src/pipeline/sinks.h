// The sinks a pipeline file can ask for: a JSON Lines file, JPEG snapshots of alarms, annotated videos.
#pragma once

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "media/encode.h"
#include "pipeline/events.h"

namespace fovea::pipeline {

// One JSON object a line: every event, and with `detections` every inferred frame's detections.
class JsonlSink : public Sink {
  public:
    static Result<std::unique_ptr<JsonlSink>> open(const std::string& path, bool detections,
                                                   std::vector<std::string> labels);
    void on_event(const Event& event) override;
    void on_frame(const FrameResult& result, const std::string& stream) override;
    void flush() override;

  private:
    JsonlSink() = default;
    std::ofstream out_;
    bool detections_ = false;
    std::vector<std::string> labels_;
};

// A JPEG per event, boxes drawn, named <stream>_<frame>_<rule>.jpg.
class SnapshotSink : public Sink {
  public:
    static Result<std::unique_ptr<SnapshotSink>> open(const std::string& dir, int quality);
    void on_event(const Event& event) override;
    int64_t written() const { return written_; }

  private:
    SnapshotSink() = default;
    std::string dir_;
    int quality_ = 85;
    int64_t written_ = 0;
};

// Annotated video per stream: every inferred frame with its boxes. "{stream}" in the path becomes the stream name.
class VideoSink : public Sink {
  public:
    VideoSink(std::string path_pattern, std::vector<std::string> streams, double fps, std::vector<std::string> labels);
    void on_frame(const FrameResult& result, const std::string& stream) override;
    void flush() override;

  private:
    std::string pattern_;
    std::vector<std::string> streams_;
    double fps_;
    std::vector<std::string> labels_;
    std::map<std::string, std::unique_ptr<media::VideoWriter>> writers_;
};

}  // namespace fovea::pipeline
