// Attribute geometry shared by nn shape inference (src/ops/nn.cc) and the nn kernels: conv/pool windows with
// auto_pad resolved, and einsum equations bound to operand shapes. Errors name the node.
#pragma once

#include <vector>

#include "fovea/status.h"
#include "fovea/tensor.h"
#include "ir/graph.h"

namespace fovea::ops {

enum class WindowKind { kConv, kPool, kConvTranspose };

// The spatial window of a Conv, ConvTranspose or pool node, with auto_pad and output_shape resolved to pads.
// ConvTranspose pads may be negative (an output_shape larger than the natural one extends the output).
struct Window {
    std::vector<int64_t> kernel;  // -1 where the weight's dim is unknown
    std::vector<int64_t> strides;
    std::vector<int64_t> dilations;
    std::vector<int64_t> pad_begin;
    std::vector<int64_t> pad_end;
    std::vector<int64_t> output;  // output spatial dims; -1 where they depend on an unknown dim
};

// Reads and checks the window attributes of `node` over the input's spatial dims `input` (-1 where unknown).
// `weight_kernel` is W's spatial shape for Conv and ConvTranspose (used when kernel_shape is absent), empty for pools.
Result<Window> resolve_window(const ir::Node& node, WindowKind kind, const Shape& input, const Shape& weight_kernel);

// An einsum equation bound to its operands' shapes. Every distinct letter and every ellipsis dim is a label.
struct EinsumPlan {
    std::vector<std::vector<int>> operands;  // the label of each dim of each operand
    std::vector<int> output;                 // the label of each output dim
    std::vector<int64_t> sizes;              // each label's extent (size-1 dims broadcast); -1 where unknown
};

// Parses the `equation` attribute of an Einsum node against its operands' shapes (ranks must be known).
Result<EinsumPlan> plan_einsum(const ir::Node& node, const std::vector<Shape>& operands);

}  // namespace fovea::ops
