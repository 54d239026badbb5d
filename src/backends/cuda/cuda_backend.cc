#include "backends/cuda/cuda_backend.h"

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstdio>
#include <mutex>

#include "backends/cuda/cuda_libs.h"
#include "backends/cuda/device_info.h"
#include "backends/cuda/engine.h"

namespace fovea::cuda {

namespace {

std::string version_text(size_t v) {
    // cuDNN 9 encodes versions as major * 10000 + minor * 100 + patch.
    return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

Status check_device() {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return unsupported(std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e));
    }
    if (count == 0) return unsupported("cudaGetDeviceCount found no device");
    // Only now, with a device to run on: cuDNN and cuBLAS (see cuda_libs.h).
    FOVEA_TRY(load_cuda_libraries());
    // The headers this build was compiled against set the floor: an older cuDNN (e.g. a system copy found first on
    // the library path) may lack what we call, and a different major version is a different ABI.
    const size_t found = cudnnGetVersion();
    if (found / 10000 != CUDNN_MAJOR || found < static_cast<size_t>(CUDNN_VERSION))
        return unsupported("cuDNN " + version_text(found) + " was loaded, this build needs " +
                           version_text(CUDNN_VERSION) + " or a newer " + std::to_string(CUDNN_MAJOR) +
                           ".x (put the right libcudnn first on LD_LIBRARY_PATH)");
    std::fprintf(stderr, "fovea cuda: %s, cuDNN %s, CUDA runtime %d\n", describe_device().c_str(),
                 version_text(found).c_str(), CUDART_VERSION);
    return Status::ok();
}

class CudaBackend final : public runtime::Backend {
  public:
    CudaBackend(Precision precision, cudaStream_t stream) : precision_(precision), stream_(stream) {}
    std::string_view name() const override { return "cuda"; }

    // Only for graphs compile_graph hands back: the session then runs every node with the reference kernels.
    Result<std::unique_ptr<runtime::NodeKernel>> compile(const ir::Node& /*node*/) override {
        return std::unique_ptr<runtime::NodeKernel>();
    }

    // A value whose shape only the data decides (a runtime Expand's, NonZero's) leaves the engine nothing to plan
    // memory or kernels for: such a graph runs node by node on the host, and says so, unless FOVEA_CUDA_HOST=0.
    Result<std::unique_ptr<runtime::GraphEngine>> compile_graph(const ir::Graph& graph,
                                                                const std::vector<bool>& run) override {
        for (size_t i = 0; i < run.size() && host_fallback_enabled(); ++i) {
            if (!run[i]) continue;
            const ir::Node& node = *graph.nodes()[i];
            for (const ir::Value* v : node.outputs)
                if (v && !v->shape_known()) {
                    std::fprintf(stderr,
                                 "fovea cuda: %s: output '%s' has a data-dependent shape; the model runs on the host "
                                 "(reference kernels)\n",
                                 node.describe().c_str(), v->name.c_str());
                    return std::unique_ptr<runtime::GraphEngine>();
                }
        }
        return build_engine(graph, run, precision_, stream_);
    }

  private:
    Precision precision_;
    cudaStream_t stream_;  // the caller's, or null
};

}  // namespace

Status cuda_usable() {
    static std::once_flag once;
    static Status status;
    std::call_once(once, [] { status = check_device(); });
    return status;
}

Result<std::unique_ptr<runtime::Backend>> make_cuda_backend(const runtime::BackendOptions& options) {
    Precision precision = Precision::kFP32;
    if (options.precision == "tf32")
        precision = Precision::kTF32;
    else if (options.precision == "fp16")
        precision = Precision::kFP16;
    else if (options.precision != "fp32")
        return unsupported("the cuda backend computes in fp32, tf32 or fp16, not " + options.precision);
    if (Status usable = cuda_usable(); !usable.is_ok())
        return unsupported("backend 'cuda' is not available: " + usable.message());
    return std::unique_ptr<runtime::Backend>(
        std::make_unique<CudaBackend>(precision, static_cast<cudaStream_t>(options.stream)));
}

}  // namespace fovea::cuda
