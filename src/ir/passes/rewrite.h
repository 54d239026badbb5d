// Pattern-matching and rewriting helpers shared by the passes.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"

namespace fovea::ir::passes {

// Whether `n` is the default-domain op `op_type`.
bool is_op(const Node* n, std::string_view op_type);
// Whether `n` is a Conv or a FusedConv that can still take an epilogue step: no activation yet and, for
// `want_sum`, no residual yet either.
bool is_open_conv(const Node* n, bool want_sum);

// Whether `consumer` is the only reader of `v` (in one input slot) and `v` is no graph output: a rewrite that
// absorbs `consumer` may then drop `v`.
bool feeds_only(const Graph& graph, const Value* v, const Node* consumer);

// The one element of a constant one-element tensor whose rank is at most `max_rank`, widened; nullopt otherwise.
// The rank bound keeps the broadcast from changing the other operand's shape.
std::optional<double> scalar_constant(const Value* v, size_t max_rank);

// Whether `v` is set and within 1e-6 (relative, or absolute below 1) of `want`.
bool is_near(std::optional<double> v, double want);

// A node's first output, or nullptr.
Value* output0(const Node* n);
// The other input of a two-input node that reads `v`, or nullptr.
Value* other_input(const Node* n, const Value* v);
// The only node reading `v` (in one input slot), if `v` is also no graph output.
Node* sole_reader(const Graph& graph, const Value* v);

// y = x * scale + shift, per channel.
struct ChannelAffine {
    std::vector<double> scale;
    std::vector<double> shift;
};
// An inference BatchNormalization as a ChannelAffine: scale = gamma / sqrt(var + epsilon), shift = beta - mean *
// scale. nullopt unless its parameters are constant float32 vectors of one length (and it computes no training
// statistics).
std::optional<ChannelAffine> batchnorm_affine(const Node& bn);

// A new initializer holding `t`, named after the value `replaced` with `suffix` (made unique).
Value* add_constant(Graph& graph, const std::string& replaced, Tensor t, std::string_view suffix);
// A float32 constant's tensor, or nullptr.
const Tensor* float32_constant(const Value* v);
// Folds y = z * scale + shift (per output channel) into the Conv, ConvTranspose or Gemm producing z: weights and bias
// become new initializers named after the old with `suffix` (the originals may be shared). False, and nothing
// changed, when the producer's constants do not fit.
bool fold_channel_affine(Graph& graph, Node& producer, const ChannelAffine& a, std::string_view suffix);
// Mul, Add, Sub or Div: the ops constant_affine reads.
bool is_affine_op(const Node* n);
// Offers every affine op to `fold` (which returns whether it rewrote the graph, removing that node) until none
// folds: one fold at a time, then a fresh scan, since a fold removes nodes and may open another.
void fold_each_affine_op(Graph& graph, bool (*fold)(Graph& graph, Node& n));
// The affine map that `n` (Mul, Add, Sub or Div, its other operand a float32 constant of one value, or one per
// channel) applies to `x`, whose channel dim is `axis` of `rank` with `channels` entries. nullopt for anything
// else: a constant that would broadcast x to another shape, a constant divided by x, a zero divisor.
std::optional<ChannelAffine> constant_affine(const Node& n, const Value* x, size_t rank, size_t axis, int64_t channels);

// Turns a Conv node into a FusedConv with no epilogue yet; a FusedConv is returned as is.
void make_fused_conv(Node& conv);

// Makes `producer` write `v`, which takes over from its output `old` (the values between them are being dropped).
void take_over_output(Node& producer, Value* old, Value* v);

// Symbolic shapes: each dim is a known size (>= 0) or a symbol (< 0), equal symbols meaning equal sizes. Unknown
// input dims with the same dim_param share a symbol; ops that keep a dim (elementwise, Conv's batch) pass theirs on.
// Lets a pass prove two shapes equal before the input shapes are bound.
class ShapeSymbols {
  public:
    explicit ShapeSymbols(const Graph& graph);
    // Both shapes are known to be equal, whatever sizes the dynamic dims get.
    bool same_shape(const Value* a, const Value* b) const;

  private:
    using Dims = std::vector<int64_t>;
    Dims dims_of(const Value* v) const;
    Dims propagate(const Node& node, const Value& out);
    int64_t fresh() { return --next_symbol_; }

    std::map<const Value*, Dims> dims_;
    int64_t next_symbol_ = 0;
};

}  // namespace fovea::ir::passes
