// fovea_cuda_bench MODEL [PRECISION] [BATCH,...] [ITERATIONS]: `fovea bench`'s measurement for the cuda backend in a
// lean binary (no media libraries), so that it fits a GPU bundle next to the models. Markdown rows: session creation
// (engine build, cuDNN algorithm search included), then the median and p90 of timed runs after 10 warm-up runs
// (host copies in and out included).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fovea/session.h"

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    using namespace fovea;
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s MODEL [fp32|tf32|fp16] [BATCH,...] [ITERATIONS]\n", argv[0]);
        return 2;
    }
    const std::string model = argv[1], precision = argc > 2 ? argv[2] : "fp16";
    std::vector<int64_t> batches;
    std::stringstream list(argc > 3 ? argv[3] : "1");
    for (std::string item; std::getline(list, item, ',');) batches.push_back(std::atoll(item.c_str()));
    const int iterations = argc > 4 ? std::atoi(argv[4]) : 50;
    std::printf("| model | backend | precision | batch | build ms | median ms | p90 ms | items/s | arena MB | nodes |\n"
                "|---|---|---|---|---|---|---|---|---|---|\n");
    for (int64_t batch : batches) {
        auto probe = Session::load(model, SessionOptions{.backend = "cuda", .precision = precision});
        if (!probe.is_ok()) {
            std::fprintf(stderr, "%s\n", probe.status().to_string().c_str());
            return 1;
        }
        SessionOptions options{.backend = "cuda", .precision = precision};
        for (const TensorDesc& d : (*probe)->inputs()) {
            Shape s = d.shape;
            if (!s.empty() && s[0] < 0) s[0] = batch;
            options.input_shapes[d.name] = s;
        }
        const auto t0 = std::chrono::steady_clock::now();
        auto session = Session::load(model, options);
        const double build_ms = ms_since(t0);
        if (!session.is_ok()) {
            std::fprintf(stderr, "%s\n", session.status().to_string().c_str());
            return 1;
        }
        std::mt19937 rng(42);
        std::uniform_real_distribution<float> dist(-1.f, 1.f);
        std::map<std::string, Tensor> inputs;
        for (const TensorDesc& d : (*session)->inputs()) {
            Tensor t(d.dtype, options.input_shapes.at(d.name));
            for (float& v : t.span<float>()) v = dist(rng);
            inputs.emplace(d.name, std::move(t));
        }
        for (int i = 0; i < 10; ++i)
            if (auto r = (*session)->run(inputs); !r.is_ok()) {
                std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
                return 1;
            }
        std::vector<double> ms;
        for (int i = 0; i < iterations; ++i) {
            const auto t = std::chrono::steady_clock::now();
            if (!(*session)->run(inputs).is_ok()) return 1;
            ms.push_back(ms_since(t));
        }
        std::sort(ms.begin(), ms.end());
        const double median = ms[ms.size() / 2], p90 = ms[ms.size() * 9 / 10];
        std::string nodes;
        for (const auto& [b, n] : (*session)->nodes_per_backend()) nodes += b + " " + std::to_string(n);
        std::printf("| %s | cuda | %s | %lld | %.0f | %.3f | %.3f | %.1f | %.1f | %s |\n", model.c_str(),
                    precision.c_str(), static_cast<long long>(batch), build_ms, median, p90,
                    static_cast<double>(batch) * 1000.0 / median,
                    static_cast<double>((*session)->arena_bytes()) / (1024.0 * 1024.0), nodes.c_str());
    }
    return 0;
}
