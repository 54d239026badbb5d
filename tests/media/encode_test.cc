// JPEG and video encoding, checked by decoding the results with the media sources.
#include <gtest/gtest.h>

#include <cstring>

#include "media/encode.h"
#include "media/source.h"
#include "media_test_util.h"

namespace fovea::media {
namespace {

using testing::TempDir;

// A smooth picture with some structure: JPEG keeps it well, so a round trip must come back close.
Frame gradient(int w, int h) {
    Frame f = make_bgr_frame(w, h);
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            f.row(y)[3 * x] = static_cast<uint8_t>(x * 255 / w);
            f.row(y)[3 * x + 1] = static_cast<uint8_t>(y * 255 / h);
            f.row(y)[3 * x + 2] = static_cast<uint8_t>(128 + ((x / 16 + y / 16) % 2) * 60);
        }
    }
    return f;
}

std::vector<Frame> read_folder(const std::string& dir) {
    SourceSpec spec;
    spec.uri = dir;
    spec.type = "images";
    spec.realtime = false;
    auto made = make_source(spec);
    EXPECT_TRUE(made.is_ok()) << made.status().to_string();
    if (!made.is_ok()) return {};
    const Status status = made.value()->open();
    EXPECT_TRUE(status.is_ok()) << status.to_string();
    if (!status.is_ok()) return {};
    return testing::read_all(*made.value(), 100, true).frames;
}

TEST(EncodeJpeg, round_trip_through_the_images_source_stays_within_jpeg_tolerance) {
    TempDir tmp;
    const Frame original = gradient(96, 64);
    auto bytes = encode_jpeg(original, 90);
    ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();
    ASSERT_GT(bytes->size(), 4u);
    EXPECT_EQ((*bytes)[0], 0xFF);  // SOI marker
    EXPECT_EQ((*bytes)[1], 0xD8);
    ASSERT_TRUE(write_jpeg(tmp.path("x.jpg"), original, 90).is_ok());
    const auto frames = read_folder(tmp.dir().string());
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].width, 96);
    EXPECT_EQ(frames[0].height, 64);
    EXPECT_LT(testing::mean_abs_diff(original, frames[0]), 4.0);
}

TEST(EncodeJpeg, lower_quality_gives_smaller_files) {
    // Fine detail (a hashed texture), where the quantizer decides the size.
    Frame original = make_bgr_frame(160, 120);
    for (int i = 0; i < 160 * 120 * 3; ++i) original.pixels[i] = static_cast<uint8_t>((i * 2654435761u) >> 24);
    auto high = encode_jpeg(original, 95);
    auto low = encode_jpeg(original, 10);
    ASSERT_TRUE(high.is_ok() && low.is_ok());
    EXPECT_LT(low->size() * 2, high->size());
}

TEST(EncodeJpeg, nv12_input_keeps_its_colour) {
    TempDir tmp;
    // BT.601 limited range Y=81, U=90, V=240 is pure red.
    constexpr int kW = 32, kH = 16;
    Frame f;
    f.width = kW;
    f.height = kH;
    f.stride = kW;
    f.format = PixelFormat::kNV12;
    f.pixels = std::shared_ptr<uint8_t[]>(new uint8_t[kW * kH * 3 / 2]);
    std::memset(f.pixels.get(), 81, kW * kH);
    for (int i = 0; i < kW * kH / 2; i += 2) {
        f.pixels[kW * kH + i] = 90;
        f.pixels[kW * kH + i + 1] = 240;
    }
    ASSERT_TRUE(write_jpeg(tmp.path("red.jpg"), f).is_ok());
    const auto frames = read_folder(tmp.dir().string());
    ASSERT_EQ(frames.size(), 1u);
    const uint8_t* px = frames[0].row(8) + 3 * 16;
    EXPECT_LT(px[0], 30);
    EXPECT_LT(px[1], 30);
    EXPECT_GT(px[2], 225);
}

