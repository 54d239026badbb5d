// Division of 32-bit indices by a divisor fixed at launch: a multiply-high, an add and a shift instead of the
// ~20 instructions of a 32-bit division (or ~70 of a 64-bit one), which dominate index-heavy kernels such as
// transposes, resizes and pooling. Exact for dividends below 2^31 (Granlund and Montgomery's round-up method).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define FOVEA_HOST_DEVICE __host__ __device__
#else
#define FOVEA_HOST_DEVICE
#endif

namespace fovea::cuda {

struct FastDiv {
    uint32_t d = 1, m = 0, s = 0;

    FastDiv() = default;
    // s = ceil(log2 d); m = floor(2^32 * (2^s - d) / d) + 1, which fits 32 bits since 2^s - d < d.
    explicit FastDiv(uint32_t divisor) : d(divisor == 0 ? 1 : divisor) {
        while ((uint64_t{1} << s) < d) ++s;
        m = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << s) - d)) / d + 1);
    }

    // n / d for n < 2^31 (then umulhi(n, m) + n cannot overflow).
    FOVEA_HOST_DEVICE uint32_t div(uint32_t n) const {
#if defined(__CUDA_ARCH__)
        const uint32_t hi = __umulhi(n, m);
#else
        const auto hi = static_cast<uint32_t>((uint64_t{n} * m) >> 32);
#endif
        return (hi + n) >> s;
    }
    FOVEA_HOST_DEVICE uint32_t mod(uint32_t n) const {
        return n - div(n) * d;
    }
};

// Whether every index and offset of a kernel fits FastDiv's dividends.
inline bool fits_fast_div(int64_t n) {
    return n >= 0 && n < (int64_t{1} << 31);
}

}  // namespace fovea::cuda
