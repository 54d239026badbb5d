// CudaYoloDecoder against decode_yolov5/decode_yolov8 on random heads (fixed seeds): the detection lists must be
// equal, field for field. Skipped, visibly, without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
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

// Heads made for NMS: boxes in tight clusters of a few sizes (most pairs in a cluster overlap, neighbouring clusters
// overlap a little; some boxes are exact duplicates, a few have zero width), scores on a coarse grid (ties between boxes are common; on a box's own
// classes too, where the first best class must win), `classes` classes. Item i's first hot[i] boxes may pass; the
// others score 0, so items differ in candidate count.
std::vector<float> nms_head(bool v5, const std::vector<int>& hot, int boxes, int classes, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> cluster(0, 11), jitter(0, 3), side(0, 2), pct(0, 99);
    std::uniform_int_distribution<int> obj_level(2, 4), cls_level(1, 5);
    const int items = static_cast<int>(hot.size());
    const int channels = classes + (v5 ? 5 : 4);
    std::vector<float> h(static_cast<size_t>(items) * boxes * channels, 0.0f);
    auto at = [&](int i, int b, int c) -> float& {
        const size_t item = static_cast<size_t>(i) * boxes * channels;
        return v5 ? h[item + static_cast<size_t>(b) * channels + c] : h[item + static_cast<size_t>(c) * boxes + b];
    };
    for (int i = 0; i < items; ++i)
        for (int b = 0; b < boxes; ++b) {
            const int k = cluster(rng);
            at(i, b, 0) = 60.0f + 28.0f * static_cast<float>(k % 4) + 2.0f * static_cast<float>(jitter(rng));
            at(i, b, 1) = 60.0f + 28.0f * static_cast<float>(k / 4) + 2.0f * static_cast<float>(jitter(rng));
            at(i, b, 2) = pct(rng) < 2 ? 0.0f : 30.0f + 4.0f * static_cast<float>(side(rng));
            at(i, b, 3) = 30.0f + 4.0f * static_cast<float>(side(rng));
            if (b >= hot[static_cast<size_t>(i)]) continue;  // scores stay 0
            for (int c = 0; c < classes; ++c)
                at(i, b, (v5 ? 5 : 4) + c) = pct(rng) < 60 ? 0.0f : 0.2f * static_cast<float>(cls_level(rng));
            if (v5) at(i, b, 4) = 0.25f * static_cast<float>(obj_level(rng));
        }
    return h;
}

// Class ids and order exactly; boxes and scores to 1e-5.
void expect_close(const std::vector<Detection>& gpu, const std::vector<Detection>& cpu, int item) {
    ASSERT_EQ(gpu.size(), cpu.size()) << "item " << item;
    for (size_t k = 0; k < cpu.size(); ++k) {
        EXPECT_EQ(gpu[k].class_id, cpu[k].class_id) << "item " << item << " det " << k;
        EXPECT_NEAR(gpu[k].score, cpu[k].score, 1e-5) << "item " << item << " det " << k;
        EXPECT_NEAR(gpu[k].box.x1, cpu[k].box.x1, 1e-5) << "item " << item << " det " << k;
        EXPECT_NEAR(gpu[k].box.y1, cpu[k].box.y1, 1e-5) << "item " << item << " det " << k;
        EXPECT_NEAR(gpu[k].box.x2, cpu[k].box.x2, 1e-5) << "item " << item << " det " << k;
        EXPECT_NEAR(gpu[k].box.y2, cpu[k].box.y2, 1e-5) << "item " << item << " det " << k;
    }
}

// The head on the device, a stream, and the CPU's answer per item, for one or more decodes.
struct NmsCase {
    bool v5;
    int boxes, classes;
    std::vector<float> head;
    void* device = nullptr;
    cudaStream_t stream = nullptr;

