#include "ir/passes/activation_match.h"

#include <cmath>
#include <limits>
#include <string>

#include "ir/passes/rewrite.h"

namespace fovea::ir::passes {

namespace {

using ops::Activation;

using Match = ActivationMatch;

class Matcher {
  public:
    Matcher(const Graph& graph, const Value* x) : graph_(graph), x_(x), rank_(x->shape ? x->shape->size() : 0) {}

    // x's readers form one of the activations, x feeding nothing else.
    std::optional<Match> match() const {
        if (graph_.is_output(x_) || !x_->shape) return std::nullopt;
        const std::vector<Node*> uses = graph_.uses(x_);
        if (uses.size() == 1) return single(*uses[0]);
        return uses.size() == 2 ? pattern(uses) : std::nullopt;
    }

    // Two of x's readers start a pattern of several nodes.
    std::optional<Match> pattern(const std::vector<Node*>& uses) const {
        if (!x_->shape) return std::nullopt;
        for (size_t i = 0; i < uses.size(); ++i) {
            for (size_t j = 0; j < uses.size(); ++j) {
                if (uses[i] == uses[j]) continue;
                if (auto m = gated(*uses[i], *uses[j])) return m;
                if (auto m = gelu(*uses[i], *uses[j])) return m;
                if (auto m = decomposed_hard_swish(*uses[i], *uses[j])) return m;
            }
        }
        return std::nullopt;
    }

  private:
    // One op applied to x.
    std::optional<Match> single(const Node& n) const {
        if (!n.domain.empty() || n.inputs.empty() || n.inputs[0] != x_ || n.outputs.size() != 1) return std::nullopt;
        const std::string& op = n.op_type;
        if (op == "Relu") return Match{Activation::kRelu, {}, {&n}};
        if (op == "Sigmoid") return Match{Activation::kSigmoid, {}, {&n}};
        if (op == "Tanh") return Match{Activation::kTanh, {}, {&n}};
        if (op == "HardSwish") return Match{Activation::kHardSwish, {}, {&n}};
        if (op == "LeakyRelu") return Match{Activation::kLeakyRelu, {n.attr_float("alpha", 0.01f)}, {&n}};
        if (op == "HardSigmoid")
            return Match{Activation::kHardSigmoid, {n.attr_float("alpha", 0.2f), n.attr_float("beta", 0.5f)}, {&n}};
        if (op == "Clip") {
            // An absent bound clips nothing, as an infinite one.
            std::vector<float> bounds = {-std::numeric_limits<float>::infinity(),
                                         std::numeric_limits<float>::infinity()};
            for (size_t i = 1; i < 3; ++i) {
                if (!n.input(i)) continue;
                const std::optional<double> bound = scalar_constant(n.input(i), rank_);
                if (!bound) return std::nullopt;
                bounds[i - 1] = static_cast<float>(*bound);
            }
            return Match{Activation::kClip, bounds, {&n}};
        }
        return std::nullopt;
    }

    // x * Sigmoid(x) is SiLU; x * HardSigmoid(x) with HardSwish's constants is HardSwish.
    std::optional<Match> gated(const Node& gate, const Node& mul) const {
        const bool sigmoid = is_op(&gate, "Sigmoid"), hard = is_op(&gate, "HardSigmoid");
        if (!(sigmoid || hard) || gate.inputs[0] != x_ || !is_op(&mul, "Mul")) return std::nullopt;
        if (hard && !(is_near(gate.attr_float("alpha", 0.2f), 1.0 / 6) && is_near(gate.attr_float("beta", 0.5f), 0.5)))
            return std::nullopt;
        const Value* g = output0(&gate);
        if (sole_reader(graph_, g) != &mul || other_input(&mul, g) != x_) return std::nullopt;
        return Match{sigmoid ? Activation::kSiLU : Activation::kHardSwish, {}, {&gate, &mul}};
    }

    // Whether `n` divides `v` by 6 or multiplies it by 1/6.
    bool sixth_of(const Node* n, const Value* v) const {
        if (is_op(n, "Div"))
            return n->inputs.size() == 2 && n->inputs[0] == v && is_near(scalar_constant(n->inputs[1], rank_), 6.0);
        return is_op(n, "Mul") && is_near(scalar_constant(other_input(n, v), rank_), 1.0 / 6);
    }

