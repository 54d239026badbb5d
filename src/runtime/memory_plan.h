// Static activation memory: one arena per bound shape, buffers reused by liveness.
#pragma once

#include <cstddef>
#include <map>
#include <vector>

#include "ir/graph.h"

namespace fovea::runtime {

struct MemoryPlan {
    std::map<const ir::Value*, size_t> offsets;  // byte offset in the arena of each planned value
    size_t arena_bytes = 0;                      // the arena's size: peak activation memory
    size_t unplanned_bytes = 0;                  // what the same values would take without reuse
};

// Plans every value that a `run` node produces, whose shape is known and that is not a graph output, over the
// node order of `graph`. `run[i]` is false for nodes that do not execute (folded). A value lives from its producer
// to its last consumer; values whose lifetimes overlap never share bytes. Offsets are 64-byte aligned.
MemoryPlan plan_memory(const ir::Graph& graph, const std::vector<bool>& run);

}  // namespace fovea::runtime
