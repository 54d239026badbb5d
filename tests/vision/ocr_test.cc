// PP-OCR's geometry (vision/ocr.h) against PaddleOCR's rules, worked out by hand.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "test_frames.h"
#include "vision/ocr.h"

namespace fovea::vision {
namespace {

using testing::bgr_frame_from;

TEST(OcrGeometry, detector_input_is_limited_to_960_and_rounded_to_multiples_of_32) {
    // 1280x720 -> 960x540 -> 960x544; small images are not scaled up, only rounded; never below 32.
    EXPECT_EQ(db_input_size(1280, 720), (std::array<int, 2>{960, 544}));
    EXPECT_EQ(db_input_size(720, 1280), (std::array<int, 2>{544, 960}));
    EXPECT_EQ(db_input_size(800, 300), (std::array<int, 2>{800, 288}));
    EXPECT_EQ(db_input_size(10, 5), (std::array<int, 2>{32, 32}));
    // Python's round() takes halves to even: 48 / 32 = 1.5 -> 2, 80 / 32 = 2.5 -> 2.
    EXPECT_EQ(db_input_size(48, 80), (std::array<int, 2>{64, 64}));
    EXPECT_EQ(db_input_size(4000, 3000, 640), (std::array<int, 2>{640, 480}));
}

TextBox box_at(float x, float y, float w = 50, float h = 20) {
    return {{x, y, x + w, y, x + w, y + h, x, y + h}, 1.0f};
}

TEST(OcrGeometry, reading_order_is_top_to_bottom_then_left_to_right_within_a_line) {
    // Line 1: three boxes whose tops differ by a few pixels; line 2 well below.
    std::vector<TextBox> boxes = {box_at(300, 104), box_at(10, 200), box_at(150, 100), box_at(20, 107),
                                  box_at(200, 195)};
    sort_reading_order(boxes);
    std::vector<std::pair<float, float>> got;
    for (const TextBox& b : boxes) got.emplace_back(b.points[0], b.points[1]);
    const std::vector<std::pair<float, float>> want = {{20, 107}, {150, 100}, {300, 104}, {10, 200}, {200, 195}};
    EXPECT_EQ(got, want);
}

TEST(OcrGeometry, an_upright_box_crops_to_its_pixels) {
    cv::Mat img(100, 200, CV_8UC3, cv::Scalar(255, 255, 255));
    cv::rectangle(img, cv::Rect(40, 30, 80, 20), cv::Scalar(10, 20, 30), cv::FILLED);
    const media::Frame frame = bgr_frame_from(img, 8);
    auto crop = crop_text_box(frame, {40, 30, 120, 30, 120, 50, 40, 50});
    ASSERT_TRUE(crop.is_ok()) << crop.status().message();
    EXPECT_EQ(crop->width, 80);
    EXPECT_EQ(crop->height, 20);
    const uint8_t* centre = crop->row(10) + 40 * 3;
    EXPECT_EQ(centre[0], 10);
    EXPECT_EQ(centre[1], 20);
    EXPECT_EQ(centre[2], 30);
}

TEST(OcrGeometry, a_rotated_box_is_warped_upright_and_a_tall_one_turned) {
    // A 120x30 bar, dark on its left half, rotated by 30 degrees: the crop is about 120x30 with the dark half left.
    cv::Mat img(200, 200, CV_8UC3, cv::Scalar(255, 255, 255));
    const cv::RotatedRect bar(cv::Point2f(100, 100), cv::Size2f(120, 30), 30);
    cv::Point2f c[4];
    bar.points(c);  // bottom-left, top-left, top-right, bottom-right for a positive angle
    std::vector<cv::Point> poly(c, c + 4);
    cv::fillConvexPoly(img, poly, cv::Scalar(200, 200, 200));
    std::vector<cv::Point> left = {c[0], c[1], (c[1] + c[2]) * 0.5f, (c[0] + c[3]) * 0.5f};
    cv::fillConvexPoly(img, left, cv::Scalar(0, 0, 0));
    const media::Frame frame = bgr_frame_from(img);
    auto crop = crop_text_box(frame, {c[1].x, c[1].y, c[2].x, c[2].y, c[3].x, c[3].y, c[0].x, c[0].y});
    ASSERT_TRUE(crop.is_ok()) << crop.status().message();
    EXPECT_NEAR(crop->width, 120, 1);
    EXPECT_NEAR(crop->height, 30, 1);
    EXPECT_LT(crop->row(15)[20 * 3], 30);    // left half dark
    EXPECT_GT(crop->row(15)[100 * 3], 170);  // right half light

    // The same bar standing upright (dark half on top): twice as tall as wide, so turned counter-clockwise, which
    // brings the top to the left.
    cv::Mat tall(200, 200, CV_8UC3, cv::Scalar(255, 255, 255));
    cv::rectangle(tall, cv::Rect(90, 40, 30, 120), cv::Scalar(200, 200, 200), cv::FILLED);
    cv::rectangle(tall, cv::Rect(90, 40, 30, 60), cv::Scalar(0, 0, 0), cv::FILLED);
    auto turned = crop_text_box(bgr_frame_from(tall), {90, 40, 120, 40, 120, 160, 90, 160});
    ASSERT_TRUE(turned.is_ok()) << turned.status().message();
    EXPECT_EQ(turned->width, 120);
    EXPECT_EQ(turned->height, 30);
    EXPECT_LT(turned->row(15)[20 * 3], 30);
    EXPECT_GT(turned->row(15)[100 * 3], 170);

    EXPECT_FALSE(crop_text_box(frame, {5, 5, 5, 5, 5, 5, 5, 5}).is_ok());  // a point, not a box
}

TEST(OcrGeometry, recognizer_input_keeps_the_aspect_ratio_and_pads_with_zeros) {
    cv::Mat img(24, 60, CV_8UC3, cv::Scalar(255, 255, 255));  // ratio 2.5: 48 high -> 120 wide
    const media::Frame crop = bgr_frame_from(img);
    const std::vector<media::Frame> crops = {crop};
    EXPECT_EQ(rec_batch_width(crops), 320);  // at least 320
    const media::Frame wide = bgr_frame_from(cv::Mat(10, 100, CV_8UC3, cv::Scalar(0, 0, 0)));
    const std::vector<media::Frame> both = {crop, wide};
    EXPECT_EQ(rec_batch_width(both), 480);  // 48 * 10

    std::vector<float> in(3 * 48 * 320, 7.0f);
    ASSERT_TRUE(rec_input(crop, 48, 320, in.data()).is_ok());
    for (int c = 0; c < 3; ++c) {
        const float* row = in.data() + (c * 48 + 20) * 320;
        EXPECT_FLOAT_EQ(row[0], 1.0f);    // white: (1 - 0.5) / 0.5
        EXPECT_FLOAT_EQ(row[119], 1.0f);  // the last resized column
        EXPECT_FLOAT_EQ(row[120], 0.0f);  // padding
        EXPECT_FLOAT_EQ(row[319], 0.0f);
    }
    // Wider than the batch width: squeezed to it, no padding.
    ASSERT_TRUE(rec_input(wide, 48, 320, in.data()).is_ok());
    EXPECT_FLOAT_EQ(in[319], -1.0f);  // black
}

TEST(OcrGeometry, drawing_boxes_marks_the_quads) {
    media::Frame frame = bgr_frame_from(cv::Mat(100, 200, CV_8UC3, cv::Scalar(255, 255, 255)));
    const std::vector<std::array<float, 8>> quads = {{20, 40, 180, 40, 180, 90, 20, 90}};
    const std::vector<std::string> texts = {"SN-4821-KX \xe4\xb8\xad"};
    ASSERT_TRUE(draw_text_boxes(frame, quads, texts));
    EXPECT_NE(frame.row(65)[20 * 3 + 1], 255);   // the left edge
    EXPECT_EQ(frame.row(65)[100 * 3 + 1], 255);  // inside stays white
}

}  // namespace
}  // namespace fovea::vision
