// Measures this CPU's achievable fp32 peak: the best GFLOP/s of a large oneDNN sgemm (C = A * B, square, row-major)
// with a given number of threads. Benchmarks quote their achieved GFLOP/s as a fraction of this number, which is
// what a well-tuned kernel reaches on this machine, not the datasheet's FMA-count ceiling.
//
//   peak_gflops [--threads T] [--size N] [--repeats R] [--format md|json]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

namespace {

struct Options {
    int threads = 1;
    long size = 2048;
    int repeats = 10;
    bool json = false;
};

bool parse_int(const char* text, long lo, long& out) {
    char* end = nullptr;
    const long v = std::strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < lo) return false;
    out = v;
    return true;
}

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (i + 1 >= argc) return false;
        const char* value = argv[++i];
        long v = 0;
        if (flag == "--threads" && parse_int(value, 1, v))
            o.threads = static_cast<int>(v);
        else if (flag == "--size" && parse_int(value, 16, v))
            o.size = v;
        else if (flag == "--repeats" && parse_int(value, 1, v))
            o.repeats = static_cast<int>(v);
        else if (flag == "--format" && (std::strcmp(value, "md") == 0 || std::strcmp(value, "json") == 0))
            o.json = std::strcmp(value, "json") == 0;
        else
            return false;
    }
    return true;
}

const char* isa_name(dnnl::cpu_isa isa) {
    switch (isa) {
        case dnnl::cpu_isa::all:
            return "all";
        case dnnl::cpu_isa::sse41:
            return "sse41";
        case dnnl::cpu_isa::avx:
            return "avx";
        case dnnl::cpu_isa::avx2:
            return "avx2";
        case dnnl::cpu_isa::avx2_vnni:
            return "avx2_vnni";
        case dnnl::cpu_isa::avx512_mic:
            return "avx512_mic";
        case dnnl::cpu_isa::avx512_mic_4ops:
            return "avx512_mic_4ops";
        case dnnl::cpu_isa::avx512_core:
            return "avx512_core";
        case dnnl::cpu_isa::avx512_core_vnni:
            return "avx512_core_vnni";
        case dnnl::cpu_isa::avx512_core_bf16:
            return "avx512_core_bf16";
        case dnnl::cpu_isa::avx512_core_amx:
            return "avx512_core_amx";
    }
    return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o)) {
        std::fprintf(stderr, "usage: peak_gflops [--threads T] [--size N] [--repeats R] [--format md|json]\n");
        return 2;
    }
    // oneDNN's CPU runtime here is OpenMP: its thread count is the team size of the calling thread.
    omp_set_num_threads(o.threads);

    using tag = dnnl::memory::format_tag;
    using dt = dnnl::memory::data_type;
    const dnnl::memory::dim n = o.size;
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    const dnnl::memory::desc md({n, n}, dt::f32, tag::ab);
    std::vector<float> a(static_cast<size_t>(n * n)), b(a.size()), c(a.size());
    // Values that stay finite through the products, and are not zero, which some hardware handles faster.
    for (size_t i = 0; i < a.size(); ++i) {
        a[i] = static_cast<float>(i % 7) * 0.125f + 0.5f;
        b[i] = static_cast<float>(i % 5) * 0.25f - 0.5f;
    }
    dnnl::memory a_mem(md, engine, a.data()), b_mem(md, engine, b.data()), c_mem(md, engine, c.data());
    dnnl::matmul gemm(dnnl::matmul::primitive_desc(dnnl::matmul::desc(md, md, md), engine));
    const auto run = [&] {
        gemm.execute(stream, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
        stream.wait();
    };

    run();  // first call: JIT code generation and page faults on C
    double best_s = 1e30;
    for (int r = 0; r < o.repeats; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        run();
        best_s = std::min(best_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    const double gflops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) / best_s / 1e9;
    const char* isa = isa_name(dnnl::get_effective_cpu_isa());
    if (o.json)
        std::printf(
            "{\"threads\": %d, \"size\": %ld, \"repeats\": %d, \"best_ms\": %.3f, \"gflops\": %.2f, "
            "\"isa\": \"%s\"}\n",
            o.threads, o.size, o.repeats, best_s * 1e3, gflops, isa);
    else
        std::printf(
            "| threads | sgemm | best ms | GFLOP/s | oneDNN ISA |\n|---|---|---|---|---|\n"
            "| %d | %ld^3 | %.3f | %.1f | %s |\n",
            o.threads, o.size, best_s * 1e3, gflops, isa);
    return 0;
}
