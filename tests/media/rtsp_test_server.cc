#include "rtsp_test_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

namespace fovea::media::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Debian's interpreter: python3-gi and the typelibs are installed for it, not for another python3 on the PATH.
constexpr const char* kPython = "/usr/bin/python3";
constexpr int kExitPortBusy = 4;  // rtsp_server.py: cannot listen

// Waits for the child's exit status up to `seconds`; -1 if it is still running.
int wait_exit(pid_t pid, double seconds) {
    const auto give_up = Clock::now() + std::chrono::duration<double>(seconds);
    for (;;) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (Clock::now() > give_up) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

}  // namespace

const std::string& rtsp_server_unavailable() {
    static const std::string why = [] {
        if (access(kPython, X_OK) != 0) return std::string(kPython) + " is missing";
        const std::string command = std::string(kPython) + " " FOVEA_RTSP_SERVER_SCRIPT " --check 2>&1";
        FILE* p = popen(command.c_str(), "r");
        if (!p) return std::string("cannot run ") + command;
        std::string out;
        char buf[512];
        while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
        const int status = pclose(p);
        if (status == 0) return std::string();
        while (!out.empty() && out.back() == '\n') out.pop_back();
        return out.empty() ? command + " failed" : out;
    }();
    return why;
}

RtspTestServer::RtspTestServer(std::string clip, std::string path, int port)
    : clip_(std::move(clip)), path_(std::move(path)), port_(port) {
    start();
}

RtspTestServer::~RtspTestServer() { kill_now(); }

std::string RtspTestServer::url_with(const std::string& userinfo, const std::string& other_path) const {
    return "rtsp://" + (userinfo.empty() ? "" : userinfo + "@") + "127.0.0.1:" + std::to_string(port_) + "/" +
           other_path;
}

bool RtspTestServer::start() {
    kill_now();
    // A port just released by a killed server can only be busy if someone else took it meanwhile: retry a while.
    const auto give_up = Clock::now() + std::chrono::seconds(20);
    for (;;) {
        bool port_busy = false;
        if (start_once(port_busy)) return true;
        if (!port_busy || Clock::now() > give_up) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

bool RtspTestServer::start_once(bool& port_busy) {
    error_.clear();
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        error_ = "pipe failed";
        return false;
    }
    const std::string port = std::to_string(port_);
    const pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives a crashed or killed test
        const int devnull = ::open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(fds[1], 1);  // READY line; stderr stays the test's, for GStreamer's complaints
        execl(kPython, kPython, FOVEA_RTSP_SERVER_SCRIPT, clip_.c_str(), "--port", port.c_str(), "--path",
              path_.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    ::close(fds[1]);
    if (pid < 0) {
        ::close(fds[0]);
        error_ = "fork failed";
        return false;
    }
    // The line "READY rtsp://127.0.0.1:PORT/PATH" once it listens; a loaded machine may take a while to import gi.
    std::string line;
    const auto give_up = Clock::now() + std::chrono::seconds(60);
    while (line.find('\n') == std::string::npos && Clock::now() < give_up) {
        pollfd p{fds[0], POLLIN, 0};
        if (poll(&p, 1, 200) <= 0) continue;
        char buf[256];
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) break;  // exited before saying it is ready
        line.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    int bound = 0;
    if (std::sscanf(line.c_str(), "READY rtsp://127.0.0.1:%d/", &bound) != 1 || bound <= 0) {
        ::kill(pid, SIGKILL);
        const int status = wait_exit(pid, 10);
        port_busy = status == kExitPortBusy;
        error_ = "rtsp_server.py did not become ready (exit status " + std::to_string(status) + ", said '" + line + "')";
        return false;
    }
    pid_ = pid;
    port_ = bound;
    url_ = url_with("", path_);
    return true;
}

void RtspTestServer::kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

void RtspTestServer::freeze() const {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

bool RtspTestServer::terminate() {
    if (pid_ <= 0) return false;
    ::kill(pid_, SIGTERM);
    const int status = wait_exit(pid_, 20);
    if (status < 0) {
        kill_now();
        return false;
    }
    pid_ = -1;
    return status == 0;
}

}  // namespace fovea::media::testing
