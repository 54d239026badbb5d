#include <fstream>
#include <sstream>

#include "commands.h"

#ifdef FOVEA_HAVE_CUDA
#include "backends/cuda/device_info.h"
#endif

namespace fovea::cli {

Result<std::map<std::string, Shape>> parse_shapes(const std::vector<std::string>& specs) {
    std::map<std::string, Shape> shapes;
    for (const std::string& spec : specs) {
        const size_t eq = spec.rfind('=');
        if (eq == std::string::npos || eq == 0)
            return invalid_argument("--shape '" + spec + "' must look like NAME=1,3,224,224");
        Shape shape;
        std::stringstream ss(spec.substr(eq + 1));
        std::string item;
        while (std::getline(ss, item, ',')) {
            char* end = nullptr;
            const long long d = std::strtoll(item.c_str(), &end, 10);
            if (item.empty() || *end != '\0' || d < 0)
                return invalid_argument("--shape '" + spec + "': '" + item + "' is not a dimension");
            shape.push_back(d);
        }
        shapes[spec.substr(0, eq)] = shape;
    }
    return shapes;
}

std::string build_description() {
    return std::string("fovea ") + FOVEA_VERSION + " (" + FOVEA_BUILD_TYPE + ", g++ " + __VERSION__ + ")";
}

std::string cpu_description() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) != 0) continue;
        const size_t colon = line.find(':');
        if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
    return "unknown CPU";
}

std::string gpu_description() {
#ifdef FOVEA_HAVE_CUDA
    return cuda::describe_device();
#else
    return "none (built without CUDA)";
#endif
}

}  // namespace fovea::cli
