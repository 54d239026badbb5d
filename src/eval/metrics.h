// Detection metrics on plain boxes: VOC-style matching at an IoU threshold, all-point interpolated AP, precision and
// recall per class. No pipeline types here, so the arithmetic is testable on hand-made cases.
#pragma once

#include <cstdint>
#include <vector>

namespace fovea::eval {

struct BoxF {
    float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};
double iou(const BoxF& a, const BoxF& b);                      // 0 when the union is empty
double intersection_over_first(const BoxF& a, const BoxF& b);  // |a ∩ b| / |a|; 0 when a is empty

struct GroundTruth {
    BoxF box;
    int cls = 0;
    bool difficult = false;  // cut by the frame edge: a detection of it is neither a hit nor a false alarm
};
struct Prediction {
    BoxF box;
    int cls = 0;
    float score = 0;
};
// One frame's truth and predictions.
struct ImageDetections {
    std::vector<GroundTruth> truth;
    std::vector<Prediction> predictions;
};

struct ClassMetrics {
    int64_t truths = 0;       // non-difficult ground-truth boxes
    int64_t predictions = 0;  // predictions not matched to a difficult box
    int64_t hits = 0;         // true positives
    double precision = 0;     // hits / predictions (0 when there are none)
    double recall = 0;        // hits / truths (0 when there are none)
    double ap = 0;            // all-point AP; NaN when the class has no truth (left out of the mean)
    // The false positives (predictions - hits) by cause, in the order tested: a second detection of a truth already
    // hit; a detection of a truth of this class at IoU in [0.1, threshold) (poorly placed); one overlapping a truth
    // of another class at IoU >= 0.1 (confused); none of these (background).
    int64_t duplicates = 0, mislocated = 0, confused = 0, background = 0;
    std::vector<int64_t> confused_with;  // per class: the confused ones, by the other class they overlap most
};

// VOC matching per class: predictions by descending score (ties keep their order); each takes the truth of its class
// in its frame with the highest IoU; at IoU >= iou_threshold it is a hit if that truth is free, a duplicate (false
// positive) if taken, ignored if the truth is difficult; below it, a false positive (filed by cause, ClassMetrics).
std::vector<ClassMetrics> evaluate_detections(const std::vector<ImageDetections>& images, int num_classes,
                                              double iou_threshold = 0.5);
// The area under the precision/recall curve with precision made monotone (VOC 2010+ all-point interpolation).
// recall ascending, one point per ranked prediction.
double average_precision(const std::vector<double>& recall, const std::vector<double>& precision);
// Mean AP over the classes with truth (NaN APs skipped); NaN when none has any.
double mean_ap(const std::vector<ClassMetrics>& classes);

}  // namespace fovea::eval
