// What CUDA device this process sees; safe to call on machines without a GPU or driver.
#pragma once

#include <string>

namespace fovea::cuda {

// "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB, driver 13.0)", or "none (reason)" when no device can be used.
std::string describe_device();

}  // namespace fovea::cuda
