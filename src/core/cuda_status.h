// A CUDA runtime result as a Status, for the translation units built with CUDA (the rest never include it, so no
// CUDA header reaches them).
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "fovea/status.h"

namespace fovea {

// OK for cudaSuccess; otherwise an internal error: `what`, then the CUDA error's name and description. A failed call
// also leaves its error as the runtime's last one; it is cleared, so that a later check does not report it again.
inline Status cuda_status(cudaError_t e, const std::string& what) {
    if (e == cudaSuccess) return Status::ok();
    cudaGetLastError();
    return internal_error(what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

}  // namespace fovea
