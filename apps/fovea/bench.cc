// `fovea bench MODEL`: latency percentiles and throughput on random inputs, one row per batch size.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "commands.h"
#include "fovea/session.h"

namespace fovea::cli {

namespace {

struct Options {
    std::string model, backend = "ref", format = "md", batches = "1", precision = "fp32";
    int threads = 0, warmup = 2, iterations = 10;
    std::vector<std::string> shapes;
};

struct Row {
    int64_t batch = 0;
    double min_ms = 0, median_ms = 0, p90_ms = 0, p99_ms = 0, items_per_s = 0, peak_rss_mb = 0, arena_mb = 0;
    double session_ms = 0;  // Session::load: reading, optimizing, binding, compiling
    std::string nodes;      // nodes per backend, e.g. "cpu 120, ref 2"
};

Tensor random_tensor(DType dtype, const Shape& shape, std::mt19937& rng) {
    Tensor t(dtype, shape);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    visit_dtype(dtype, [&]<typename T>() {
        T* p = t.data<T>();
        for (int64_t i = 0; i < t.numel(); ++i) {
            if constexpr (std::is_same_v<T, bool>)
                p[i] = uniform(rng) < 0.5f;
            else if constexpr (std::is_integral_v<T>)
                p[i] = static_cast<T>(uniform(rng) * 16);
            else
                p[i] = static_cast<T>(uniform(rng));
        }
    });
    return t;
}

double percentile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5));
    return v[i];
}

double peak_rss_mb() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

Result<std::vector<int64_t>> parse_batches(const std::string& text) {
    std::vector<int64_t> batches;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        char* end = nullptr;
        const long long b = std::strtoll(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || b <= 0)
            return invalid_argument("--batch '" + text + "' must list positive integers");
        batches.push_back(b);
    }
    return batches;
}

// Shapes for one batch size: explicit --shape wins; otherwise a dynamic leading dim becomes the batch.
Result<std::map<std::string, Shape>> shapes_for_batch(const std::vector<TensorDesc>& inputs,
                                                      const std::map<std::string, Shape>& explicit_shapes,
                                                      int64_t batch) {
    std::map<std::string, Shape> shapes;
    for (const TensorDesc& d : inputs) {
        Shape s = explicit_shapes.count(d.name) ? explicit_shapes.at(d.name) : d.shape;
        if (!explicit_shapes.count(d.name) && !s.empty() && s[0] < 0) s[0] = batch;
        for (int64_t dim : s)
            if (dim < 0)
                return invalid_argument("input '" + d.name + "' has dynamic dims " + shape_to_string(s) +
                                        "; give them with --shape " + d.name + "=DIMS");
        shapes[d.name] = s;
    }
    return shapes;
}

Result<Row> bench_batch(const Options& o, const std::map<std::string, Shape>& shapes, int64_t batch) {
    SessionOptions options;
    options.backend = o.backend;
    options.threads = o.threads;
    options.precision = o.precision;
    options.input_shapes = shapes;
    const auto load_start = std::chrono::steady_clock::now();
    FOVEA_ASSIGN(auto session, Session::load(o.model, options));
    // Session creation: reading the file, optimizing, binding the shapes and compiling the kernels.
    const double session_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count();
    std::fprintf(stderr, "fovea bench: batch %lld session created in %.0f ms\n", static_cast<long long>(batch),
                 session_ms);
    std::mt19937 rng(42);
    std::map<std::string, Tensor> inputs;
    for (const TensorDesc& d : session->inputs()) inputs[d.name] = random_tensor(d.dtype, shapes.at(d.name), rng);
    for (int i = 0; i < o.warmup; ++i) FOVEA_TRY(session->run(inputs).status());
    std::vector<double> ms;
    for (int i = 0; i < o.iterations; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        FOVEA_TRY(session->run(inputs).status());
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    Row r;
    r.batch = batch;
    r.session_ms = session_ms;
    r.min_ms = *std::min_element(ms.begin(), ms.end());
    r.median_ms = percentile(ms, 0.5);
    r.p90_ms = percentile(ms, 0.9);
    r.p99_ms = percentile(ms, 0.99);
    r.items_per_s = static_cast<double>(batch) * 1000.0 / r.median_ms;
    r.peak_rss_mb = peak_rss_mb();
    r.arena_mb = static_cast<double>(session->arena_bytes()) / (1024.0 * 1024.0);
    for (const auto& [backend, count] : session->nodes_per_backend())
        r.nodes += (r.nodes.empty() ? "" : ", ") + backend + " " + std::to_string(count);
    return r;
}

}  // namespace

