#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "vision/postprocess.h"

namespace fovea::vision {
namespace {

const std::vector<std::string> kCharset = {"<blank>", "a", "b", "c"};

// Rows of [steps, 4] probabilities: `p` on the chosen class, the rest shared by the others.
std::vector<float> prob_rows(const std::vector<std::pair<int, float>>& steps) {
    std::vector<float> t;
    for (const auto& [cls, p] : steps)
        for (int c = 0; c < 4; ++c) t.push_back(c == cls ? p : (1 - p) / 3);
    return t;
}

TEST(CtcGreedy, CollapsesRepeatsAndDropsBlanks) {
    // a a _ a b b c _  ->  "aabc"; the kept characters are the first of each run.
    const std::vector<float> t =
        prob_rows({{1, 0.6f}, {1, 0.9f}, {0, 0.9f}, {1, 0.8f}, {2, 0.7f}, {2, 0.4f}, {3, 0.5f}, {0, 0.99f}});
    const TextResult r = ctc_greedy_decode(t.data(), 8, 4, kCharset);
    EXPECT_EQ(r.text, "aabc");
    EXPECT_NEAR(r.confidence, (0.6 + 0.8 + 0.7 + 0.5) / 4, 1e-6);
}

TEST(CtcGreedy, DoubleLetterNeedsABlankBetween) {
    const std::vector<float> t = prob_rows({{1, 0.9f}, {1, 0.9f}});
    EXPECT_EQ(ctc_greedy_decode(t.data(), 2, 4, kCharset).text, "a");
    const std::vector<float> u = prob_rows({{1, 0.9f}, {0, 0.9f}, {1, 0.9f}});
    EXPECT_EQ(ctc_greedy_decode(u.data(), 3, 4, kCharset).text, "aa");
    const std::vector<float> blanks = prob_rows({{0, 0.9f}, {0, 0.9f}});
    const TextResult r = ctc_greedy_decode(blanks.data(), 2, 4, kCharset);
    EXPECT_EQ(r.text, "");
    EXPECT_EQ(r.confidence, 0.0f);
}

TEST(CtcGreedy, LogitsGiveTheSameTextAndSoftmaxConfidence) {
    const std::vector<float> logits = {0, 2, 0, 0, /**/ 5, 0, 0, 0, /**/ -1, 0, 0, 2};
    const TextResult r = ctc_greedy_decode(logits.data(), 3, 4, kCharset);
    EXPECT_EQ(r.text, "ac");
    const double p1 = std::exp(2.0) / (std::exp(2.0) + 3), p3 = std::exp(2.0) / (std::exp(-1.0) + 2 + std::exp(2.0));
    EXPECT_NEAR(r.confidence, (p1 + p3) / 2, 1e-6);
}

std::string write_file(const std::string& name, const std::string& content) {
    std::filesystem::create_directories(FOVEA_TEST_TMP);
    const std::string path = std::string(FOVEA_TEST_TMP) + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
}

TEST(CtcCharset, LoadsLinesWithBlankFirstAndSpaceLast) {
    const std::string path = write_file("keys.txt", "a\nb\r\n\xe4\xb8\xad\n");  // a, b (CRLF), U+4E2D
    Result<std::vector<std::string>> c = load_ctc_charset(path);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    EXPECT_EQ(*c, (std::vector<std::string>{"<blank>", "a", "b", "\xe4\xb8\xad", " "}));
    c = load_ctc_charset(write_file("keys_no_newline.txt", "x\ny"), false);
    ASSERT_TRUE(c.is_ok());
    EXPECT_EQ(*c, (std::vector<std::string>{"<blank>", "x", "y"}));
}

TEST(CtcCharset, MissingAndEmptyFilesAreErrors) {
    const Result<std::vector<std::string>> missing = load_ctc_charset("/nonexistent/keys.txt");
    EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
    EXPECT_NE(missing.status().message().find("/nonexistent/keys.txt"), std::string::npos);
    EXPECT_FALSE(load_ctc_charset(write_file("empty.txt", "")).is_ok());
}

TEST(CtcCharset, LoadsPaddleOcrKeysWhenPresent) {
    const std::string path = "/root/.cache/fovea/models/ppocr/ppocr_keys_v1.txt";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "no " << path;
    const Result<std::vector<std::string>> c = load_ctc_charset(path);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    EXPECT_EQ(c->size(), 6623u + 2);
    EXPECT_EQ(c->front(), "<blank>");
    EXPECT_EQ(c->back(), " ");
}

// Background noise below the threshold, then filled rectangles [x0, x1) x [y0, y1).
std::vector<float> prob_map(int h, int w) {
    std::vector<float> p(static_cast<size_t>(h) * w);
    std::mt19937 rng(99);
    std::uniform_real_distribution<float> noise(0.0f, 0.1f);
    for (float& v : p) v = noise(rng);
    return p;
}
void fill(std::vector<float>& p, int w, int x0, int y0, int x1, int y1, float v) {
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) p[static_cast<size_t>(y) * w + x] = v;
}

TEST(DbTextBoxes, FindsTwoRectanglesAndExpandsThem) {
    const int h = 120, w = 200;
    std::vector<float> p = prob_map(h, w);
    fill(p, w, 20, 30, 80, 50, 0.9f);
    fill(p, w, 110, 70, 180, 100, 0.8f);
    fill(p, w, 150, 5, 152, 7, 0.9f);    // 2x2: below min_size
    fill(p, w, 10, 90, 60, 110, 0.45f);  // above threshold, below box_threshold
    std::vector<TextBox> boxes = db_text_boxes(p.data(), h, w);
    ASSERT_EQ(boxes.size(), 2u);
    std::sort(boxes.begin(), boxes.end(), [](const TextBox& a, const TextBox& b) { return a.points[0] < b.points[0]; });
    struct Want {
        float x0, y0, x1, y1, score;
    };
    // The contour runs through the outer pixels' centres: a (x1 - x0 - 1) x (y1 - y0 - 1) rectangle, grown by
    // d = area * 1.5 / perimeter on each side.
    for (const auto& [box, want] :
         {std::pair{boxes[0], Want{20, 30, 79, 49, 0.9f}}, std::pair{boxes[1], Want{110, 70, 179, 99, 0.8f}}}) {
        const float bw = want.x1 - want.x0, bh = want.y1 - want.y0;
        const float d = bw * bh * 1.5f / (2 * (bw + bh));
        EXPECT_NEAR(box.score, want.score, 1e-5);
        // Clockwise from top-left: tl, tr, br, bl.
        const float expect[8] = {want.x0 - d, want.y0 - d, want.x1 + d, want.y0 - d,
                                 want.x1 + d, want.y1 + d, want.x0 - d, want.y1 + d};
        for (int i = 0; i < 8; ++i) EXPECT_NEAR(box.points[i], expect[i], 0.05) << "point coordinate " << i;
    }
}

TEST(DbTextBoxes, EmptyMapGivesNoBoxes) {
    const std::vector<float> p = prob_map(32, 48);
    EXPECT_TRUE(db_text_boxes(p.data(), 32, 48).empty());
    EXPECT_TRUE(db_text_boxes(nullptr, 32, 48).empty());
}

}  // namespace
}  // namespace fovea::vision
