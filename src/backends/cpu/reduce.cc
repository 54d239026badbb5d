// Reductions (ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceL2) on oneDNN reduction, with the axes
// known at compile time.
#include "backends/cpu/kernels.h"
#include "ops/op.h"

namespace fovea::cpu {

namespace {

constexpr auto kF32 = dnnl::memory::data_type::f32;

std::optional<dnnl::algorithm> reduction_of(const std::string& op) {
    if (op == "ReduceMean") return dnnl::algorithm::reduction_mean;
    if (op == "ReduceSum") return dnnl::algorithm::reduction_sum;
    if (op == "ReduceMax") return dnnl::algorithm::reduction_max;
    if (op == "ReduceMin") return dnnl::algorithm::reduction_min;
    if (op == "ReduceProd") return dnnl::algorithm::reduction_mul;
    if (op == "ReduceL2") return dnnl::algorithm::reduction_norm_lp_sum;
    return std::nullopt;
}

}  // namespace

Compiled compile_reduce(const ir::Node& node, Context& ctx) {
    const ir::Value& x = *node.inputs[0];
    const ir::Value& y = *node.outputs[0];
    const std::optional<dnnl::algorithm> alg = reduction_of(node.op_type);
    if (!alg || x.dtype != DType::kFloat32 || y.dtype != DType::kFloat32 || !x.shape_known() || !y.shape_known())
        return decline();
    const Shape& in = *x.shape;
    if (in.empty() || shape_numel(in) == 0) return decline();
    // The importer turned the axes attribute into input 1; it must be known now. No axes reduce everything, unless
    // noop_with_empty_axes makes the node an identity (left to ref).
    const ir::Value* axes_value = node.input(1);
    if (axes_value && !axes_value->constant) return decline();
    const std::vector<int64_t> axes = axes_value ? axes_value->constant->to_int64_vector() : std::vector<int64_t>{};
    if (axes.empty() && node.attr_int("noop_with_empty_axes", 0) != 0) return decline();
    Shape kept = in;
    if (axes.empty()) kept.assign(in.size(), 1);
    for (int64_t axis : axes) {
        FOVEA_ASSIGN(const int64_t a, ops::normalize_axis(axis, static_cast<int64_t>(in.size())));
        kept[static_cast<size_t>(a)] = 1;
    }
    // Without keepdims the output drops the reduced dims, which leaves its bytes as they are.
    if (shape_numel(kept) != shape_numel(*y.shape)) return decline();
    const dnnl::memory::desc src = plain_desc(in, kF32), dst = plain_desc(kept, kF32);
    const float p = *alg == dnnl::algorithm::reduction_norm_lp_sum ? 2.0f : 0.0f;
    const dnnl::reduction::desc desc(*alg, src, dst, p, 0.0f);
    const dnnl::reduction::primitive_desc pd(desc, user_attr(), ctx.engine());
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    kernel->add(dnnl::reduction(pd), {{DNNL_ARG_SRC, kernel->input(0, src)}, {DNNL_ARG_DST, kernel->output(0, dst)}});
    return DnnlKernel::finish(std::move(kernel));
}

}  // namespace fovea::cpu
