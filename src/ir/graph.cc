#include "ir/graph.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace fovea::ir {

bool Value::shape_known() const {
    if (!shape) return false;
    for (int64_t d : *shape)
        if (d < 0) return false;
    return true;
}

void Value::set_initializer(Tensor t) {
    dtype = t.dtype();
    has_type = true;
    shape = t.shape();
    dim_params.assign(t.shape().size(), "");
    constant = std::move(t);
    is_initializer = true;
}

namespace {
template <typename T>
const T* get_attr(const std::map<std::string, Attribute>& attrs, const std::string& key) {
    auto it = attrs.find(key);
    return it == attrs.end() ? nullptr : std::get_if<T>(&it->second);
}
}  // namespace

int64_t Node::attr_int(const std::string& key, int64_t fallback) const {
    const auto* v = get_attr<int64_t>(attrs, key);
    return v ? *v : fallback;
}
float Node::attr_float(const std::string& key, float fallback) const {
    const auto* v = get_attr<float>(attrs, key);
    return v ? *v : fallback;
}
std::string Node::attr_string(const std::string& key, const std::string& fallback) const {
    const auto* v = get_attr<std::string>(attrs, key);
    return v ? *v : fallback;
}
std::vector<int64_t> Node::attr_ints(const std::string& key, std::vector<int64_t> fallback) const {
    const auto* v = get_attr<std::vector<int64_t>>(attrs, key);
    return v ? *v : fallback;
}
std::vector<float> Node::attr_floats(const std::string& key, std::vector<float> fallback) const {
    const auto* v = get_attr<std::vector<float>>(attrs, key);
    return v ? *v : fallback;
}
const Tensor* Node::attr_tensor(const std::string& key) const {
    return get_attr<Tensor>(attrs, key);
}

std::string Node::describe() const {
    std::string d = "node '" + name + "' (" + op_type;
    if (!domain.empty()) d += ", domain " + domain;
    return d + ", opset " + std::to_string(opset) + ")";
}

Value* Graph::add_value(std::string value_name) {
    values_.push_back(std::make_unique<Value>());
    Value* v = values_.back().get();
    v->name = std::move(value_name);
    if (!v->name.empty()) by_name_[v->name] = v;
    return v;
}

Value* Graph::find_value(const std::string& value_name) const {
    auto it = by_name_.find(value_name);
    return it == by_name_.end() ? nullptr : it->second;
}

Node* Graph::add_node(std::string op_type, std::string node_name) {
    nodes_.push_back(std::make_unique<Node>());
    Node* n = nodes_.back().get();
    n->op_type = std::move(op_type);
    n->name = std::move(node_name);
    return n;
}

std::vector<Node*> Graph::uses(const Value* v) const {
    std::vector<Node*> result;
    for (const auto& n : nodes_)
        for (const Value* in : n->inputs)
            if (in == v) result.push_back(n.get());
    return result;
}

bool Graph::is_output(const Value* v) const {
    return std::find(outputs.begin(), outputs.end(), v) != outputs.end();
}

void Graph::replace_uses(Value* from, Value* to) {
    for (const auto& n : nodes_) std::replace(n->inputs.begin(), n->inputs.end(), from, to);
}

void Graph::remove_nodes(const std::vector<const Node*>& doomed) {
    const std::set<const Node*> set(doomed.begin(), doomed.end());
    for (const auto& v : values_)
        if (set.count(v->producer)) v->producer = nullptr;
    remove_nodes_if([&](const Node& n) { return set.count(&n) != 0; });
}

void Graph::remove_unused_values() {
    std::set<const Value*> used(inputs.begin(), inputs.end());
    used.insert(outputs.begin(), outputs.end());
    for (const auto& n : nodes_) {
        used.insert(n->inputs.begin(), n->inputs.end());
        used.insert(n->outputs.begin(), n->outputs.end());
    }
    std::erase_if(values_, [&](const std::unique_ptr<Value>& v) {
        if (used.count(v.get())) return false;
        auto it = by_name_.find(v->name);
        if (it != by_name_.end() && it->second == v.get()) by_name_.erase(it);
        return true;
    });
}

std::string Graph::unique_value_name(const std::string& base) const {
    std::string name = base;
    for (int i = 1; by_name_.count(name); ++i) name = base + "_" + std::to_string(i);
    return name;
}