    NmsCase(bool v5_head, const std::vector<int>& hot, int n_boxes, int n_classes, uint32_t seed)
        : v5(v5_head), boxes(n_boxes), classes(n_classes), head(nms_head(v5_head, hot, n_boxes, n_classes, seed)) {}
    ~NmsCase() {
        if (stream) cudaStreamDestroy(stream);
        if (device) cudaFree(device);
    }
    NmsCase(const NmsCase&) = delete;
    NmsCase& operator=(const NmsCase&) = delete;
    int64_t a() const { return v5 ? boxes : classes + 4; }
    int64_t b() const { return v5 ? classes + 5 : boxes; }
    void upload() {
        ASSERT_EQ(cudaMalloc(&device, head.size() * sizeof(float)), cudaSuccess);
        ASSERT_EQ(cudaMemcpy(device, head.data(), head.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
        ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    }
    std::vector<Detection> cpu(int item, const DetectOptions& o) const {
        const float* p = head.data() + static_cast<size_t>(item) * static_cast<size_t>(a() * b());
        return v5 ? decode_yolov5(p, a(), b(), o) : decode_yolov8(p, a(), b(), o);
    }
    // Decodes the first `items` items with `decoder` and compares each with the CPU; returns the candidate counts.
    std::vector<int> compare(CudaYoloDecoder& decoder, int items, const DetectOptions& o) const {
        auto got = decoder.decode(device, a(), b(), items, stream);
        EXPECT_TRUE(got.is_ok()) << got.status().message();
        if (!got.is_ok()) return {};
        EXPECT_EQ(got->size(), static_cast<size_t>(items));
        for (int i = 0; i < items && i < static_cast<int>(got->size()); ++i) {
            SCOPED_TRACE("item " + std::to_string(i));
            expect_close((*got)[static_cast<size_t>(i)], cpu(i, o), i);
        }
        return decoder.last_counts();
    }
};

std::unique_ptr<CudaYoloDecoder> make_decoder(bool v5, const DetectOptions& o, int max_batch, int cap) {
    auto d = CudaYoloDecoder::create(v5 ? YoloHead::kV5 : YoloHead::kV8, o, max_batch, cap);
    EXPECT_TRUE(d.is_ok()) << d.status().message();
    return d.is_ok() ? std::move(*d) : nullptr;
}

// Ties, overlaps, both heads, class-wise and agnostic, four items of different counts (one with none).
TEST(CudaYoloDecoderNms, ClusteredTiedBoxesMatchCpu) {
    REQUIRE_CUDA_DEVICE();
    for (bool v5 : {true, false}) {
        NmsCase c(v5, {900, 70, 0, 333}, 1000, 5, v5 ? 11u : 12u);
        ASSERT_NO_FATAL_FAILURE(c.upload());
        for (bool agnostic : {false, true}) {
            for (float iou : {0.45f, 0.0f, 0.9f}) {
                SCOPED_TRACE(std::string(v5 ? "v5" : "v8") + (agnostic ? " agnostic" : " class-wise") + " iou " +
                             std::to_string(iou));
                DetectOptions o;
                o.conf_threshold = 0.1f;
                o.iou_threshold = iou;
                o.class_agnostic = agnostic;
                o.max_detections = 0;
                auto decoder = make_decoder(v5, o, 4, 1024);
                ASSERT_NE(decoder, nullptr);
                const std::vector<int> counts = c.compare(*decoder, 4, o);
                ASSERT_EQ(counts.size(), 4u);
                EXPECT_GT(counts[0], 500);  // spans many mask words
                EXPECT_GT(counts[1], 0);
                EXPECT_EQ(counts[2], 0);
                // The head must really hold ties among the candidates, or the order test proves little.
                const std::vector<Detection> all = c.cpu(0, [&] {
                    DetectOptions none = o;
                    none.iou_threshold = 2.0f;  // IoU never exceeds 1: NMS keeps everything
                    return none;
                }());
                int ties = 0;
                for (size_t k = 1; k < all.size(); ++k) ties += all[k].score == all[k - 1].score ? 1 : 0;
                EXPECT_GT(ties, 100);
            }
        }
    }
}

// max_detections below what NMS keeps: both paths stop at the same, best-first prefix.
TEST(CudaYoloDecoderNms, MaxDetectionsCutsTheSamePrefix) {
    REQUIRE_CUDA_DEVICE();
    for (bool v5 : {true, false}) {
        NmsCase c(v5, {600, 300, 20}, 800, 4, v5 ? 21u : 22u);
        ASSERT_NO_FATAL_FAILURE(c.upload());
        for (bool agnostic : {false, true}) {
            for (int cap : {1, 7, 64, 65}) {
                SCOPED_TRACE(std::string(v5 ? "v5" : "v8") + (agnostic ? " agnostic" : " class-wise") + " max " +
                             std::to_string(cap));
                DetectOptions o;
                o.conf_threshold = 0.1f;
                o.iou_threshold = 0.3f;
                o.class_agnostic = agnostic;
                o.max_detections = 0;
                const size_t uncapped = c.cpu(0, o).size();
                o.max_detections = cap;
                if (cap < 64) {
                    EXPECT_GT(uncapped, static_cast<size_t>(cap)) << "the head should keep more than the cap";
                }
                auto decoder = make_decoder(v5, o, 3, 1024);
                ASSERT_NE(decoder, nullptr);
                c.compare(*decoder, 3, o);
            }
        }
    }
}

// Per-class thresholds (some above, some below the default; classes past the list take the default).
TEST(CudaYoloDecoderNms, PerClassThresholdsMatchCpu) {
    REQUIRE_CUDA_DEVICE();
    for (bool v5 : {true, false}) {
        NmsCase c(v5, {700, 150}, 700, 6, v5 ? 31u : 32u);
        ASSERT_NO_FATAL_FAILURE(c.upload());
        for (bool agnostic : {false, true}) {
            SCOPED_TRACE(std::string(v5 ? "v5" : "v8") + (agnostic ? " agnostic" : " class-wise"));
            DetectOptions o;
            o.conf_threshold = 0.45f;
            o.class_thresholds = {0.05f, 0.8f, 0.3f, 0.6f};
            o.iou_threshold = 0.5f;
            o.class_agnostic = agnostic;
            o.max_detections = 100;
            auto decoder = make_decoder(v5, o, 2, 4096);
            ASSERT_NE(decoder, nullptr);
            c.compare(*decoder, 2, o);
        }
    }
}

// One item over max_candidates goes through the host fallback; the others, under it, through the GPU NMS.
TEST(CudaYoloDecoderNms, AnItemOverTheCapIsDecodedOnTheHost) {
    REQUIRE_CUDA_DEVICE();
    for (bool v5 : {true, false}) {
        SCOPED_TRACE(v5 ? "v5" : "v8");
        NmsCase c(v5, {100, 1500, 250}, 2000, 3, v5 ? 41u : 42u);
        ASSERT_NO_FATAL_FAILURE(c.upload());
        DetectOptions o;
        o.conf_threshold = 0.05f;
        o.iou_threshold = 0.45f;
        o.max_detections = 40;
        auto decoder = make_decoder(v5, o, 3, 512);
        ASSERT_NE(decoder, nullptr);
        const std::vector<int> counts = c.compare(*decoder, 3, o);
        ASSERT_EQ(counts.size(), 3u);
        EXPECT_LE(counts[0], 512);
        EXPECT_GT(counts[1], 512) << "item 1 should exceed the cap";
        EXPECT_LE(counts[2], 512);
        EXPECT_GT(counts[2], 64);
    }
}

// A decoder reused for batches of other sizes and other heads: no stale candidates, masks or counts carry over.
TEST(CudaYoloDecoderNms, ReuseAcrossBatchSizes) {
    REQUIRE_CUDA_DEVICE();
    DetectOptions o;
    o.conf_threshold = 0.1f;
    o.max_detections = 50;
    NmsCase big(false, {800, 600, 400, 200}, 840, 4, 51);
    NmsCase small(false, {30, 5}, 840, 4, 52);
    ASSERT_NO_FATAL_FAILURE(big.upload());
    ASSERT_NO_FATAL_FAILURE(small.upload());
    auto decoder = make_decoder(false, o, 4, 1024);
    ASSERT_NE(decoder, nullptr);
    big.compare(*decoder, 4, o);
    small.compare(*decoder, 2, o);
    big.compare(*decoder, 3, o);
    small.compare(*decoder, 1, o);
}

#else

TEST(CudaYoloDecoder, V5MatchesCpu) { GTEST_SKIP() << "no CUDA device: this build has no CUDA"; }

#endif  // FOVEA_HAVE_CUDA

}  // namespace
}  // namespace fovea::vision
