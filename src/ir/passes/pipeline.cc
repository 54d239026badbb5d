#include "ir/passes/passes.h"

namespace fovea::ir::passes {

Result<std::vector<PassReport>> optimize(Graph& graph) {
    (void)graph;
    return std::vector<PassReport>{};
}

}  // namespace fovea::ir::passes
