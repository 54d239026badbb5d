// Frames decoded on the GPU in the CPU consumers of vision: preprocessing and drawing read the picture's host copy,
// downloaded once and shared (a host-backed stand-in for the GPU picture: runs everywhere).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "../media/host_backed_surface.h"
#include "test_frames.h"
#include "vision/draw.h"
#include "vision/preprocess.h"

namespace fovea::vision {
namespace {

using media::testing::device_only_frame;
using media::testing::HostBackedSurface;
using testing::nv12_frame_from;
using testing::random_nv12;

std::vector<uint8_t> cpu_bytes(const media::Frame& frame, const Rect& roi, const PreprocessSpec& spec) {
    std::vector<uint8_t> out(input_item_bytes(spec));
    InputTransform t;
    const Status s = preprocess(frame, roi, spec, out.data(), t);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return out;
}

TEST(DeviceFrames, CpuPreprocessingReadsTheDownloadedPictureOnce) {
    const media::Frame host = nv12_frame_from(random_nv12(642, 362, 5), 14);
    const auto surface = HostBackedSurface::from(host);
    const media::Frame gpu = device_only_frame(host, surface);
    PreprocessSpec spec;
    spec.width = 96;
    spec.height = 80;
    for (Equalize eq : {Equalize::kNone, Equalize::kClahe}) {
        spec.equalize = eq;
        for (const Rect& roi : {Rect{}, Rect{31, 17, 401, 203}})
            EXPECT_EQ(cpu_bytes(gpu, roi, spec), cpu_bytes(host, roi, spec));
    }
    EXPECT_EQ(surface->calls(), 1) << "four items, one download";
}

TEST(DeviceFrames, AFailedDownloadFailsPreprocessingCleanly) {
    const media::Frame host = nv12_frame_from(random_nv12(64, 48, 6));
    const media::Frame gpu = device_only_frame(host, HostBackedSurface::from(host, /*fail=*/true));
    std::vector<uint8_t> out(input_item_bytes(PreprocessSpec{}));
    InputTransform t;
    const Status s = preprocess(gpu, Rect{}, PreprocessSpec{}, out.data(), t);
    EXPECT_EQ(s.code(), StatusCode::kIoError) << s.to_string();
    EXPECT_NE(s.message().find("preprocess"), std::string::npos) << s.to_string();
}

TEST(DeviceFrames, DrawingGoesThroughTheHostCopy) {
    const media::Frame host = nv12_frame_from(random_nv12(160, 120, 7));
    const auto surface = HostBackedSurface::from(host);
    media::Frame gpu = device_only_frame(host, surface);
    const media::Frame want = to_bgr_copy(host);
    media::Frame got = to_bgr_copy(gpu);
    ASSERT_TRUE(got.on_host());
    ASSERT_EQ(got.width, want.width);
    for (int y = 0; y < got.height; ++y)
        ASSERT_EQ(std::memcmp(got.row(y), want.row(y), static_cast<size_t>(got.width) * 3), 0) << "row " << y;
    EXPECT_EQ(got.index, host.index);
    const Detection d{{10, 10, 50, 50}, 0.9f, 0};
    EXPECT_FALSE(draw_detections(gpu, std::span(&d, 1), {})) << "no host pixels to draw on in place";
    EXPECT_TRUE(draw_detections(got, std::span(&d, 1), {}));
    EXPECT_FALSE(to_bgr_copy(media::Frame{}).on_host());
}

}  // namespace
}  // namespace fovea::vision
