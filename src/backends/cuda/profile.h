// Per-node GPU time of a cuda engine, for finding where a model's time goes: with FOVEA_CUDA_PROFILE=1 the engine
// runs node by node (no CUDA graph) with an event between launches, and prints a table to stderr when it is
// destroyed. Kernel times are exact when the GPU is the bottleneck; for tiny kernels the gaps between them (launch
// overhead that a graph replay would hide) are counted too. Private to src/backends/cuda.
#pragma once

#include <cuda_runtime_api.h>

#include <functional>
#include <string>
#include <vector>

#include "fovea/status.h"

namespace fovea::cuda {

// Milliseconds per call of `run`, which enqueues work on `stream`: the least of three batches of three calls, after
// a warm-up call. For choosing between implementations at engine build.
Result<float> measure_ms(cudaStream_t stream, const std::function<Status()>& run);

class StepProfiler {
  public:
    // Whether FOVEA_CUDA_PROFILE asks for it.
    static bool requested();
    ~StepProfiler();
    // One label per step: the node's description, and its op type (the per-op table's key).
    Status init(std::vector<std::string> labels, std::vector<std::string> kinds);
    // Before step i (i == steps: after the last one).
    Status mark(size_t i, cudaStream_t stream);
    // Waits for the last mark, then adds this run's step times.
    void collect();
    // The tables: per op type, and the slowest steps.
    std::string report(const std::string& title) const;

  private:
    std::vector<cudaEvent_t> events_;
    std::vector<std::string> labels_, kinds_;
    std::vector<double> total_ms_;
    int runs_ = 0;
};

}  // namespace fovea::cuda
