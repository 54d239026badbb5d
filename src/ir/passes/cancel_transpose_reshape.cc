// Layout ops that undo or repeat one another collapse:
//   Transpose -> Transpose becomes one Transpose of the composed perm, or nothing when that is the identity;
//   Reshape -> Reshape becomes the second Reshape alone when its shape is a constant without 0 (a 0 copies a dim
//   of the first Reshape's output); a -1 is fine, since both reshapes keep the element count;
//   Unsqueeze -> Squeeze and Squeeze -> Unsqueeze over the same axes become nothing (Squeeze fails unless the dims
//   it drops are 1, so putting them back restores its input).
// A first node that nothing else reads is removed; one read elsewhere stays for its other readers.
#include <algorithm>
#include <numeric>
#include <optional>
#include <set>
#include <vector>

#include "ir/passes/passes.h"
#include "ir/passes/rewrite.h"
#include "ops/op.h"

namespace fovea::ir::passes {

namespace {

using Perm = std::vector<int64_t>;

// A Transpose's perm; the default (reversing the dims) needs the input's rank.
std::optional<Perm> perm_of(const Node& n) {
    if (n.has_attr("perm")) return n.attr_ints("perm");
    const Value* x = n.input(0);
    if (!x || !x->shape) return std::nullopt;
    Perm p(x->shape->size());
    std::iota(p.rbegin(), p.rend(), 0);
    return p;
}

// The constant axes of a Squeeze or Unsqueeze, normalized against `rank` and sorted; nullopt if not constant.
std::optional<std::set<int64_t>> axes_of(const Node& n, size_t rank) {
    const Value* axes = n.input(1);
    if (!axes || !axes->constant) return std::nullopt;
    std::set<int64_t> result;
    for (int64_t i = 0; i < axes->constant->numel(); ++i) {
        auto axis =
            ops::normalize_axis(static_cast<int64_t>(axes->constant->element_as_double(i)), static_cast<int64_t>(rank));
        if (!axis.is_ok()) return std::nullopt;
        result.insert(*axis);
    }
    return result;
}

// Whether `second` (reading `first`'s output) undoes `first`: an Unsqueeze and a Squeeze over the same axes.
bool cancels(const Node& first, const Node& second) {
    const bool unsqueeze_first = is_op(&first, "Unsqueeze") && is_op(&second, "Squeeze");
    const bool squeeze_first = is_op(&first, "Squeeze") && is_op(&second, "Unsqueeze");
    if (!unsqueeze_first && !squeeze_first) return false;
    // Axes count in the rank of the tensor that has the dims: Unsqueeze's output, or Squeeze's input.
    const Value* wide = unsqueeze_first ? output0(&first) : first.input(0);
    if (!wide || !wide->shape) return false;
    const auto a = axes_of(first, wide->shape->size()), b = axes_of(second, wide->shape->size());
    return a && b && !a->empty() && *a == *b;
}

bool is_identity(const Perm& p) {
    for (size_t i = 0; i < p.size(); ++i)
        if (p[i] != static_cast<int64_t>(i)) return false;
    return true;
}

bool shape_without_zero(const Value* shape) {
    if (!shape || !shape->constant) return false;
    for (int64_t i = 0; i < shape->constant->numel(); ++i)
        if (shape->constant->element_as_double(i) == 0) return false;
    return true;
}

}  // namespace

Status cancel_transpose_reshape(Graph& graph) {
    // In topological order, so that chains of three or more collapse step by step.
    std::vector<Node*> order;
    for (const auto& n : graph.nodes()) order.push_back(n.get());
    std::set<const Node*> removed;
    for (Node* second : order) {
        if (removed.count(second)) continue;
        Value* mid = second->input(0);
        Node* first = mid ? mid->producer : nullptr;
        if (!first || removed.count(first) || first->outputs.size() != 1) continue;
        Value* x = first->input(0);
        Value* y = output0(second);
        if (!x || !y) continue;
        if (is_op(first, "Transpose") && is_op(second, "Transpose")) {
            const std::optional<Perm> p1 = perm_of(*first), p2 = perm_of(*second);
            if (!p1 || !p2 || p1->size() != p2->size()) continue;
            Perm composed(p2->size());
            for (size_t i = 0; i < composed.size(); ++i) composed[i] = (*p1)[static_cast<size_t>((*p2)[i])];
            if (is_identity(composed)) {
                if (graph.is_output(y)) continue;  // the output's name must survive
                graph.replace_uses(y, x);
                removed.insert(second);
            } else {
                second->inputs[0] = x;
                second->attrs["perm"] = composed;
            }
        } else if (is_op(first, "Reshape") && is_op(second, "Reshape")) {
            if (!shape_without_zero(second->input(1))) continue;
            second->inputs[0] = x;
        } else if (cancels(*first, *second)) {
            if (graph.is_output(y)) continue;
            graph.replace_uses(y, x);
            removed.insert(second);
        } else {
            continue;
        }
        const std::vector<Node*> readers = graph.uses(mid);
        const bool unread = std::all_of(readers.begin(), readers.end(), [&](Node* r) { return removed.count(r); });
        if (unread && !graph.is_output(mid)) removed.insert(first);
    }
    graph.remove_nodes({removed.begin(), removed.end()});
    return Status::ok();
}

}  // namespace fovea::ir::passes
