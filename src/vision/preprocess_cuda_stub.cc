// CudaPreprocessor in a build without CUDA: creating one fails with a clear status.
#include "vision/preprocess_cuda.h"

namespace fovea::vision {

Result<std::unique_ptr<CudaPreprocessor>> CudaPreprocessor::create(const PreprocessSpec& spec, int max_batch) {
    FOVEA_TRY(validate(spec));
    (void)max_batch;
    return unsupported("CudaPreprocessor: this build of fovea has no CUDA (configure with nvcc on the PATH)");
}

CudaPreprocessor::~CudaPreprocessor() = default;

Status CudaPreprocessor::run(std::span<const DeviceImage>, std::span<const Rect>, void*, void*,
                             std::span<InputTransform>) {
    return unsupported("CudaPreprocessor: this build of fovea has no CUDA");
}

bool cuda_device_available() {
    return false;
}

}  // namespace fovea::vision
