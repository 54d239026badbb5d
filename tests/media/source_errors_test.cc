// Sources that cannot work say so clearly: bad specs at make_source, missing or unreadable inputs at open.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

extern "C" {
#include <libavutil/hwcontext.h>
}

#include "media/source.h"
#include "media_test_util.h"

namespace fovea::media {
namespace {

using testing::TempDir;

Status open_status(const SourceSpec& spec) {
    auto made = make_source(spec);
    if (!made.is_ok()) return made.status();
    return made.value()->open();
}

void expect_names(const Status& status, const std::string& what) {
    EXPECT_FALSE(status.is_ok());
    EXPECT_NE(status.message().find(what), std::string::npos) << status.to_string();
}

TEST(SourceErrors, missing_file_is_not_found_and_named) {
    TempDir tmp;
    const std::string path = tmp.path("no_such_clip.mp4");
    const Status status = open_status(testing::file_spec(path));
    EXPECT_EQ(status.code(), StatusCode::kNotFound) << status.to_string();
    expect_names(status, path);
    expect_names(status, "No such file");
}

TEST(SourceErrors, directory_without_images_is_not_found_and_named) {
    TempDir tmp;
    std::ofstream(tmp.path("readme.txt")) << "not a picture\n";
    SourceSpec spec = testing::file_spec(tmp.dir().string());
    const Status status = open_status(spec);
    EXPECT_EQ(status.code(), StatusCode::kNotFound) << status.to_string();
    expect_names(status, tmp.dir().string());
    expect_names(status, "no .jpg");
}

TEST(SourceErrors, missing_image_directory_is_not_found) {
    TempDir tmp;
    SourceSpec spec = testing::file_spec(tmp.path("gone"));
    spec.type = "images";
    const Status status = open_status(spec);
    EXPECT_EQ(status.code(), StatusCode::kNotFound) << status.to_string();
    expect_names(status, tmp.path("gone"));
}

TEST(SourceErrors, text_file_posing_as_video_is_invalid_and_named) {
    TempDir tmp;
    const std::string path = tmp.path("notes.mp4");
    {
        std::ofstream out(path);
        for (int i = 0; i < 200; ++i) out << "this is a text file, not a video " << i << "\n";
    }
    const Status status = open_status(testing::file_spec(path));
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
    expect_names(status, path);
    expect_names(status, "Invalid data");
}

TEST(SourceErrors, audio_only_file_has_no_video_stream) {
    SKIP_WITHOUT_FFMPEG_CLI();
    const std::string path = testing::cached_clip("sine.wav", "-f lavfi -i sine=frequency=440:duration=0.2");
    ASSERT_FALSE(path.empty());
    const Status status = open_status(testing::file_spec(path));
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
    expect_names(status, path);
    expect_names(status, "no video stream");
}

TEST(SourceErrors, missing_v4l2_device_is_not_found_and_named) {
    SourceSpec spec;
    spec.name = "usbcam";
    spec.uri = "/dev/video99";
    auto type = resolve_source_type(spec);
    ASSERT_TRUE(type.is_ok());
    EXPECT_EQ(type.value(), "v4l2");
    const Status status = open_status(spec);
    EXPECT_EQ(status.code(), StatusCode::kNotFound) << status.to_string();
    expect_names(status, "/dev/video99");
    expect_names(status, "usbcam");
}

TEST(SourceErrors, make_source_rejects_unknown_types_and_bad_values) {
    const auto rejected = [](SourceSpec spec, const std::string& words) {
        auto made = make_source(spec);
        EXPECT_FALSE(made.is_ok()) << "accepted: " << words;
        if (made.is_ok()) return;
        EXPECT_EQ(made.status().code(), StatusCode::kInvalidArgument);
        EXPECT_NE(made.status().message().find(words), std::string::npos) << made.status().to_string();
    };
    SourceSpec base;
    base.name = "cam1";
    base.uri = "clip.mp4";
    ASSERT_TRUE(make_source(base).is_ok());  // the base itself is fine; each case breaks one thing

    SourceSpec s = base;
    s.type = "webcam";
    rejected(s, "unknown source type 'webcam'");
    s = base;
    s.uri = "";
    rejected(s, "empty uri");
    s = base;
    s.fps = -1;
    rejected(s, "fps");
    s = base;
    s.fps = std::nan("");
    rejected(s, "fps");
    s = base;
    s.width = -640;
    s.height = 480;
    rejected(s, "width and height");
    s = base;
    s.width = 640;
    rejected(s, "both width and height");
    s = base;
    s.transport = "sctp";
    rejected(s, "transport");
    s = base;
    s.timeout_ms = 0;
    rejected(s, "timeout_ms");
    s = base;
    s.hw_decode = "vaapi";
    rejected(s, "hw_decode");
    s = base;
    s.type = "rtsp";  // a path is not an rtsp URL
    rejected(s, "does not fit source type 'rtsp'");
    s = base;
    s.uri = "srt://10.0.0.1:9000";
    rejected(s, "unknown uri scheme");
    // Messages name the source.
    s = base;
    s.fps = -1;
    rejected(s, "cam1");
}

TEST(SourceErrors, source_type_is_inferred_from_the_uri) {
    TempDir tmp;
    const auto type_of = [](const std::string& uri) {
        SourceSpec spec;
        spec.uri = uri;
        auto type = resolve_source_type(spec);
        return type.is_ok() ? type.value() : "error: " + type.status().message();
    };
    EXPECT_EQ(type_of("clip.mp4"), "file");
    EXPECT_EQ(type_of("rtsp://10.0.0.2:554/stream1"), "rtsp");
    EXPECT_EQ(type_of("RTSP://10.0.0.2/x"), "rtsp");
    EXPECT_EQ(type_of("rtmp://example.com/live/key"), "rtmp");
    EXPECT_EQ(type_of("https://example.com/cam.m3u8"), "http");
    EXPECT_EQ(type_of("/dev/video0"), "v4l2");
    EXPECT_EQ(type_of(tmp.dir().string()), "images");
    EXPECT_EQ(type_of("synthetic"), "synthetic");
}

bool cuda_device_usable() {
    AVBufferRef* device = nullptr;
    if (av_hwdevice_ctx_create(&device, AV_HWDEVICE_TYPE_CUDA, nullptr, nullptr, 0) < 0) return false;
    av_buffer_unref(&device);
    return true;
}

TEST(HwDecode, cuda_required_without_a_gpu_is_a_clear_error) {
    SKIP_WITHOUT_FFMPEG_CLI();
    if (cuda_device_usable()) GTEST_SKIP() << "this machine has a usable CUDA device";
    const std::string clip = testing::testsrc_clip();
    ASSERT_FALSE(clip.empty());
    SourceSpec spec = testing::file_spec(clip);
    spec.hw_decode = "cuda";
    const Status status = open_status(spec);
    EXPECT_EQ(status.code(), StatusCode::kUnsupported) << status.to_string();
    expect_names(status, "hw_decode=cuda");
    expect_names(status, clip);
}

TEST(HwDecode, auto_without_a_gpu_falls_back_to_cpu_decode_and_says_so) {
    SKIP_WITHOUT_FFMPEG_CLI();
    if (cuda_device_usable()) GTEST_SKIP() << "this machine has a usable CUDA device";
    const std::string clip = testing::testsrc_clip();
    ASSERT_FALSE(clip.empty());
    SourceSpec spec = testing::file_spec(clip);
    spec.hw_decode = "auto";
    auto made = make_source(spec);
    ASSERT_TRUE(made.is_ok());
    Source& source = *made.value();
    ASSERT_TRUE(source.open().is_ok());
    EXPECT_NE(source.describe().find("cpu decode; cuda unavailable"), std::string::npos) << source.describe();
    const auto r = testing::read_all(source, 1000, true);
    EXPECT_EQ(r.count, 60) << r.error.to_string();
    ASSERT_FALSE(r.frames.empty());
    EXPECT_EQ(r.frames[0].format, PixelFormat::kBGR24);
}

}  // namespace
}  // namespace fovea::media