Status Graph::sort() {
    // Kahn's algorithm, stable: among ready nodes the earlier one in file order goes first.
    std::map<const Node*, size_t> index;
    for (size_t i = 0; i < nodes_.size(); ++i) index[nodes_[i].get()] = i;
    std::vector<int> pending(nodes_.size(), 0);
    std::vector<std::vector<size_t>> users(nodes_.size());
    for (size_t i = 0; i < nodes_.size(); ++i) {
        std::set<const Node*> seen;
        for (const Value* in : nodes_[i]->inputs) {
            if (!in || !in->producer || !seen.insert(in->producer).second) continue;
            ++pending[i];
            users[index.at(in->producer)].push_back(i);
        }
    }
    std::set<size_t> ready;
    for (size_t i = 0; i < nodes_.size(); ++i)
        if (pending[i] == 0) ready.insert(i);
    std::vector<size_t> order;
    while (!ready.empty()) {
        const size_t i = *ready.begin();
        ready.erase(ready.begin());
        order.push_back(i);
        for (size_t u : users[i])
            if (--pending[u] == 0) ready.insert(u);
    }
    if (order.size() != nodes_.size()) return invalid_argument("graph has a cycle");
    std::vector<std::unique_ptr<Node>> sorted;
    sorted.reserve(nodes_.size());
    for (size_t i : order) sorted.push_back(std::move(nodes_[i]));
    nodes_ = std::move(sorted);
    return Status::ok();
}

Status Graph::verify() const {
    std::set<const Value*> available;
    for (const Value* v : inputs) available.insert(v);
    for (const auto& v : values_)
        if (v->constant) available.insert(v.get());
    for (const auto& n : nodes_) {
        for (const Value* in : n->inputs) {
            if (in && !available.count(in))
                return invalid_argument(n->describe() + ": input '" + in->name +
                                        "' is neither a graph input, an initializer nor produced by an earlier node");
        }
        for (const Value* out : n->outputs) {
            if (!out) continue;
            if (out->producer != n.get())
                return internal_error(n->describe() + ": output '" + out->name + "' has another producer");
            if (!available.insert(out).second)
                return invalid_argument(n->describe() + ": output '" + out->name + "' is defined twice");
        }
    }
    for (const Value* out : outputs)
        if (!available.count(out)) return invalid_argument("graph output '" + out->name + "' is never produced");
    return Status::ok();
}

namespace {
std::string type_text(const Value& v) {
    if (!v.has_type) return "?";
    std::string s = dtype_name(v.dtype);
    if (!v.shape) return s + "[*]";
    s += "[";
    for (size_t i = 0; i < v.shape->size(); ++i) {
        if (i) s += ",";
        const std::string& param = i < v.dim_params.size() ? v.dim_params[i] : std::string();
        s += !param.empty() ? param : (*v.shape)[i] < 0 ? "?" : std::to_string((*v.shape)[i]);
    }
    return s + "]";
}

std::string attr_text(const Attribute& a) {
    std::ostringstream os;
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, Tensor>) {
                os << "tensor " << x.describe();
            } else if constexpr (std::is_same_v<T, std::string>) {
                os << '"' << x << '"';
            } else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, float>) {
                os << x;
            } else {
                os << "[";
                for (size_t i = 0; i < x.size(); ++i) os << (i ? "," : "") << x[i];
                os << "]";
            }
        },
        a);
    return os.str();
}
}  // namespace

std::string Graph::to_text() const {
    std::ostringstream os;
    os << "graph " << name << "\n";
    for (const Value* v : inputs) os << "  input " << v->name << ": " << type_text(*v) << "\n";
    for (const auto& n : nodes_) {
        os << "  ";
        for (size_t i = 0; i < n->outputs.size(); ++i)
            os << (i ? ", " : "") << (n->outputs[i] ? n->outputs[i]->name + ": " + type_text(*n->outputs[i]) : "_");
        os << " = " << n->op_type << "(";
        for (size_t i = 0; i < n->inputs.size(); ++i) {
            const Value* in = n->inputs[i];
            os << (i ? ", " : "") << (in ? in->name : "_");
        }
        os << ")";
        if (!n->attrs.empty()) {
            os << " {";
            bool first = true;
            for (const auto& [key, value] : n->attrs) {
                os << (first ? "" : ", ") << key << "=" << attr_text(value);
                first = false;
            }
            os << "}";
        }
        os << "\n";
    }
    for (const Value* v : outputs) os << "  output " << v->name << ": " << type_text(*v) << "\n";
    return os.str();
}

}  // namespace fovea::ir
