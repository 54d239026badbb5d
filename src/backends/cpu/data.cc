// Data movement: shape-only ops as copies, Transpose and Split as reorders of strided views, Concat.
#include <cstring>
#include <numeric>

#include "backends/cpu/kernels.h"
#include "ops/op.h"

namespace fovea::cpu {

namespace {

using dims = dnnl::memory::dims;

// Reshape, Flatten, Squeeze, Unsqueeze, Identity and inference Dropout keep the bytes. The output cannot alias the
// input (the memory plan may hand the input's bytes to another value once this node ran), so they are copied.
class CopyKernel final : public runtime::NodeKernel {
  public:
    explicit CopyKernel(size_t bytes) : bytes_(bytes) {}
    Status run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) override {
        if (inputs.empty() || !inputs[0] || inputs[0]->nbytes() != bytes_ || outputs.empty() ||
            outputs[0].nbytes() != bytes_)
            return internal_error("copy kernel: tensor sizes differ from the compiled ones");
        std::memcpy(outputs[0].raw_data(), inputs[0]->raw_data(), bytes_);
        return Status::ok();
    }

  private:
    size_t bytes_;
};

// The dtype shared by the node's first input and every output, if oneDNN has it and every shape is known.
std::optional<dnnl::memory::data_type> movable_dtype(const ir::Node& node) {
    const ir::Value* x = node.input(0);
    if (!x || !x->shape_known()) return std::nullopt;
    for (const ir::Value* out : node.outputs)
        if (!out || out->dtype != x->dtype || !out->shape_known()) return std::nullopt;
    return dnnl_dtype(x->dtype);
}

}  // namespace

Compiled compile_copy(const ir::Node& node, Context&) {
    // Dropout's optional mask output is not a copy, nor is training mode unless it is known to be off.
    if (node.outputs.size() != 1 || !node.outputs[0] || !node.input(0)) return decline();
    if (node.op_type == "Dropout" && node.input(2)) {
        const ir::Value& training = *node.inputs[2];
        if (!training.constant || training.constant->numel() != 1 || training.constant->element_as_double(0) != 0)
            return decline();
    }
    const ir::Value& x = *node.inputs[0];
    const ir::Value& y = *node.outputs[0];
    if (!x.shape_known() || !y.shape_known() || x.dtype != y.dtype) return decline();
    const size_t bytes = static_cast<size_t>(shape_numel(*x.shape)) * dtype_size(x.dtype);
    if (bytes != static_cast<size_t>(shape_numel(*y.shape)) * dtype_size(y.dtype)) return decline();
    return std::unique_ptr<runtime::NodeKernel>(new CopyKernel(bytes));
}

Compiled compile_transpose(const ir::Node& node, Context& ctx) {
    const std::optional<dnnl::memory::data_type> dtype = movable_dtype(node);
    if (!dtype) return decline();
    const Shape& in = shape_of(*node.inputs[0]);
    const Shape& out = shape_of(*node.outputs[0]);
    if (in.empty() || shape_numel(in) == 0) return decline();
    std::vector<int64_t> perm = node.attr_ints("perm");
    if (perm.empty()) {
        perm.resize(in.size());
        std::iota(perm.rbegin(), perm.rend(), 0);
    }
    // The input read in output order: output dim i walks input dim perm[i].
    const std::vector<int64_t> in_strides = contiguous_strides(in);
    dims strides;
    for (int64_t p : perm) strides.push_back(in_strides[static_cast<size_t>(p)]);
    const dnnl::memory::desc src(dims(out.begin(), out.end()), *dtype, strides);
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    kernel->add_reorder(kernel->input(0, src), kernel->output(0, plain_desc(out, *dtype)));
    return DnnlKernel::finish(std::move(kernel));
}

Compiled compile_split(const ir::Node& node, Context& ctx) {
    const std::optional<dnnl::memory::data_type> dtype = movable_dtype(node);
    if (!dtype) return decline();
    const Shape& in = shape_of(*node.inputs[0]);
    FOVEA_ASSIGN(const int64_t axis_value,
                 ops::normalize_axis(node.attr_int("axis", 0), static_cast<int64_t>(in.size())));
    const auto axis = static_cast<size_t>(axis_value);
    const dnnl::memory::desc whole = plain_desc(in, *dtype);
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    // Outputs are consecutive slices along the axis, sized as inference bound them.
    int64_t offset = 0;
    for (size_t i = 0; i < node.outputs.size(); ++i) {
        const Shape& out = shape_of(*node.outputs[i]);
        if (shape_numel(out) > 0) {
            dims offsets(in.size(), 0);
            offsets[axis] = offset;
            const dnnl::memory::desc part = whole.submemory_desc(dims(out.begin(), out.end()), offsets);
            kernel->add_reorder(kernel->input(0, part), kernel->output(i, plain_desc(out, *dtype)));
        }
        offset += out[axis];
    }
    if (offset != in[axis]) return decline();
    return DnnlKernel::finish(std::move(kernel));
}

Compiled compile_concat(const ir::Node& node, Context& ctx) {
    const ir::Value* y = node.outputs.empty() ? nullptr : node.outputs[0];
    if (!y || !y->shape_known() || shape_numel(*y->shape) == 0) return decline();
    const std::optional<dnnl::memory::data_type> dtype = dnnl_dtype(y->dtype);
    if (!dtype) return decline();
    const Shape& out = *y->shape;
    FOVEA_ASSIGN(const int64_t axis, ops::normalize_axis(node.attr_int("axis", 0), static_cast<int64_t>(out.size())));
    std::vector<dnnl::memory::desc> srcs;
    std::vector<size_t> used;  // inputs with elements (empty ones contribute nothing)
    for (size_t i = 0; i < node.inputs.size(); ++i) {
        const ir::Value* in = node.inputs[i];
        if (!in || in->dtype != y->dtype || !in->shape_known()) return decline();
        if (shape_numel(*in->shape) == 0) continue;
        srcs.push_back(plain_desc(*in->shape, *dtype));
        used.push_back(i);
    }
    const dnnl::memory::desc dst = plain_desc(out, *dtype);
    const dnnl::concat::primitive_desc pd(dst, static_cast<int>(axis), srcs, ctx.engine(), user_attr());
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_DST, kernel->output(0, dst)}};
    for (size_t j = 0; j < used.size(); ++j)
        args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(j)] = kernel->input(used[j], srcs[j]);
    kernel->add(dnnl::concat(pd), std::move(args));
    return DnnlKernel::finish(std::move(kernel));
}

}  // namespace fovea::cpu
