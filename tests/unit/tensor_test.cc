#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "fovea/tensor.h"

namespace fovea {
namespace {

TEST(Tensor, StorageIsAlignedZeroedAndSharedBetweenHandles) {
    Tensor t(DType::kFloat32, {3, 5, 7});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % Tensor::kAlignment, 0u);
    EXPECT_EQ(t.numel(), 105);
    EXPECT_EQ(t.nbytes(), 420u);
    for (float v : t.span<float>()) EXPECT_EQ(v, 0.0f);
    Tensor view = t.reshaped({15, 7});
    view.data<float>()[8] = 2.5f;
    EXPECT_EQ(t.data<float>()[8], 2.5f);
    Tensor copy = t.clone();
    copy.data<float>()[8] = 1.0f;
    EXPECT_EQ(t.data<float>()[8], 2.5f);
}

TEST(Tensor, StridesAreContiguousCOrder) {
    EXPECT_EQ(contiguous_strides(std::vector<int64_t>{2, 3, 4}), (std::vector<int64_t>{12, 4, 1}));
    EXPECT_EQ(contiguous_strides(std::vector<int64_t>{}), (std::vector<int64_t>{}));
    EXPECT_EQ(Tensor(DType::kInt64, {}).numel(), 1);
    EXPECT_EQ(Tensor(DType::kInt64, {4, 0}).numel(), 0);
}

TEST(Tensor, EveryDTypeHasASizeAndName) {
    for (DType dt : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8, DType::kUInt8,
                     DType::kInt32, DType::kInt64, DType::kBool}) {
        EXPECT_GT(dtype_size(dt), 0u);
        EXPECT_STRNE(dtype_name(dt), "?");
        Tensor t(dt, {2, 3});
        EXPECT_EQ(t.nbytes(), 6 * dtype_size(dt));
    }
}

TEST(Half, RoundTripsExactValuesAndRoundsToNearestEven) {
    for (float f : {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f /*min normal*/,
                    5.960464477539063e-08f /*min subnormal*/})
        EXPECT_EQ(half_to_float(float_to_half(f)), f) << f;
    EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048), float_to_half(1.0f));                // halfway: ties to even (down)
    EXPECT_EQ(half_to_float(float_to_half(1.0f + 3.0f / 2048)), 1.0f + 4.0f / 2048);  // halfway: ties to even (up)
    EXPECT_TRUE(std::isinf(half_to_float(float_to_half(70000.0f))));
    EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::numeric_limits<float>::quiet_NaN()))));
    EXPECT_EQ(half_to_float(0x3c00), 1.0f);
    EXPECT_EQ(half_to_float(0xc000), -2.0f);
}

TEST(BFloat16, KeepsTheTopSixteenBitsRounded) {
    EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(1.0f)), 1.0f);
    EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(3.140625f)), 3.140625f);
    EXPECT_NEAR(bfloat16_to_float(float_to_bfloat16(3.14159f)), 3.14159f, 0.01f);
    EXPECT_TRUE(std::isnan(bfloat16_to_float(float_to_bfloat16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(Tensor, ElementsWidenFromEveryDType) {
    Tensor h(DType::kFloat16, {2});
    h.data<Half>()[1] = Half(-3.5f);
    EXPECT_EQ(h.element_as_double(1), -3.5);
    EXPECT_EQ(h.element_as_int64(1), -3);
    Tensor i = Tensor::from_vector<int32_t>({3}, {7, -1, 4});
    EXPECT_EQ(i.to_int64_vector(), (std::vector<int64_t>{7, -1, 4}));
    EXPECT_EQ(i.describe(), "int32[3]");
}

}  // namespace
}  // namespace fovea
