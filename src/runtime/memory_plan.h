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

struct PlanOptions {
    // Values that share the bytes of another one (a device's reshapes): they get no buffer of their own, their
    // readers keep the value they view alive, and they take its offset when it is planned. Chains are followed.
    std::map<const ir::Value*, const ir::Value*> aliases;
    // Bytes per float32 element (2 where a device stores float32 values as float16); 0: 4.
    size_t float32_bytes = 0;
    // Output -> input of the same node that it may overwrite (the kernel works in place). Where that input is
    // planned, of the same size, read by no later node and by no other input of the node, the output takes its
    // buffer over.
    std::map<const ir::Value*, const ir::Value*> in_place;
    // Values read later than their readers' places in the node order say, by node index: a device that runs a
    // node's work at a later node's place (the cuda engine's elementwise chains) keeps their operands alive to there.
    std::map<const ir::Value*, size_t> read_at;
};

// Plans every value that a `run` node produces, whose shape is known and that is not a graph output, over the
// node order of `graph`. `run[i]` is false for nodes that do not execute (folded). A value lives from its producer
// to its last consumer; values whose lifetimes overlap never share bytes, except an in-place output and the input it
// takes over. Offsets are 64-byte aligned.
MemoryPlan plan_memory(const ir::Graph& graph, const std::vector<bool>& run, const PlanOptions& options = {});

}  // namespace fovea::runtime
