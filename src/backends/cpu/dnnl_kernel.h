// oneDNN plumbing shared by the CPU kernels: the engine, stream and workspace of one backend, and DnnlKernel, which
// runs a fixed list of primitives over a node's tensors. Everything that allocates happens at compile time; a run
// only points memory objects at the tensors it is given and executes.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "fovea/status.h"
#include "ir/graph.h"
#include "runtime/backend.h"

namespace fovea::cpu {

using Compiled = Result<std::unique_ptr<runtime::NodeKernel>>;

// Declines a node: the session then runs it on the reference backend.
inline Compiled decline() {
    return std::unique_ptr<runtime::NodeKernel>();
}

// Sets the OpenMP thread count oneDNN uses (Debian builds oneDNN on OpenMP) while the scope lives, then restores
// the caller's. `threads` 0 leaves OpenMP's default (all cores, or OMP_NUM_THREADS).
class ThreadScope {
  public:
    explicit ThreadScope(int threads);
    ~ThreadScope();
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;

  private:
    int saved_ = 0;
};

// What every kernel of one backend shares: the engine, the stream and a workspace for temporaries and oneDNN's
// scratchpads. The session runs its kernels one at a time, so they can all use the same workspace bytes.
class Context {
  public:
    // `bf16`: convolutions and matrix products compute in bfloat16 (fp32 accumulation; outputs fp32 except the
    // activations stored in bf16, see set_bf16_values).
    Context(int threads, bool bf16);
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    const dnnl::engine& engine() const { return engine_; }
    dnnl::stream& stream() { return stream_; }
    int threads() const { return threads_; }
    // The type convolution or matrix product `node` reads its operands in: bf16 under bf16 precision unless the
    // precision plan keeps the node in fp32 (see precision.h).
    dnnl::memory::data_type compute_type(const ir::Node& node) const {
        return bf16_ && !fp32_nodes_.count(&node) ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
    }
    // The matrix nodes kept in fp32 under bf16 precision. Set before compiling.
    void set_fp32_nodes(std::unordered_set<const ir::Node*> nodes) { fp32_nodes_ = std::move(nodes); }
    // Grows the workspace to at least `bytes`. Compile time only: the base moves, so kernels look it up per run.
    void reserve_workspace(size_t bytes);
    std::byte* workspace() { return workspace_.get(); }
    // The activations kept in NHWC between nodes (see layout.h); every other value is plain. Set before compiling.
    void set_nhwc(std::unordered_set<const ir::Value*> values) { nhwc_ = std::move(values); }
    bool nhwc(const ir::Value& v) const { return nhwc_.count(&v) != 0; }
    // The activations stored in bf16 between convolutions under bf16 precision (see precision.h). Set before compiling,
    // with the nhwc values.
    void set_bf16_values(std::unordered_set<const ir::Value*> values) { bf16_values_ = std::move(values); }
    // The type v's bytes are in: bf16 for those activations, else v's own (f32 where oneDNN has no such type).
    dnnl::memory::data_type storage_type(const ir::Value& v) const;
    // Value v's bytes as oneDNN sees them, in the layout the backend keeps it in.
    dnnl::memory::desc layout_desc(const ir::Value& v, dnnl::memory::data_type dtype) const;

  private:
    struct AlignedDelete {
        void operator()(std::byte* p) const;
    };
    int threads_;
    bool bf16_;
    dnnl::engine engine_;
    dnnl::stream stream_;
    std::unique_ptr<std::byte, AlignedDelete> workspace_;
    size_t workspace_bytes_ = 0;
    std::unordered_set<const ir::Value*> nhwc_;
    std::unordered_set<const ir::Node*> fp32_nodes_;
    std::unordered_set<const ir::Value*> bf16_values_;
};

// oneDNN's type for a fovea dtype, or nullopt where oneDNN has none (float64, int64, bool).
std::optional<dnnl::memory::data_type> dnnl_dtype(DType dtype);
// A dense row-major descriptor of `shape` (a scalar becomes one element of rank 1).
dnnl::memory::desc plain_desc(const Shape& shape, dnnl::memory::data_type dtype);
// `plain_desc` of a 4-D `shape`, or its NHWC (channels last) form.
dnnl::memory::desc image_desc(const Shape& shape, dnnl::memory::data_type dtype, bool nhwc);
// The bound shape of a value the backend may compile against (every dim known).
const Shape& shape_of(const ir::Value& v);
// True when every present input and output of `node` is float32 with a known, non-empty shape.
bool all_float32(const ir::Node& node);
// True when this CPU computes in bfloat16 natively (avx512_bf16), as SessionOptions::precision "bf16" requires.
bool cpu_has_bf16();

// One node's kernel: oneDNN primitives executed in order. Arguments are node inputs and outputs (rebound every run),
// temporaries in the backend's workspace (valid during a run only) and memory the kernel owns (prepared weights).
class DnnlKernel final : public runtime::NodeKernel {
  public:
    DnnlKernel(Context& ctx, const ir::Node& node);

