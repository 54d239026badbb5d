// Image-folder and synthetic sources.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>

#include "media/encode.h"
#include "media/source.h"
#include "media_test_util.h"

namespace fovea::media {
namespace {

using testing::TempDir;

Frame solid(int w, int h, uint8_t b, uint8_t g, uint8_t r) {
    Frame f = make_bgr_frame(w, h);
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            f.row(y)[3 * x] = b;
            f.row(y)[3 * x + 1] = g;
            f.row(y)[3 * x + 2] = r;
        }
    }
    return f;
}

void expect_colour(const Frame& f, int b, int g, int r, int tolerance) {
    const uint8_t* px = f.row(f.height / 2) + 3 * (f.width / 2);
    EXPECT_NEAR(px[0], b, tolerance);
    EXPECT_NEAR(px[1], g, tolerance);
    EXPECT_NEAR(px[2], r, tolerance);
}

std::unique_ptr<Source> open_images(const std::string& dir, bool loop = false) {
    SourceSpec spec;
    spec.name = "folder";
    spec.uri = dir;
    spec.loop = loop;
    spec.realtime = false;
    auto made = make_source(spec);
    EXPECT_TRUE(made.is_ok()) << made.status().to_string();
    if (!made.is_ok()) return nullptr;
    const Status status = made.value()->open();
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    return status.is_ok() ? std::move(made).value() : nullptr;
}

TEST(ImagesSource, reads_jpeg_png_and_bmp_files_in_name_order_at_native_size) {
    SKIP_WITHOUT_FFMPEG_CLI();
    TempDir tmp;
    ASSERT_TRUE(write_jpeg(tmp.path("a.jpg"), solid(64, 48, 200, 30, 30)).is_ok());
    ASSERT_TRUE(testing::run_shell("ffmpeg -nostdin -v error -f lavfi -i color=c=0x00ff00:size=32x24 -frames:v 1 '" +
                                   tmp.path("b.png") + "'"));
    ASSERT_TRUE(write_jpeg(tmp.path("c.JPEG"), solid(80, 60, 30, 30, 200)).is_ok());
    ASSERT_TRUE(testing::run_shell("ffmpeg -nostdin -v error -f lavfi -i color=c=0xffffff:size=20x10 -frames:v 1 '" +
                                   tmp.path("d.bmp") + "'"));
    std::ofstream(tmp.path("e.txt")) << "ignored\n";

    auto source = open_images(tmp.dir().string());
    ASSERT_TRUE(source);
    EXPECT_NE(source->describe().find("4 files"), std::string::npos) << source->describe();
    const auto r = testing::read_all(*source, 100, true);
    ASSERT_TRUE(r.ended) << r.error.to_string();
    ASSERT_EQ(r.count, 4);
    EXPECT_EQ(r.frames[0].width, 64);
    EXPECT_EQ(r.frames[0].height, 48);
    expect_colour(r.frames[0], 200, 30, 30, 8);
    EXPECT_EQ(r.frames[1].width, 32);
    expect_colour(r.frames[1], 0, 255, 0, 3);
    EXPECT_EQ(r.frames[2].width, 80);
    expect_colour(r.frames[2], 30, 30, 200, 8);
    EXPECT_EQ(r.frames[3].width, 20);
    EXPECT_EQ(r.frames[3].height, 10);
    expect_colour(r.frames[3], 255, 255, 255, 1);
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(r.frames[i].index, i);
        EXPECT_EQ(r.frames[i].pts_us, i * 40'000);  // 25 fps by default
    }
    EXPECT_EQ(source->counters().corrupt, 0);
}

TEST(ImagesSource, loop_starts_over_and_keeps_counting) {
    TempDir tmp;
    ASSERT_TRUE(write_jpeg(tmp.path("1.jpg"), solid(16, 16, 0, 0, 255)).is_ok());
    ASSERT_TRUE(write_jpeg(tmp.path("2.jpg"), solid(16, 16, 255, 0, 0)).is_ok());
    auto source = open_images(tmp.dir().string(), /*loop=*/true);
    ASSERT_TRUE(source);
    const auto r = testing::read_all(*source, 7, true);
    ASSERT_EQ(r.count, 7) << r.error.to_string();
    EXPECT_EQ(r.frames[6].index, 6);
    expect_colour(r.frames[4], 0, 0, 255, 8);  // 1.jpg again
    expect_colour(r.frames[5], 255, 0, 0, 8);  // 2.jpg again
}

