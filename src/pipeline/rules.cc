#include "pipeline/rules.h"

#include <algorithm>
#include <optional>
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
    // Compiled only for rules that have a pattern: this runs for every rule on every inferred frame.
    std::optional<std::regex> text;
    if (!rule.text_pattern.empty()) text.emplace(rule.text_pattern);
    for (const DetectionResult& d : dets) {
        if (text && !std::regex_search(d.text, *text)) continue;
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

namespace {

bool has_class(const std::vector<int>& classes, const DetectionResult& d) {
    return std::find(classes.begin(), classes.end(), d.det.class_id) != classes.end();
}

// The fraction of a's area inside b.
float inside(const vision::Box& a, const vision::Box& b) {
    const float w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1), h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
    const float area = (a.x2 - a.x1) * (a.y2 - a.y1);
    return w > 0 && h > 0 && area > 0 ? w * h / area : 0.0f;
}

}  // namespace

std::vector<DetectionResult> RuleEngine::attached(const RuleConfig& rule, const std::vector<DetectionResult>& matched,
                                                  const std::vector<DetectionResult>& all) {
    std::vector<DetectionResult> out;
    if (rule.attach_classes.empty() || rule.attach_within.empty()) return out;
    std::vector<const DetectionResult*> holders;
    for (const DetectionResult& w : all)
        if (has_class(rule.attach_within, w) &&
            std::any_of(matched.begin(), matched.end(), [&](const DetectionResult& m) { return inside(m.det.box, w.det.box) >= 0.5f; }))
            holders.push_back(&w);
    for (const DetectionResult& d : all) {
        if (!has_class(rule.attach_classes, d)) continue;
        const bool already = std::any_of(matched.begin(), matched.end(), [&](const DetectionResult& m) {
            return m.det.class_id == d.det.class_id && m.det.box.x1 == d.det.box.x1 && m.det.box.y1 == d.det.box.y1 &&
                   m.det.box.x2 == d.det.box.x2 && m.det.box.y2 == d.det.box.y2;
        });
        if (!already && std::any_of(holders.begin(), holders.end(),
                                    [&](const DetectionResult* w) { return inside(d.det.box, w->det.box) >= 0.5f; }))
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
