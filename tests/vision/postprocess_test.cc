#include "vision/postprocess.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace fovea::vision {
namespace {

void expect_box(const Box& b, float x1, float y1, float x2, float y2) {
    EXPECT_NEAR(b.x1, x1, 1e-4);
    EXPECT_NEAR(b.y1, y1, 1e-4);
    EXPECT_NEAR(b.x2, x2, 1e-4);
    EXPECT_NEAR(b.y2, y2, 1e-4);
}

// Five boxes of three classes, as rows of cx, cy, w, h, then per-class scores (already multiplied by objectness).
struct HeadBox {
    float cx, cy, w, h, obj;
    std::array<float, 3> cls;
};
const std::vector<HeadBox> kBoxes = {
    {50, 50, 20, 10, 0.9f, {0.1f, 0.8f, 0.1f}},     // class 1, 0.72, box (40, 45, 60, 55)
    {52, 50, 20, 10, 0.8f, {0.1f, 0.8f, 0.0f}},     // class 1, 0.64, IoU 0.82 with the first
    {50, 50, 20, 10, 0.9f, {0.0f, 0.1f, 0.7f}},     // class 2, 0.63, the first box's place
    {200, 100, 40, 40, 0.5f, {0.4f, 0.0f, 0.0f}},   // class 0, 0.2: below 0.25
    {300, 300, 10, 10, 0.05f, {1.0f, 0.0f, 0.0f}},  // 0.05: below every threshold
};

std::vector<float> yolov5_head() {
    std::vector<float> t;
    for (const HeadBox& b : kBoxes) t.insert(t.end(), {b.cx, b.cy, b.w, b.h, b.obj, b.cls[0], b.cls[1], b.cls[2]});
    return t;
}

// YOLOv8 has no objectness: its class scores are the products, channel-major.
std::vector<float> yolov8_head() {
    const size_t n = kBoxes.size();
    std::vector<float> t(7 * n);
    for (size_t i = 0; i < n; ++i) {
        const HeadBox& b = kBoxes[i];
        const float row[7] = {b.cx, b.cy, b.w, b.h, b.obj * b.cls[0], b.obj * b.cls[1], b.obj * b.cls[2]};
        for (size_t c = 0; c < 7; ++c) t[c * n + i] = row[c];
    }
    return t;
}

using Decoder = std::vector<Detection> (*)(const DetectOptions&);
std::vector<Detection> v5(const DetectOptions& o) {
    const std::vector<float> t = yolov5_head();
    return decode_yolov5(t.data(), 5, 8, o);
}
std::vector<Detection> v8(const DetectOptions& o) {
    const std::vector<float> t = yolov8_head();
    return decode_yolov8(t.data(), 7, 5, o);
}

class YoloDecoders : public ::testing::TestWithParam<Decoder> {};

TEST_P(YoloDecoders, ClassWiseNmsKeepsOverlappingBoxesOfOtherClasses) {
    const std::vector<Detection> d = GetParam()(DetectOptions{});
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].class_id, 1);
    EXPECT_NEAR(d[0].score, 0.72f, 1e-6);
    expect_box(d[0].box, 40, 45, 60, 55);
    EXPECT_EQ(d[1].class_id, 2);
    EXPECT_NEAR(d[1].score, 0.63f, 1e-6);
    expect_box(d[1].box, 40, 45, 60, 55);
}

TEST_P(YoloDecoders, AgnosticNmsKeepsOneBoxPerPlace) {
    DetectOptions o;
    o.class_agnostic = true;
    const std::vector<Detection> d = GetParam()(o);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].class_id, 1);
}

TEST_P(YoloDecoders, PerClassThresholdsOverrideTheDefault) {
    DetectOptions o;
    o.class_thresholds = {0.1f, 0.7f};  // class 2 keeps the default 0.25
    const std::vector<Detection> d = GetParam()(o);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(d[0].class_id, 1);
    EXPECT_EQ(d[1].class_id, 2);
    EXPECT_EQ(d[2].class_id, 0);
    EXPECT_NEAR(d[2].score, 0.2f, 1e-6);
    expect_box(d[2].box, 180, 80, 220, 120);
    o.class_thresholds = {0.1f, 0.73f};  // the 0.72 box falls; the 0.64 one it suppressed is below 0.73 too
    EXPECT_EQ(GetParam()(o).size(), 2u);
}

