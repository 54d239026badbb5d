#include "pipeline/rules.h"

#include <algorithm>
#include <regex>

namespace fovea::pipeline {

bool point_in_polygon(const Point& p, const std::vector<Point>& polygon) {
    bool inside = false;
    for (size_t i = 0, j = polygon.size() - 1; i < polygon.size(); j = i++) {
        const Point& a = polygon[i];
        const Point& b = polygon[j];
        if ((a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x) inside = !inside;
    }
    return inside;
}

RuleEngine::RuleEngine(std::vector<RuleConfig> rules, std::vector<std::string> stream_names)
    : rules_(std::move(rules)) {
    for (const std::string& name : stream_names) add_stream(name);
}

void RuleEngine::add_stream(const std::string& name) {
    stream_names_.push_back(name);
    state_.emplace_back(rules_.size());
}

std::vector<DetectionResult> RuleEngine::match(const RuleConfig& rule, const std::vector<DetectionResult>& dets) {
    std::vector<DetectionResult> out;
    const std::regex text(rule.text_pattern.empty() ? "" : rule.text_pattern);
    for (const DetectionResult& d : dets) {
        if (!rule.text_pattern.empty() && !std::regex_search(d.text, text)) continue;
        const vision::Box& b = d.det.box;
        if (!rule.classes.empty() &&
            std::find(rule.classes.begin(), rule.classes.end(), d.det.class_id) == rule.classes.end())
            continue;
        if (d.det.score < rule.min_score) continue;
        if ((b.x2 - b.x1) * (b.y2 - b.y1) < rule.min_area) continue;
        if (!rule.zones.empty()) {
            // The bottom centre is where an object touches the ground or the belt: what a zone is drawn around.
            const Point foot{(b.x1 + b.x2) / 2, b.y2};
            if (std::none_of(rule.zones.begin(), rule.zones.end(),
                             [&](const std::vector<Point>& z) { return point_in_polygon(foot, z); }))
                continue;
        }
        out.push_back(d);
    }
    return out;
}

std::vector<Alarm> RuleEngine::evaluate(int stream, const std::vector<DetectionResult>& detections) {
    std::vector<Alarm> alarms;
    const std::string& name = stream_names_[static_cast<size_t>(stream)];
    for (size_t r = 0; r < rules_.size(); ++r) {
        const RuleConfig& rule = rules_[r];
        if (!rule.streams.empty() && std::find(rule.streams.begin(), rule.streams.end(), name) == rule.streams.end())
            continue;
        std::vector<DetectionResult> matched = match(rule, detections);
        State& s = state_[static_cast<size_t>(stream)][r];
        s.window.push_back(!matched.empty());
        if (static_cast<int>(s.window.size()) > rule.debounce_m) s.window.pop_front();
        const int hits = static_cast<int>(std::count(s.window.begin(), s.window.end(), true));
        if (hits >= rule.debounce_n) {
            if (!s.raised && !matched.empty()) {
                s.raised = true;
                alarms.push_back({&rule, std::move(matched)});
            }
        } else {
            s.raised = false;
        }
    }
    return alarms;
}

}  // namespace fovea::pipeline
