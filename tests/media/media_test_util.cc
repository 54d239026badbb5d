#include "media_test_util.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

extern "C" {
#include <libavutil/log.h>
}

namespace fovea::media::testing {
namespace {

// Decoder complaints about the deliberately damaged inputs would drown the test output.
class QuietFfmpeg : public ::testing::Environment {
  public:
    void SetUp() override { av_log_set_level(AV_LOG_FATAL); }
};
[[maybe_unused]] const auto* const kQuietFfmpeg = ::testing::AddGlobalTestEnvironment(new QuietFfmpeg);

}  // namespace

TempDir::TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fovea_media_XXXXXX").string();
    if (!mkdtemp(pattern.data())) ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    dir_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

bool run_shell(const std::string& command) {
    return std::system(command.c_str()) == 0;
}

bool have_ffmpeg_cli() {
    static const bool have = run_shell("ffmpeg -hide_banner -version >/dev/null 2>&1");
    return have;
}

std::string cached_clip(const std::string& file_name, const std::string& ffmpeg_args) {
    const std::filesystem::path dir = FOVEA_MEDIA_TEST_TMP;
    const std::filesystem::path final_path = dir / file_name;
    std::error_code ec;
    if (std::filesystem::exists(final_path, ec)) return final_path.string();
    std::filesystem::create_directories(dir, ec);
    const std::filesystem::path tmp = dir / ("tmp" + std::to_string(getpid()) + "_" + file_name);
    if (!run_shell("ffmpeg -nostdin -hide_banner -v error -y " + ffmpeg_args + " '" + tmp.string() + "'")) return {};
    std::filesystem::rename(tmp, final_path, ec);
    if (ec) return {};
    return final_path.string();
}

std::string testsrc_clip() {
    return cached_clip("testsrc2_640x360_30fps_2s.mp4",
                       "-f lavfi -i testsrc2=size=640x360:rate=30 -t 2 -c:v libx264 -preset ultrafast "
                       "-pix_fmt yuv420p");
}

SourceSpec file_spec(const std::string& path, bool realtime) {
    SourceSpec spec;
    spec.name = "test";
    spec.uri = path;
    spec.realtime = realtime;
    spec.hw_decode = "none";
    return spec;
}

ReadAll read_all(Source& source, int64_t max_frames, bool keep) {
    ReadAll r;
    while (r.count < max_frames) {
        Frame f;
        Result<bool> got = source.read(f);
        if (!got.is_ok()) {
            r.error = got.status();
            break;
        }
        if (!*got) {
            r.ended = true;
            break;
        }
        ++r.count;
        if (keep) r.frames.push_back(f);
    }
    return r;
}

double mean_abs_diff(const Frame& a, const Frame& b) {
    if (a.width != b.width || a.height != b.height) return 1e9;
    double sum = 0;
    for (int y = 0; y < a.height; ++y) {
        const uint8_t* ra = a.row(y);
        const uint8_t* rb = b.row(y);
        for (int x = 0; x < a.width * 3; ++x) sum += std::abs(static_cast<int>(ra[x]) - static_cast<int>(rb[x]));
    }
    return sum / (static_cast<double>(a.width) * a.height * 3);
}

}  // namespace fovea::media::testing
