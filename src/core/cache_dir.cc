#include "core/cache_dir.h"

#include <cstdlib>

namespace fovea {

std::filesystem::path cache_dir() {
    if (const char* d = std::getenv("FOVEA_CACHE_DIR"); d && *d) return d;
    if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::filesystem::path(d) / "fovea";
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home && *home ? home : "/tmp") / ".cache" / "fovea";
}

}  // namespace fovea
