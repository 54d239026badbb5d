// Graph optimization passes: each rewrites the graph in place and keeps its outputs equal (to the reference backend).
#pragma once

#include <string>
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

// Runs the default pipeline for optimizing backends (cpu, cuda); the reference backend runs models as given.
Result<std::vector<PassReport>> optimize(Graph& graph);

}  // namespace fovea::ir::passes
