// fovea_cuda_bench MODEL [PRECISION] [BATCH,...] [ITERATIONS]: `fovea bench`'s measurement for the cuda backend in a
// lean binary (no media libraries), so that it fits a GPU bundle next to the models. Markdown rows: engine build
// cold (session creation + first run with FOVEA_ENGINE_CACHE=rebuild: cuDNN algorithm search) and from the engine
// cache, then after 10 warm-up runs the median and p90 of timed runs: wall time of Session::run (host copies and
// synchronization included) and GPU time between CUDA events around the run's work (the CUDA graph replay, device
// copies in and out included); items/s from the GPU median. "graph": whether runs replay one CUDA graph. Last, the
// device-I/O median: wall time of Session::device_run plus a stream synchronization, inputs already in GPU memory
// and outputs left there (how the GPU pipeline runs the engine, and how PyTorch peers are usually timed).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#if FOVEA_BENCH_DEVICE_IO
#include <cuda_runtime_api.h>
#endif

#include "backends/cuda/cuda_backend.h"
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
    std::printf(
        "| model | precision | batch | cold build ms | cached build ms | wall median ms | wall p90 ms | "
        "GPU median ms | GPU p90 ms | items/s (GPU) | graph | arena MB | nodes | device-I/O median ms |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
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
        std::mt19937 rng(42);
        std::uniform_real_distribution<float> dist(-1.f, 1.f);
        std::map<std::string, Tensor> inputs;
        for (const TensorDesc& d : (*probe)->inputs()) {
            Tensor t(d.dtype, options.input_shapes.at(d.name));
            for (float& v : t.span<float>()) v = dist(rng);
            inputs.emplace(d.name, std::move(t));
        }
        { auto released = std::move(*probe); }  // its device memory goes before the builds
        // Session creation + first run: the engine is built by one or the other.
        auto build = [&](const char* cache_mode, double& ms) -> Result<std::unique_ptr<Session>> {
            ::setenv("FOVEA_ENGINE_CACHE", cache_mode, 1);
            const auto t0 = std::chrono::steady_clock::now();
            auto session = Session::load(model, options);
            if (session.is_ok()) {
                auto r = (*session)->run(inputs);
                if (!r.is_ok()) return r.status();
            }
            ms = ms_since(t0);
            ::unsetenv("FOVEA_ENGINE_CACHE");
            return session;
        };
        double cold_ms = 0, cached_ms = 0;
        {
            auto cold = build("rebuild", cold_ms);
            if (!cold.is_ok()) {
                std::fprintf(stderr, "%s\n", cold.status().to_string().c_str());
                return 1;
            }
        }
        auto session = build("1", cached_ms);
        if (!session.is_ok()) {
            std::fprintf(stderr, "%s\n", session.status().to_string().c_str());
            return 1;
        }
        const bool hit = cuda::last_run().cache_hit;
        for (int i = 0; i < 10; ++i)
            if (auto r = (*session)->run(inputs); !r.is_ok()) {
                std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
                return 1;
            }
        std::vector<double> ms, gpu;
        bool graph = true;
        for (int i = 0; i < iterations; ++i) {
            const auto t = std::chrono::steady_clock::now();
            if (!(*session)->run(inputs).is_ok()) return 1;
            ms.push_back(ms_since(t));
            const cuda::LastRun last = cuda::last_run();
            gpu.push_back(last.device_ms);
            graph = graph && last.graph;
        }
        // Device I/O: the same inputs copied into the session's device inputs once, then device runs.
        std::vector<double> device_ms;
#if FOVEA_BENCH_DEVICE_IO
        if (auto bound = (*session)->device_inputs(); bound.is_ok()) {
            size_t i = 0;
            for (const TensorDesc& d : (*session)->inputs()) {
                const Tensor& host = inputs.at(d.name);
                cudaMemcpy((*bound)[i++].data, host.raw_data(), host.nbytes(), cudaMemcpyHostToDevice);
            }
            auto stream = static_cast<cudaStream_t>((*session)->device_stream());
            for (int k = 0; k < 10 + iterations; ++k) {
                const auto t = std::chrono::steady_clock::now();
                if (!(*session)->device_run().is_ok() || cudaStreamSynchronize(stream) != cudaSuccess) {
                    device_ms.clear();
                    break;
                }
                if (k >= 10) device_ms.push_back(ms_since(t));
            }
        }
#endif
        std::sort(device_ms.begin(), device_ms.end());
        std::sort(ms.begin(), ms.end());
        std::sort(gpu.begin(), gpu.end());
        const size_t mid = ms.size() / 2, p90 = ms.size() * 9 / 10;
        std::string nodes;
        for (const auto& [b, n] : (*session)->nodes_per_backend()) nodes += b + " " + std::to_string(n);
        char device_cell[32] = "-";
        if (!device_ms.empty()) std::snprintf(device_cell, sizeof device_cell, "%.3f", device_ms[device_ms.size() / 2]);
        std::printf("| %s | %s | %lld | %.0f | %.0f%s | %.3f | %.3f | %.3f | %.3f | %.1f | %s | %.1f | %s | %s |\n",
                    model.c_str(), precision.c_str(), static_cast<long long>(batch), cold_ms, cached_ms,
                    hit ? "" : " (miss)", ms[mid], ms[p90], gpu[mid], gpu[p90],
                    static_cast<double>(batch) * 1000.0 / gpu[mid], graph ? "yes" : "no",
                    static_cast<double>((*session)->arena_bytes()) / (1024.0 * 1024.0), nodes.c_str(), device_cell);
        std::fflush(stdout);
    }
    return 0;
}
