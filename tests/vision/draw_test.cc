#include "vision/draw.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace fovea::vision
