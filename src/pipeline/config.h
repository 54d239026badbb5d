// PipelineConfig: what one YAML file says a pipeline is. Every key is documented in docs/pipeline.md.
#pragma once

#include <array>
#include <map>
#include <string>
#include <vector>

#include "fovea/status.h"
#include "media/source.h"
#include "vision/postprocess.h"
#include "vision/preprocess.h"

namespace fovea::pipeline {

// How a model's outputs become results.
enum class OutputKind {
    kYoloV5,    // [N, boxes, 5 + classes]
    kYoloV8,    // [N, 4 + classes, boxes]
    kClassify,  // [N, classes] logits or probabilities
    kCtc,       // [N, steps, charset] text recognition
    kDbText,    // [N, 1, H, W] text probability map (PaddleOCR DB): text boxes of class 0
};

struct ModelConfig {
    std::string name;
    std::string path;  // resolved against the config file's folder
    std::string backend = "cpu";
    std::string precision = "fp32";
    int threads = 0;
    int max_batch = 8;
    int max_delay_us = 5000;  // a batch leaves this long after its first item at the latest
    vision::PreprocessSpec input;
    bool input_size_set = false;  // the config gave width/height; otherwise the model's static size is used
    OutputKind output = OutputKind::kYoloV8;
    std::vector<std::string> labels;  // class names, index = class id
    vision::DetectOptions detect;
    int top_k = 1;
    bool softmax = true;          // classify: apply softmax to the logits
    std::string charset_path;     // ctc: dictionary file (one character per line)
    bool charset_use_space = true;
    float db_threshold = 0.3f;      // db: pixel probability that counts as text
    float db_box_threshold = 0.6f;  // db: mean probability a box needs
    float db_unclip_ratio = 1.5f;   // db: how far each shrunk text region is grown back
};

// A secondary model that runs on crops of the primary model's detections.
struct CascadeConfig {
    std::string model;                // the secondary model's name
    std::vector<int> classes;         // primary classes whose boxes are cropped (empty: all)
    float min_score = 0;              // primary detections below this are not cropped
    float padding = 0.0f;             // grow each crop by this fraction of its size on each side
    int max_crops_per_frame = 16;
};

struct ReconnectConfig {
    int initial_ms = 500;
    int max_ms = 30000;
    double multiplier = 2.0;
};

struct StreamConfig {
    media::SourceSpec source;
    double max_fps = 0;   // drop frames to stay at or below this rate (0: no cap)
    int interval = 1;     // run inference on every interval-th frame that passes the cap
    std::vector<vision::Rect> rois;  // each becomes its own inference input; empty: the whole frame
    vision::Equalize equalize = vision::Equalize::kNone;
    double clahe_clip = 2.0;
    int clahe_tile = 8;
    ReconnectConfig reconnect;
    bool stop_at_end = false;  // at_end: stop (a file is done) instead of reconnect (the default)
};

struct Point {
    float x = 0, y = 0;
};

struct RuleConfig {
    std::string name;
    std::vector<int> classes;          // empty: any class
    std::vector<std::string> streams;  // empty: every stream
    float min_score = 0;
    float min_area = 0;                     // box area in frame pixels
    std::string text_pattern;               // ECMAScript regex the cascade's text must match somewhere (empty: any)
    std::vector<std::vector<Point>> zones;  // polygons in frame pixels; a box counts when its bottom centre is inside
    int debounce_n = 1;                     // alarm when the rule matched in n of the last m inferred frames
    int debounce_m = 1;
    // The event also carries the detections of attach_classes that lie on the same object as a matched detection:
    // on a detection of attach_within classes holding most of both (e.g. the serial label of a defective part).
    std::vector<int> attach_classes, attach_within;
};

struct SinkConfig {
    std::string jsonl_path;            // events, one JSON object a line
    bool jsonl_detections = false;     // also a line per inferred frame with its detections
    std::string snapshot_dir;          // JPEG with boxes drawn, one per alarm
    int snapshot_quality = 85;
    std::string video_path;            // annotated video; "{stream}" is replaced by the stream's name
    std::vector<std::string> video_streams;  // empty: every stream
    double video_fps = 15;
    bool console = true;
    double console_interval_s = 1.0;
};

struct PipelineConfig {
    std::string file;  // where it was read from
    std::string device = "cpu";      // default backend for models that do not name one
    double duration_s = 0;           // 0: until stopped
    int queue_depth = 2;             // frames per stream waiting for inference; older ones are dropped
    std::map<std::string, ModelConfig> models;
    std::string primary;             // the model every stream feeds
    std::vector<CascadeConfig> cascades;
    std::vector<StreamConfig> streams;
    std::vector<RuleConfig> rules;
    SinkConfig sinks;
};

// Reads and validates a pipeline file. Errors name the file, line and column: "p.yaml:12:5: unknown key 'fsp'".
Result<PipelineConfig> load_config(const std::string& path);
// The same from text; `name` stands in for the file in messages and `base_dir` resolves relative paths.
Result<PipelineConfig> parse_config(const std::string& text, const std::string& name, const std::string& base_dir);

const char* output_kind_name(OutputKind kind);

}  // namespace fovea::pipeline
