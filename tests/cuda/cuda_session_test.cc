// The cuda backend as an application embeds it: on the caller's CUDA stream (device I/O, nothing synchronized but
// that stream), and several engines sharing one GPU from threads of their own. A zoo model (MobileNetV2, ResNet-50)
// keeps the work big enough for the runs to overlap.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backends/cuda/cuda_backend.h"
#include "fovea/session.h"

#if FOVEA_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace fovea {
namespace {

namespace fs = std::filesystem;

#define SKIP_WITHOUT_CUDA()                                         \
    do {                                                            \
        if (Status usable = cuda::cuda_usable(); !usable.is_ok())   \
            GTEST_SKIP() << "no CUDA device: " << usable.message(); \
    } while (0)

fs::path zoo_model(const std::string& name) {
    const char* zoo = std::getenv("FOVEA_ZOO_DIR");
    return fs::path(zoo && *zoo ? zoo : FOVEA_ZOO_DEFAULT_DIR) / name / "model.onnx";
}

Tensor image_batch(int64_t n, uint32_t seed) {
    Tensor x(DType::kFloat32, {n, 3, 224, 224});
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-2.f, 2.f);
    for (float& v : x.span<float>()) v = u(rng);
    return x;
}

double relative_l2(std::span<const float> actual, std::span<const float> expected) {
    double diff = 0, ref = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
        diff += (double(actual[i]) - expected[i]) * (double(actual[i]) - expected[i]);
        ref += double(expected[i]) * expected[i];
    }
    return std::sqrt(diff / std::max(ref, 1e-30));
}

Result<std::unique_ptr<Session>> load(const fs::path& model, const std::string& precision, int64_t batch,
                                      void* stream = nullptr) {
    SessionOptions options{.backend = "cuda", .precision = precision};
    options.input_shapes["input"] = {batch, 3, 224, 224};
    options.stream = stream;
    return Session::load(model.string(), options);
}

#if FOVEA_HAVE_CUDA

// Inputs copied in, the model run and its output copied out, all enqueued on the caller's stream; only that stream
// is synchronized. The output matches a host-I/O session's of the same model (another engine, hence a tolerance).
TEST(CudaSession, runs_on_the_callers_stream) {
    SKIP_WITHOUT_CUDA();
    const fs::path model = zoo_model("mobilenet_v2");
    if (!fs::exists(model)) GTEST_SKIP() << "no zoo model at " << model;
    cudaStream_t stream = nullptr;
    ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
    const Tensor x = image_batch(4, 11);
    auto reference = load(model, "fp16", 4);
    ASSERT_TRUE(reference.is_ok()) << reference.status().to_string();
    auto expected = (*reference)->run({{"input", x}});
    ASSERT_TRUE(expected.is_ok()) << expected.status().to_string();
    {
        auto session = load(model, "fp16", 4, stream);
        ASSERT_TRUE(session.is_ok()) << session.status().to_string();
        for (int run = 0; run < 3; ++run) {  // node by node, captured, replayed
            auto in = (*session)->device_inputs();
            ASSERT_TRUE(in.is_ok()) << in.status().to_string();
            EXPECT_EQ((*session)->device_stream(), stream);
            ASSERT_EQ(cudaMemcpyAsync((*in)[0].data, x.data<float>(), x.numel() * sizeof(float), cudaMemcpyHostToDevice,
                                      stream),
                      cudaSuccess);
            auto out = (*session)->device_run();
            ASSERT_TRUE(out.is_ok()) << out.status().to_string();
            std::vector<float> host(static_cast<size_t>((*expected)[0].numel()));
            ASSERT_EQ(cudaMemcpyAsync(host.data(), (*out)[0].data, host.size() * sizeof(float), cudaMemcpyDeviceToHost,
                                      stream),
                      cudaSuccess);
            ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
            EXPECT_LT(relative_l2(host, (*expected)[0].span<float>()), 1e-2) << "run " << run;
        }
    }
    // The session neither destroyed nor broke the stream.
    EXPECT_EQ(cudaStreamQuery(stream), cudaSuccess);
    EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

TEST(CudaSession, refuses_the_legacy_default_stream) {
    SKIP_WITHOUT_CUDA();
    const fs::path model = zoo_model("mobilenet_v2");
    if (!fs::exists(model)) GTEST_SKIP() << "no zoo model at " << model;
    auto session = load(model, "fp16", 1, static_cast<void*>(cudaStreamLegacy));
    Status s = session.status();
    if (s.is_ok()) s = (*session)->run({{"input", image_batch(1, 3)}}).status();
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("legacy default stream"), std::string::npos) << s.to_string();
}

#endif  // FOVEA_HAVE_CUDA

// Two models, two sessions each, run from four threads at once, 20 times each: every run returns what that session
// returned alone before.
TEST(CudaSession, engines_share_the_gpu_from_threads) {
    SKIP_WITHOUT_CUDA();
    struct Job {
        std::string model;
        std::string precision;
        int64_t batch;
        std::unique_ptr<Session> session;
        Tensor input;
        std::vector<float> alone;
        double worst = 0;
        std::string error;
    };
    std::vector<Job> jobs;
    for (const auto& [name, precision, batch] : {std::tuple{"resnet50", "fp16", 8},
                                                 {"resnet50", "tf32", 2},
                                                 {"mobilenet_v2", "fp16", 16},
                                                 {"mobilenet_v2", "fp32", 4}}) {
        if (!fs::exists(zoo_model(name))) GTEST_SKIP() << "no zoo model at " << zoo_model(name);
        jobs.push_back({name, precision, batch, nullptr, image_batch(batch, uint32_t(jobs.size())), {}, 0, {}});
    }
    for (Job& job : jobs) {
        auto s = load(zoo_model(job.model), job.precision, job.batch);
        ASSERT_TRUE(s.is_ok()) << s.status().to_string();
        job.session = std::move(*s);
        for (int warm = 0; warm < 3; ++warm) {  // through capture to replay, as the threads will run
            auto out = job.session->run({{"input", job.input}});
            ASSERT_TRUE(out.is_ok()) << out.status().to_string();
            job.alone.assign((*out)[0].span<float>().begin(), (*out)[0].span<float>().end());
        }
    }
    std::vector<std::thread> threads;
    for (Job& job : jobs) {
        threads.emplace_back([&job] {
            for (int run = 0; run < 20 && job.error.empty(); ++run) {
                auto out = job.session->run({{"input", job.input}});
                if (!out.is_ok()) {
                    job.error = out.status().to_string();
                    return;
                }
                job.worst = std::max(job.worst, relative_l2((*out)[0].span<float>(), job.alone));
            }
        });
    }
    for (std::thread& t : threads) t.join();
    for (const Job& job : jobs) {
        EXPECT_TRUE(job.error.empty()) << job.model << " " << job.precision << ": " << job.error;
        // The same engine replays the same kernels: any difference means runs interfered.
        EXPECT_LT(job.worst, 1e-6) << job.model << " " << job.precision;
    }
}

}  // namespace
}  // namespace fovea
