// NVDEC frames that stay in GPU memory (hw_decode: cuda): many held at once without starving the decoder, their
// download equal to what CPU decoding gives, alive after their source is gone. Skipped, visibly, without a GPU or in a
// build without CUDA.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

extern "C" {
#include <libavutil/hwcontext.h>
}

#include "media/cuda_frames.h"
#include "media/encode.h"
#include "media/source.h"
#include "media_test_util.h"

namespace fovea::media {
namespace {

bool cuda_device_usable() {
    AVBufferRef* device = nullptr;
    if (av_hwdevice_ctx_create(&device, AV_HWDEVICE_TYPE_CUDA, nullptr, nullptr, 0) < 0) return false;
    av_buffer_unref(&device);
    return true;
}

#define SKIP_WITHOUT_NVDEC()                                                                                    \
    do {                                                                                                        \
        if (!detail::device_frames_built()) GTEST_SKIP() << "this build has no CUDA: NVDEC frames are downloaded"; \
        if (!cuda_device_usable()) GTEST_SKIP() << "no CUDA device (or driver) for NVDEC";                      \
    } while (0)

// A clip made by our own encoder (the GPU machine has no ffmpeg CLI): 320x184 (coded 320x192, so NVDEC's chroma
// plane does not follow the 184 luma rows), a colour gradient with a square that moves.
std::string make_clip(const testing::TempDir& dir, int frames) {
    const std::string path = dir.path("nvdec.mp4");
    auto writer = VideoWriter::open(path, 320, 184, 30);
    if (!writer.is_ok()) return {};
    for (int i = 0; i < frames; ++i) {
        Frame f = make_bgr_frame(320, 184);
        for (int y = 0; y < f.height; ++y)
            for (int x = 0; x < f.width; ++x) {
                uint8_t* p = f.row(y) + 3 * x;
                const bool square = x >= 20 + 4 * i && x < 80 + 4 * i && y >= 60 && y < 120;
                p[0] = static_cast<uint8_t>(square ? 230 : x * 255 / 320);
                p[1] = static_cast<uint8_t>(square ? 40 : y * 255 / 184);
                p[2] = static_cast<uint8_t>(square ? 60 : 128);
            }
        if (!(*writer)->write(f).is_ok()) return {};
    }
    if (!(*writer)->close().is_ok()) return {};
    return path;
}

// NV12 (BT.601 limited range, as the CPU decode path converts it) to BGR24, chroma nearest.
Frame nv12_to_bgr(const Frame& nv12) {
    Frame out = make_bgr_frame(nv12.width, nv12.height);
    auto clamp = [](double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); };
    for (int y = 0; y < nv12.height; ++y)
        for (int x = 0; x < nv12.width; ++x) {
            const double l = 1.164 * (nv12.row(y)[x] - 16);
            const uint8_t* uv = nv12.row(nv12.height + y / 2) + (x & ~1);
            const double u = uv[0] - 128.0, v = uv[1] - 128.0;
            uint8_t* p = out.row(y) + 3 * x;
            p[0] = clamp(l + 2.018 * u);
            p[1] = clamp(l - 0.813 * v - 0.391 * u);
            p[2] = clamp(l + 1.596 * v);
        }
    return out;
}

TEST(Nvdec, FramesStayOnTheGpuEvenWhenManyAreHeldAndDownloadToWhatTheCpuDecodes) {
    SKIP_WITHOUT_NVDEC();
    testing::TempDir dir;
    // More frames than NVDEC has decode surfaces (<= 32), all held at once: frames must not pin the decoder's.
    constexpr int kFrames = 48;
    const std::string clip = make_clip(dir, kFrames);
    ASSERT_FALSE(clip.empty());

    SourceSpec spec = testing::file_spec(clip);
    spec.hw_decode = "cuda";
    auto gpu_source = make_source(spec);
    ASSERT_TRUE(gpu_source.is_ok());
    const Status opened = (*gpu_source)->open();
    ASSERT_TRUE(opened.is_ok()) << opened.to_string();
    const testing::ReadAll gpu = testing::read_all(**gpu_source, 1000, /*keep=*/true);
    EXPECT_NE((*gpu_source)->describe().find("cuda decode, frames on the GPU"), std::string::npos)
        << (*gpu_source)->describe();
    EXPECT_TRUE(gpu.ended) << gpu.error.to_string();
    EXPECT_EQ(gpu.count, kFrames);
    EXPECT_EQ((*gpu_source)->counters().corrupt, 0);

    spec.hw_decode = "none";
    auto cpu_source = make_source(spec);
    ASSERT_TRUE(cpu_source.is_ok() && (*cpu_source)->open().is_ok());
    const testing::ReadAll cpu = testing::read_all(**cpu_source, 1000, /*keep=*/true);
    ASSERT_EQ(cpu.count, kFrames);

    ASSERT_EQ(gpu.frames.size(), cpu.frames.size());
    for (size_t i = 0; i < gpu.frames.size(); ++i) {
        SCOPED_TRACE("frame " + std::to_string(i));
        const Frame& g = gpu.frames[i];
        EXPECT_TRUE(g.on_device());
        EXPECT_FALSE(g.on_host()) << "nothing is downloaded unless asked";
        EXPECT_EQ(g.width, 320);
        EXPECT_EQ(g.height, 184);
        EXPECT_EQ(g.format, PixelFormat::kNV12);
        EXPECT_EQ(g.pts_us, cpu.frames[i].pts_us);
        const DevicePlanes& p = g.device->planes();
        EXPECT_NE(p.luma, nullptr);
        EXPECT_NE(p.chroma, nullptr);
        EXPECT_GE(p.luma_pitch, 320);
        EXPECT_GE(p.chroma_pitch, 320);
        Result<Frame> host = host_frame(g);
        ASSERT_TRUE(host.is_ok()) << host.status().to_string();
        EXPECT_LT(testing::mean_abs_diff(nv12_to_bgr(*host), cpu.frames[i]), 3.0);
        EXPECT_EQ(g.device->downloads(), 1);
    }
}

TEST(Nvdec, FramesOutliveTheirSource) {
    SKIP_WITHOUT_NVDEC();
    testing::TempDir dir;
    const std::string clip = make_clip(dir, 8);
    ASSERT_FALSE(clip.empty());
    SourceSpec spec = testing::file_spec(clip);
    spec.hw_decode = "cuda";
    std::vector<Frame> frames;
    {
        auto source = make_source(spec);
        ASSERT_TRUE(source.is_ok());
        ASSERT_TRUE((*source)->open().is_ok());
        frames = testing::read_all(**source, 5, /*keep=*/true).frames;
        (*source)->close();
    }
    ASSERT_EQ(frames.size(), 5u);
    for (const Frame& f : frames) {
        ASSERT_TRUE(f.on_device());
        Result<Frame> host = host_frame(f);
        ASSERT_TRUE(host.is_ok()) << host.status().to_string();
        EXPECT_GT(host->row(70)[40], 0) << "the picture is there after its decoder is gone";
    }
}

}  // namespace
}  // namespace fovea::media