Command add_bench(CLI::App& app) {
    auto* sub = app.add_subcommand("bench", "Measure latency and throughput on random inputs");
    auto o = std::make_shared<Options>();
    sub->add_option("model", o->model, "ONNX model file")->required();
    sub->add_option("--backend,-b", o->backend, "ref, cpu or cuda");
    sub->add_option("--batch", o->batches, "Comma-separated batch sizes for a dynamic leading dim, e.g. 1,8");
    sub->add_option("--threads", o->threads, "Threads (0: all cores)");
    sub->add_option("--precision", o->precision, "fp32 or bf16 (cpu backend); fp32, tf32 or fp16 (cuda backend)");
    sub->add_option("--warmup", o->warmup, "Untimed runs before measuring")->check(CLI::Range(0, 1 << 30));
    sub->add_option("--iterations", o->iterations, "Timed runs")->check(CLI::Range(1, 1 << 30));
    sub->add_option("--shape", o->shapes, "NAME=DIMS for an input's full shape (repeatable)");
    sub->add_option("--format", o->format, "md or json")->check(CLI::IsMember({"md", "json"}));
    return {sub, [o]() -> Status {
                FOVEA_ASSIGN(auto explicit_shapes, parse_shapes(o->shapes));
                FOVEA_ASSIGN(auto batches, parse_batches(o->batches));
                // The inputs' names and declared shapes, from the reference backend: the cheapest session (no
                // optimization, no packed weights), gone before the measured ones load.
                FOVEA_ASSIGN(auto probe, Session::load(o->model, SessionOptions{.backend = "ref"}));
                const std::vector<TensorDesc> descs = probe->inputs();
                probe.reset();
                // The GPU is described only when it runs the model: asking starts the CUDA driver, which a cpu run
                // should not pay.
                const std::string build = build_description(), cpu = cpu_description(),
                                  gpu = o->backend == "cuda" ? gpu_description() : "-";
                nlohmann::json rows = nlohmann::json::array();
                if (o->format == "md")
                    std::printf(
                        "| model | backend | precision | batch | min ms | median ms | p90 ms | p99 ms | items/s | peak "
                        "RSS MB | "
                        "arena MB | nodes | build | CPU | GPU |\n"
                        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
                for (int64_t batch : batches) {
                    FOVEA_ASSIGN(auto shapes, shapes_for_batch(descs, explicit_shapes, batch));
                    FOVEA_ASSIGN(Row r, bench_batch(*o, shapes, batch));
                    if (o->format == "md") {
                        std::printf(
                            "| %s | %s | %s | %lld | %.3f | %.3f | %.3f | %.3f | %.1f | %.1f | %.1f | %s | %s | %s | "
                            "%s |\n",
                            o->model.c_str(), o->backend.c_str(), o->precision.c_str(), static_cast<long long>(r.batch),
                            r.min_ms, r.median_ms, r.p90_ms, r.p99_ms, r.items_per_s, r.peak_rss_mb, r.arena_mb,
                            r.nodes.c_str(), build.c_str(), cpu.c_str(), gpu.c_str());
                        std::fflush(stdout);
                    }
                    rows.push_back({{"model", o->model},
                                    {"backend", o->backend},
                                    {"batch", r.batch},
                                    {"min_ms", r.min_ms},
                                    {"median_ms", r.median_ms},
                                    {"p90_ms", r.p90_ms},
                                    {"p99_ms", r.p99_ms},
                                    {"items_per_s", r.items_per_s},
                                    {"peak_rss_mb", r.peak_rss_mb},
                                    {"arena_mb", r.arena_mb},
                                    {"session_ms", r.session_ms},
                                    {"nodes", r.nodes},
                                    {"build", build},
                                    {"cpu", cpu},
                                    {"gpu", gpu},
                                    {"threads", o->threads},
                                    {"iterations", o->iterations}});
                }
                if (o->format == "json") std::printf("%s\n", rows.dump(2).c_str());
                return Status::ok();
            }};
}

}  // namespace fovea::cli
