// The bf16 precision policy. bf16 keeps 8 significant bits, so each convolution or matrix product that reads bf16
// adds a relative error of about 2^-9 to its output (accumulation stays fp32). What reaches the graph outputs
// depends on where the error enters: a network passes an early layer's error through every later layer, which
// amplifies it in some models (random-weight ones most), and a last layer's error reaches the outputs unattenuated.
// So three kinds of node stay in fp32, all cheap:
//  - the layers that read a graph input: the first convolution of an image model (3 input channels: few MACs, and
//    oneDNN's bf16 kernels gain little there); the largest single contributor to the output error in the zoo's
//    models (docs/benchmarks.md);
//  - the layers whose result reaches a graph output through no other matrix node: classifier Gemm, detector head
//    convolutions; on the trained factory detector they are half the box error;
//  - depthwise convolutions: memory-bound, so bf16 saves nothing (the reorder of their fp32 input to bf16 costs
//    what the narrower read saves), and MobileNet-style models have one in every block; unless their input is
//    already stored in bf16 (plan_bf16_values).
// Between convolutions that compute in bf16, activations are stored in bf16 (plan_bf16_values), also through the
// pools, Concats and elementwise Adds or Muls between them, and through squeeze-excitation blocks (global pool,
// 1x1 convolutions, per-channel Mul): that rounds little a consumer would not round anyway, but a residual added in
// bf16 or a pooled value is rounded once more.
#include "backends/cpu/precision.h"

#include <algorithm>
#include <string>
#include <vector>

