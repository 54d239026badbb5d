// The five zoo CNNs this slice of the cuda backend targets, whole, in each precision, against ONNX Runtime's outputs
// (the cache scripts/make-zoo.sh builds): relative L2 below 1e-3 for fp32 and tf32, 1e-2 for fp16 (the zoo models'
// BatchNorm statistics are calibrated, so fp16 activations stay in range). Three runs per session: node by node,
// captured into a CUDA graph, replayed. Prints the session creation time (engine build) per case.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <tuple>

#include "backends/cuda/cuda_backend.h"
#include "fovea/npy.h"
#include "fovea/session.h"

namespace fovea {
namespace {

namespace fs = std::filesystem;

fs::path zoo_dir() {
    const char* env = std::getenv("FOVEA_ZOO_DIR");
    return env && *env ? fs::path(env) : fs::path(FOVEA_ZOO_DEFAULT_DIR);
}

std::string file_name_for(const std::string& tensor_name) {
    std::string out = tensor_name;
    for (char& c : out) {
        const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                          c == '_' || c == '-';
        if (!keep) c = '_';
    }
    return out + ".npy";
}

double relative_l2(const Tensor& actual, const Tensor& expected) {
    double diff = 0, ref = 0;
    for (int64_t i = 0; i < expected.numel(); ++i) {
        const double a = actual.element_as_double(i), e = expected.element_as_double(i);
        diff += (a - e) * (a - e);
        ref += e * e;
    }
    return ref > 0 ? std::sqrt(diff / ref) : std::sqrt(diff);
}

using ZooParam = std::tuple<std::string, int, std::string>;  // model, batch, precision

class CudaZoo : public ::testing::TestWithParam<ZooParam> {};

TEST_P(CudaZoo, matches_onnxruntime) {
    if (Status usable = cuda::cuda_usable(); !usable.is_ok()) GTEST_SKIP() << "no CUDA device: " << usable.message();
    const auto& [model, batch, precision] = GetParam();
    const fs::path dir = zoo_dir() / model / ("b" + std::to_string(batch));
    if (!fs::exists(dir / ".done")) GTEST_SKIP() << "no zoo case at " << dir << " (run scripts/make-zoo.sh)";
    const double tolerance = precision == "fp16" ? 1e-2 : 1e-3;

    SessionOptions options;
    options.backend = "cuda";
    options.precision = precision;
    const auto t0 = std::chrono::steady_clock::now();
    auto session = Session::load((dir.parent_path() / "model.onnx").string(), options);
    ASSERT_TRUE(session.is_ok()) << session.status().to_string();
    std::map<std::string, Tensor> inputs;
    for (const TensorDesc& in : (*session)->inputs()) {
        auto t = read_npy((dir / "inputs" / file_name_for(in.name)).string());
        ASSERT_TRUE(t.is_ok()) << t.status().to_string();
        inputs.emplace(in.name, std::move(t).value());
    }
    for (int run = 0; run < 3; ++run) {
        const auto t_run = std::chrono::steady_clock::now();
        auto outputs = (*session)->run(inputs);  // the first binds the batch and builds the engine
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_run).count();
        ASSERT_TRUE(outputs.is_ok()) << outputs.status().to_string();
        if (run == 0)
            std::printf("cuda zoo %s b%d %s: load + first run (engine build) %.0f ms\n", model.c_str(), batch,
                        precision.c_str(),
                        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        const auto& descs = (*session)->outputs();
        for (size_t i = 0; i < descs.size(); ++i) {
            auto expected = read_npy((dir / "ort" / file_name_for(descs[i].name)).string());
            ASSERT_TRUE(expected.is_ok()) << expected.status().to_string();
            ASSERT_EQ((*outputs)[i].shape(), expected->shape());
            const double err = relative_l2((*outputs)[i], *expected);
            std::printf("cuda zoo %s b%d %s run %d: output %s rel L2 %.2e (%.2f ms)\n", model.c_str(), batch,
                        precision.c_str(), run, descs[i].name.c_str(), err, ms);
            EXPECT_LT(err, tolerance) << model << " b" << batch << " " << precision << " run " << run;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Models, CudaZoo,
                         ::testing::Combine(::testing::Values("resnet50", "mobilenet_v2", "efficientnet_b0",
                                                              "yolov5s_style", "yolov8n_style"),
                                            ::testing::Values(1, 2), ::testing::Values("fp32", "tf32", "fp16")),
                         [](const ::testing::TestParamInfo<ZooParam>& p) {
                             return std::get<0>(p.param) + "_b" + std::to_string(std::get<1>(p.param)) + "_" +
                                    std::get<2>(p.param);
                         });

}  // namespace
}  // namespace fovea
