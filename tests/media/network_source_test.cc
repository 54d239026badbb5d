// Network sources against a real server on loopback: the ffmpeg CLI serving MPEG-TS over HTTP.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "media/source.h"
#include "media_test_util.h"

namespace fovea::media {
namespace {

using Seconds = std::chrono::duration<double>;

// A loopback port nobody listens on right now.
int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(fd);
        return -1;
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

// `ffmpeg -re ... -f mpegts -listen 1 http://127.0.0.1:PORT/s.ts` as a child process; killed when destroyed.
class HttpStreamServer {
  public:
    explicit HttpStreamServer(int port) : url_("http://127.0.0.1:" + std::to_string(port) + "/s.ts") {
        pid_ = fork();
        if (pid_ == 0) {
            const int devnull = ::open("/dev/null", O_RDWR);
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
            // -g 5: frequent keyframes, so a client finds its stream parameters at once. -t bounds a leaked server.
            execlp("ffmpeg", "ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i",
                   "testsrc2=size=320x240:rate=25", "-t", "60", "-c:v", "mpeg2video", "-g", "5", "-f", "mpegts",
                   "-listen", "1", url_.c_str(), static_cast<char*>(nullptr));
            _exit(127);
        }
    }
    ~HttpStreamServer() { kill_now(); }
    HttpStreamServer(const HttpStreamServer&) = delete;
    HttpStreamServer& operator=(const HttpStreamServer&) = delete;

    const std::string& url() const { return url_; }
    bool running() const { return pid_ > 0; }
    void stop() const { ::kill(pid_, SIGSTOP); }
    void kill_now() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

  private:
    std::string url_;
    pid_t pid_ = -1;
};

// Opens `url`, retrying while the server is still starting (connection refused) for up to 10 s.
std::unique_ptr<Source> open_when_ready(const SourceSpec& spec) {
    auto made = make_source(spec);
    EXPECT_TRUE(made.is_ok()) << made.status().to_string();
    if (!made.is_ok()) return nullptr;
    std::unique_ptr<Source> source = std::move(made).value();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    Status status;
    do {
        status = source->open();
        if (status.is_ok()) return source;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (std::chrono::steady_clock::now() < give_up);
    ADD_FAILURE() << "could not connect: " << status.to_string();
    return nullptr;
}

SourceSpec http_spec(const std::string& url, int timeout_ms) {
    SourceSpec spec;
    spec.name = "cam-http";
    spec.uri = url;
    spec.timeout_ms = timeout_ms;
    spec.hw_decode = "none";
    return spec;
}

// Reads until something other than a frame comes back; returns it and how long that took.
std::pair<Result<bool>, double> read_until_not_a_frame(Source& source, int max_frames) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < max_frames; ++i) {
        Frame f;
        Result<bool> got = source.read(f);
        if (!got.is_ok() || !*got) return {std::move(got), Seconds(std::chrono::steady_clock::now() - start).count()};
    }
    return {Result<bool>(true), Seconds(std::chrono::steady_clock::now() - start).count()};
}

TEST(NetworkSource, http_stream_delivers_frames_then_errors_soon_after_the_server_dies) {
    SKIP_WITHOUT_FFMPEG_CLI();
    const int port = free_port();
    ASSERT_GT(port, 0);
    HttpStreamServer server(port);
    ASSERT_TRUE(server.running());
    constexpr int kTimeoutMs = 2000;
    auto source = open_when_ready(http_spec(server.url(), kTimeoutMs));
    ASSERT_TRUE(source);
    EXPECT_NE(source->describe().find("mpeg2video 320x240"), std::string::npos) << source->describe();

    const auto r = testing::read_all(*source, 10, true);
    ASSERT_TRUE(r.error.is_ok()) << r.error.to_string();
    ASSERT_EQ(r.count, 10);
    EXPECT_EQ(r.frames[9].index, 9);
    EXPECT_EQ(r.frames[9].width, 320);

    server.kill_now();
    // What was already buffered may still come out; then the broken connection must be an error, promptly.
    auto [last, seconds] = read_until_not_a_frame(*source, 1000);
    EXPECT_FALSE(last.is_ok()) << "a dead live stream must be an error, not a clean end";
    EXPECT_LT(seconds, kTimeoutMs / 1000.0 + 1.5);
    EXPECT_NE(last.status().message().find(server.url()), std::string::npos) << last.status().to_string();
    std::printf("after the server died: %s (%.2f s)\n", last.status().to_string().c_str(), seconds);
}

TEST(NetworkSource, http_stream_that_stalls_fails_after_the_timeout) {
    SKIP_WITHOUT_FFMPEG_CLI();
    const int port = free_port();
    ASSERT_GT(port, 0);
    HttpStreamServer server(port);
    constexpr int kTimeoutMs = 1500;
    auto source = open_when_ready(http_spec(server.url(), kTimeoutMs));
    ASSERT_TRUE(source);
    ASSERT_EQ(testing::read_all(*source, 5).count, 5);

    server.stop();  // the connection stays open but no byte arrives any more
    auto [last, seconds] = read_until_not_a_frame(*source, 1000);
    ASSERT_FALSE(last.is_ok()) << "a stalled stream must fail, not end";
    EXPECT_EQ(last.status().code(), StatusCode::kIoError);
    EXPECT_NE(last.status().message().find("timeout"), std::string::npos) << last.status().to_string();
    EXPECT_NE(last.status().message().find("cam-http"), std::string::npos) << last.status().to_string();
    EXPECT_GT(seconds, kTimeoutMs / 1000.0 * 0.8);
    EXPECT_LT(seconds, kTimeoutMs / 1000.0 + 2.0);
}

// Nothing listens: refused at once. (A real RTSP server, GStreamer's, is in rtsp_source_test.cc.)
TEST(NetworkSource, rtsp_to_a_closed_port_fails_fast_naming_the_url) {
    const int port = free_port();
    ASSERT_GT(port, 0);
    SourceSpec spec;
    spec.name = "cam-rtsp";
    spec.uri = "rtsp://127.0.0.1:" + std::to_string(port) + "/live";
    spec.timeout_ms = 3000;
    auto made = make_source(spec);
    ASSERT_TRUE(made.is_ok()) << made.status().to_string();
    const auto start = std::chrono::steady_clock::now();
    const Status status = made.value()->open();
    const double seconds = Seconds(std::chrono::steady_clock::now() - start).count();
    ASSERT_FALSE(status.is_ok());
    EXPECT_LT(seconds, 1.0);
    EXPECT_NE(status.message().find(spec.uri), std::string::npos) << status.to_string();
    EXPECT_NE(status.message().find("cam-rtsp"), std::string::npos) << status.to_string();
    EXPECT_NE(status.message().find("refused"), std::string::npos) << status.to_string();
}

TEST(NetworkSource, messages_hide_the_password_of_a_url) {
    const int port = free_port();
    ASSERT_GT(port, 0);
    SourceSpec spec;
    spec.uri = "rtsp://admin:s3cret@127.0.0.1:" + std::to_string(port) + "/live";
    spec.timeout_ms = 1000;
    auto made = make_source(spec);
    ASSERT_TRUE(made.is_ok());
    const Status status = made.value()->open();
    ASSERT_FALSE(status.is_ok());
    EXPECT_EQ(status.message().find("s3cret"), std::string::npos) << status.message();
    EXPECT_NE(status.message().find("admin:***@127.0.0.1"), std::string::npos) << status.message();
    EXPECT_EQ(made.value()->describe().find("s3cret"), std::string::npos);
}

}  // namespace
}  // namespace fovea::media
