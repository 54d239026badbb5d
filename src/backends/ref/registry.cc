#include "backends/ref/kernels.h"

namespace fovea::ref {

namespace {
struct Entry {
    std::string_view name;
    RefKernel kernel;
};
constexpr Entry kKernels[] = {
#define FOVEA_OP(name) {#name, &ref_##name},
#include "ops/ops.def"
#undef FOVEA_OP
};
}  // namespace

RefKernel find_kernel(std::string_view op_type) {
    for (const Entry& e : kKernels)
        if (e.name == op_type) return e.kernel;
    return nullptr;
}

Status KernelContext::fail(const std::string& reason) const {
    return invalid_argument(node.describe() + ": " + reason);
}

Status KernelContext::fail_unsupported(const std::string& reason) const {
    return unsupported(node.describe() + ": " + reason);
}

std::vector<int64_t> broadcast_strides(const Shape& shape, size_t out_rank) {
    std::vector<int64_t> strides(out_rank, 0);
    const std::vector<int64_t> own = contiguous_strides(shape);
    const size_t offset = out_rank - shape.size();
    for (size_t i = 0; i < shape.size(); ++i) strides[offset + i] = shape[i] == 1 ? 0 : own[i];
    return strides;
}

}  // namespace fovea::ref
