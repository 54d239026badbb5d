#include <gtest/gtest.h>

#include "pipeline/rules.h"

namespace fovea::pipeline {
namespace {

DetectionResult det(float x1, float y1, float x2, float y2, float score, int cls) {
    DetectionResult d;
    d.det = {{x1, y1, x2, y2}, score, cls};
    return d;
}

TEST(Rules, MatchAppliesClassScoreAreaAndZone) {
    RuleConfig r;
    r.classes = {1};
    r.min_score = 0.5f;
    r.min_area = 100;
    r.zones = {{{0, 0}, {50, 0}, {50, 50}, {0, 50}}};
    const std::vector<DetectionResult> dets = {
        det(10, 10, 30, 30, 0.9f, 1),  // kept: class 1, score, area 400, foot (20, 30) inside
        det(10, 10, 30, 30, 0.9f, 0),  // wrong class
        det(10, 10, 30, 30, 0.4f, 1),  // low score
        det(10, 10, 15, 15, 0.9f, 1),  // area 25
        det(60, 10, 80, 30, 0.9f, 1),  // foot (70, 30) outside the zone
        det(10, 30, 30, 60, 0.9f, 1),  // box crosses the zone but its foot (20, 60) is outside
    };
    const auto m = RuleEngine::match(r, dets);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_FLOAT_EQ(m[0].det.box.x1, 10);
    EXPECT_EQ(m[0].det.class_id, 1);
}

TEST(Rules, AttachCarriesTheLabelOfTheSamePartOnly) {
    RuleConfig r;
    r.classes = {1};              // defect
    r.attach_classes = {2};       // label
    r.attach_within = {0};        // part
    const std::vector<DetectionResult> dets = {
        det(0, 0, 100, 100, 0.9f, 0),    // part A
        det(200, 0, 300, 100, 0.9f, 0),  // part B
        det(10, 10, 20, 20, 0.8f, 1),    // defect on A
        det(30, 60, 90, 80, 0.7f, 2),    // label on A
        det(230, 60, 290, 80, 0.7f, 2),  // label on B
    };
    const auto matched = RuleEngine::match(r, dets);
    ASSERT_EQ(matched.size(), 1u);
    const auto extra = RuleEngine::attached(r, matched, dets);
    ASSERT_EQ(extra.size(), 1u);
    EXPECT_FLOAT_EQ(extra[0].det.box.x1, 30);
    r.attach_classes.clear();
    EXPECT_TRUE(RuleEngine::attached(r, matched, dets).empty());
}

TEST(Rules, TextPatternMatchesWhatTheCascadeRead) {
    RuleConfig r;
    r.text_pattern = "^SN-[0-9]{4}";
    std::vector<DetectionResult> dets = {det(0, 0, 10, 10, 0.9f, 0), det(0, 0, 10, 10, 0.9f, 0),
                                         det(0, 0, 10, 10, 0.9f, 0)};
    dets[0].text = "SN-4821-KX";
    dets[1].text = "XSN-4821";
    const auto m = RuleEngine::match(r, dets);  // the third read nothing
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].text, "SN-4821-KX");
}

TEST(Rules, PointInPolygonOnAConcaveShape) {
    const std::vector<Point> l_shape = {{0, 0}, {10, 0}, {10, 4}, {4, 4}, {4, 10}, {0, 10}};
    EXPECT_TRUE(point_in_polygon({2, 8}, l_shape));
    EXPECT_TRUE(point_in_polygon({8, 2}, l_shape));
    EXPECT_FALSE(point_in_polygon({8, 8}, l_shape));  // the notch
    EXPECT_FALSE(point_in_polygon({-1, 5}, l_shape));
}

TEST(Rules, NOfMDebouncingRaisesOnceAndRearms) {
    RuleConfig r;
    r.name = "defect";
    r.debounce_n = 2;
    r.debounce_m = 3;
    RuleEngine engine({r}, {"cam0", "cam1"});
    const std::vector<DetectionResult> hit = {det(0, 0, 10, 10, 0.9f, 0)};
    const std::vector<DetectionResult> miss;
    // cam0: hit, miss, hit -> 2 of the last 3: one alarm on the third frame.
    EXPECT_TRUE(engine.evaluate(0, hit).empty());
    EXPECT_TRUE(engine.evaluate(0, miss).empty());
    auto a = engine.evaluate(0, hit);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].rule->name, "defect");
    EXPECT_EQ(a[0].detections.size(), 1u);
    // Still matching: no second alarm while it stays raised.
    EXPECT_TRUE(engine.evaluate(0, hit).empty());
    // The other stream has its own window.
    EXPECT_TRUE(engine.evaluate(1, hit).empty());
    // Two misses bring cam0 below 2 of 3: re-armed; two hits raise again.
    EXPECT_TRUE(engine.evaluate(0, miss).empty());
    EXPECT_TRUE(engine.evaluate(0, miss).empty());
    EXPECT_TRUE(engine.evaluate(0, hit).empty());
    EXPECT_EQ(engine.evaluate(0, hit).size(), 1u);
}

TEST(Rules, RuleLimitedToNamedStreams) {
    RuleConfig r;
    r.name = "only-cam1";
    r.streams = {"cam1"};
    RuleEngine engine({r}, {"cam0", "cam1"});
    const std::vector<DetectionResult> hit = {det(0, 0, 10, 10, 0.9f, 0)};
    EXPECT_TRUE(engine.evaluate(0, hit).empty());
    EXPECT_EQ(engine.evaluate(1, hit).size(), 1u);
}

}  // namespace
}  // namespace fovea::pipeline
