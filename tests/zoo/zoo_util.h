// What the zoo tests share: where the zoo cache is, how its .npy files are named, and the error measure.
#pragma once

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "fovea/tensor.h"

namespace fovea::zoo {

// $FOVEA_ZOO_DIR, else the cache scripts/make-zoo.sh fills (FOVEA_ZOO_DEFAULT_DIR, set by CMake).
inline std::filesystem::path zoo_dir() {
    const char* env = std::getenv("FOVEA_ZOO_DIR");
    return env && *env ? std::filesystem::path(env) : std::filesystem::path(FOVEA_ZOO_DEFAULT_DIR);
}

// The file name tools/zoo/ort_run.mjs gives a tensor: characters outside [A-Za-z0-9._-] become '_'.
inline std::string file_name_for(const std::string& tensor_name) {
    std::string out = tensor_name;
    for (char& c : out) {
        const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                          c == '_' || c == '-';
        if (!keep) c = '_';
    }
    return out + ".npy";
}

// ||actual - expected|| / ||expected||, accumulated in double; a NaN anywhere makes it NaN (and the check fail).
// An all-zero expected tensor has no scale, so the absolute norm of the difference stands in.
inline double relative_l2(const Tensor& actual, const Tensor& expected) {
    double diff = 0, ref = 0;
    const int64_t n = expected.numel();
    if (actual.dtype() == DType::kFloat32) {
        const float* a = actual.data<float>();
        const float* e = expected.data<float>();
        for (int64_t i = 0; i < n; ++i) {
            const double d = static_cast<double>(a[i]) - static_cast<double>(e[i]);
            diff += d * d;
            ref += static_cast<double>(e[i]) * static_cast<double>(e[i]);
        }
    } else {
        for (int64_t i = 0; i < n; ++i) {
            const double a = actual.element_as_double(i), e = expected.element_as_double(i);
            diff += (a - e) * (a - e);
            ref += e * e;
        }
    }
    return ref > 0 ? std::sqrt(diff / ref) : std::sqrt(diff);
}

}  // namespace fovea::zoo
