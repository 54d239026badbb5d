// View strides against an explicit gather: each view's strides, applied to the base's bytes, must reproduce what
// the copy it replaces (a reshape, a transpose, a split piece) would hold. Plain C++: runs on any machine.
#include <gtest/gtest.h>

#include <numeric>

#include "backends/cuda/views.h"

namespace fovea::cuda {
namespace {

// The element at logical index `i` (row-major over `shape`) of a view.
int64_t offset_of(const Shape& shape, const std::vector<int64_t>& strides, int64_t i) {
    int64_t at = 0;
    for (size_t d = shape.size(); d-- > 0;) {
        at += (i % shape[d]) * strides[d];
        i /= shape[d];
    }
    return at;
}

TEST(Views, stored_strides_row_major_and_nhwc) {
    EXPECT_EQ(stored_strides({2, 3, 4, 5}, false), (std::vector<int64_t>{60, 20, 5, 1}));
    EXPECT_EQ(stored_strides({2, 3, 4, 5}, true), (std::vector<int64_t>{60, 1, 15, 3}));
    EXPECT_EQ(stored_strides({7, 9}, true), (std::vector<int64_t>{9, 1}));  // NHWC only means something in 4-D
}

// A YOLO head: a 1x1 convolution's NHWC output [N, 3*K, H, W] reshaped to [N, 3, K, H, W] and transposed to
// [N, 3, H, W, K]. The view must read, for each logical element, the NHWC byte the copies would have moved there.
TEST(Views, reshape_then_transpose_of_an_nhwc_value_reads_the_right_bytes) {
    const int64_t n = 2, a = 3, k = 7, h = 4, w = 5;
    const Shape conv{n, a * k, h, w};
    const auto nhwc = stored_strides(conv, true);
    const auto reshaped = reshape_strides(conv, nhwc, {n, a, k, h, w});
    ASSERT_TRUE(reshaped.has_value());
    const std::vector<int64_t> perm{0, 1, 3, 4, 2};
    std::vector<int64_t> transposed;
    for (int64_t d : perm) transposed.push_back((*reshaped)[static_cast<size_t>(d)]);
    const Shape out{n, a, h, w, k};
    for (int64_t i = 0; i < shape_numel(out); ++i) {
        // Logical index (ni, ai, hi, wi, ki) is channel ai*k+ki of pixel (hi, wi) of image ni.
        const int64_t ki = i % k, wi = i / k % w, hi = i / (k * w) % h, ai = i / (k * w * h) % a,
                      ni = i / (k * w * h * a);
        const int64_t expect = ((ni * h + hi) * w + wi) * (a * k) + ai * k + ki;
        ASSERT_EQ(offset_of(out, transposed, i), expect) << i;
    }
}

TEST(Views, reshapes_of_contiguous_bytes_are_always_views) {
    const Shape from{2, 3, 4};
    const auto strides = reshape_strides(from, stored_strides(from, false), {6, 1, 4});
    ASSERT_TRUE(strides.has_value());
    EXPECT_EQ((*strides)[0], 4);
    EXPECT_EQ((*strides)[2], 1);
}

TEST(Views, a_reshape_merging_dims_that_are_not_contiguous_is_not_a_view) {
    // NHWC bytes of [1, 8, 2, 2]: merging C with H cannot be read at one stride.
    const Shape from{1, 8, 2, 2};
    EXPECT_FALSE(reshape_strides(from, stored_strides(from, true), {1, 16, 2}).has_value());
    // Splitting C is fine: [1, 2, 4, 2, 2].
    EXPECT_TRUE(reshape_strides(from, stored_strides(from, true), {1, 2, 4, 2, 2}).has_value());
    EXPECT_FALSE(reshape_strides(from, stored_strides(from, true), {1, 2, 4, 2, 3}).has_value());  // 48 != 32
}

TEST(Views, row_pitch_of_split_pieces) {
    // [N, 3, H, W, 85] split on the last axis: the 81-wide piece at offset 4 is rows of 81 every 85 elements.
    const Shape whole{2, 3, 4, 5, 85};
    const auto strides = stored_strides(whole, false);
    EXPECT_EQ(row_pitch({2, 3, 4, 5, 81}, strides, 4), 85);
    // Split on axis 1 and joined again on axis 1: rows of the trailing block, one per image.
    EXPECT_EQ(row_pitch({2, 1, 4, 5, 85}, strides, 1), 3 * 4 * 5 * 85);
    // A transposed view is not rows of a contiguous block.
    EXPECT_FALSE(row_pitch({2, 3, 5, 4, 85}, {5100, 1700, 85, 425, 1}, 3).has_value());
    // No dims before the axis: one row.
    EXPECT_EQ(row_pitch({6, 4}, {4, 1}, 0), 0);
}

}  // namespace
}  // namespace fovea::cuda