    // Clip to [0, 6]: bounds as inputs (opset 11 on) or attributes (before).
    bool relu6(const Node* n, const Value* v) const {
        if (!is_op(n, "Clip") || n->inputs.empty() || n->inputs[0] != v) return false;
        if (n->opset < 11) return is_near(n->attr_float("min", -1), 0.0) && is_near(n->attr_float("max", -1), 6.0);
        return is_near(scalar_constant(n->input(1), rank_), 0.0) && is_near(scalar_constant(n->input(2), rank_), 6.0);
    }

    // HardSwish as Paddle and older exporters write it: x * Clip(x + 3, 0, 6) / 6, the sixth taken of the product
    // or of the clipped gate.
    std::optional<Match> decomposed_hard_swish(const Node& plus3, const Node& product) const {
        if (!is_op(&plus3, "Add") || !is_near(scalar_constant(other_input(&plus3, x_), rank_), 3.0) ||
            !is_op(&product, "Mul"))
            return std::nullopt;
        const Node* clip = sole_reader(graph_, output0(&plus3));
        if (!relu6(clip, output0(&plus3))) return std::nullopt;
        const Value* gate = output0(clip);
        if (other_input(&product, x_) == gate) {  // (x * gate) / 6
            const Node* sixth = sole_reader(graph_, output0(&product));
            if (sole_reader(graph_, gate) != &product || !sixth_of(sixth, output0(&product))) return std::nullopt;
            return Match{Activation::kHardSwish, {}, {&plus3, clip, &product, sixth}};
        }
        const Node* sixth = sole_reader(graph_, gate);  // x * (gate / 6)
        if (!sixth_of(sixth, gate) || other_input(&product, x_) != output0(sixth) ||
            sole_reader(graph_, output0(sixth)) != &product)
            return std::nullopt;
        return Match{Activation::kHardSwish, {}, {&plus3, clip, sixth, &product}};
    }

    // The node reading `v` alone if it is `op_type` with a constant near `constant` as its other operand.
    const Node* with_constant(const Value* v, const char* op_type, double constant) const {
        const Node* n = sole_reader(graph_, v);
        return is_op(n, op_type) && is_near(scalar_constant(other_input(n, v), rank_), constant) ? n : nullptr;
    }

    // Gelu: x / sqrt(2) (or x * 1/sqrt(2)) -> Erf -> + 1 = t, then x * t * 0.5 grouped any way.
    std::optional<Match> gelu(const Node& scale, const Node& product) const {
        const double sqrt2 = std::sqrt(2.0);
        const bool div = is_op(&scale, "Div") && scale.inputs.size() == 2 && scale.inputs[0] == x_ &&
                         is_near(scalar_constant(scale.inputs[1], rank_), sqrt2);
        const bool mul = is_op(&scale, "Mul") && is_near(scalar_constant(other_input(&scale, x_), rank_), 1 / sqrt2);
        if (!div && !mul) return std::nullopt;
        const Node* erf = sole_reader(graph_, output0(&scale));
        if (!is_op(erf, "Erf")) return std::nullopt;
        const Node* plus_one = with_constant(output0(erf), "Add", 1.0);
        if (!plus_one || !is_op(&product, "Mul")) return std::nullopt;
        const Value* t = output0(plus_one);
        const Value* xv = output0(&product);
        std::vector<const Node*> nodes = {&scale, erf, plus_one, &product};
        if (other_input(&product, x_) == t) {  // (x * t) * 0.5
            const Node* half = with_constant(xv, "Mul", 0.5);
            if (!half || sole_reader(graph_, t) != &product) return std::nullopt;
            nodes.push_back(half);
        } else if (is_near(scalar_constant(other_input(&product, x_), rank_), 0.5)) {  // (x * 0.5) * t
            const Node* last = sole_reader(graph_, xv);
            if (!is_op(last, "Mul") || other_input(last, xv) != t || sole_reader(graph_, t) != last)
                return std::nullopt;
            nodes.push_back(last);
        } else {  // x * (t * 0.5)
            const Node* half = with_constant(t, "Mul", 0.5);
            if (!half || other_input(&product, x_) != output0(half) || sole_reader(graph_, output0(half)) != &product)
                return std::nullopt;
            nodes = {&scale, erf, plus_one, half, &product};
        }
        return Match{Activation::kGelu, {}, nodes};
    }

    const Graph& graph_;
    const Value* x_;
    size_t rank_;
};

}  // namespace

std::optional<ActivationMatch> match_activation(const Graph& graph, const Value* x) {
    return Matcher(graph, x).match();
}

std::optional<ActivationMatch> match_activation_pattern(const Graph& graph, const Value* x) {
    return Matcher(graph, x).pattern(graph.uses(x));
}

}  // namespace fovea::ir::passes
