#include "backends/cpu/dnnl_kernel.h"

#include <omp.h>

#include <algorithm>
#include <new>

namespace fovea::cpu {

namespace {

constexpr size_t kAlign = 64;

size_t aligned(size_t bytes) {
    return (bytes + kAlign - 1) / kAlign * kAlign;
}

}  // namespace

ThreadScope::ThreadScope(int threads) {
    if (threads <= 0) return;
    saved_ = omp_get_max_threads();
    omp_set_num_threads(threads);
}

ThreadScope::~ThreadScope() {
    if (saved_ > 0) omp_set_num_threads(saved_);
}

void Context::AlignedDelete::operator()(std::byte* p) const {
    ::operator delete(p, std::align_val_t(kAlign));
}

Context::Context(int threads, bool bf16)
    : threads_(threads), bf16_(bf16), engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

void Context::reserve_workspace(size_t bytes) {
    if (bytes <= workspace_bytes_) return;
    workspace_.reset(static_cast<std::byte*>(::operator new(bytes, std::align_val_t(kAlign))));
    workspace_bytes_ = bytes;
}

dnnl::memory::data_type Context::storage_type(const ir::Value& v) const {
    if (bf16_values_.count(&v)) return dnnl::memory::data_type::bf16;
    return dnnl_dtype(v.dtype).value_or(dnnl::memory::data_type::f32);
}

dnnl::memory::desc Context::layout_desc(const ir::Value& v, dnnl::memory::data_type dtype) const {
    return image_desc(shape_of(v), dtype, nhwc(v));
}

std::optional<dnnl::memory::data_type> dnnl_dtype(DType dtype) {
    using dt = dnnl::memory::data_type;
    switch (dtype) {
        case DType::kFloat32:
            return dt::f32;
        case DType::kFloat16:
            return dt::f16;
        case DType::kBFloat16:
            return dt::bf16;
        case DType::kInt8:
            return dt::s8;
        case DType::kUInt8:
            return dt::u8;
        case DType::kInt32:
            return dt::s32;
        case DType::kFloat64:
        case DType::kInt64:
        case DType::kBool:
            return std::nullopt;
    }
    return std::nullopt;
}

dnnl::memory::desc plain_desc(const Shape& shape, dnnl::memory::data_type dtype) {
    if (shape.empty()) return dnnl::memory::desc({1}, dtype, dnnl::memory::dims{1});
    const std::vector<int64_t> strides = contiguous_strides(shape);
    return dnnl::memory::desc(dnnl::memory::dims(shape.begin(), shape.end()), dtype,
                              dnnl::memory::dims(strides.begin(), strides.end()));
}

dnnl::memory::desc image_desc(const Shape& shape, dnnl::memory::data_type dtype, bool nhwc) {
    if (!nhwc) return plain_desc(shape, dtype);
    FOVEA_CHECK(shape.size() == 4);
    return dnnl::memory::desc(dnnl::memory::dims(shape.begin(), shape.end()), dtype, dnnl::memory::format_tag::nhwc);
}

const Shape& shape_of(const ir::Value& v) {
    FOVEA_CHECK(v.shape_known());
    return *v.shape;
}

bool all_float32(const ir::Node& node) {
    auto usable = [](const ir::Value* v) {
        return !v || (v->dtype == DType::kFloat32 && v->shape_known() && shape_numel(*v->shape) > 0);
    };
    return std::all_of(node.inputs.begin(), node.inputs.end(), usable) &&
           std::all_of(node.outputs.begin(), node.outputs.end(), usable);
}

bool cpu_has_bf16() {
    // Instruction sets are bit masks, each including those it extends.
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
    return (isa & bf16) == bf16;
}

DnnlKernel::DnnlKernel(Context& ctx, const ir::Node& node) : ctx_(ctx), node_(node) {}

dnnl::memory DnnlKernel::input(size_t index, const dnnl::memory::desc& desc) {
    dnnl::memory m(desc, ctx_.engine(), DNNL_MEMORY_NONE);
    inputs_.push_back({index, m, desc.get_size()});
    return m;
}

dnnl::memory DnnlKernel::output(size_t index, const dnnl::memory::desc& desc) {
    dnnl::memory m(desc, ctx_.engine(), DNNL_MEMORY_NONE);
    outputs_.push_back({index, m, desc.get_size()});
    return m;
}

dnnl::memory DnnlKernel::temporary(const dnnl::memory::desc& desc) {
    dnnl::memory m(desc, ctx_.engine(), DNNL_MEMORY_NONE);
    temporaries_.push_back({m, temporary_bytes_});
    temporary_bytes_ += aligned(desc.get_size());
    return m;
}

dnnl::memory DnnlKernel::owned(const dnnl::memory::desc& desc) {
    return dnnl::memory(desc, ctx_.engine());
}

void DnnlKernel::add(const dnnl::primitive& primitive, std::unordered_map<int, dnnl::memory> args) {
    Step step{primitive, std::move(args), std::nullopt};
    const dnnl_memory_desc_t* queried =
        dnnl_primitive_desc_query_md(primitive.get_primitive_desc(), dnnl_query_scratchpad_md, 0);
    const dnnl::memory::desc scratchpad = queried ? dnnl::memory::desc(*queried) : dnnl::memory::desc();
    if (scratchpad.get_size() > 0) {
        step.scratchpad = dnnl::memory(scratchpad, ctx_.engine(), DNNL_MEMORY_NONE);
        step.args[DNNL_ARG_SCRATCHPAD] = *step.scratchpad;
        scratchpad_bytes_ = std::max(scratchpad_bytes_, aligned(scratchpad.get_size()));
    }
    for (const auto& [arg, memory] : step.args) step.c_args.push_back({arg, memory.get()});
    steps_.push_back(std::move(step));
}

void DnnlKernel::add_reorder(const dnnl::memory& src, const dnnl::memory& dst) {
    const dnnl::reorder::primitive_desc pd(ctx_.engine(), src.get_desc(), ctx_.engine(), dst.get_desc(), user_attr());
    add(dnnl::reorder(pd), {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}});
    steps_.back().copy = src.get_desc() == dst.get_desc();
}

