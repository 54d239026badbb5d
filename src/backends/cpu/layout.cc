#include "backends/cpu/layout.h"

#include <algorithm>
#include <map>
#include <vector>

#include "backends/cpu/kernels.h"
#include "ops/op.h"
#include "ops/shape_plan.h"

namespace fovea::cpu {

namespace {

// How a node takes part in the plan: the inputs that may be NHWC, whether its outputs may be, and whether those
// images share one layout (kernels computing in their data's layout) or each have their own (convolutions, which
// reorder to the layout they pick anyway).
struct Role {
    std::vector<size_t> inputs;
    bool output = false;
    bool tied = false;
};

bool has_rank(const ir::Value* v, size_t rank) {
    return v && v->dtype == DType::kFloat32 && v->shape_known() && v->shape->size() == rank &&
           shape_numel(*v->shape) > 0;
}

bool is_image(const ir::Value* v) {
    return has_rank(v, 4);
}

// An image, or an image whose channel dim is split in two (see layout.h): what the plan may keep channels-last.
bool is_planned_rank(const ir::Value* v) {
    return has_rank(v, 4) || has_rank(v, 5);
}

// True when `split` ([N, A, B, H, W]) is `image` ([N, A * B, H, W]) with its channels split in two.
bool splits_channels(const ir::Value* image, const ir::Value* split) {
    if (!has_rank(image, 4) || !has_rank(split, 5)) return false;
    const Shape& i = *image->shape;
    const Shape& s = *split->shape;
    return i[0] == s[0] && i[1] == s[1] * s[2] && i[2] == s[3] && i[3] == s[4];
}

// The role of a node that only moves bytes between channels-last values: a Reshape that splits an image's channels
// in two or merges them back (the same bytes in either layout), or a Transpose of split channels that leaves N, H
// and W in place. ShuffleNet's channel shuffle is all three in a row, between concatenations and convolutions.
Role channel_move_role(const ir::Node& node, CompileFn compile) {
    const ir::Value* x = node.input(0);
    const ir::Value* y = node.outputs.size() == 1 ? node.outputs[0] : nullptr;
    if (compile == compile_copy) {
        const bool same = is_image(x) && is_image(y) && *x->shape == *y->shape;
        if (same || splits_channels(x, y) || splits_channels(y, x)) return {{0}, true, true};
    } else if (compile == compile_transpose && has_rank(x, 5) && has_rank(y, 5)) {
        const Result<std::vector<int64_t>> perm = ops::transpose_perm(node, 5);
        if (perm.is_ok() && perm.value()[0] == 0 && perm.value()[3] == 3 && perm.value()[4] == 4)
            return {{0}, true, true};
    } else if (compile == compile_transpose && is_image(x) && is_image(y)) {
        // A 4-D transpose reads and writes either layout, each its own: ConvNeXt's NCHW <-> NHWC permutes around
        // its LayerNorms then move no bytes between a channels-last image and a plain [N, H, W, C] tensor.
        return {{0}, true, false};
    }
    return {};
}

// True when constant-or-not `v` is one value, or one per channel (of each image of the batch, or shared by all)
// next to images of shape `image`: its bytes then read the same next to NCHW and NHWC data. (A batch's
// squeeze-excitation scales are [N, C, 1, 1].)
bool layout_free(const ir::Value* v, const Shape& image) {
    if (!v || v->dtype != DType::kFloat32 || !v->shape_known() || v->shape->size() > 4) return false;
    Shape s(4 - v->shape->size(), 1);
    s.insert(s.end(), v->shape->begin(), v->shape->end());
    return (s[0] == 1 || s[0] == image[0]) && s[2] == 1 && s[3] == 1 && (s[1] == 1 || s[1] == image[1]);
}

Role role_of(const ir::Node& node) {
    const CompileFn compile = find_compile(node);
    const ir::Value* y = node.outputs.empty() ? nullptr : node.outputs[0];
    if (compile == compile_copy || compile == compile_transpose) return channel_move_role(node, compile);
    if (!compile || !is_image(y)) return {};
    if (compile == compile_split || compile == compile_slice || compile == compile_pad) {
        // Copies between strided views, in either layout, so the parts keep the whole's. (YOLOv8's C2f blocks split
        // a convolution's channels in two, convolve one half and concatenate everything again; DenseNet pads before
        // each transition's pooling.)
        for (const ir::Value* out : node.outputs)
            if (!is_image(out)) return {};
        return {{0}, true, true};
    }
    for (size_t i = 1; i < node.outputs.size(); ++i)
        if (node.outputs[i]) return {};  // MaxPool's indices, BatchNormalization's training statistics
    const Shape& ys = *y->shape;
    if (compile == compile_conv) return {{0, 3}, true, false};
    if (compile == compile_global_pool) return {{0}, false, false};  // its 1x1 output reads the same in both layouts
    if (compile == compile_unary || compile == compile_erf || compile == compile_pool ||
        compile == compile_batch_norm || compile == compile_resize)
        return {{0}, true, true};
    Role tied{{}, true, true};
    if (compile == compile_concat_affine) {  // its images follow Scale and Shift (1-D, layout-free)
        for (size_t i = 2; i < node.inputs.size(); ++i) tied.inputs.push_back(i);
        return tied;
    }
    if (compile == compile_sum || compile == compile_concat) {
        // Concatenation keeps its axis in NHWC only as the channel one.
        if (compile == compile_concat) {
            const Result<int64_t> axis = ops::normalize_axis(node.attr_int("axis", 0), 4);
            if (!axis.is_ok() || axis.value() != 1) return {};
        }
        for (size_t i = 0; i < node.inputs.size(); ++i) tied.inputs.push_back(i);
        return tied;
    }
    if (compile == compile_binary) {
        // Operands are the image itself or per-channel; older opsets may align a short operand at another axis.
        if (node.opset < 7 || node.inputs.size() != 2) return {};
        for (size_t i = 0; i < 2; ++i) {
            const ir::Value* in = node.inputs[i];
            if (in && in->shape_known() && *in->shape == ys)
                tied.inputs.push_back(i);
            else if (!layout_free(in, ys))
                return {};
        }
        return tied.inputs.empty() ? Role{} : tied;
    }
    return {};
}

// Union-find over values: the images that must share a layout.
class Groups {
  public:
    const ir::Value* find(const ir::Value* v) {
        auto it = parent_.find(v);
        if (it == parent_.end() || it->second == v) return v;
        return it->second = find(it->second);
    }
    void join(const ir::Value* a, const ir::Value* b) { parent_[find(a)] = find(b); }

