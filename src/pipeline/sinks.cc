#include "pipeline/sinks.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "vision/draw.h"

namespace fovea::pipeline {
namespace {

// Boxes drawn on a copy: the original frame may still be read by other sinks.
media::Frame annotated(const media::Frame& frame, const std::vector<DetectionResult>& dets,
                       const std::vector<std::string>& labels) {
    media::Frame copy = vision::to_bgr_copy(frame);
    for (const DetectionResult& d : dets) {
        // draw_detections names boxes by class id; each box gets its own table so that its label can carry what a
        // cascade read, while the colour still follows the class.
        const auto id = static_cast<size_t>(std::max(0, d.det.class_id));
        std::vector<std::string> names(id + 1);
        names[id] = id < labels.size() ? labels[id] : std::to_string(d.det.class_id);
        if (!d.secondary_label.empty()) names[id] += " " + d.secondary_label;
        if (!d.text.empty()) names[id] += " '" + d.text + "'";
        vision::draw_detections(copy, std::span(&d.det, 1), names);
    }
    return copy;
}

std::string safe_name(std::string s) {
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
    return s;
}

}  // namespace

Result<std::unique_ptr<JsonlSink>> JsonlSink::open(const std::string& path, bool detections,
                                                   std::vector<std::string> labels) {
    const auto parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    std::unique_ptr<JsonlSink> s(new JsonlSink());
    s->out_.open(path, std::ios::out | std::ios::trunc);
    if (!s->out_) return io_error(path + ": cannot write the events file");
    s->detections_ = detections;
    s->labels_ = std::move(labels);
    return s;
}

void JsonlSink::on_event(const Event& event) {
    out_ << event_to_json(event).dump() << '\n';
    out_.flush();  // an event written is an event that survives a crash
}

void JsonlSink::on_frame(const FrameResult& result, const std::string& stream) {
    if (!detections_) return;
    nlohmann::json j = {{"type", "frame"},
                        {"stream", stream},
                        {"frame", result.frame.index},
                        {"capture_time_us", result.frame.wall_time_us},
                        {"latency_ms", std::chrono::duration<double, std::milli>(result.done - result.frame.capture_time).count()},
                        {"detections", detections_to_json(result.detections, labels_)}};
    if (!result.classes.empty()) {
        nlohmann::json classes = nlohmann::json::array();
        for (const auto& c : result.classes) {
            nlohmann::json k = {{"class_id", c.class_id}, {"score", c.score}};
            if (c.class_id >= 0 && static_cast<size_t>(c.class_id) < labels_.size())
                k["class"] = labels_[static_cast<size_t>(c.class_id)];
            classes.push_back(std::move(k));
        }
        j["classes"] = std::move(classes);
    }
    if (!result.text.empty()) j["text"] = {{"value", result.text}, {"confidence", result.text_confidence}};
    out_ << j.dump() << '\n';
}

void JsonlSink::flush() { out_.flush(); }

Result<std::unique_ptr<SnapshotSink>> SnapshotSink::open(const std::string& dir, int quality) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return io_error(dir + ": cannot create the snapshot folder (" + ec.message() + ")");
    std::unique_ptr<SnapshotSink> s(new SnapshotSink());
    s->dir_ = dir;
    s->quality_ = quality;
    return s;
}

void SnapshotSink::on_event(const Event& event) {
    if (event.frame.empty()) return;
    const media::Frame image = annotated(event.frame, event.detections, event.labels);
    const std::string path = dir_ + "/" + safe_name(event.stream) + "_" + std::to_string(event.frame_index) + "_" +
                             safe_name(event.rule) + ".jpg";
    const Status s = media::write_jpeg(path, image, quality_);
    if (!s.is_ok()) {
        std::fprintf(stderr, "fovea: snapshot: %s\n", s.message().c_str());
        return;
    }
    ++written_;
}

VideoSink::VideoSink(std::string path_pattern, std::vector<std::string> streams, double fps,
                     std::vector<std::string> labels)
    : pattern_(std::move(path_pattern)), streams_(std::move(streams)), fps_(fps), labels_(std::move(labels)) {}

void VideoSink::on_frame(const FrameResult& result, const std::string& stream) {
    if (!streams_.empty() && std::find(streams_.begin(), streams_.end(), stream) == streams_.end()) return;
    auto it = writers_.find(stream);
    if (it == writers_.end()) {
        std::string path = pattern_;
        for (size_t at; (at = path.find("{stream}")) != std::string::npos;) path.replace(at, 8, safe_name(stream));
        const auto parent = std::filesystem::path(path).parent_path();
        std::error_code ec;
        if (!parent.empty()) std::filesystem::create_directories(parent, ec);
        auto writer = media::VideoWriter::open(path, result.frame.width, result.frame.height, fps_);
        if (!writer.is_ok()) {
            std::fprintf(stderr, "fovea: video sink: %s\n", writer.status().message().c_str());
            writers_[stream] = nullptr;  // do not retry every frame
            return;
        }
        it = writers_.emplace(stream, std::move(*writer)).first;
    }
    if (!it->second) return;
    const media::Frame image = annotated(result.frame, result.detections, labels_);
    const Status s = it->second->write(image);
    if (!s.is_ok()) std::fprintf(stderr, "fovea: video sink '%s': %s\n", stream.c_str(), s.message().c_str());
}

void VideoSink::flush() {
    for (auto& [stream, writer] : writers_)
        if (writer) {
            const Status s = writer->close();
            if (!s.is_ok()) std::fprintf(stderr, "fovea: video sink '%s': %s\n", stream.c_str(), s.message().c_str());
        }
}

}  // namespace fovea::pipeline
