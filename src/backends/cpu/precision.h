// Which convolutions and matrix products run in bfloat16 under `--precision bf16`, and which stay in fp32.
#pragma once

#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "ir/graph.h"

namespace fovea::cpu {

// True for the nodes whose kernels read their operands in the backend's compute type: Conv, fovea's FusedConv,
// ConvTranspose, MatMul and Gemm.
bool is_matrix_node(const ir::Node& node);

// Why bf16 precision keeps a matrix node in fp32 (see precision.cc).
enum class Fp32Reason {
    kReadsInput,   // a graph input reaches it through no other matrix node (the first convolution)
    kFeedsOutput,  // it reaches a graph output through no other matrix node (classifier, detector head)
    kDepthwise,    // a depthwise convolution
};
std::string_view fp32_reason_name(Fp32Reason reason);

// The matrix nodes of `graph` that bf16 precision keeps in fp32, with the reason; every other matrix node reads its
// operands in bf16. A node with several reasons gets the first in the enum's order.
std::unordered_map<const ir::Node*, Fp32Reason> plan_fp32_nodes(const ir::Graph& graph);

}  // namespace fovea::cpu
