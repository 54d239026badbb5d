#include "ir/stats.h"

namespace fovea::ir {

namespace {

// MACs of one node, or -1 when its shapes are not known.
int64_t node_macs(const Node& n) {
    const bool conv = n.op_type == "Conv" || n.op_type == "FusedConv", deconv = n.op_type == "ConvTranspose";
    const bool gemm = n.op_type == "Gemm", matmul = n.op_type == "MatMul" || n.op_type == "FusedMatMul";
    if (!conv && !deconv && !gemm && !matmul) return 0;
    const Value* a = n.input(0);
    const Value* b = n.input(1);
    const Value* y = n.outputs.empty() ? nullptr : n.outputs[0];
    if (!a || !b || !y || !a->shape_known() || !b->shape_known() || !y->shape_known()) return -1;
    const Shape& as = *a->shape;
    const Shape& ws = *b->shape;
    const Shape& ys = *y->shape;
    if (conv) {  // every output element: (C_in / group) * prod(kernel) products
        return shape_numel(ys) * shape_numel(std::span(ws).subspan(1));
    }
    if (deconv) {  // every input element scatters into (C_out / group) * prod(kernel) outputs
        return shape_numel(as) * shape_numel(std::span(ws).subspan(1));
    }
    if (gemm) {
        const int64_t k = n.attr_int("transA", 0) ? as[0] : as[1];
        return shape_numel(ys) * k;
    }
    const int64_t k = as.back();  // (Fused)MatMul: every output element is a dot product over A's last dim
    return shape_numel(ys) * k;
}

}  // namespace

GraphStats compute_stats(const Graph& graph) {
    GraphStats s;
    for (const auto& v : graph.values()) {
        if (!v->is_initializer || !v->constant) continue;
        s.parameters += v->constant->numel();
        s.parameter_bytes += static_cast<int64_t>(v->constant->nbytes());
    }
    for (const auto& n : graph.nodes()) {
        ++s.op_counts[n->op_type];
        const int64_t m = node_macs(*n);
        if (m < 0)
            s.macs_complete = false;
        else
            s.macs += m;
    }
    return s;
}

}  // namespace fovea::ir
