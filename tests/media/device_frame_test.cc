// Frames whose picture is in GPU memory: the lazy, once-only, shared download (host_frame) and the encoders that go
// through it, on a host-backed stand-in for the GPU picture (runs everywhere).
#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "host_backed_surface.h"
#include "media/encode.h"
#include "media/source.h"
#include "media_test_util.h"

namespace fovea::media {
namespace {

using testing::device_only_frame;
using testing::HostBackedSurface;

// A host NV12 frame with a different value at every pixel (luma and chroma).
Frame pattern_nv12(int w, int h) {
    Frame f;
    f.width = w;
    f.height = h;
    f.stride = w;
    f.format = PixelFormat::kNV12;
    f.pixels = std::shared_ptr<uint8_t[]>(new uint8_t[static_cast<size_t>(w) * h * 3 / 2]);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) f.row(y)[x] = static_cast<uint8_t>(16 + (x * 3 + y * 5) % 220);
    for (int y = 0; y < h / 2; ++y)
        for (int x = 0; x < w; ++x) f.row(h + y)[x] = static_cast<uint8_t>(64 + (x * 7 + y * 11) % 128);
    f.index = 7;
    f.pts_us = 280000;
    return f;
}

bool same_nv12(const Frame& a, const Frame& b) {
    if (a.width != b.width || a.height != b.height || !a.on_host() || !b.on_host()) return false;
    for (int y = 0; y < a.height * 3 / 2; ++y)
        if (std::memcmp(a.row(y), b.row(y), static_cast<size_t>(a.width)) != 0) return false;
    return true;
}

TEST(DeviceFrame, EmptyMeansNoPictureAnywhere) {
    EXPECT_TRUE(Frame{}.empty());
    const Frame host = pattern_nv12(16, 8);
    const Frame gpu = device_only_frame(host, HostBackedSurface::from(host));
    EXPECT_FALSE(gpu.empty());
    EXPECT_TRUE(gpu.on_device());
    EXPECT_FALSE(gpu.on_host());
    EXPECT_TRUE(host.on_host());
    EXPECT_FALSE(host.on_device());
}

TEST(DeviceFrame, AHostFrameIsItsOwnHostFrame) {
    const Frame host = pattern_nv12(16, 8);
    Result<Frame> h = host_frame(host);
    ASSERT_TRUE(h.is_ok());
    EXPECT_EQ(h->pixels.get(), host.pixels.get());
}

TEST(DeviceFrame, DownloadsOnceOnFirstDemandSharedByEveryCopyAndThread) {
    const Frame host = pattern_nv12(64, 48);
    auto surface = HostBackedSurface::from(host, false, /*slow_ms=*/30);
    const Frame gpu = device_only_frame(host, surface);
    EXPECT_EQ(surface->calls(), 0) << "nothing is downloaded before someone asks";
    EXPECT_EQ(surface->downloads(), 0);

    std::vector<Frame> copies(8, gpu);
    std::vector<const uint8_t*> seen(copies.size(), nullptr);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < copies.size(); ++i)
        threads.emplace_back([&, i] {
            Result<Frame> h = host_frame(copies[i]);
            if (h.is_ok()) seen[i] = h->pixels.get();
        });
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(surface->calls(), 1) << "one download for all copies and threads";
    EXPECT_EQ(surface->downloads(), 1);
    for (const uint8_t* p : seen) EXPECT_EQ(p, seen[0]);
    ASSERT_NE(seen[0], nullptr);

    Result<Frame> h = host_frame(gpu);
    ASSERT_TRUE(h.is_ok()) << h.status().to_string();
    EXPECT_EQ(surface->calls(), 1);
    EXPECT_EQ(h->stride, 64);
    EXPECT_EQ(h->format, PixelFormat::kNV12);
    EXPECT_EQ(h->index, 7);
    EXPECT_EQ(h->pts_us, 280000);
    EXPECT_TRUE(h->on_device()) << "the host copy still knows its GPU picture";
    EXPECT_TRUE(same_nv12(*h, host)) << "luma and chroma planes (of different pitches) land in the host layout";
}

TEST(DeviceFrame, AFailedDownloadIsReportedAndNotRetried) {
    const Frame host = pattern_nv12(32, 16);
    auto surface = HostBackedSurface::from(host, /*fail=*/true);
    const Frame gpu = device_only_frame(host, surface);
    for (int i = 0; i < 3; ++i) {
        Result<Frame> h = host_frame(gpu);
        EXPECT_EQ(h.status().code(), StatusCode::kIoError);
    }
    EXPECT_EQ(surface->calls(), 1);
    const Result<std::vector<uint8_t>> jpeg = encode_jpeg(gpu);
    EXPECT_FALSE(jpeg.is_ok());
    EXPECT_NE(jpeg.status().message().find("refuses to download"), std::string::npos) << jpeg.status().to_string();
}

TEST(DeviceFrame, EncodersReadTheDownloadedPicture) {
    const Frame host = pattern_nv12(64, 48);
    auto surface = HostBackedSurface::from(host);
    const Frame gpu = device_only_frame(host, surface);
    const Result<std::vector<uint8_t>> want = encode_jpeg(host, 80);
    const Result<std::vector<uint8_t>> got = encode_jpeg(gpu, 80);
    ASSERT_TRUE(want.is_ok() && got.is_ok()) << got.status().to_string();
    EXPECT_EQ(got.value(), want.value());

    testing::TempDir dir;
    auto writer = VideoWriter::open(dir.path("gpu.mkv"), 64, 48, 10);
    ASSERT_TRUE(writer.is_ok()) << writer.status().to_string();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*writer)->write(gpu).is_ok());
    ASSERT_TRUE((*writer)->close().is_ok());
    EXPECT_EQ((*writer)->frames_written(), 3);
    EXPECT_EQ(surface->calls(), 1) << "the JPEG and the three video frames share one download";
}

}  // namespace
}  // namespace fovea::media
