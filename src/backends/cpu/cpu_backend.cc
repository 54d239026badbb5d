#include "backends/cpu/cpu_backend.h"

namespace fovea::cpu {

namespace {

// Placeholder until the oneDNN kernels land: declines every node, so all run on the reference kernels.
class CpuBackend final : public runtime::Backend {
public:
    explicit CpuBackend(const runtime::BackendOptions& options) : options_(options) {}
    std::string_view name() const override { return "cpu"; }
    Result<std::unique_ptr<runtime::NodeKernel>> compile(const ir::Node&) override {
        return std::unique_ptr<runtime::NodeKernel>();
    }

private:
    runtime::BackendOptions options_;
};

}  // namespace

std::unique_ptr<runtime::Backend> make_cpu_backend(const runtime::BackendOptions& options) {
    return std::make_unique<CpuBackend>(options);
}

}  // namespace fovea::cpu
