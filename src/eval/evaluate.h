// fovea eval: runs a pipeline over `fovea synth` streams and scores what it saw against their ground truth
// (detection AP per class, alarms per part, serial numbers read, latency).
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "fovea/status.h"
#include "pipeline/config.h"
#include "pipeline/frame_job.h"

namespace fovea::eval {

// A `fovea synth` output folder: manifest.json and, per stream, its video and truth.
struct Dataset {
    std::string dir;
    std::vector<std::string> classes;
    struct Stream {
        std::string name, video, lighting;  // video: absolute path
        nlohmann::json truth;               // stream_N.json
    };
    std::vector<Stream> streams;
};
Result<Dataset> load_dataset(const std::string& dir);

// What the pipeline reported: per dataset stream, frame index -> detections (frame coordinates, cascade text).
using Predictions = std::vector<std::map<int64_t, std::vector<pipeline::DetectionResult>>>;

// A rule's debounce: alarm once it matched in n of the last m inferred frames.
struct Debounce {
    int n = 1, m = 1;
};

struct ScoreOptions {
    std::vector<std::string> labels;          // the primary model's class names; matched to the dataset's by name
    std::vector<pipeline::RuleConfig> rules;  // alarm rules (empty: no alarm scoring)
    double iou_threshold = 0.5;
    std::vector<double> alarm_sweep;             // also score alarms with every rule's min_score set to each of these,
    std::vector<Debounce> alarm_sweep_debounce;  // with each of these debounces (empty: the rules' own)
};

// Scores the frames present in `predictions` (frames the pipeline did not infer are not scored). Parts cut by the
// frame edge are "difficult": neither missed nor falsely detected. A part is alarmed when, in `debounce.n` of
// `debounce.m` consecutive inferred frames that show it, a rule matched a detection lying mostly (>= 50% of the
// detection's area) on it; parts never fully in view are not judged. The serial of a part fully in view is read from
// the highest-scoring detection with text lying mostly on it; exact match after removing spaces.
nlohmann::json score(const Dataset& data, const Predictions& predictions, const ScoreOptions& options);

struct EvalOptions {
    std::string pipeline;  // YAML file; its first source is the template for every stream (interval, equalize, ROIs)
    std::string data;      // `fovea synth` folder
    std::string device;    // overrides the models' backend when set
    std::string equalize;  // "none", "global", "clahe" overrides the template's; empty keeps it
    int interval = 0;      // infer every interval-th frame (0: the template's)
    double iou_threshold = 0.5;
    std::vector<double> alarm_sweep;             // see ScoreOptions
    std::vector<Debounce> alarm_sweep_debounce;  // see ScoreOptions
};
// Runs the pipeline over every stream of the dataset (files read as fast as decoded, nothing dropped) and scores it.
// Fails if any frame was dropped on the way, since the scores would then not cover the footage.
Result<nlohmann::json> run_eval(const EvalOptions& options);

std::string to_markdown(const nlohmann::json& report);

}  // namespace fovea::eval
