// FastDiv against plain division: the host path computes the same multiply-high as the device's __umulhi, so this
// runs on any machine.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>

#include "backends/cuda/kernels/fast_div.h"

namespace fovea::cuda {
namespace {

TEST(FastDiv, matches_division_for_dividends_below_2_to_the_31) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<uint32_t> dividend(0, (1u << 31) - 1);
    std::vector<uint32_t> divisors;
    for (uint32_t d = 1; d <= 1100; ++d) divisors.push_back(d);
    for (uint32_t d :
         {4095u, 4096u, 4097u, 6400u, 65535u, 65536u, 65537u, 409600u, (1u << 30) - 1, 1u << 30, (1u << 31) - 1})
        divisors.push_back(d);
    for (uint32_t d : divisors) {
        const FastDiv f(d);
        // Near multiples of d, the largest dividends, and random ones.
        std::vector<uint32_t> ns = {0, 1, d - 1, d, d + 1, 2 * d - 1, (1u << 31) - 1, (1u << 31) - 2};
        for (int k = 0; k < 200; ++k) ns.push_back(dividend(rng));
        for (uint32_t n : ns) {
            if (n >= (1u << 31)) continue;
            ASSERT_EQ(f.div(n), n / d) << n << " / " << d;
            ASSERT_EQ(f.mod(n), n % d) << n << " % " << d;
        }
    }
}

}  // namespace
}  // namespace fovea::cuda