TEST_P(YoloDecoders, WithoutNmsOverlapEveryBoxAboveThresholdIsKeptUpToTheCap) {
    DetectOptions o;
    o.iou_threshold = 1.0f;
    EXPECT_EQ(GetParam()(o).size(), 3u);
    o.max_detections = 2;
    const std::vector<Detection> d = GetParam()(o);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_GE(d[0].score, d[1].score);
}

INSTANTIATE_TEST_SUITE_P(Heads, YoloDecoders, ::testing::Values(&v5, &v8),
                         [](const auto& info) { return info.index == 0 ? "yolov5" : "yolov8"; });

TEST(Iou, OfHandComputedBoxes) {
    EXPECT_FLOAT_EQ(iou({0, 0, 10, 10}, {5, 0, 15, 10}), 50.0f / 150.0f);
    EXPECT_FLOAT_EQ(iou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.0f);
    EXPECT_FLOAT_EQ(iou({0, 0, 10, 10}, {10, 0, 20, 10}), 0.0f);
    EXPECT_FLOAT_EQ(iou({0, 0, 0, 0}, {0, 0, 0, 0}), 0.0f);
}

// The textbook formulation: take the best remaining box, drop all that overlap it, repeat.
std::vector<Detection> brute_force_nms(std::vector<Detection> rest, float thr, bool agnostic, int cap) {
    std::vector<Detection> kept;
    while (!rest.empty() && (cap <= 0 || static_cast<int>(kept.size()) < cap)) {
        size_t best = 0;
        for (size_t i = 1; i < rest.size(); ++i)
            if (rest[i].score > rest[best].score) best = i;  // ties: the earliest
        const Detection top = rest[best];
        kept.push_back(top);
        std::vector<Detection> next;
        for (size_t i = 0; i < rest.size(); ++i) {
            if (i == best) continue;
            const bool same_group = agnostic || rest[i].class_id == top.class_id;
            if (!(same_group && iou(rest[i].box, top.box) > thr)) next.push_back(rest[i]);
        }
        rest = std::move(next);
    }
    return kept;
}

TEST(Nms, MatchesABruteForceReferenceOnRandomBoxes) {
    std::mt19937 rng(1234);
    std::uniform_real_distribution<float> pos(0, 200), size(1, 60);
    std::uniform_int_distribution<int> score_step(0, 40), cls(0, 2);
    for (int n : {0, 1, 2, 7, 61, 300, 1001}) {
        std::vector<Detection> dets;
        for (int i = 0; i < n; ++i) {
            const float x = pos(rng), y = pos(rng);
            // Scores on a coarse grid, so that ties happen and their order is tested.
            dets.push_back({{x, y, x + size(rng), y + size(rng)}, score_step(rng) / 40.0f, cls(rng)});
        }
        for (bool agnostic : {false, true}) {
            for (int cap : {0, 5, 300}) {
                for (float thr : {0.3f, 0.5f}) {
                    const std::vector<Detection> got = nms(dets, thr, agnostic, cap);
                    const std::vector<Detection> want = brute_force_nms(dets, thr, agnostic, cap);
                    ASSERT_EQ(got.size(), want.size()) << "n " << n << " agnostic " << agnostic << " cap " << cap;
                    for (size_t i = 0; i < got.size(); ++i) {
                        ASSERT_EQ(got[i].score, want[i].score);
                        ASSERT_EQ(got[i].class_id, want[i].class_id);
                        ASSERT_EQ(got[i].box.x1, want[i].box.x1);
                        ASSERT_EQ(got[i].box.y2, want[i].box.y2);
                    }
                }
            }
        }
    }
}

