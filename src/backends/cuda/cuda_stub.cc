// Builds without CUDA (FOVEA_CUDA=OFF, or no nvcc at configure time): the backend exists by name only.
#include "backends/cuda/cuda_backend.h"

namespace fovea::cuda {

Status cuda_usable() {
    return unsupported("this build of fovea has no CUDA (configure with FOVEA_CUDA=ON where nvcc is installed)");
}

LastRun last_run() {
    return {};
}

Result<std::unique_ptr<runtime::Backend>> make_cuda_backend(const runtime::BackendOptions& /*options*/) {
    return unsupported("backend 'cuda' is not available: " + cuda_usable().message());
}

}  // namespace fovea::cuda
