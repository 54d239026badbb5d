// The reference backend behind the runtime::Backend contract, and its one-node executor.
#pragma once

#include <span>
#include <vector>

#include "backends/ref/kernels.h"
#include "runtime/backend.h"

namespace fovea::ref {

// Runs one node: infers exact output shapes from the actual inputs, allocates fresh (zeroed) outputs, runs the
// reference kernel and checks what it produced. Also the evaluator that folds constants at bind time.
Status run_node(const ir::Node& node, std::span<const Tensor* const> inputs, std::vector<Tensor>& outputs);

}  // namespace fovea::ref
