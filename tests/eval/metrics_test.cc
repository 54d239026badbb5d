// VOC matching and all-point AP against cases worked out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "eval/metrics.h"

namespace fovea::eval {
namespace {

BoxF box(float x, float y, float w = 10, float h = 10) {
    return {x, y, x + w, y + h};
}

TEST(Metrics, iou_of_half_overlapping_boxes_is_one_third) {
    EXPECT_NEAR(iou(box(0, 0), box(5, 0)), 50.0 / 150.0, 1e-9);
    EXPECT_EQ(iou(box(0, 0), box(20, 0)), 0.0);
    EXPECT_EQ(iou(BoxF{}, BoxF{}), 0.0);
    EXPECT_NEAR(intersection_over_first(box(0, 0, 4, 4), box(0, 0)), 1.0, 1e-9);
}

TEST(Metrics, perfect_predictions_give_ap_one_precision_one_recall_one) {
    std::vector<ImageDetections> images(2);
    images[0].truth = {{box(0, 0), 0}, {box(50, 50), 1}};
    images[1].truth = {{box(10, 10), 0}};
    for (auto& img : images)
        for (const auto& t : img.truth) img.predictions.push_back({t.box, t.cls, 0.9f});
    const auto m = evaluate_detections(images, 2);
    for (const auto& c : m) {
        EXPECT_DOUBLE_EQ(c.ap, 1.0);
        EXPECT_DOUBLE_EQ(c.precision, 1.0);
        EXPECT_DOUBLE_EQ(c.recall, 1.0);
    }
    EXPECT_DOUBLE_EQ(mean_ap(m), 1.0);
}

// Three truths; ranked predictions hit, miss (wrong place), hit, duplicate of the first hit.
// recall 1/3 1/3 2/3 2/3, precision 1 1/2 2/3 1/2 -> monotone precision 1 2/3 2/3 1/2
// AP = 1/3 * 1 + 1/3 * 2/3 = 5/9.
TEST(Metrics, ap_matches_the_hand_computed_all_point_area) {
    std::vector<ImageDetections> images(2);
    images[0].truth = {{box(0, 0), 0}, {box(100, 0), 0}};
    images[1].truth = {{box(0, 0), 0}};
    images[0].predictions = {{box(1, 0), 0, 0.9f}, {box(300, 300), 0, 0.8f}, {box(0, 1), 0, 0.6f}};
    images[1].predictions = {{box(0, 0), 0, 0.7f}};
    const auto m = evaluate_detections(images, 1);
    EXPECT_NEAR(m[0].ap, 5.0 / 9.0, 1e-9);
    EXPECT_EQ(m[0].truths, 3);
    EXPECT_EQ(m[0].predictions, 4);
    EXPECT_EQ(m[0].hits, 2);
    EXPECT_DOUBLE_EQ(m[0].precision, 0.5);
    EXPECT_NEAR(m[0].recall, 2.0 / 3.0, 1e-12);
}

TEST(Metrics, overlap_below_threshold_is_a_false_positive_and_wrong_class_does_not_match) {
    std::vector<ImageDetections> images(1);
    images[0].truth = {{box(0, 0), 0}};
    images[0].predictions = {{box(6, 0), 0, 0.9f}, {box(0, 0), 1, 0.8f}};  // IoU 4/16 = 0.25; class 1 has no truth
    const auto m = evaluate_detections(images, 2);
    EXPECT_EQ(m[0].hits, 0);
    EXPECT_EQ(m[0].predictions, 1);
    EXPECT_DOUBLE_EQ(m[0].ap, 0.0);
    EXPECT_TRUE(std::isnan(m[1].ap));  // no truth: left out of the mean
    EXPECT_EQ(m[1].predictions, 1);
    EXPECT_DOUBLE_EQ(mean_ap(m), 0.0);
}

TEST(Metrics, detections_of_difficult_truths_count_neither_way) {
    std::vector<ImageDetections> images(1);
    images[0].truth = {{box(0, 0), 0, true}, {box(50, 0), 0}};
    images[0].predictions = {{box(0, 0), 0, 0.95f}, {box(50, 0), 0, 0.9f}};
    const auto m = evaluate_detections(images, 1);
    EXPECT_EQ(m[0].truths, 1);
    EXPECT_EQ(m[0].predictions, 1);
    EXPECT_DOUBLE_EQ(m[0].ap, 1.0);
}

TEST(Metrics, average_precision_of_a_stepped_curve) {
    // Two points: (0.5, 1.0), (1.0, 0.5) -> 0.5 * 1 + 0.5 * 0.5.
    EXPECT_DOUBLE_EQ(average_precision({0.5, 1.0}, {1.0, 0.5}), 0.75);
    EXPECT_DOUBLE_EQ(average_precision({}, {}), 0.0);
}

// One truth of each class; false positives of class 0 made to be each cause once: a second box on the found truth,
// one on it at IoU 0.25 (mislocated), one on the class-1 truth (confused), one far from everything (background).
TEST(Metrics, false_positives_are_filed_by_cause) {
    std::vector<ImageDetections> images(1);
    images[0].truth = {{box(0, 0), 0}, {box(100, 0), 1}};
    images[0].predictions = {{box(0, 0), 0, 0.9f},   {box(1, 0), 0, 0.8f},    {box(6, 0), 0, 0.7f},
                             {box(100, 0), 0, 0.6f}, {box(400, 400), 0, 0.5f}};
    const auto m = evaluate_detections(images, 2);
    EXPECT_EQ(m[0].hits, 1);
    EXPECT_EQ(m[0].predictions, 5);
    EXPECT_EQ(m[0].duplicates, 1);
    EXPECT_EQ(m[0].mislocated, 1);
    EXPECT_EQ(m[0].confused, 1);
    EXPECT_EQ(m[0].background, 1);
    EXPECT_EQ(m[0].confused_with, (std::vector<int64_t>{0, 1}));
    EXPECT_EQ(m[0].duplicates + m[0].mislocated + m[0].confused + m[0].background, m[0].predictions - m[0].hits);
    EXPECT_EQ(m[1].predictions, 0);
}

}  // namespace
}  // namespace fovea::eval