dnnl::memory DnnlKernel::input_as(size_t index, const dnnl::memory::desc& plain, const dnnl::memory::desc& desc) {
    if (desc == plain) return input(index, plain);
    dnnl::memory converted = temporary(desc);
    add_reorder(input(index, plain), converted);
    return converted;
}

Compiled DnnlKernel::finish(std::unique_ptr<DnnlKernel> kernel) {
    kernel->ctx_.reserve_workspace(kernel->temporary_bytes_ + kernel->scratchpad_bytes_);
    return std::unique_ptr<runtime::NodeKernel>(std::move(kernel));
}

Status DnnlKernel::run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) {
    auto bind = [&](const Binding& b, const Tensor* t) {
        if (!t || t->nbytes() < b.bytes)
            return internal_error(node_.describe() + ": a tensor is smaller than the compiled kernel expects");
        // oneDNN takes non-const handles; inputs are only read.
        b.memory.set_data_handle(const_cast<void*>(t->raw_data()));
        return Status::ok();
    };
    for (const Binding& b : inputs_) FOVEA_TRY(bind(b, b.index < inputs.size() ? inputs[b.index] : nullptr));
    for (const Binding& b : outputs_) FOVEA_TRY(bind(b, b.index < outputs.size() ? &outputs[b.index] : nullptr));
    // Setting a handle zero-fills the padding of blocked layouts, so workspace handles move only with the workspace.
    if (std::byte* base = ctx_.workspace(); base != bound_workspace_) {
        for (const Temporary& t : temporaries_) t.memory.set_data_handle(base + t.offset);
        for (const Step& s : steps_)
            if (s.scratchpad) s.scratchpad->set_data_handle(base + temporary_bytes_);
        bound_workspace_ = base;
    }
    const ThreadScope threads(ctx_.threads());
    for (const Step& s : steps_) {
        if (s.copy && s.args.at(DNNL_ARG_FROM).get_data_handle() == s.args.at(DNNL_ARG_TO).get_data_handle()) continue;
        const dnnl_status_t status = dnnl_primitive_execute(s.primitive.get(), ctx_.stream().get(),
                                                            static_cast<int>(s.c_args.size()), s.c_args.data());
        if (status != dnnl_success)
            return internal_error(node_.describe() + ": oneDNN failed to execute (status " + std::to_string(status) +
                                  ")");
    }
    if (dnnl_stream_wait(ctx_.stream().get()) != dnnl_success)
        return internal_error(node_.describe() + ": oneDNN stream failed");
    if (output_pass_) {
        float* data = outputs[0].data<float>();
        const int64_t count = outputs[0].numel();
#pragma omp parallel
        {
            // Contiguous shares, whole cache lines each.
            const int64_t parts = omp_get_num_threads(), part = omp_get_thread_num();
            const int64_t lines = (count + 15) / 16;
            const int64_t begin = std::min(count, lines * part / parts * 16);
            const int64_t end = std::min(count, lines * (part + 1) / parts * 16);
            output_pass_(data + begin, end - begin);
        }
    }
    return Status::ok();
}

dnnl::primitive_attr user_attr() {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return attr;
}

dnnl::memory reorder_constant(Context& ctx, DnnlKernel& kernel, const Tensor& t, const dnnl::memory::desc& from,
                              const dnnl::memory::desc& to) {
    dnnl::memory src(from, ctx.engine(), const_cast<void*>(t.raw_data()));
    // Where the primitive takes the layout as it is, it reads the graph's own tensor (which outlives the session's
    // kernels) instead of a copy: ConvNeXt-T's matmuls keep their weights plain, 92 MB of copies at fp32.
    if (to == from) return src;
    dnnl::memory dst = kernel.owned(to);
    dnnl::reorder(src, dst).execute(ctx.stream(), src, dst);
    ctx.stream().wait();
    return dst;
}

}  // namespace fovea::cpu