// What the GPU NMS is held to as well: dense clusters (most pairs overlap), exact duplicates, zero-area boxes,
// scores on a grid of five values (ties everywhere), four classes, and thresholds at the edges (0: any overlap
// suppresses; 1: nothing does, since IoU > 1 never holds).
TEST(Nms, MatchesABruteForceReferenceOnClusteredTiedBoxes) {
    std::mt19937 rng(77);
    std::uniform_int_distribution<int> cluster(0, 5), jitter(0, 3), side(0, 2), level(1, 5), cls(0, 3), pct(0, 99);
    for (int n : {64, 65, 500}) {
        std::vector<Detection> dets;
        for (int i = 0; i < n; ++i) {
            const int k = cluster(rng);
            const float x = 40.0f * static_cast<float>(k % 3) + 2.0f * static_cast<float>(jitter(rng));
            const float y = 40.0f * static_cast<float>(k / 3) + 2.0f * static_cast<float>(jitter(rng));
            const float w = pct(rng) < 3 ? 0.0f : 30.0f + 4.0f * static_cast<float>(side(rng));
            dets.push_back({{x, y, x + w, y + 30.0f}, 0.2f * static_cast<float>(level(rng)), cls(rng)});
            if (pct(rng) < 5) dets.push_back(dets.back());  // an exact duplicate, later in the list
        }
        for (bool agnostic : {false, true}) {
            for (int cap : {0, 3, 1000}) {
                for (float thr : {0.0f, 0.45f, 0.7f, 1.0f}) {
                    const std::vector<Detection> got = nms(dets, thr, agnostic, cap);
                    const std::vector<Detection> want = brute_force_nms(dets, thr, agnostic, cap);
                    ASSERT_EQ(got.size(), want.size())
                        << "n " << n << " agnostic " << agnostic << " cap " << cap << " thr " << thr;
                    for (size_t i = 0; i < got.size(); ++i) {
                        ASSERT_EQ(got[i].score, want[i].score) << i;
                        ASSERT_EQ(got[i].class_id, want[i].class_id) << i;
                        ASSERT_EQ(got[i].box.x1, want[i].box.x1) << i;
                        ASSERT_EQ(got[i].box.y1, want[i].box.y1) << i;
                        ASSERT_EQ(got[i].box.x2, want[i].box.x2) << i;
                    }
                }
            }
        }
    }
}

TEST(MapToFrame, UndoesTheLetterboxAndClipsToTheFrame) {
    const Rect roi{0, 0, 1920, 1080};
    PreprocessSpec spec;  // 640x640 letterbox: scale 3, 140 rows of padding
    const InputTransform t = make_transform(roi, place_roi(roi, spec));
    std::vector<Detection> d = {{{100, 150, 200, 300}, 0.9f, 0}, {{-10, 100, 700, 520}, 0.5f, 1}};
    map_to_frame(d, t, 1920, 1080);
    expect_box(d[0].box, 300, 30, 600, 480);
    expect_box(d[1].box, 0, 0, 1920, 1080);

    // A ROI adds its offset.
    const Rect sub{400, 300, 640, 320};
    const InputTransform ts = make_transform(sub, place_roi(sub, spec));  // scale 1, pad_y 160
    std::vector<Detection> e = {{{10, 170, 20, 180}, 0.9f, 0}};
    map_to_frame(e, ts, 1920, 1080);
    expect_box(e[0].box, 410, 310, 420, 320);
}

TEST(TopK, RanksLogitsAndProbabilities) {
    const float logits[5] = {1, 3, 2, 3, -1};
    std::vector<ClassScore> r = top_k(logits, 5, 3, false);
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].class_id, 1);  // tie with 3: the lower id first
    EXPECT_EQ(r[1].class_id, 3);
    EXPECT_EQ(r[2].class_id, 2);
    EXPECT_FLOAT_EQ(r[2].score, 2.0f);

    r = top_k(logits, 5, 10, true);
    ASSERT_EQ(r.size(), 5u);
    const double sum = std::exp(1.0) + 2 * std::exp(3.0) + std::exp(2.0) + std::exp(-1.0);
    EXPECT_NEAR(r[0].score, std::exp(3.0) / sum, 1e-6);
    EXPECT_NEAR(r[2].score, std::exp(2.0) / sum, 1e-6);
    EXPECT_EQ(r[4].class_id, 4);
    EXPECT_NEAR(r[4].score, std::exp(-1.0) / sum, 1e-6);
    EXPECT_TRUE(top_k(logits, 5, 0, true).empty());
    EXPECT_TRUE(top_k(logits, 0, 3, true).empty());
}

}  // namespace
}  // namespace fovea::vision
