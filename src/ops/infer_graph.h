// Whole-graph type and shape inference, with optional constant folding.
#pragma once

#include <vector>

#include "fovea/status.h"
#include "ir/graph.h"
#include "ir/passes/passes.h"
#include "ops/op.h"

namespace fovea::ops {

using Evaluator = ir::passes::NodeEvaluator;

// Infers dtype and shape of every value in the (sorted) graph from its inputs' types. With `evaluate`, nodes whose
// inputs are all known are computed and their outputs become constants (ir::passes::fold_constant_node), so that
// shape subgraphs fold away once input shapes are bound. Fails on the first invalid or unsupported node.
Status infer_graph(ir::Graph& graph, const Evaluator* evaluate);

// Infers one node's outputs from what the graph knows of its inputs (no folding).
Status infer_node(ir::Node& node);

// The InferContext inputs for `node` as the graph currently knows them.
std::vector<TensorInfo> input_infos(const ir::Node& node);

}  // namespace fovea::ops
