// The graph IR: values (typed edges), nodes (op applications) and the graph that owns both.
// Mirrors ONNX closely (op types, attribute names) so that importing is a mapping, not a translation.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "fovea/status.h"
#include "fovea/tensor.h"

namespace fovea::ir {

class Node;

// A typed edge. Dims are -1 when unknown; `dim_params` keeps symbolic names of graph inputs ("batch").
struct Value {
    std::string name;
    DType dtype = DType::kFloat32;
    bool has_type = false;                // false until import or inference assigns one
    std::optional<Shape> shape;           // nullopt: rank unknown
    std::vector<std::string> dim_params;  // same length as shape when set; "" for fixed or unnamed dims
    std::optional<Tensor> constant;       // initializers and folded constants
    bool is_initializer = false;          // constant from the model file (kept across rebinding), not folded
    Node* producer = nullptr;
    bool shape_known() const;  // rank and every dim known
    // Makes this value a model constant (initializer, Constant node, legacy attribute) with t's type and shape.
    void set_initializer(Tensor t);
};

using Attribute = std::variant<int64_t, float, std::string, Tensor, std::vector<int64_t>, std::vector<float>,
                               std::vector<std::string>>;

class Node {
  public:
    std::string op_type;
    std::string name;
    std::string domain;           // "" for the default ONNX domain
    int opset = 0;                // the version of `domain` the model imports; decides pre-13 vs 13+ semantics
    std::vector<Value*> inputs;   // nullptr where an optional input is omitted
    std::vector<Value*> outputs;  // nullptr where an optional output is omitted
    std::map<std::string, Attribute> attrs;

    bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }
    int64_t attr_int(const std::string& key, int64_t fallback) const;
    float attr_float(const std::string& key, float fallback) const;
    std::string attr_string(const std::string& key, const std::string& fallback) const;
    std::vector<int64_t> attr_ints(const std::string& key, std::vector<int64_t> fallback = {}) const;
    std::vector<float> attr_floats(const std::string& key, std::vector<float> fallback = {}) const;
    const Tensor* attr_tensor(const std::string& key) const;

    // Input i if present (not omitted and within range), else nullptr.
    Value* input(size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
    // "node 'conv1' (Conv, opset 11)": the prefix of every error about this node.
    std::string describe() const;
};

// Owns all values and nodes. Nodes are kept in topological order once `sort()` succeeds.
class Graph {
  public:
    Graph() = default;
    Graph(const Graph&) = delete;
    Graph& operator=(const Graph&) = delete;

    std::string name;
    std::vector<Value*> inputs;  // runtime inputs only (initializers are not listed here)
    std::vector<Value*> outputs;

    Value* add_value(std::string name);
    Value* find_value(const std::string& name) const;
    Node* add_node(std::string op_type, std::string name);
    const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
    // Removes the nodes `pred` selects; their outputs stay (as constants or dangling values for verify to catch).
    template <typename Pred>
    void remove_nodes_if(Pred pred) {
        std::erase_if(nodes_, [&](const std::unique_ptr<Node>& n) { return pred(*n); });
    }
    const std::vector<std::unique_ptr<Value>>& values() const { return values_; }

    // Rewriting helpers for the optimizer. `uses` lists the consuming node once per input slot that reads `v`.
    std::vector<Node*> uses(const Value* v) const;
    bool is_output(const Value* v) const;
    // Makes every node that reads `from` read `to` instead (graph outputs keep their values).
    void replace_uses(Value* from, Value* to);
    // Removes the given nodes; outputs they produced lose their producer.
    void remove_nodes(const std::vector<const Node*>& doomed);
    // Drops values that no node, graph input or graph output refers to (e.g. weights replaced by folded ones).
    void remove_unused_values();
    // `base`, or `base` with a numeric suffix, whichever no value has yet.
    std::string unique_value_name(const std::string& base) const;

    // Orders nodes so that every node follows the producers of its inputs; fails on a cycle.
    Status sort();
    // Checks structure: unique value names, one producer per value, every input produced or constant or a graph input.
    Status verify() const;
    // A stable textual form for tests and `fovea inspect --graph`.
    std::string to_text() const;

  private:
    std::vector<std::unique_ptr<Value>> values_;
    std::vector<std::unique_ptr<Node>> nodes_;
    std::map<std::string, Value*> by_name_;
};

}  // namespace fovea::ir
