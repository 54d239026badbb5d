// Graph optimization passes: each rewrites the graph in place and keeps its outputs equal (to the reference backend).
// A pass rewrites a pattern only when the values inside it have no other reader and are no graph output, so every
// value a user can see keeps its name and contents.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "fovea/status.h"
#include "ir/graph.h"

namespace fovea::ir::passes {

// What one pass changed, for `fovea inspect --optimized` and the pass tests.
struct PassReport {
    std::string name;
    int nodes_before = 0;
    int nodes_after = 0;
};

// One pass: a name for reports and a rewrite of a topologically sorted graph (it may leave the order stale).
struct Pass {
    std::string_view name;
    Status (*run)(Graph& graph);
};

// Removes nodes none of whose outputs reach a graph output.
Status eliminate_dead_nodes(Graph& graph);
// Removes Identity and inference-mode Dropout, their readers reading the input instead.
Status remove_identity(Graph& graph);
// Collapses Transpose -> Transpose (composing perms), Reshape -> Reshape (to the second, when its shape is a constant
// without 0) and Squeeze/Unsqueeze pairs over the same axes (to nothing).
Status cancel_transpose_reshape(Graph& graph);
// Folds BatchNormalization with constant parameters into the weights and bias of a Conv, ConvTranspose or Gemm before
// it.
Status fold_batchnorm(Graph& graph);
// Folds Mul, Add, Sub or Div by a per-channel (or scalar) constant into the Conv, ConvTranspose or Gemm before it.
Status fold_affine(Graph& graph);
// Folds Mul, Add, Sub or Div by a per-channel (or scalar) constant into the unpadded Conv or FusedConv after it.
Status fold_affine_into_conv(Graph& graph);
// Makes a BatchNormalization with constant parameters that an activation follows (one fold_batchnorm left: no conv
// before it) a depthwise 1x1 Conv, for fuse_activation to give the activation.
Status batchnorm_to_conv(Graph& graph);
// Makes Add(conv output, residual of the same shape) a FusedConv with the residual as its Sum input.
Status fuse_residual_add(Graph& graph);
// Makes a conv followed by an activation (an op, or a pattern such as x * Sigmoid(x)) a FusedConv with that activation.
Status fuse_activation(Graph& graph);
// MatMul by a 2-D B with its bias Add and activation, or a Gemm with its activation: one FusedMatMul.
Status fuse_linear(Graph& graph);

// Makes the decomposed LayerNorm (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, then Mul and Add by constants)
// over the last axis one LayerNormalization.
Status fuse_layernorm(Graph& graph);
// Makes the activation patterns fuse_activation left (x * Sigmoid(x), x * HardSigmoid(x), the Erf Gelu) one node each:
// fovea.SiLU, HardSwish, fovea.Gelu.
Status fuse_activation_patterns(Graph& graph);

// The default pipeline, in order: residuals fuse before activations, since the sum comes first (Conv -> Add -> Relu);
// activation patterns become single nodes only after convs have taken theirs.
const std::vector<Pass>& default_pipeline();

// A channel Concat and the per-channel affine map + activation that alone reads it (DenseNet): one fovea.ConcatAffine.
Status fuse_concat_affine(Graph& graph);

// Passes one backend runs after the default pipeline, for ops only its kernels take: fuse_concat_affine for "cpu" in
// fp32.
std::vector<Pass> backend_pipeline(std::string_view backend, std::string_view precision);

// Computes (and allocates) a node's outputs from its inputs; sessions pass the reference backend's kernels.
using NodeEvaluator = std::function<Status(const Node&, const std::vector<const Tensor*>&, std::vector<Tensor>&)>;
// Constant folding, one node at a time: ops::infer_graph calls it after inferring each node, at every bind, since
// what folds depends on the bound input shapes. Computes a node whose inputs are all constant (Shape and Size: whose
// input's shape is known), its outputs up to 4M elements each, and keeps the results on its output values. Returns
// whether it folded the node.
Result<bool> fold_constant_node(Node& node, const NodeEvaluator& evaluate);
// Whether a node has nothing left to compute: none of its outputs is a non-constant value. Sessions skip such nodes.
bool is_folded(const Node& node);

// Runs the default pipeline for optimizing backends (cpu, cuda), then `backend`'s own passes; the reference backend
// runs models as given. Leaves the graph sorted, verified and shape-inferred (without folding), with unused values
// dropped.
Result<std::vector<PassReport>> optimize(Graph& graph, std::string_view backend = "",
                                         std::string_view precision = "fp32");

}  // namespace fovea::ir::passes
