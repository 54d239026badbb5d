// Recognizes activations applied to a value: single ops, and the small patterns exporters write for SiLU
// (x * Sigmoid(x)), HardSwish (x * HardSigmoid(x) with alpha 1/6 and beta 0.5) and Gelu
// (x * 0.5 * (1 + Erf(x / sqrt(2))) in its usual orders). fuse_activation moves them into convs;
// fuse_activation_patterns makes the remaining patterns single nodes.
#pragma once

#include <optional>
#include <vector>

#include "ir/graph.h"
#include "ops/fused_conv.h"

namespace fovea::ir::passes {

// A matched activation: what it computes, and the nodes it replaces, the last one writing the result.
struct ActivationMatch {
    ops::Activation activation = ops::Activation::kNone;
    std::vector<float> params;  // as FusedConv's activation_params
    std::vector<const Node*> absorbed;
};

// x's readers form one activation (an op or a pattern) and x feeds nothing else, nor is it a graph output.
std::optional<ActivationMatch> match_activation(const Graph& graph, const Value* x);

// Some of x's readers form a pattern of several nodes (SiLU, HardSwish, Gelu); x may feed other nodes too.
std::optional<ActivationMatch> match_activation_pattern(const Graph& graph, const Value* x);

}  // namespace fovea::ir::passes