TEST(ImagesSource, undecodable_images_are_counted_and_skipped) {
    TempDir tmp;
    std::ofstream(tmp.path("a.jpg")) << "garbage, not a JPEG";
    ASSERT_TRUE(write_jpeg(tmp.path("b.jpg"), solid(24, 16, 10, 200, 10)).is_ok());
    auto source = open_images(tmp.dir().string());
    ASSERT_TRUE(source);
    const auto r = testing::read_all(*source, 10, true);
    ASSERT_TRUE(r.ended) << r.error.to_string();
    ASSERT_EQ(r.count, 1);
    EXPECT_EQ(r.frames[0].width, 24);
    EXPECT_EQ(source->counters().corrupt, 1);
}

TEST(ImagesSource, looping_over_only_undecodable_images_fails_instead_of_spinning) {
    TempDir tmp;
    std::ofstream(tmp.path("a.png")) << "not a PNG";
    auto source = open_images(tmp.dir().string(), /*loop=*/true);
    ASSERT_TRUE(source);
    Frame f;
    auto got = source->read(f);
    ASSERT_FALSE(got.is_ok());
    EXPECT_NE(got.status().message().find("a.png"), std::string::npos) << got.status().to_string();
}

TEST(ImagesSource, realtime_paces_at_the_requested_rate) {
    TempDir tmp;
    for (int i = 0; i < 6; ++i) {
        ASSERT_TRUE(write_jpeg(tmp.path("f" + std::to_string(i) + ".jpg"), solid(16, 16, 9, 9, 9)).is_ok());
    }
    SourceSpec spec;
    spec.uri = tmp.dir().string();
    spec.fps = 10;
    auto made = make_source(spec);
    ASSERT_TRUE(made.is_ok());
    ASSERT_TRUE(made.value()->open().is_ok());
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(testing::read_all(*made.value()).count, 6);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_GT(seconds, 0.45);  // frames at 0, 0.1, ... 0.5 s
    EXPECT_LT(seconds, 1.5);
}

std::vector<Frame> synthetic_frames(uint64_t seed, int count, int width = 320, int height = 240) {
    SourceSpec spec;
    spec.uri = "synthetic";
    spec.seed = seed;
    spec.width = width;
    spec.height = height;
    spec.realtime = false;
    auto made = make_source(spec);
    EXPECT_TRUE(made.is_ok()) << made.status().to_string();
    if (!made.is_ok() || !made.value()->open().is_ok()) return {};
    return testing::read_all(*made.value(), count, true).frames;
}

bool same_pixels(const Frame& a, const Frame& b) {
    if (a.width != b.width || a.height != b.height) return false;
    for (int y = 0; y < a.height; ++y) {
        if (std::memcmp(a.row(y), b.row(y), static_cast<size_t>(a.width) * 3) != 0) return false;
    }
    return true;
}

TEST(SyntheticSource, same_seed_and_index_give_identical_pixels) {
    const auto a = synthetic_frames(7, 6);
    const auto b = synthetic_frames(7, 6);
    ASSERT_EQ(a.size(), 6u);
    ASSERT_EQ(b.size(), 6u);
    for (int i = 0; i < 6; ++i) {
        EXPECT_TRUE(same_pixels(a[i], b[i])) << "frame " << i;
        EXPECT_EQ(a[i].index, i);
    }
}

TEST(SyntheticSource, different_seeds_give_different_pictures) {
    const auto a = synthetic_frames(7, 1);
    const auto b = synthetic_frames(8, 1);
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(b.size(), 1u);
    EXPECT_GT(testing::mean_abs_diff(a[0], b[0]), 2.0);
}

TEST(SyntheticSource, pictures_move_and_the_default_size_is_720p) {
    const auto frames = synthetic_frames(1, 3, 0, 0);
    ASSERT_EQ(frames.size(), 3u);
    EXPECT_EQ(frames[0].width, 1280);
    EXPECT_EQ(frames[0].height, 720);
    EXPECT_FALSE(same_pixels(frames[0], frames[1]));
    EXPECT_FALSE(same_pixels(frames[1], frames[2]));
    EXPECT_EQ(frames[2].pts_us, 80'000);  // 25 fps by default
}

TEST(SyntheticSource, realtime_paces_at_the_requested_rate) {
    SourceSpec spec;
    spec.uri = "synthetic";
    spec.width = 64;
    spec.height = 48;
    spec.fps = 20;
    auto made = make_source(spec);
    ASSERT_TRUE(made.is_ok());
    ASSERT_TRUE(made.value()->open().is_ok());
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(testing::read_all(*made.value(), 11).count, 11);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_GT(seconds, 0.45);  // frame 10 is due at 0.5 s
    EXPECT_LT(seconds, 1.5);
}

}  // namespace
}  // namespace fovea::media
