// Which convolutions and matrix products run in bfloat16 under `--precision bf16`, and which stay in fp32.
#pragma once

#include <functional>
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
    kDepthwise,    // a depthwise convolution whose source is not kept in bf16 (see plan_bf16_values)
};
std::string_view fp32_reason_name(Fp32Reason reason);

// The matrix nodes of `graph` that bf16 precision keeps in fp32, with the reason; every other matrix node reads its
// operands in bf16. A node with several reasons gets the first in the enum's order.
std::unordered_map<const ir::Node*, Fp32Reason> plan_fp32_nodes(const ir::Graph& graph);

// The activations bf16 precision stores in bf16 between convolutions, and the matrix nodes that then still compute in
// fp32. A value is stored in bf16 when the backend keeps it to itself (never a graph output; `nhwc` says so of
// images, and an [N, C, 1, 1] value reads the same in any layout), a convolution computing in bf16 or a same-type
// node writes it, and only convolutions that may compute in bf16 (as source or residual) or same-type nodes read it.
// Same-type nodes (pools, global pools, Concat, Add/Mul/Sub/Max/Min between images of one shape, and a Mul scaling
// an image per channel) have all their values in bf16 or none. Those convolutions then
// neither convert their source to bf16 nor write fp32, and a depthwise convolution whose source is stored in bf16
// computes in bf16 too (its fp32 reason was the conversion it needed). `fp32` is plan_fp32_nodes' result.
struct Bf16Storage {
    std::unordered_set<const ir::Value*> values;
    std::unordered_set<const ir::Node*> fp32_nodes;
};
Bf16Storage plan_bf16_values(const ir::Graph& graph, const std::unordered_map<const ir::Node*, Fp32Reason>& fp32,
                             const std::function<bool(const ir::Value&)>& nhwc);

}  // namespace fovea::cpu
