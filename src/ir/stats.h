// Static statistics of a shape-inferred graph: op histogram, parameter count, multiply-accumulates.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "ir/graph.h"

namespace fovea::ir {

struct GraphStats {
    std::map<std::string, int> op_counts;
    int64_t parameters = 0;  // elements of all initializers
    int64_t parameter_bytes = 0;
    int64_t macs = 0;  // multiply-accumulates of Conv, FusedConv, ConvTranspose, Gemm, MatMul at the bound shapes
    bool macs_complete = true;  // false when some of those nodes had unknown shapes
};

GraphStats compute_stats(const Graph& graph);

}  // namespace fovea::ir
