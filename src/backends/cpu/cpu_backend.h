// The CPU backend: oneDNN primitives (and fovea's own vectorized kernels) for the nodes it takes.
#pragma once

#include <memory>

#include "runtime/backend.h"

namespace fovea::cpu {

std::unique_ptr<runtime::Backend> make_cpu_backend(const runtime::BackendOptions& options);

}  // namespace fovea::cpu
