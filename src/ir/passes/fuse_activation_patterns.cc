// Activation patterns that fuse_activation left (their input is no conv output, or is read elsewhere too) become one
// node each: Gelu and SiLU in domain "fovea", HardSwish as the ONNX op. Fewer, simpler nodes for the backends, which
// have these as single eltwise kernels.
#include <string>
#include <vector>

#include "ir/passes/activation_match.h"
#include "ir/passes/passes.h"
#include "ir/passes/rewrite.h"
#include "ops/op.h"

namespace fovea::ir::passes {

namespace {

// The op (domain, type, opset) that computes `a` alone, or an empty type when there is none to make.
struct Replacement {
    std::string_view domain;
    std::string_view op_type;
    int opset = 1;
};

Replacement replacement_for(ops::Activation a) {
    switch (a) {
        case ops::Activation::kGelu:
            return {ops::kFoveaDomain, "Gelu", 1};
        case ops::Activation::kSiLU:
            return {ops::kFoveaDomain, "SiLU", 1};
        case ops::Activation::kHardSwish:
            return {"", "HardSwish", 14};  // the opset that introduced it
        default:
            return {};
    }
}

}  // namespace

Status fuse_activation_patterns(Graph& graph) {
    std::vector<Value*> candidates;
    for (const auto& v : graph.values())
        if (v->dtype == DType::kFloat32 && graph.uses(v.get()).size() >= 2) candidates.push_back(v.get());
    for (Value* x : candidates) {
        // A value may start several patterns (x * Sigmoid(x) twice); each match removes the nodes it absorbs.
        while (const std::optional<ActivationMatch> m = match_activation_pattern(graph, x)) {
            const Replacement r = replacement_for(m->activation);
            if (r.op_type.empty()) break;
            Value* y = m->absorbed.back()->outputs[0];
            const std::string name = m->absorbed.back()->name;
            graph.remove_nodes(m->absorbed);
            Node* n = graph.add_node(std::string(r.op_type), name);
            n->domain = std::string(r.domain);
            n->opset = r.opset;
            n->inputs = {x};
            n->outputs = {y};
            y->producer = n;
        }
    }
    return Status::ok();
}

}  // namespace fovea::ir::passes