TEST(EncodeJpeg, rejects_bad_quality_and_empty_frames) {
    const Frame f = gradient(16, 16);
    EXPECT_EQ(encode_jpeg(f, 0).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(encode_jpeg(f, 101).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(encode_jpeg(Frame{}, 90).status().code(), StatusCode::kInvalidArgument);
    TempDir tmp;
    const Status status = write_jpeg(tmp.path("missing_dir/x.jpg"), f);
    EXPECT_EQ(status.code(), StatusCode::kIoError);
    EXPECT_NE(status.message().find("missing_dir/x.jpg"), std::string::npos) << status.to_string();
}

Frame synthetic_frame(Source& source) {
    Frame f;
    auto got = source.read(f);
    EXPECT_TRUE(got.is_ok() && *got);
    return f;
}

class VideoWriterRoundTrip : public ::testing::TestWithParam<const char*> {};

TEST_P(VideoWriterRoundTrip, frames_written_come_back_with_matching_count_size_and_content) {
    TempDir tmp;
    const std::string path = tmp.path(std::string("out.") + GetParam());
    SourceSpec synth;
    synth.uri = "synthetic";
    synth.width = 320;
    synth.height = 240;
    synth.realtime = false;
    auto made = make_source(synth);
    ASSERT_TRUE(made.is_ok());
    ASSERT_TRUE(made.value()->open().is_ok());

    constexpr int kFrames = 12;
    auto writer = VideoWriter::open(path, 320, 240, 25, 18);
    ASSERT_TRUE(writer.is_ok()) << writer.status().to_string();
    std::vector<Frame> written;
    for (int i = 0; i < kFrames; ++i) {
        written.push_back(synthetic_frame(*made.value()));
        ASSERT_TRUE(writer.value()->write(written.back()).is_ok());
    }
    EXPECT_EQ(writer.value()->frames_written(), kFrames);
    ASSERT_TRUE(writer.value()->close().is_ok());
    EXPECT_TRUE(writer.value()->close().is_ok());  // idempotent

    auto reader = make_source(testing::file_spec(path));
    ASSERT_TRUE(reader.is_ok());
    ASSERT_TRUE(reader.value()->open().is_ok());
    EXPECT_NE(reader.value()->describe().find(writer.value()->codec_name() == "libx264" ? "h264" : "mpeg4"),
              std::string::npos)
        << reader.value()->describe();
    EXPECT_NE(reader.value()->describe().find("25 fps"), std::string::npos) << reader.value()->describe();
    const auto r = testing::read_all(*reader.value(), 100, true);
    ASSERT_TRUE(r.ended) << r.error.to_string();
    ASSERT_EQ(r.count, kFrames);
    for (int i = 0; i < kFrames; ++i) {
        EXPECT_EQ(r.frames[i].width, 320);
        EXPECT_EQ(r.frames[i].height, 240);
        EXPECT_LT(testing::mean_abs_diff(written[i], r.frames[i]), 6.0) << "frame " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(VideoWriter, VideoWriterRoundTrip, ::testing::Values("mp4", "mkv", "avi"),
                         [](const auto& info) { return std::string(info.param); });

TEST(VideoWriter, uses_libx264_when_available_and_accepts_nv12) {
    TempDir tmp;
    auto writer = VideoWriter::open(tmp.path("nv12.mp4"), 64, 48, 30, 23, "ultrafast");
    ASSERT_TRUE(writer.is_ok()) << writer.status().to_string();
    EXPECT_EQ(writer.value()->codec_name(), "libx264");  // Debian 12's libavcodec59 is built with it
    Frame f;
    f.width = 64;
    f.height = 48;
    f.stride = 64;
    f.format = PixelFormat::kNV12;
    f.pixels = std::shared_ptr<uint8_t[]>(new uint8_t[64 * 48 * 3 / 2]);
    std::memset(f.pixels.get(), 128, 64 * 48 * 3 / 2);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(writer.value()->write(f).is_ok());
    ASSERT_TRUE(writer.value()->close().is_ok());
    auto reader = make_source(testing::file_spec(tmp.path("nv12.mp4")));
    ASSERT_TRUE(reader.is_ok());
    ASSERT_TRUE(reader.value()->open().is_ok());
    EXPECT_EQ(testing::read_all(*reader.value()).count, 5);
}

TEST(VideoWriter, rejects_bad_sizes_frames_presets_and_extensions) {
    TempDir tmp;
    EXPECT_EQ(VideoWriter::open(tmp.path("odd.mp4"), 63, 48, 25).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(VideoWriter::open(tmp.path("fps.mp4"), 64, 48, 0).status().code(), StatusCode::kInvalidArgument);
    auto unknown = VideoWriter::open(tmp.path("clip.xyz"), 64, 48, 25);
    ASSERT_FALSE(unknown.is_ok());
    EXPECT_NE(unknown.status().message().find("clip.xyz"), std::string::npos) << unknown.status().to_string();
    auto preset = VideoWriter::open(tmp.path("p.mp4"), 64, 48, 25, 23, "warp-speed");
    ASSERT_FALSE(preset.is_ok());
    EXPECT_NE(preset.status().message().find("warp-speed"), std::string::npos) << preset.status().to_string();
    auto nodir = VideoWriter::open(tmp.path("no/such/dir.mp4"), 64, 48, 25);
    ASSERT_FALSE(nodir.is_ok());
    EXPECT_NE(nodir.status().message().find("no/such/dir.mp4"), std::string::npos) << nodir.status().to_string();

    auto writer = VideoWriter::open(tmp.path("ok.mp4"), 64, 48, 25);
    ASSERT_TRUE(writer.is_ok()) << writer.status().to_string();
    const Status wrong = writer.value()->write(make_bgr_frame(32, 48));
    EXPECT_EQ(wrong.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(wrong.message().find("32x48"), std::string::npos) << wrong.to_string();
    ASSERT_TRUE(writer.value()->close().is_ok());
    EXPECT_FALSE(writer.value()->write(make_bgr_frame(64, 48)).is_ok());  // after close
}

}  // namespace
}  // namespace fovea::media