namespace fovea::cpu {

namespace {

// Shape and Size read only their input's shape: no value flows through them.
bool reads_shape_only(const ir::Node& node) {
    return node.domain.empty() && (node.op_type == "Shape" || node.op_type == "Size");
}

// A value computed at run time: not a weight, nor folded to a constant once shapes are bound.
bool runtime_value(const ir::Value* v) {
    return v && !v->constant;
}

// The matrix nodes from which a graph output is reachable through no other matrix node.
std::unordered_set<const ir::Node*> output_layers(const ir::Graph& graph) {
    std::unordered_set<const ir::Node*> found, seen;
    std::vector<const ir::Node*> stack;
    for (const ir::Value* v : graph.outputs)
        if (runtime_value(v) && v->producer) stack.push_back(v->producer);
    while (!stack.empty()) {
        const ir::Node* n = stack.back();
        stack.pop_back();
        if (!seen.insert(n).second || reads_shape_only(*n)) continue;
        if (is_matrix_node(*n)) {
            found.insert(n);
            continue;
        }
        for (const ir::Value* v : n->inputs)
            if (runtime_value(v) && v->producer) stack.push_back(v->producer);
    }
    return found;
}

// The matrix nodes that a graph input reaches through no other matrix node.
std::unordered_set<const ir::Node*> input_layers(const ir::Graph& graph) {
    std::unordered_set<const ir::Node*> found;
    std::unordered_set<const ir::Value*> seen;
    std::vector<const ir::Value*> stack(graph.inputs.begin(), graph.inputs.end());
    while (!stack.empty()) {
        const ir::Value* v = stack.back();
        stack.pop_back();
        if (!seen.insert(v).second) continue;
        for (const ir::Node* n : graph.uses(v)) {
            if (reads_shape_only(*n)) continue;
            if (is_matrix_node(*n)) {
                found.insert(n);
                continue;
            }
            for (const ir::Value* out : n->outputs)
                if (runtime_value(out)) stack.push_back(out);
        }
    }
    return found;
}

// A convolution with one input channel per group and more than one group.
bool depthwise(const ir::Node& node) {
    if (!node.domain.empty() ? node.op_type != "FusedConv" : node.op_type != "Conv") return false;
    const ir::Value* w = node.input(1);
    return node.attr_int("group", 1) > 1 && w && w->shape && w->shape->size() > 2 && (*w->shape)[1] == 1;
}

}  // namespace

bool is_matrix_node(const ir::Node& node) {
    const std::string& op = node.op_type;
    if (node.domain.empty()) return op == "Conv" || op == "ConvTranspose" || op == "MatMul" || op == "Gemm";
    return op == "FusedConv" || op == "FusedMatMul";
}

std::string_view fp32_reason_name(Fp32Reason reason) {
    switch (reason) {
        case Fp32Reason::kReadsInput:
            return "reads a graph input";
        case Fp32Reason::kFeedsOutput:
            return "feeds a graph output";
        case Fp32Reason::kDepthwise:
            return "depthwise";
    }
    return "?";
}

std::unordered_map<const ir::Node*, Fp32Reason> plan_fp32_nodes(const ir::Graph& graph) {
    std::unordered_map<const ir::Node*, Fp32Reason> fp32;
    for (const ir::Node* n : input_layers(graph)) fp32.emplace(n, Fp32Reason::kReadsInput);
    for (const ir::Node* n : output_layers(graph)) fp32.emplace(n, Fp32Reason::kFeedsOutput);
    for (const auto& n : graph.nodes())
        if (is_matrix_node(*n) && depthwise(*n)) fp32.emplace(n.get(), Fp32Reason::kDepthwise);
    return fp32;
}

Bf16Storage plan_bf16_values(const ir::Graph& graph, const std::unordered_map<const ir::Node*, Fp32Reason>& fp32,
                             const std::function<bool(const ir::Value&)>& nhwc) {
    auto is_conv = [](const ir::Node& n) { return n.domain.empty() ? n.op_type == "Conv" : n.op_type == "FusedConv"; };
    // Convolutions that may compute in bf16: all but those kept in fp32 for a reason other than being depthwise.
    auto may_be_bf16 = [&](const ir::Node& n) {
        auto it = fp32.find(&n);
        return is_conv(n) && (it == fp32.end() || it->second == Fp32Reason::kDepthwise);
    };
    // NHWC images, and [N, C, 1, 1] values (pooled, or squeeze-excitation scales), whose bytes are the same in
    // either layout.
    auto one_by_one = [](const ir::Value& v) {
        return v.shape && v.shape->size() == 4 && (*v.shape)[2] == 1 && (*v.shape)[3] == 1;
    };
    auto storable = [&](const ir::Value* v) {
        return v && runtime_value(v) && !graph.is_output(v) && (nhwc(*v) || one_by_one(*v));
    };
    // Nodes that move or combine whole images and read and write one type: pools, Concat, the binary ops between
    // images of the same shape, and a Mul that scales an image per channel (squeeze-excitation). Their images (and
    // the scale) are bf16 all together or not at all.
    auto per_channel = [&](const ir::Value& scale, const Shape& image) {
        return one_by_one(scale) && image.size() == 4 && ((*scale.shape)[0] == image[0] || (*scale.shape)[0] == 1) &&
               (*scale.shape)[1] == image[1];
    };
    auto same_type_node = [&](const ir::Node& n) {
        if (!n.domain.empty() || n.outputs.empty() || !storable(n.outputs[0])) return false;
        const std::string& op = n.op_type;
        if (op == "MaxPool" || op == "AveragePool") return n.outputs.size() == 1 || !n.outputs[1];
        if (op == "GlobalAveragePool" || op == "GlobalMaxPool" || op == "Concat") return true;
        if (op != "Add" && op != "Mul" && op != "Sub" && op != "Max" && op != "Min") return false;
        const Shape& out = *n.outputs[0]->shape;
        int images = 0;
        for (const ir::Value* in : n.inputs) {
            if (!storable(in) || !in->shape) return false;
            if (*in->shape == out)
                ++images;
            else if (op != "Mul" || !per_channel(*in, out))
                return false;
        }
        return images > 0;
    };
    auto reads_bf16 = [&](const ir::Node& reader, size_t i) {
        return (may_be_bf16(reader) && (i == 0 || i == 3)) || same_type_node(reader);
    };
    auto writes_bf16 = [&](const ir::Node& writer) { return may_be_bf16(writer) || same_type_node(writer); };

    // Candidates: values whose writer and every reader can take bf16; then drop what breaks a rule, until none does.
    Bf16Storage plan;
    for (const auto& node : graph.nodes()) {
        if (!writes_bf16(*node)) continue;
        const ir::Value* y = node->outputs[0];
        if (!storable(y) || graph.uses(y).empty()) continue;
        bool readers_ok = true;
        for (const ir::Node* reader : graph.uses(y))
            for (size_t i = 0; i < reader->inputs.size(); ++i)
                if (reader->inputs[i] == y && !reads_bf16(*reader, i)) readers_ok = false;
        if (readers_ok) plan.values.insert(y);
    }
    for (bool changed = true; changed;) {
        changed = false;
        auto drop = [&](const ir::Value* v) { changed = plan.values.erase(v) > 0 || changed; };
        for (const auto& node : graph.nodes()) {
            const ir::Value* y = node->outputs.empty() ? nullptr : node->outputs[0];
            if (same_type_node(*node)) {
                bool all = plan.values.count(y) > 0;
                for (const ir::Value* in : node->inputs) all = all && plan.values.count(in);
                if (all) continue;
                drop(y);
                for (const ir::Value* in : node->inputs) drop(in);
            } else if (y && plan.values.count(y) && depthwise(*node) && !plan.values.count(node->input(0))) {
                drop(y);  // a depthwise convolution writes bf16 only when it computes in bf16, from a bf16 source
            }
        }
    }
    for (const auto& [node, reason] : fp32)
        if (reason != Fp32Reason::kDepthwise || !plan.values.count(node->input(0))) plan.fp32_nodes.insert(node);
    return plan;
}

}  // namespace fovea::cpu