    // The memory of node input / output `index` seen through `desc` (same bytes: a plain view of its shape).
    dnnl::memory input(size_t index, const dnnl::memory::desc& desc);
    dnnl::memory output(size_t index, const dnnl::memory::desc& desc);
    // Workspace memory that lives for one run of this kernel.
    dnnl::memory temporary(const dnnl::memory::desc& desc);
    // Memory the kernel owns and keeps between runs, filled at compile time.
    dnnl::memory owned(const dnnl::memory::desc& desc);
    // Appends a primitive. Its primitive descriptor must have been created with a user scratchpad (see user_attr).
    void add(const dnnl::primitive& primitive, std::unordered_map<int, dnnl::memory> args);
    // Appends a reorder (a copy between layouts) from `src` to `dst`. A plain copy (same layout) is skipped in a run
    // where the two share their bytes (an in-place output).
    void add_reorder(const dnnl::memory& src, const dnnl::memory& dst);
    // Runs `pass` over output 0 (fp32, every value) after the primitives, in place, on the kernel's threads.
    void add_output_pass(void (*pass)(float* data, int64_t count)) { output_pass_ = pass; }
    // Output 0 may share the buffer of input `index` (see runtime::NodeKernel::in_place_input).
    void allow_in_place(int index) { in_place_ = index; }
    int in_place_input() const override { return in_place_; }
    // Node input `index`, whose plain layout is `plain`, in layout `desc`: the input itself when the layouts agree,
    // else a temporary that a reorder step (added now) fills.
    dnnl::memory input_as(size_t index, const dnnl::memory::desc& plain, const dnnl::memory::desc& desc);
    // Reserves the workspace for `kernel`, whose steps are all added, and hands it over as the node's kernel.
    static Compiled finish(std::unique_ptr<DnnlKernel> kernel);

    Status run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) override;

  private:
    struct Binding {
        size_t index;
        dnnl::memory memory;
        size_t bytes;  // what the tensor must hold
    };
    struct Temporary {
        dnnl::memory memory;
        size_t offset;
    };
    struct Step {
        dnnl::primitive primitive;
        std::unordered_map<int, dnnl::memory> args;  // keeps the memory objects alive
        std::optional<dnnl::memory> scratchpad;
        // The same arguments for oneDNN's C API: executing through it allocates nothing (the C++ wrapper builds a
        // vector per call).
        std::vector<dnnl_exec_arg_t> c_args;
        bool copy = false;  // a reorder between equal layouts: nothing to do when source and destination coincide
    };

    Context& ctx_;
    const ir::Node& node_;
    std::vector<Binding> inputs_;
    std::vector<Binding> outputs_;
    std::vector<Temporary> temporaries_;
    std::vector<Step> steps_;
    size_t temporary_bytes_ = 0;  // temporaries take the workspace from 0; scratchpads follow
    size_t scratchpad_bytes_ = 0;
    std::byte* bound_workspace_ = nullptr;  // where temporaries and scratchpads point now
    int in_place_ = -1;
    void (*output_pass_)(float* data, int64_t count) = nullptr;
};

// Attributes that make a primitive take its scratchpad from the caller (DnnlKernel's workspace) rather than
// allocate one when it runs.
dnnl::primitive_attr user_attr();

// A copy of constant `t` (viewed as `from`) in layout `to`, owned by `kernel`: weights reordered once at compile time.
dnnl::memory reorder_constant(Context& ctx, DnnlKernel& kernel, const Tensor& t, const dnnl::memory::desc& from,
                              const dnnl::memory::desc& to);

}  // namespace fovea::cpu
