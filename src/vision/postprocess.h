// Post-processing of model outputs: detection heads (YOLOv5/YOLOv8) with NMS, classification top-k, and the
// text models of PaddleOCR (CTC recognition, DB detection). Plain host code over float buffers.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "fovea/status.h"
#include "vision/preprocess.h"

namespace fovea::vision {

struct Box {
    float x1, y1, x2, y2;
};
float iou(const Box& a, const Box& b);  // 0 when the union is empty
// A YOLO box (center, size) as corners; the one formula every decoder uses, so that CPU and GPU paths agree.
Box box_from_center(float cx, float cy, float w, float h);

struct Detection {
    Box box;
    float score;
    int class_id;
};

struct DetectOptions {
    float conf_threshold = 0.25f;
    std::vector<float> class_thresholds;  // per class; overrides conf_threshold for classes it covers
    float iou_threshold = 0.45f;
    int max_detections = 300;  // <= 0: no cap
    bool class_agnostic = false;
    float threshold(int class_id) const {
        return class_id >= 0 && static_cast<size_t>(class_id) < class_thresholds.size()
                   ? class_thresholds[static_cast<size_t>(class_id)]
                   : conf_threshold;
    }
};

// One batch item of a YOLOv5-style head [boxes, 5 + classes]: cx, cy, w, h, objectness, class scores. Each box
// takes its best class; score = objectness * class score; kept when >= that class's threshold.
std::vector<Detection> decode_yolov5(const float* item, int64_t boxes, int64_t channels, const DetectOptions& o);
// One batch item of a YOLOv8-style head [4 + classes, boxes] (channel-major): cx, cy, w, h, class scores.
std::vector<Detection> decode_yolov8(const float* item, int64_t channels, int64_t boxes, const DetectOptions& o);
// Both decoders apply the thresholds, then nms().

// Greedy NMS: by descending score (ties: earlier first), drops a box whose IoU with a kept one (of its class unless
// class_agnostic) is above iou_threshold; returns at most max_detections (<= 0: all), sorted by score.
std::vector<Detection> nms(std::vector<Detection> dets, float iou_threshold, bool class_agnostic, int max_detections);

// Model-input coordinates to frame coordinates, clipped to [0, width] x [0, height].
void map_to_frame(std::vector<Detection>& dets, const InputTransform& t, int frame_width, int frame_height);

struct ClassScore {
    int class_id;
    float score;
};
// The k best classes, best first (ties: lower id first); softmax probabilities when apply_softmax, else the
// logits as given. k is clamped to [0, n].
std::vector<ClassScore> top_k(const float* logits, int64_t n, int k, bool apply_softmax);

struct TextResult {
    std::string text;
    float confidence = 0;  // mean probability of the kept characters (0 for an empty text)
};
// CTC greedy decoding of [steps, classes] probabilities or logits (rows that are not a distribution go through
// softmax for the confidence). Index 0 is the blank; repeats collapse unless a blank separates them. Indices past
// the charset are skipped.
TextResult ctc_greedy_decode(const float* item, int64_t steps, int64_t classes,
                             const std::vector<std::string>& charset);

// PaddleOCR's dictionary file (one UTF-8 character per line, e.g. ppocr_keys_v1.txt): returns
// {"<blank>", lines..., " "} (the space only when use_space), which is the model's class order.
Result<std::vector<std::string>> load_ctc_charset(const std::string& path, bool use_space = true);

// PaddleOCR DB text detection post-processing: probability map [h, w] in model-input space -> text boxes.
struct TextBox {
    std::array<float, 8> points;  // x, y of 4 corners, clockwise from top-left, model-input coordinates
    float score;                  // mean probability inside the unexpanded box
};
// Binarizes at `threshold`, takes each contour's minimum-area rectangle, drops those whose mean probability is below
// box_threshold or whose short side is below min_size, and expands the rest by area * unclip_ratio / perimeter on
// every side (what PaddleOCR's pyclipper offset gives for a rectangle). Clipped to the map.
std::vector<TextBox> db_text_boxes(const float* prob, int h, int w, float threshold = 0.3f, float box_threshold = 0.6f,
                                   float unclip_ratio = 1.5f, int max_candidates = 1000, int min_size = 3);

}  // namespace fovea::vision
