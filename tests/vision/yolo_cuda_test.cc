// CudaYoloDecoder against decode_yolov5/decode_yolov8 on random heads (fixed seeds): the detection lists must be
// equal, field for field. Skipped, visibly, without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "vision/postprocess.h"
#include "vision/yolo_cuda.h"

#if defined(FOVEA_HAVE_CUDA)
#include <cuda_runtime.h>
#endif

namespace fovea::vision {
namespace {

#if defined(FOVEA_HAVE_CUDA)

#define REQUIRE_CUDA_DEVICE()                                                              \
    do {                                                                                   \
        int count = 0;                                                                     \
        const cudaError_t e = cudaGetDeviceCount(&count);                                  \
        if (e != cudaSuccess) GTEST_SKIP() << "no CUDA device: " << cudaGetErrorString(e); \
        if (count == 0) GTEST_SKIP() << "no CUDA device: cudaGetDeviceCount returned 0";   \
    } while (0)

// A head of `items` items whose box b has cx, cy, w, h, [obj,] scores; about `keep` of the boxes score high.
std::vector<float> random_head(bool v5, int items, int boxes, int classes, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    const int channels = classes + (v5 ? 5 : 4);
    std::vector<float> h(static_cast<size_t>(items) * boxes * channels);
    auto at = [&](int i, int b, int c) -> float& {
        const size_t item = static_cast<size_t>(i) * boxes * channels;
        return v5 ? h[item + static_cast<size_t>(b) * channels + c] : h[item + static_cast<size_t>(c) * boxes + b];
    };
    for (int i = 0; i < items; ++i)
        for (int b = 0; b < boxes; ++b) {
            // Clustered boxes, so that NMS has overlaps to resolve.
            at(i, b, 0) = 40.f * static_cast<float>(b % 16) + 8.f * u(rng);
            at(i, b, 1) = 40.f * static_cast<float>(b % 13) + 8.f * u(rng);
            at(i, b, 2) = 20.f + 60.f * u(rng);
            at(i, b, 3) = 20.f + 60.f * u(rng);
            for (int c = 4; c < channels; ++c) at(i, b, c) = std::pow(u(rng), 6.f);
            if (v5) at(i, b, 4) = std::pow(u(rng), 0.5f);
            if (b % 997 == 5) at(i, b, 4) = std::nanf("");  // NaN objectness / first score: never kept
        }
    return h;
}

void expect_same(const std::vector<Detection>& gpu, const std::vector<Detection>& cpu, int item) {
    ASSERT_EQ(gpu.size(), cpu.size()) << "item " << item;
    for (size_t k = 0; k < cpu.size(); ++k) {
        EXPECT_EQ(gpu[k].class_id, cpu[k].class_id) << "item " << item << " det " << k;
        EXPECT_EQ(gpu[k].score, cpu[k].score) << "item " << item << " det " << k;
        EXPECT_EQ(gpu[k].box.x1, cpu[k].box.x1) << "item " << item << " det " << k;
        EXPECT_EQ(gpu[k].box.y1, cpu[k].box.y1) << "item " << item << " det " << k;
        EXPECT_EQ(gpu[k].box.x2, cpu[k].box.x2) << "item " << item << " det " << k;
        EXPECT_EQ(gpu[k].box.y2, cpu[k].box.y2) << "item " << item << " det " << k;
    }
}

void check(bool v5, int items, int boxes, int classes, const DetectOptions& o, int cap, uint32_t seed) {
    const std::vector<float> head = random_head(v5, items, boxes, classes, seed);
    const int64_t channels = classes + (v5 ? 5 : 4);
    const int64_t a = v5 ? boxes : channels, b = v5 ? channels : boxes;
    void* device = nullptr;
    ASSERT_EQ(cudaMalloc(&device, head.size() * sizeof(float)), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(device, head.data(), head.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    cudaStream_t stream = nullptr;
    ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    auto decoder = CudaYoloDecoder::create(v5 ? YoloHead::kV5 : YoloHead::kV8, o, items, cap);
    ASSERT_TRUE(decoder.is_ok()) << decoder.status().message();
    auto got = (*decoder)->decode(device, a, b, items, stream);
    ASSERT_TRUE(got.is_ok()) << got.status().message();
    ASSERT_EQ(got->size(), static_cast<size_t>(items));
    int candidates = 0;
    for (int i = 0; i < items; ++i) {
        const float* item = head.data() + static_cast<size_t>(i) * static_cast<size_t>(a * b);
        const auto cpu = v5 ? decode_yolov5(item, a, b, o) : decode_yolov8(item, a, b, o);
        expect_same((*got)[static_cast<size_t>(i)], cpu, i);
        candidates += (*decoder)->last_counts()[static_cast<size_t>(i)];
    }
    EXPECT_GT(candidates, 0) << "the test head should have boxes above the thresholds";
    cudaStreamDestroy(stream);
    cudaFree(device);
}

TEST(CudaYoloDecoder, V5MatchesCpu) {
    REQUIRE_CUDA_DEVICE();
    DetectOptions o;
    o.conf_threshold = 0.2f;
    check(true, 3, 5000, 80, o, 4096, 1);
}

TEST(CudaYoloDecoder, V5PerClassThresholdsAndAgnostic) {
    REQUIRE_CUDA_DEVICE();
    DetectOptions o;
    o.conf_threshold = 0.3f;
    o.class_thresholds = {0.05f, 0.6f, 0.1f};
    o.class_agnostic = true;
    o.max_detections = 50;
    check(true, 2, 4000, 6, o, 4096, 2);
}

TEST(CudaYoloDecoder, V8MatchesCpu) {
    REQUIRE_CUDA_DEVICE();
    DetectOptions o;
    o.conf_threshold = 0.25f;
    o.class_thresholds = {0.1f};
    check(false, 4, 8400, 80, o, 4096, 3);
}

TEST(CudaYoloDecoder, OverTheCapStaysExact) {
    REQUIRE_CUDA_DEVICE();
    DetectOptions o;
    o.conf_threshold = 0.01f;
    o.max_detections = 0;
    check(true, 2, 3000, 4, o, 16, 4);
    check(false, 2, 3000, 4, o, 16, 5);
}

#else

TEST(CudaYoloDecoder, V5MatchesCpu) { GTEST_SKIP() << "no CUDA device: this build has no CUDA"; }

#endif  // FOVEA_HAVE_CUDA

}  // namespace
}  // namespace fovea::vision
