// RuleEngine: turns each inferred frame's detections into alarms (thresholds, areas, zones, N-of-M debouncing).
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "pipeline/config.h"
#include "pipeline/frame_job.h"

namespace fovea::pipeline {

struct Alarm {
    const RuleConfig* rule = nullptr;
    std::vector<DetectionResult> detections;  // the detections that matched in the alarming frame
};

// True when `p` lies inside the polygon (even-odd rule; points on an edge may go either way).
bool point_in_polygon(const Point& p, const std::vector<Point>& polygon);

class RuleEngine {
  public:
    RuleEngine(std::vector<RuleConfig> rules, std::vector<std::string> stream_names);

    // The detections of one rule in one frame, before debouncing.
    static std::vector<DetectionResult> match(const RuleConfig& rule, const std::vector<DetectionResult>& dets);

    // The detections of rule.attach_classes in `all` that share an object (a detection of rule.attach_within
    // holding >= half of each one's area) with a detection of `matched`, not already in `matched`.
    static std::vector<DetectionResult> attached(const RuleConfig& rule, const std::vector<DetectionResult>& matched,
                                                 const std::vector<DetectionResult>& all);

    // Feeds one inferred frame of `stream`. An alarm is raised when a rule has matched in n of the last m frames of
    // the stream and was not already raised; it re-arms once fewer than n of the last m match.
    std::vector<Alarm> evaluate(int stream, const std::vector<DetectionResult>& detections);

    void add_stream(const std::string& name);  // streams added at run time get their own debouncing state

  private:
    struct State {
        std::deque<bool> window;  // last m outcomes, newest at the back
        bool raised = false;
    };
    std::vector<RuleConfig> rules_;
    std::vector<std::string> stream_names_;
    std::vector<std::vector<State>> state_;  // [stream][rule]
};

}  // namespace fovea::pipeline
