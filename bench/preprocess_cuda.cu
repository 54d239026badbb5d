// CudaPreprocessor throughput: 16 1080p frames in device memory (BGR24, as CPU decoding uploads them, and NV12, as
// NVDEC leaves them) -> one 640x640 float16 NCHW letterboxed batch. Prints a markdown table: medians of 200 runs
// (CUDA events) of a whole call (host-side setup and launch included) and of the kernels alone (the call captured
// once in a CUDA graph and replayed), the byte floor (bytes read + written over the device-to-device cudaMemcpy
// bandwidth measured in the same run) and the ratio of the kernels' time to it.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "preprocess_cuda_runner.h"

namespace {

constexpr int kFrames = 16, kWidth = 1920, kHeight = 1080, kInput = 640, kRuns = 200, kWarmup = 10;

void check(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return;
    std::fprintf(stderr, "preprocess_cuda_bench: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
}

double median(std::vector<float> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// Milliseconds per call of `f` on `stream`, one event pair per call, after a warm-up.
template <typename F>
std::vector<float> time_runs(cudaStream_t stream, int warmup, int runs, F&& f) {
    cudaEvent_t start, stop;
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    for (int i = 0; i < warmup; ++i) f();
    check(cudaStreamSynchronize(stream), "warm-up");
    std::vector<float> ms;
    for (int i = 0; i < runs; ++i) {
        check(cudaEventRecord(start, stream), "cudaEventRecord");
        f();
        check(cudaEventRecord(stop, stream), "cudaEventRecord");
        check(cudaEventSynchronize(stop), "cudaEventSynchronize");
        float t = 0;
        check(cudaEventElapsedTime(&t, start, stop), "cudaEventElapsedTime");
        ms.push_back(t);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    return ms;
}

// One format's frames: random bytes (fixed seed), one pitched allocation each, as a decoder would hand them over.
struct Frames {
    std::vector<void*> buffers;
    std::vector<const unsigned char*> pointers;
    size_t pitch = 0;
    size_t bytes = 0;  // per frame, without pitch padding
};

Frames make_frames(bool nv12) {
    const size_t row = nv12 ? kWidth : static_cast<size_t>(kWidth) * 3;
    const size_t rows = nv12 ? kHeight * 3 / 2 : kHeight;
    std::vector<uint8_t> host(row * rows);
    uint32_t seed = 12345;
    for (uint8_t& b : host) b = static_cast<uint8_t>((seed = seed * 1664525u + 1013904223u) >> 24);
    Frames f;
    f.bytes = row * rows;
    for (int i = 0; i < kFrames; ++i) {
        void* p = nullptr;
        check(cudaMallocPitch(&p, &f.pitch, row, rows), "cudaMallocPitch");
        check(cudaMemcpy2D(p, f.pitch, host.data(), row, row, rows, cudaMemcpyHostToDevice), "cudaMemcpy2D");
        f.buffers.push_back(p);
        f.pointers.push_back(static_cast<const unsigned char*>(p));
    }
    return f;
}

}  // namespace

int main() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        std::fprintf(stderr, "preprocess_cuda_bench: no CUDA device\n");
        return 1;
    }
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    cudaStream_t stream;
    check(cudaStreamCreate(&stream), "cudaStreamCreate");

    std::string error;
    fovea::bench::PreprocessRunner* runner =
        fovea::bench::create_letterbox_runner(kInput, kInput, true, kFrames, error);
    if (runner == nullptr) {
        std::fprintf(stderr, "preprocess_cuda_bench: %s\n", error.c_str());
        return 1;
    }
    const size_t out_bytes = fovea::bench::runner_item_bytes(runner) * kFrames;
    void* dst = nullptr;
    check(cudaMalloc(&dst, out_bytes), "cudaMalloc");

    // Device-to-device copy bandwidth, counting both the read and the write, on a buffer far larger than L2.
    const size_t copy_bytes = size_t{512} << 20;
    void *a = nullptr, *b = nullptr;
    check(cudaMalloc(&a, copy_bytes), "cudaMalloc");
    check(cudaMalloc(&b, copy_bytes), "cudaMalloc");
    check(cudaMemset(a, 1, copy_bytes), "cudaMemset");
    const std::vector<float> copy_ms = time_runs(stream, 3, 20, [&] {
        check(cudaMemcpyAsync(b, a, copy_bytes, cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync");
    });
    const double copy_gbs = 2.0 * copy_bytes / (median(copy_ms) * 1e-3) / 1e9;

    std::printf("## CudaPreprocessor: %d x %dx%d frames -> %dx%d float16 NCHW letterbox (%s, sm_%d%d)\n\n", kFrames,
                kWidth, kHeight, kInput, kInput, prop.name, prop.major, prop.minor);
    std::printf(
        "| frames | call median ms | kernels median ms | kernels p10 / p90 ms | frames/s (kernels) | MB read + "
        "written | D2D copy GB/s | floor ms | kernels / floor |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const bool nv12 : {false, true}) {
        Frames frames = make_frames(nv12);
        auto call = [&] {
            if (!fovea::bench::runner_run(runner, frames.pointers.data(), kFrames, kWidth, kHeight,
                                          static_cast<int>(frames.pitch), nv12, dst, stream, error)) {
                std::fprintf(stderr, "preprocess_cuda_bench: %s\n", error.c_str());
                std::exit(1);
            }
        };
        const std::vector<float> call_ms = time_runs(stream, kWarmup, kRuns, call);
        cudaGraph_t graph;
        cudaGraphExec_t exec;
        check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
        call();
        check(cudaStreamEndCapture(stream, &graph), "cudaStreamEndCapture");
        check(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
        std::vector<float> kernel_ms =
            time_runs(stream, kWarmup, kRuns, [&] { check(cudaGraphLaunch(exec, stream), "cudaGraphLaunch"); });
        cudaGraphExecDestroy(exec);
        cudaGraphDestroy(graph);

        // Every frame byte read once, every output byte written once.
        const double moved = static_cast<double>(kFrames) * static_cast<double>(frames.bytes) + out_bytes;
        const double floor_ms = moved / (copy_gbs * 1e9) * 1e3;
        const double med = median(kernel_ms);
        std::sort(kernel_ms.begin(), kernel_ms.end());
        std::printf("| %s | %.3f | %.3f | %.3f / %.3f | %.0f | %.1f | %.0f | %.3f | %.2f |\n", nv12 ? "NV12" : "BGR24",
                    median(call_ms), med, kernel_ms[kernel_ms.size() / 10], kernel_ms[kernel_ms.size() * 9 / 10],
                    kFrames / (med * 1e-3), moved / 1e6, copy_gbs, floor_ms, med / floor_ms);
        for (void* f : frames.buffers) cudaFree(f);
    }
    std::printf(
        "\nThe floor counts every frame byte once. At exactly 1/3 scale the bilinear taps land on pixel centres, "
        "so the kernel reads only the rows and columns it samples (about 1/3 of the rows): a ratio below 1 is "
        "possible and not an error. A call adds the host-side setup and the launch to the kernels.\n");

    fovea::bench::destroy_runner(runner);
    cudaFree(dst);
    cudaFree(a);
    cudaFree(b);
    cudaStreamDestroy(stream);
    return 0;
}
