// The CUDA backend: whole graphs on one GPU (cuDNN convolutions, cuBLAS matrix products, fovea's kernels for the
// rest), in one device arena, replayed as a CUDA graph after the first run. No CUDA header leaks out of this folder:
// builds without CUDA compile cuda_stub.cc instead, and then "cuda" is never available.
#pragma once

#include <memory>

#include "fovea/status.h"
#include "runtime/backend.h"

namespace fovea::cuda {

// Ok when this process can run the cuda backend: a CUDA device, and a cuDNN whose major version is the headers'
// and no older than them. Otherwise the reason. Checked once per process.
Status cuda_usable();

// What the most recent cuda engine run in this process measured, for benchmarks: GPU time between CUDA events
// around the run's work on its stream (input and output copies included), whether it replayed a CUDA graph, and
// whether its engine was built from the engine cache without any cuDNN algorithm search.
struct LastRun {
    float device_ms = 0;
    bool graph = false;
    bool cache_hit = false;
};
LastRun last_run();

// The cuda backend for `options.precision` "fp32", "tf32" or "fp16"; fails when cuda_usable() does.
Result<std::unique_ptr<runtime::Backend>> make_cuda_backend(const runtime::BackendOptions& options);

}  // namespace fovea::cuda
