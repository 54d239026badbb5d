// A real RTSP server for the tests: tests/media/rtsp_server.py (GStreamer's RTSP server library) as a child process
// on loopback, serving one H.264 clip over RTP/UDP and RTP-over-TCP.
#pragma once

#include <sys/types.h>

#include <string>

namespace fovea::media::testing {

// Empty when the server can run on this machine; otherwise why not (Debian's python3 without python3-gi, the
// GstRtspServer typelib or a GStreamer plugin), for GTEST_SKIP. Asked once per process.
const std::string& rtsp_server_unavailable();

class RtspTestServer {
  public:
    // Serves `clip` at rtsp://127.0.0.1:PORT/PATH, each session from the clip's start, once; port 0: a free port the
    // server binds itself (no window in which another process could take it). Starts it and waits until it listens.
    explicit RtspTestServer(std::string clip, std::string path = "live", int port = 0);
    ~RtspTestServer();  // kills it
    RtspTestServer(const RtspTestServer&) = delete;
    RtspTestServer& operator=(const RtspTestServer&) = delete;

    bool running() const { return pid_ > 0; }
    const std::string& error() const { return error_; }  // why the last start failed
    int port() const { return port_; }
    const std::string& url() const { return url_; }  // rtsp://127.0.0.1:PORT/PATH
    // rtsp://USERINFO@127.0.0.1:PORT/other_path
    std::string url_with(const std::string& userinfo, const std::string& other_path) const;

    // (Re)starts on the same port as before (the chosen one after a start on port 0); retries while the port is
    // still held for up to 20 s; waits up to 60 s for it to listen. false, with error(), when it did not come up.
    bool start();
    // SIGKILL: the server vanishes mid-stream like a crashed camera, its connections reset by the kernel.
    void kill_now();
    // SIGSTOP: the server freezes, its connections open but silent (a hung camera). kill_now still ends it.
    void freeze() const;
    // SIGTERM and wait: true when it exited cleanly (status 0).
    bool terminate();

  private:
    bool start_once(bool& port_busy);

    std::string clip_, path_;
    int port_ = 0;
    std::string url_;
    std::string error_;
    pid_t pid_ = -1;
};

}  // namespace fovea::media::testing

#define SKIP_WITHOUT_RTSP_SERVER()                                                          \
    if (const std::string& why = ::fovea::media::testing::rtsp_server_unavailable(); !why.empty()) \
    GTEST_SKIP() << "no RTSP test server here: " << why
