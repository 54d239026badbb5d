#include <cuda_runtime.h>

#include "backends/cuda/device_info.h"

namespace fovea::cuda {

std::string describe_device() {
    int count = 0;
    // Without a driver this fails cleanly ("CUDA driver version is insufficient" or "no CUDA-capable device").
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status == cudaErrorInsufficientDriver) return "none (no NVIDIA driver, or one older than this build's CUDA)";
    if (const cudaError_t e = status; e != cudaSuccess) return std::string("none (") + cudaGetErrorString(e) + ")";
    if (count == 0) return "none (no CUDA device)";
    cudaDeviceProp p{};
    if (const cudaError_t e = cudaGetDeviceProperties(&p, 0); e != cudaSuccess)
        return std::string("none (") + cudaGetErrorString(e) + ")";
    int driver = 0;
    cudaDriverGetVersion(&driver);
    return std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
           std::to_string(p.totalGlobalMem >> 30) + " GiB, driver " + std::to_string(driver / 1000) + "." +
           std::to_string(driver % 1000 / 10) + (count > 1 ? ", " + std::to_string(count) + " devices" : "") + ")";
}

}  // namespace fovea::cuda
