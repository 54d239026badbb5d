// A channel Concat read only by a per-channel affine map with its activation (the depthwise 1x1 FusedConv that
// batchnorm_to_conv makes of DenseNet's BatchNormalization + ReLU) becomes one fovea.ConcatAffine: each input is read
// once and the normalized result written once, instead of a copy into the concatenation and a pass over the copy.
// The cpu backend's kernels run it (backend_pipeline), in fp32.
#include <algorithm>
#include <string>

#include "ir/passes/passes.h"
#include "ir/passes/rewrite.h"
#include "ops/op.h"

namespace fovea::ir::passes {

namespace {

// Whether `conv` is y = activation(x * w[c] + b[c]) per channel of a 4-D x: a depthwise 1x1 FusedConv with constant
// weights and bias, unit strides and dilations, no padding and no residual.
bool is_channel_affine(const Node* conv) {
    if (!conv || conv->domain != ops::kFoveaDomain || conv->op_type != "FusedConv" || conv->input(3)) return false;
    const Value* x = conv->input(0);
    const Tensor* w = float32_constant(conv->input(1));
    const Tensor* b = float32_constant(conv->input(2));
    if (!x || !x->shape || x->shape->size() != 4 || !w || !b) return false;
    const int64_t channels = (*x->shape)[1];
    auto ones = [&](const char* attr) {
        for (int64_t v : conv->attr_ints(attr))
            if (v != 1) return false;
        return true;
    };
    auto zeros = [&](const char* attr) {
        for (int64_t v : conv->attr_ints(attr))
            if (v != 0) return false;
        return true;
    };
    return channels > 0 && conv->attr_int("group", 1) == channels && w->shape() == Shape{channels, 1, 1, 1} &&
           b->numel() == channels && ones("strides") && ones("dilations") && zeros("pads") &&
           conv->attr_string("auto_pad", "NOTSET") == "NOTSET";
}

}  // namespace

Status fuse_concat_affine(Graph& graph) {
    std::vector<Node*> concats;
    for (const auto& n : graph.nodes())
        if (is_op(n.get(), "Concat") && n->outputs.size() == 1) concats.push_back(n.get());
    for (Node* concat : concats) {
        Value* joined = concat->outputs[0];
        Node* conv = sole_reader(graph, joined);
        if (!joined->shape || joined->shape->size() != 4 || joined->dtype != DType::kFloat32 ||
            (concat->attr_int("axis", 0) + 4) % 4 != 1 || !is_channel_affine(conv))
            continue;
        const int64_t channels = (*joined->shape)[1];
        Tensor scale(DType::kFloat32, {channels});
        const Tensor& w = *float32_constant(conv->input(1));
        std::copy(w.data<float>(), w.data<float>() + channels, scale.data<float>());
        Tensor shift(DType::kFloat32, {channels});
        const Tensor& b = *float32_constant(conv->input(2));
        std::copy(b.data<float>(), b.data<float>() + channels, shift.data<float>());
        std::vector<Value*> inputs = {add_constant(graph, conv->input(1)->name, std::move(scale), "_scale"),
                                      add_constant(graph, conv->input(2)->name, std::move(shift), "_shift")};
        inputs.insert(inputs.end(), concat->inputs.begin(), concat->inputs.end());
        concat->op_type = "ConcatAffine";
        concat->domain = std::string(ops::kFoveaDomain);
        concat->opset = 1;
        concat->attrs = {{"axis", int64_t{1}},
                         {"activation", conv->attr_string("activation", "")},
                         {"activation_params", conv->attr_floats("activation_params")}};
        concat->inputs = std::move(inputs);
        take_over_output(*concat, joined, conv->outputs[0]);
        graph.remove_nodes({conv});
    }
    return Status::ok();
}

}  // namespace fovea::ir::passes
