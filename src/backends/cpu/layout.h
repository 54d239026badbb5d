// Which activations the CPU backend keeps in NHWC between nodes. Convolutions compute in NHWC; handing them plain
// NCHW costs a reorder on each side, 20 to 40% of a CNN's time. So a chain of nodes that all work in NHWC passes its
// images along in NHWC (the same bytes as NCHW, so the session's memory plan holds) and converts at its ends only.
#pragma once

#include <set>
#include <unordered_set>

#include "ir/graph.h"

namespace fovea::cpu {

// Whether the session runs `node`: some output is not folded to a constant at binding (a Shape's is). Nodes that do
// not run read no layout.
bool node_runs(const ir::Node& node);

// The values to keep in NHWC: 4-D float32 images that no graph input or output is, whose producer and every reader
// the CPU backend takes and can run in NHWC. A 5-D value [N, A, B, H, W] kept "in NHWC" is an image whose channels a
// Reshape split in two, stored channels-last as [N, H, W, A, B] (the NHWC image's bytes). Kernels that compute in their
// data's layout (pooling, elementwise, concatenation, ...) see all their images in one layout; convolutions convert.
// Nodes in `declined` (those whose kernel failed to compile with this plan) are treated as nodes the backend does not
// take.
std::unordered_set<const ir::Value*> plan_nhwc(const ir::Graph& graph, const std::set<const ir::Node*>& declined);

}  // namespace fovea::cpu
