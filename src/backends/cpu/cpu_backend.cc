#include "backends/cpu/cpu_backend.h"

#include <algorithm>
#include <map>
#include <set>
#include <span>
#include <string_view>

#include "backends/cpu/kernels.h"
#include "backends/cpu/layout.h"
#include "backends/cpu/precision.h"
#include "ops/op.h"

namespace fovea::cpu {

namespace {

struct Entry {
    std::string_view op_type;
    CompileFn compile;
};

// The default-domain ops the backend takes; the rest run on the reference backend.
constexpr Entry kKernels[] = {
    {"Conv", compile_conv},
    {"ConvTranspose", compile_conv_transpose},
    {"MatMul", compile_matmul},
    {"Gemm", compile_gemm},
    {"MaxPool", compile_pool},
    {"AveragePool", compile_pool},
    {"GlobalAveragePool", compile_global_pool},
    {"GlobalMaxPool", compile_global_pool},
    {"Abs", compile_unary},
    {"Clip", compile_unary},
    {"Elu", compile_unary},
    {"Erf", compile_erf},
    {"Exp", compile_unary},
    {"HardSigmoid", compile_unary},
    {"HardSwish", compile_unary},
    {"LeakyRelu", compile_unary},
    {"Neg", compile_unary},
    {"Pow", compile_unary},
    {"Reciprocal", compile_unary},
    {"Relu", compile_unary},
    {"Selu", compile_unary},
    {"Sigmoid", compile_unary},
    {"Softplus", compile_unary},
    {"Sqrt", compile_unary},
    {"Tanh", compile_unary},
    {"Add", compile_binary},
    {"Sub", compile_binary},
    {"Mul", compile_binary},
    {"Div", compile_binary},
    {"Max", compile_binary},
    {"Min", compile_binary},
    {"Sum", compile_sum},
    {"Mean", compile_sum},
    {"Softmax", compile_softmax},
    {"LogSoftmax", compile_softmax},
    {"BatchNormalization", compile_batch_norm},
    {"LayerNormalization", compile_layer_norm},
    {"Reshape", compile_copy},
    {"Flatten", compile_copy},
    {"Squeeze", compile_copy},
    {"Unsqueeze", compile_copy},
    {"Identity", compile_copy},
    {"Dropout", compile_copy},
    {"Transpose", compile_transpose},
    {"Split", compile_split},
    {"Slice", compile_slice},
    {"Pad", compile_pad},
    {"ReduceMean", compile_reduce},
    {"ReduceSum", compile_reduce},
    {"ReduceMax", compile_reduce},
    {"ReduceMin", compile_reduce},
    {"ReduceProd", compile_reduce},
    {"ReduceL2", compile_reduce},
    {"Concat", compile_concat},
    {"Resize", compile_resize},
    {"Upsample", compile_resize},
};

// fovea's own ops, which the optimizer makes.
constexpr Entry kFoveaKernels[] = {
    {"FusedConv", compile_conv},
    {"FusedMatMul", compile_fused_matmul},
    {"ConcatAffine", compile_concat_affine},
    {"Gelu", compile_unary},
    {"SiLU", compile_unary},
};

}  // namespace

CompileFn find_compile(const ir::Node& node) {
    const std::span<const Entry> table = node.domain.empty()                ? std::span<const Entry>(kKernels)
                                         : node.domain == ops::kFoveaDomain ? std::span<const Entry>(kFoveaKernels)
                                                                            : std::span<const Entry>();
    for (const Entry& e : table)
        if (e.op_type == node.op_type) return e.compile;
    return nullptr;
}

namespace {

class CpuBackend final : public runtime::Backend {
  public:
    explicit CpuBackend(const runtime::BackendOptions& options)
        : bf16_(options.precision == "bf16"), ctx_(options.threads, bf16_) {}
    std::string_view name() const override { return "cpu"; }

    // Plans the NHWC values, then compiles every node that touches one: a node that declines (or oneDNN cannot
    // build) must not see NHWC bytes, since the reference backend would run it on them, so the plan drops it and
    // starts over. Declines are rare; the kernels compiled here are handed out by compile.
    Status prepare(const ir::Graph& graph) override {
        prepared_.clear();
        ctx_.set_nhwc({});
        ctx_.set_bf16_values({});
        if (bf16_ && !cpu_has_bf16()) return Status::ok();  // compile reports it
        // Under bf16 precision: the matrix nodes kept in fp32 and the activations stored in bf16 (precision.h).
        const auto fp32 = bf16_ ? plan_fp32_nodes(graph) : std::unordered_map<const ir::Node*, Fp32Reason>{};
        std::set<const ir::Node*> declined;
        for (bool settled = false; !settled;) {
            ctx_.set_nhwc(plan_nhwc(graph, declined));
            Bf16Storage storage;
            if (bf16_) storage = plan_bf16_values(graph, fp32, [&](const ir::Value& v) { return ctx_.nhwc(v); });
            ctx_.set_fp32_nodes(std::move(storage.fp32_nodes));
            ctx_.set_bf16_values(std::move(storage.values));
            prepared_.clear();
            settled = true;
            for (const auto& node : graph.nodes()) {
                if (!node_runs(*node) || !touches_nhwc(*node)) continue;
                FOVEA_ASSIGN(auto kernel, compile_node(*node));
                if (!kernel) {
                    declined.insert(node.get());
                    settled = false;
                    break;
                }
                prepared_[node.get()] = std::move(kernel);
            }
        }
        return Status::ok();
    }

    Result<std::unique_ptr<runtime::NodeKernel>> compile(const ir::Node& node) override {
        if (bf16_ && !cpu_has_bf16()) return unsupported("precision bf16 needs a CPU with avx512_bf16");
        if (auto it = prepared_.find(&node); it != prepared_.end()) {
            std::unique_ptr<runtime::NodeKernel> kernel = std::move(it->second);
            prepared_.erase(it);
            return kernel;
        }
        return compile_node(node);
    }

  private:
    bool touches_nhwc(const ir::Node& node) const {
        auto nhwc = [&](const ir::Value* v) { return v && ctx_.nhwc(*v); };
        return std::any_of(node.inputs.begin(), node.inputs.end(), nhwc) ||
               std::any_of(node.outputs.begin(), node.outputs.end(), nhwc);
    }

    Result<std::unique_ptr<runtime::NodeKernel>> compile_node(const ir::Node& node) {
        const CompileFn compile = find_compile(node);
        if (!compile) return decline();
        // Primitive creation sizes its work split by the thread count, so it sees the count runs will use.
        const ThreadScope threads(ctx_.threads());
        try {
            return compile(node, ctx_);
        } catch (const dnnl::error&) {
            // oneDNN has no implementation for this configuration: the reference backend runs the node.
            return decline();
        }
    }

    bool bf16_;
    Context ctx_;
    std::map<const ir::Node*, std::unique_ptr<runtime::NodeKernel>> prepared_;
};

}  // namespace

std::unique_ptr<runtime::Backend> make_cpu_backend(const runtime::BackendOptions& options) {
    return std::make_unique<CpuBackend>(options);
}

}  // namespace fovea::cpu
