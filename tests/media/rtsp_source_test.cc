// RTSP sources against a real RTSP server on loopback: GStreamer's (tests/media/rtsp_server.py) serving an H.264 clip
// made by the ffmpeg CLI, over RTP-over-TCP and RTP/UDP.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "media/source.h"
#include "media_test_util.h"
#include "rtsp_test_server.h"

namespace fovea::media {
namespace {

using Seconds = std::chrono::duration<double>;
using testing::RtspTestServer;

constexpr int kWidth = 320, kHeight = 240, kFps = 25;

// 320x240 at 25 fps, 4 s, H.264 without B-frames, a keyframe every second.
std::string rtsp_clip() {
    return testing::cached_clip("rtsp_testsrc2_320x240_25fps_4s.mp4",
                                "-f lavfi -i testsrc2=size=320x240:rate=25 -t 4 -c:v libx264 -preset ultrafast "
                                "-g 25 -bf 0 -pix_fmt yuv420p");
}

SourceSpec rtsp_spec(const std::string& url, const std::string& transport, int timeout_ms) {
    SourceSpec spec;
    spec.name = "cam-rtsp";
    spec.uri = url;
    spec.transport = transport;
    spec.timeout_ms = timeout_ms;
    spec.hw_decode = "none";
    return spec;
}

double since(std::chrono::steady_clock::time_point start) {
    return Seconds(std::chrono::steady_clock::now() - start).count();
}

#define START_RTSP_SERVER(server, ...)                                     \
    SKIP_WITHOUT_FFMPEG_CLI();                                             \
    SKIP_WITHOUT_RTSP_SERVER();                                            \
    const std::string clip = rtsp_clip();                                  \
    ASSERT_FALSE(clip.empty()) << "ffmpeg could not make the test clip";   \
    RtspTestServer server(clip, __VA_ARGS__);                              \
    ASSERT_TRUE(server.running()) << server.error()

// N frames of the clip's size with strictly increasing pts about one frame period apart.
void expect_frames_of_the_clip(const std::string& transport) {
    START_RTSP_SERVER(server, "live");
    auto made = make_source(rtsp_spec(server.url(), transport, 10'000));
    ASSERT_TRUE(made.is_ok()) << made.status().to_string();
    Source& source = **made;
    const auto start = std::chrono::steady_clock::now();
    const Status opened = source.open();
    ASSERT_TRUE(opened.is_ok()) << opened.to_string();
    const double open_s = since(start);
    EXPECT_NE(source.describe().find("rtsp " + server.url() + " (h264 320x240"), std::string::npos)
        << source.describe();

    constexpr int kFrames = 50;  // 2 s of the 4 s clip
    const auto r = testing::read_all(source, kFrames, true);
    ASSERT_TRUE(r.error.is_ok()) << r.error.to_string();
    ASSERT_EQ(r.count, kFrames);
    constexpr int64_t kPeriodUs = 1'000'000 / kFps;
    for (int i = 0; i < kFrames; ++i) {
        const Frame& f = r.frames[i];
        ASSERT_EQ(f.width, kWidth);
        ASSERT_EQ(f.height, kHeight);
        EXPECT_EQ(f.format, PixelFormat::kBGR24);
        EXPECT_EQ(f.index, i);
        EXPECT_GE(f.pts_us, 0) << "frame " << i;
        if (i > 0) {
            const int64_t step = f.pts_us - r.frames[i - 1].pts_us;
            EXPECT_GT(step, 0) << "frame " << i << ": pts " << r.frames[i - 1].pts_us << " then " << f.pts_us;
            // UDP may lose a packet on a loaded machine (its frame is skipped): allow a gap of a few frames.
            EXPECT_LE(step, (transport == "udp" ? 4 : 1) * kPeriodUs + 1000) << "frame " << i;
        }
    }
    std::printf("rtsp over %s: opened in %.2f s, %d frames in %.2f s, pts %lld..%lld us, %lld corrupt\n",
                transport.c_str(), open_s, kFrames, since(start), static_cast<long long>(r.frames.front().pts_us),
                static_cast<long long>(r.frames.back().pts_us), static_cast<long long>(source.counters().corrupt));
    source.close();
}

TEST(RtspSource, tcp_reads_frames_of_the_clip_with_increasing_pts) { expect_frames_of_the_clip("tcp"); }

TEST(RtspSource, udp_reads_frames_of_the_clip_with_increasing_pts) { expect_frames_of_the_clip("udp"); }

// A source on `url`, opened, with its first 10 frames read: a stream that runs, before the server misbehaves.
void open_and_read_10(const std::string& url, const std::string& transport, int timeout_ms,
                      std::unique_ptr<Source>& out) {
    auto made = make_source(rtsp_spec(url, transport, timeout_ms));
    ASSERT_TRUE(made.is_ok()) << made.status().to_string();
    out = std::move(*made);
    const Status opened = out->open();
    ASSERT_TRUE(opened.is_ok()) << opened.to_string();
    ASSERT_EQ(testing::read_all(*out, 10).count, 10);
}

// The server dies mid-stream: what was buffered may still come out, then an error naming the URL, within the timeout.
void expect_error_when_the_server_dies(const std::string& transport) {
    START_RTSP_SERVER(server, "live");
    constexpr int kTimeoutMs = 3000;
    std::unique_ptr<Source> opened;
    ASSERT_NO_FATAL_FAILURE(open_and_read_10(server.url(), transport, kTimeoutMs, opened));
    Source& source = *opened;

    server.kill_now();
    const auto start = std::chrono::steady_clock::now();
    Result<bool> got(true);
    int after = 0;
    for (; after < 1000; ++after) {
        Frame f;
        got = source.read(f);
        if (!got.is_ok() || !*got) break;
    }
    const double seconds = since(start);
    ASSERT_FALSE(got.is_ok()) << "a vanished RTSP server must be an error, not a clean end (" << after << " frames)";
    EXPECT_EQ(got.status().code(), StatusCode::kIoError) << got.status().to_string();
    // The deadline plus generous slack for a loaded machine: the point is that it does not hang.
    EXPECT_LT(seconds, kTimeoutMs / 1000.0 + 3.0) << got.status().to_string();
    EXPECT_NE(got.status().message().find(server.url()), std::string::npos) << got.status().to_string();
    std::printf("rtsp over %s, server killed: %d buffered frames, then after %.2f s: %s\n", transport.c_str(), after,
                seconds, got.status().to_string().c_str());
}

TEST(RtspSource, tcp_source_reports_an_error_soon_after_the_server_dies) { expect_error_when_the_server_dies("tcp"); }

TEST(RtspSource, udp_source_reports_an_error_soon_after_the_server_dies) { expect_error_when_the_server_dies("udp"); }

// The server hangs (stopped, its sockets open but silent): the source fails after its timeout instead of waiting.
void expect_timeout_when_the_server_stalls(const std::string& transport) {
    START_RTSP_SERVER(server, "live");
    constexpr int kTimeoutMs = 2000;
    std::unique_ptr<Source> opened;
    ASSERT_NO_FATAL_FAILURE(open_and_read_10(server.url(), transport, kTimeoutMs, opened));
    Source& source = *opened;

    server.freeze();
    const auto frozen = std::chrono::steady_clock::now();
    auto last_frame = frozen;
    Result<bool> got(true);
    int after = 0;
    for (; after < 1000; ++after) {
        Frame f;
        got = source.read(f);
        if (!got.is_ok() || !*got) break;
        last_frame = std::chrono::steady_clock::now();
    }
    const double silent_s = since(frozen);
    ASSERT_FALSE(got.is_ok()) << "a stalled RTSP stream must fail, not end (" << after << " frames)";
    const Status& error = got.status();
    EXPECT_EQ(error.code(), StatusCode::kIoError) << error.to_string();
    EXPECT_NE(error.message().find(server.url()), std::string::npos) << error.to_string();
    // From the freeze, as what was already sent comes out at once (the demuxer's parser holds the last frame until
    // the read fails, and the source then fails at once instead of waiting a second timeout); slack for a loaded
    // machine.
    EXPECT_GT(silent_s, kTimeoutMs / 1000.0 * 0.8) << error.to_string();
    EXPECT_LT(silent_s, kTimeoutMs / 1000.0 + 3.0) << error.to_string();
    std::printf("rtsp over %s, server frozen: %d buffered frames (the last after %.2f s), error after %.2f s: %s\n",
                transport.c_str(), after, Seconds(last_frame - frozen).count(), silent_s, error.to_string().c_str());
}

TEST(RtspSource, tcp_source_times_out_when_the_server_stalls) { expect_timeout_when_the_server_stalls("tcp"); }

TEST(RtspSource, udp_source_times_out_when_the_server_stalls) { expect_timeout_when_the_server_stalls("udp"); }

TEST(RtspSource, wrong_path_on_a_live_server_names_the_url_without_the_password) {
    START_RTSP_SERVER(server, "live");
    const std::string url = server.url_with("admin:s3cret", "no/such/stream");
    const std::string shown = server.url_with("admin:***", "no/such/stream");
    auto made = make_source(rtsp_spec(url, "tcp", 10'000));
    ASSERT_TRUE(made.is_ok()) << made.status().to_string();
    const auto start = std::chrono::steady_clock::now();
    const Status status = (*made)->open();
    const double seconds = since(start);
    ASSERT_FALSE(status.is_ok());
    EXPECT_LT(seconds, 5.0) << "the server answers at once; no timeout should be involved";
    EXPECT_EQ(status.code(), StatusCode::kNotFound) << status.to_string();
    EXPECT_NE(status.message().find(shown), std::string::npos) << status.to_string();
    EXPECT_NE(status.message().find("cam-rtsp"), std::string::npos) << status.to_string();
    EXPECT_NE(status.message().find("404"), std::string::npos) << status.to_string();
    EXPECT_EQ(status.message().find("s3cret"), std::string::npos) << status.to_string();
    EXPECT_EQ((*made)->describe().find("s3cret"), std::string::npos) << (*made)->describe();
    std::printf("wrong path: %s (%.2f s)\n", status.to_string().c_str(), seconds);

    // The right path on the same server still works: the server is not what failed.
    auto right = make_source(rtsp_spec(server.url(), "tcp", 10'000));
    ASSERT_TRUE(right.is_ok());
    ASSERT_TRUE((*right)->open().is_ok());
    EXPECT_EQ(testing::read_all(**right, 5).count, 5);
}

TEST(RtspSource, test_server_stops_cleanly_on_sigterm) {
    START_RTSP_SERVER(server, "live");
    EXPECT_TRUE(server.terminate());
}

}  // namespace
}  // namespace fovea::media
