#include "vision/draw.h"

#include <gtest/gtest.h>

#include <cstring>
#include <opencv2/imgproc.hpp>

#include "test_frames.h"

namespace fovea::vision {
namespace {

TEST(Draw, PaintsBoxesOnBgrFramesOnly) {
    media::Frame f = media::make_bgr_frame(160, 120);
    const std::vector<Detection> dets = {{{20, 30, 100, 90}, 0.87f, 1}, {{5, 5, 40, 40}, 0.5f, 99}};
    const std::vector<std::string> labels = {"person", "car"};
    ASSERT_TRUE(draw_detections(f, dets, labels, true));
    // The box's left edge is painted; a pixel far from any box is not.
    const uint8_t* edge = f.row(60) + 3 * 20;
    EXPECT_GT(edge[0] + edge[1] + edge[2], 0);
    const uint8_t* clear = f.row(110) + 3 * 150;
    EXPECT_EQ(clear[0] + clear[1] + clear[2], 0);

    media::Frame nv12;
    nv12.format = media::PixelFormat::kNV12;
    EXPECT_FALSE(draw_detections(nv12, dets, labels));
}

TEST(Draw, BgrCopyOfNv12MatchesOpenCvAndLeavesTheOriginalAlone) {
    using namespace testing;
    const cv::Mat nv12 = random_nv12(66, 40, 7);
    const media::Frame f = nv12_frame_from(nv12, 6);  // padded stride
    const media::Frame copy = to_bgr_copy(f);
    ASSERT_EQ(copy.format, media::PixelFormat::kBGR24);
    cv::Mat expected;
    cv::cvtColor(nv12, expected, cv::COLOR_YUV2BGR_NV12);
    const cv::Mat got(copy.height, copy.width, CV_8UC3, copy.pixels.get(), static_cast<size_t>(copy.stride));
    EXPECT_EQ(cv::norm(got, expected, cv::NORM_INF), 0.0);
    EXPECT_NE(copy.pixels.get(), f.pixels.get());

    const media::Frame bgr = bgr_frame_from(random_bgr(31, 17, 3), 5);
    const media::Frame bgr_copy = to_bgr_copy(bgr);
    for (int y = 0; y < bgr.height; ++y)
        EXPECT_EQ(std::memcmp(bgr.row(y), bgr_copy.row(y), static_cast<size_t>(bgr.width) * 3), 0);
}

}  // namespace
}  // namespace fovea::vision