  private:
    std::map<const ir::Value*, const ir::Value*> parent_;
};

}  // namespace

bool node_runs(const ir::Node& node) {
    return std::any_of(node.outputs.begin(), node.outputs.end(),
                       [](const ir::Value* out) { return out && !out->constant; });
}

std::unordered_set<const ir::Value*> plan_nhwc(const ir::Graph& graph, const std::set<const ir::Node*>& declined) {
    std::map<const ir::Node*, Role> roles;
    std::map<const ir::Value*, bool> eligible;  // every image some node could keep in NHWC, and whether all agree
    for (const auto& node : graph.nodes())
        if (!declined.count(node.get())) roles[node.get()] = role_of(*node);
    for (const auto& node : graph.nodes()) {
        if (!node_runs(*node)) continue;
        const Role& role = roles[node.get()];
        if (role.output)
            for (const ir::Value* out : node->outputs) eligible.emplace(out, true);
        for (size_t i = 0; i < node->inputs.size(); ++i) {
            const ir::Value* in = node->inputs[i];
            if (!in) continue;
            const bool accepts = std::find(role.inputs.begin(), role.inputs.end(), i) != role.inputs.end();
            if (!accepts || !is_planned_rank(in) || in->constant) eligible[in] = false;
        }
    }
    for (const ir::Value* v : graph.inputs) eligible[v] = false;
    for (const ir::Value* v : graph.outputs) eligible[v] = false;
    for (auto& [v, ok] : eligible) {
        const auto role = v->producer ? roles.find(v->producer) : roles.end();
        ok = ok && role != roles.end() && role->second.output && !v->constant;
    }

    Groups groups;
    for (const auto& [node, role] : roles) {
        if (!role.tied) continue;
        for (size_t i : role.inputs)
            if (node->inputs[i]) groups.join(node->inputs[i], node->outputs[0]);
        for (const ir::Value* out : node->outputs) groups.join(out, node->outputs[0]);
    }
    std::map<const ir::Value*, bool> group_ok;
    for (const auto& [v, ok] : eligible) {
        auto [it, added] = group_ok.emplace(groups.find(v), ok);
        it->second = it->second && ok;
    }
    // A tied node's images may include values no role made eligible (a constant operand): they veto their group.
    for (const auto& [node, role] : roles) {
        if (!role.tied) continue;
        for (size_t i : role.inputs)
            if (node->inputs[i] && !eligible.count(node->inputs[i])) group_ok[groups.find(node->inputs[i])] = false;
    }
    std::unordered_set<const ir::Value*> nhwc;
    for (const auto& [v, ok] : eligible)
        if (ok && group_ok[groups.find(v)]) nhwc.insert(v);
    return nhwc;
}

}  // namespace fovea::cpu
