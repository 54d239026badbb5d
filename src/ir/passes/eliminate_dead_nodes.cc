#include <set>

#include "ir/passes/passes.h"

namespace fovea::ir::passes {

Status eliminate_dead_nodes(Graph& graph) {
    // Walking back from the outputs over the sorted nodes, a node is live once a live node reads one of its outputs.
    std::set<const Value*> needed(graph.outputs.begin(), graph.outputs.end());
    std::vector<const Node*> dead;
    const auto& nodes = graph.nodes();
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
        const Node& n = **it;
        bool live = false;
        for (const Value* out : n.outputs) live = live || (out && needed.count(out));
        if (live)
            needed.insert(n.inputs.begin(), n.inputs.end());
        else
            dead.push_back(&n);
    }
    graph.remove_nodes(dead);
    return Status::ok();
}

}  // namespace fovea::ir::passes
