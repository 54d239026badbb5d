// File sources: frame counts, sizes, colours, containers, looping, pacing, and opencv-doc's sample videos.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "media/source.h"
#include "media_test_util.h"

namespace fovea::media {
namespace {

using testing::cached_clip;
using testing::file_spec;
using testing::read_all;
using testing::TempDir;
using testing::testsrc_clip;

std::unique_ptr<Source> opened(const SourceSpec& spec) {
    auto made = make_source(spec);
    EXPECT_TRUE(made.is_ok()) << made.status().to_string();
    if (!made.is_ok()) return nullptr;
    std::unique_ptr<Source> source = std::move(made).value();
    const Status status = source->open();
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    return status.is_ok() ? std::move(source) : nullptr;
}

TEST(FileSource, h264_mp4_decodes_every_frame_at_its_size_with_consecutive_indexes) {
    SKIP_WITHOUT_FFMPEG_CLI();
    const std::string clip = testsrc_clip();
    ASSERT_FALSE(clip.empty());
    auto source = opened(file_spec(clip));
    ASSERT_TRUE(source);
    const auto r = read_all(*source, 1000, true);
    ASSERT_TRUE(r.error.is_ok()) << r.error.to_string();
    EXPECT_TRUE(r.ended);
    EXPECT_EQ(r.count, 60);
    EXPECT_EQ(source->counters().frames, 60);
    EXPECT_EQ(source->counters().corrupt, 0);
    for (size_t i = 0; i < r.frames.size(); ++i) {
        const Frame& f = r.frames[i];
        ASSERT_EQ(f.width, 640);
        ASSERT_EQ(f.height, 360);
        ASSERT_EQ(f.format, PixelFormat::kBGR24);
        ASSERT_GE(f.stride, 640 * 3);
        ASSERT_EQ(f.index, static_cast<int64_t>(i));
        ASSERT_NE(f.wall_time_us, 0);
        if (i > 0) {
            ASSERT_GT(f.pts_us, r.frames[i - 1].pts_us);
            ASSERT_GE(f.capture_time, r.frames[i - 1].capture_time);
        }
    }
    // testsrc2 moves: consecutive frames are different pictures, not one frame repeated.
    EXPECT_GT(testing::mean_abs_diff(r.frames[0], r.frames[30]), 1.0);
    // A second read after the end stays at the end.
    Frame f;
    auto again = source->read(f);
    ASSERT_TRUE(again.is_ok());
    EXPECT_FALSE(*again);
}

TEST(FileSource, solid_colour_clip_decodes_to_its_bgr_value) {
    SKIP_WITHOUT_FFMPEG_CLI();
    const std::string clip =
        cached_clip("color_3366cc.mp4",
                    "-f lavfi -i color=c=0x3366cc:size=160x120:rate=10 -t 1 -c:v libx264 -preset ultrafast "
                    "-pix_fmt yuv420p");
    ASSERT_FALSE(clip.empty());
    auto source = opened(file_spec(clip));
    ASSERT_TRUE(source);
    const auto r = read_all(*source, 100, true);
    ASSERT_EQ(r.count, 10) << r.error.to_string();
    for (const Frame& f : r.frames) {
        for (int y : {0, 60, 119}) {
            for (int x : {0, 80, 159}) {
                const uint8_t* px = f.row(y) + 3 * x;
                EXPECT_NEAR(px[0], 0xcc, 6) << "blue at " << x << "," << y;
                EXPECT_NEAR(px[1], 0x66, 6) << "green at " << x << "," << y;
                EXPECT_NEAR(px[2], 0x33, 6) << "red at " << x << "," << y;
            }
        }
    }
}

struct ContainerCase {
    const char* file;
    const char* encoder_args;
    const char* codec;  // as describe() names it
};

class OtherContainers : public ::testing::TestWithParam<ContainerCase> {};

// One second of testsrc2 at 320x240, 25 fps, in the case's container and codec.
std::string container_clip(const ContainerCase& c) {
    return cached_clip(
        c.file, std::string("-f lavfi -i testsrc2=size=320x240:rate=25 -t 1 ") + c.encoder_args + " -pix_fmt yuv420p");
}

TEST_P(OtherContainers, decode_with_the_right_count_size_and_codec) {
    SKIP_WITHOUT_FFMPEG_CLI();
    const ContainerCase& c = GetParam();
    const std::string clip = container_clip(c);
    ASSERT_FALSE(clip.empty());
    auto source = opened(file_spec(clip));
    ASSERT_TRUE(source);
    EXPECT_NE(source->describe().find(c.codec), std::string::npos) << source->describe();
    const auto r = read_all(*source, 1000, true);
    ASSERT_TRUE(r.error.is_ok()) << r.error.to_string();
    EXPECT_EQ(r.count, 25);
    ASSERT_FALSE(r.frames.empty());
    EXPECT_EQ(r.frames.back().width, 320);
    EXPECT_EQ(r.frames.back().height, 240);
    EXPECT_EQ(r.frames.back().index, 24);
}

// Looping reads on through the demuxer's jump back to the first keyframe, without draining the decoder: every codec
// must give the same pictures again, one per frame period.
TEST_P(OtherContainers, loop_gives_every_picture_again_with_increasing_time) {
    SKIP_WITHOUT_FFMPEG_CLI();
    const std::string clip = container_clip(GetParam());
    ASSERT_FALSE(clip.empty());
    SourceSpec spec = file_spec(clip);
    spec.loop = true;
    auto source = opened(spec);
    ASSERT_TRUE(source);
    const auto r = read_all(*source, 60, true);  // 2.4 passes over 25 frames
    ASSERT_TRUE(r.error.is_ok()) << r.error.to_string();
    ASSERT_EQ(r.count, 60);
    for (size_t i = 1; i < r.frames.size(); ++i)
        EXPECT_NEAR(r.frames[i].pts_us - r.frames[i - 1].pts_us, 40000, 1000) << "frame " << i;
    for (size_t i = 0; i + 25 < r.frames.size(); ++i)
        EXPECT_LT(testing::mean_abs_diff(r.frames[i], r.frames[i + 25]), 0.5) << "frame " << i;
}

INSTANTIATE_TEST_SUITE_P(
    FileSource, OtherContainers,
    ::testing::Values(ContainerCase{"mpeg4.mkv", "-c:v mpeg4 -q:v 5", "mpeg4"},
                      ContainerCase{"vp9.webm", "-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 300k", "vp9"},
                      ContainerCase{"mjpeg.avi", "-c:v mjpeg -q:v 5", "mjpeg"}),
    [](const auto& info) {
        std::string name = info.param.file;
        for (char& ch : name) {
            if (ch == '.') ch = '_';
        }
        return name;
    });

TEST(FileSource, loop_restarts_at_the_end_and_keeps_counting_indexes_and_time) {
    SKIP_WITHOUT_FFMPEG_CLI();
    const std::string clip = testsrc_clip();
    ASSERT_FALSE(clip.empty());
    SourceSpec spec = file_spec(clip);
    spec.loop = true;
    auto source = opened(spec);
    ASSERT_TRUE(source);
    const auto r = read_all(*source, 150, true);  // two and a half passes over 60 frames
    ASSERT_TRUE(r.error.is_ok()) << r.error.to_string();
    ASSERT_EQ(r.count, 150);
    EXPECT_FALSE(r.ended);
    for (size_t i = 0; i < r.frames.size(); ++i) {
        ASSERT_EQ(r.frames[i].index, static_cast<int64_t>(i));
        if (i > 0) {
            ASSERT_GT(r.frames[i].pts_us, r.frames[i - 1].pts_us) << "frame " << i;
        }
    }
    // The second pass shows the first pass's pictures again.
    EXPECT_LT(testing::mean_abs_diff(r.frames[0], r.frames[60]), 0.5);
    EXPECT_LT(testing::mean_abs_diff(r.frames[10], r.frames[130]), 0.5);
}

TEST(FileSource, reopen_after_close_starts_over_at_index_zero) {
    SKIP_WITHOUT_FFMPEG_CLI();
    const std::string clip = testsrc_clip();
    ASSERT_FALSE(clip.empty());
    auto source = opened(file_spec(clip));
    ASSERT_TRUE(source);
    EXPECT_EQ(read_all(*source, 5).count, 5);
    source->close();
    source->close();  // idempotent
    Frame f;
    EXPECT_FALSE(source->read(f).is_ok());  // closed sources refuse to read
    ASSERT_TRUE(source->open().is_ok());
    auto got = source->read(f);
    ASSERT_TRUE(got.is_ok() && *got);
    EXPECT_EQ(f.index, 0);
}

// A 30 fps clip of 1 s: small, so decoding time is negligible next to the pacing.
std::string one_second_clip() {
    return cached_clip("testsrc2_160x120_30fps_1s.mp4",
                       "-f lavfi -i testsrc2=size=160x120:rate=30 -t 1 -c:v libx264 -preset ultrafast "
                       "-pix_fmt yuv420p");
}

double seconds_to_read_all(const SourceSpec& spec, int64_t* count) {
    auto source = opened(spec);
    if (!source) return -1;
    const auto start = std::chrono::steady_clock::now();
    *count = read_all(*source).count;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(FileSource, realtime_pacing_takes_about_the_clip_duration) {
    SKIP_WITHOUT_FFMPEG_CLI();
    const std::string clip = one_second_clip();
    ASSERT_FALSE(clip.empty());
    int64_t count = 0;
    const double seconds = seconds_to_read_all(file_spec(clip, /*realtime=*/true), &count);
    EXPECT_EQ(count, 30);
    // 30 frames, the first at once: 29/30 s of sleeping. Generous on a busy 2-core machine.
    EXPECT_GT(seconds, 0.85);
    EXPECT_LT(seconds, 2.5);
}

TEST(FileSource, non_realtime_reads_much_faster_than_the_clip_duration) {
    SKIP_WITHOUT_FFMPEG_CLI();
    const std::string clip = one_second_clip();
    ASSERT_FALSE(clip.empty());
    int64_t count = 0;
    const double seconds = seconds_to_read_all(file_spec(clip, /*realtime=*/false), &count);
    EXPECT_EQ(count, 30);
    EXPECT_LT(seconds, 0.5);
}

TEST(FileSource, describe_names_the_file_codec_size_rate_and_decoder) {
    SKIP_WITHOUT_FFMPEG_CLI();
    const std::string clip = testsrc_clip();
    ASSERT_FALSE(clip.empty());
    auto made = make_source(file_spec(clip));
    ASSERT_TRUE(made.is_ok());
    EXPECT_NE(made.value()->describe().find("not open"), std::string::npos);
    ASSERT_TRUE(made.value()->open().is_ok());
    EXPECT_EQ(made.value()->describe(), "file testsrc2_640x360_30fps_2s.mp4 (h264 640x360 30 fps, cpu decode)");
}

// opencv-doc ships its sample videos, sometimes gzipped; returns a readable path, or empty when absent.
std::string opencv_sample(const std::string& name, const TempDir& tmp) {
    const std::filesystem::path dir = FOVEA_OPENCV_SAMPLES;
    std::error_code ec;
    if (std::filesystem::exists(dir / name, ec)) return (dir / name).string();
    if (std::filesystem::exists(dir / (name + ".gz"), ec)) {
        const std::string out = tmp.path(name);
        if (testing::run_shell("gunzip -c '" + (dir / (name + ".gz")).string() + "' > '" + out + "'")) return out;
    }
    return {};
}

TEST(OpencvSamples, vtest_avi_street_scene_decodes_completely) {
    TempDir tmp;
    const std::string path = opencv_sample("vtest.avi", tmp);
    if (path.empty()) GTEST_SKIP() << "opencv-doc's vtest.avi is not installed";
    auto source = opened(file_spec(path));
    ASSERT_TRUE(source);
    Frame first;
    const auto r = read_all(*source);
    ASSERT_TRUE(r.error.is_ok()) << r.error.to_string();
    EXPECT_TRUE(r.ended);
    EXPECT_GT(r.count, 700);  // 795 frames in the Debian 12 package
    EXPECT_EQ(source->counters().corrupt, 0);
    EXPECT_NE(source->describe().find("768x576"), std::string::npos) << source->describe();
}

TEST(OpencvSamples, damaged_megamind_yields_frames_and_ends_without_crash_or_hang) {
    TempDir tmp;
    const std::string path = opencv_sample("Megamind_bugy.avi", tmp);
    if (path.empty()) GTEST_SKIP() << "opencv-doc's Megamind_bugy.avi is not installed";
    auto source = opened(file_spec(path));
    ASSERT_TRUE(source);
    const auto start = std::chrono::steady_clock::now();
    const auto r = read_all(*source, 100'000, true);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(seconds, 20.0);
    EXPECT_GT(r.count, 100);
    // Damage is skipped and counted, or the demuxer stops at it: either way the stream ends, it does not fail.
    EXPECT_TRUE(r.ended) << r.error.to_string();
    std::printf("Megamind_bugy.avi: %lld frames, %lld corrupt\n", static_cast<long long>(r.count),
                static_cast<long long>(source->counters().corrupt));
    for (const Frame& f : r.frames) {
        ASSERT_EQ(f.width, r.frames[0].width);
        ASSERT_EQ(f.height, r.frames[0].height);
    }
}

}  // namespace
}  // namespace fovea::media
