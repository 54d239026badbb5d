// Helpers for the media tests: temporary folders, clips made once by the ffmpeg CLI, reading loops.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "media/frame.h"
#include "media/source.h"

namespace fovea::media::testing {

// A fresh directory under /tmp, removed with everything in it when the object dies.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string path(const std::string& name) const { return (dir_ / name).string(); }
    const std::filesystem::path& dir() const { return dir_; }

  private:
    std::filesystem::path dir_;
};

bool have_ffmpeg_cli();

// Runs a shell command; true when it exited with 0.
bool run_shell(const std::string& command);

// A clip made once per build tree by `ffmpeg -v error -y <args> <file>`, shared by tests (and by parallel ctest
// processes: it is written under a temporary name and renamed into place). Empty when ffmpeg failed.
std::string cached_clip(const std::string& file_name, const std::string& ffmpeg_args);

// The standard test clip: testsrc2, 640x360, 30 fps, 2 s (60 frames), H.264 in MP4.
std::string testsrc_clip();

SourceSpec file_spec(const std::string& path, bool realtime = false);

struct ReadAll {
    std::vector<Frame> frames;  // kept only when asked
    int64_t count = 0;
    bool ended = false;  // read returned false
    Status error;        // read returned an error
};
// Reads until the end, an error, or `max_frames`.
ReadAll read_all(Source& source, int64_t max_frames = 1'000'000, bool keep = false);

// Mean absolute difference of two BGR24 frames of the same size.
double mean_abs_diff(const Frame& a, const Frame& b);

}  // namespace fovea::media::testing

#define SKIP_WITHOUT_FFMPEG_CLI() \
    if (!::fovea::media::testing::have_ffmpeg_cli()) GTEST_SKIP() << "the ffmpeg CLI is not installed"
