// Shape and type inference for the nn group: convolution, pooling, normalization, matrix products, softmax and
// quantization; also the window and einsum geometry that the kernels share (nn_geometry.h).
#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "ops/fused_conv.h"
#include "ops/nn_geometry.h"
#include "ops/op.h"

namespace fovea::ops {

namespace {

constexpr std::initializer_list<DType> kFloatTypes = {DType::kFloat32, DType::kFloat64, DType::kFloat16,
                                                      DType::kBFloat16};

std::string str(int64_t v) {
    return std::to_string(v);
}

std::string ints_to_string(const std::vector<int64_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) s += ',';
        s += str(v[i]);
    }
    return s + "]";
}

// Reads an int list attribute of `count` values (all `fallback` when absent), each at least `min_value`.
Status read_ints(const ir::Node& node, const char* name, int64_t fallback, size_t count, int64_t min_value,
                 std::vector<int64_t>& out) {
    out = node.attr_ints(name, std::vector<int64_t>(count, fallback));
    if (out.size() != count)
        return invalid_argument(node.describe() + ": attribute " + name + " " + ints_to_string(out) + " has " +
                                str(static_cast<int64_t>(out.size())) + " values, expected " +
                                str(static_cast<int64_t>(count)));
    for (int64_t v : out)
        if (v < min_value)
            return invalid_argument(node.describe() + ": attribute " + name + " " + ints_to_string(out) +
                                    " has a value below " + str(min_value));
    return Status::ok();
}

bool has_output(const InferContext& ctx, size_t i) {
    return i < ctx.node.outputs.size() && ctx.node.outputs[i] != nullptr;
}

// Fails unless input i (when present) has one of the `allowed` dtypes.
Status expect_dtype(const InferContext& ctx, size_t i, std::initializer_list<DType> allowed) {
    if (!ctx.has_input(i)) return Status::ok();
    const DType dt = ctx.input(i).dtype;
    if (std::find(allowed.begin(), allowed.end(), dt) != allowed.end()) return Status::ok();
    std::string names;
    for (DType a : allowed) {
        if (!names.empty()) names += ", ";
        names += dtype_name(a);
    }
    return ctx.fail_unsupported("input " + str(static_cast<int64_t>(i)) + " has dtype " + dtype_name(dt) +
                                "; expected one of " + names);
}

// Fails unless every present input in [first, last] has input 0's dtype.
Status expect_same_dtype(const InferContext& ctx, size_t first, size_t last) {
    for (size_t i = first; i <= last && i < ctx.num_inputs(); ++i)
        if (ctx.has_input(i) && ctx.input(i).dtype != ctx.input(0).dtype)
            return ctx.fail("input " + str(static_cast<int64_t>(i)) + " has dtype " + dtype_name(ctx.input(i).dtype) +
                            " but input 0 has " + dtype_name(ctx.input(0).dtype));
    return Status::ok();
}

// Fails when input i is present with a known rank outside [min_rank, max_rank].
Status expect_rank(const InferContext& ctx, size_t i, int64_t min_rank, int64_t max_rank) {
    const int64_t r = ctx.has_input(i) ? ctx.input(i).rank() : -1;
    if (r < 0 || (r >= min_rank && r <= max_rank)) return Status::ok();
    return ctx.fail("input " + str(static_cast<int64_t>(i)) + " has rank " + str(r) + ", expected " +
                    (min_rank == max_rank ? str(min_rank) : str(min_rank) + " to " + str(max_rank)));
}

// Fails when two dims are both known and differ.
Status expect_dim(const InferContext& ctx, int64_t got, int64_t want, const std::string& what) {
    if (got < 0 || want < 0 || got == want) return Status::ok();
    return ctx.fail(what + " is " + str(got) + ", expected " + str(want));
}

// Fails unless the (rank-1) per-channel input i has `channels` elements.
Status expect_per_channel(const InferContext& ctx, size_t i, int64_t channels) {
    FOVEA_TRY(expect_rank(ctx, i, 1, 1));
    if (ctx.has_input(i) && ctx.input(i).rank() == 1)
        FOVEA_TRY(expect_dim(ctx, (*ctx.input(i).shape)[0], channels,
                             "input " + str(static_cast<int64_t>(i)) + "'s size (one value per channel)"));
    return Status::ok();
}

// Unwraps `r`, or returns its error with the node's description.
template <typename T>
Status unwrap(const InferContext& ctx, Result<T> r, T& out) {
    if (!r.is_ok()) return ctx.fail(r.status().message());
    out = std::move(r).value();
    return Status::ok();
}

// Whether `from` broadcasts one way to `to`; unknown dims are given the benefit of the doubt.
bool broadcasts_to(const Shape& from, const Shape& to) {
    if (from.size() > to.size()) return false;
    for (size_t i = 0; i < from.size(); ++i) {
        const int64_t f = from[i], t = to[i + to.size() - from.size()];
        if (f != 1 && f >= 0 && t >= 0 && f != t) return false;
    }
    return true;
}

int64_t dim_or_unknown(const std::optional<Shape>& shape, size_t i) {
    return shape && i < shape->size() ? (*shape)[i] : -1;
}

// Conv, ConvTranspose and the windowed pools: [N, channels, spatial output dims...].
Status infer_windowed(InferContext& ctx, WindowKind kind, DType dtype, int64_t channels) {
    const TensorInfo& x = ctx.input(0);
    const TensorInfo* w = kind == WindowKind::kPool ? nullptr : &ctx.input(1);
    int64_t rank = x.rank();
    if (rank < 0 && w) rank = w->rank();
    if (rank < 0 && ctx.node.has_attr("kernel_shape"))
        rank = static_cast<int64_t>(ctx.node.attr_ints("kernel_shape").size()) + 2;
    if (rank < 0) {
        ctx.set_output(0, dtype, std::nullopt);
        return Status::ok();
    }
    if (rank < 3) return ctx.fail("input rank " + str(rank) + " is below 3 (N, C and at least one spatial dim)");
    if (w && w->rank() >= 0 && w->rank() != rank)
        return ctx.fail("weight rank " + str(w->rank()) + " differs from input rank " + str(rank));
    const size_t spatial = static_cast<size_t>(rank) - 2;
    Shape in(spatial, -1), weight_kernel;
    for (size_t i = 0; i < spatial; ++i) in[i] = dim_or_unknown(x.shape, i + 2);
    if (w) {
        weight_kernel.assign(spatial, -1);
        for (size_t i = 0; i < spatial; ++i) weight_kernel[i] = dim_or_unknown(w->shape, i + 2);
    }
    FOVEA_ASSIGN(Window win, resolve_window(ctx.node, kind, in, weight_kernel));
    Shape out{dim_or_unknown(x.shape, 0), channels};
    out.insert(out.end(), win.output.begin(), win.output.end());
    ctx.set_output(0, dtype, out);
    return Status::ok();
}

Status infer_conv_like(InferContext& ctx, bool transposed) {
    FOVEA_TRY(ctx.expect_inputs(2, 3));
    FOVEA_TRY(expect_dtype(ctx, 0, kFloatTypes));
    FOVEA_TRY(expect_same_dtype(ctx, 1, 2));
    const int64_t group = ctx.node.attr_int("group", 1);
    if (group < 1) return ctx.fail("attribute group " + str(group) + " must be positive");
    const std::optional<Shape>& w = ctx.input(1).shape;
    const int64_t in_channels = dim_or_unknown(ctx.input(0).shape, 1);
    // Conv weights are [M, C/group, k...]; ConvTranspose weights are [C, M/group, k...].
    const int64_t w0 = dim_or_unknown(w, 0), w1 = dim_or_unknown(w, 1);
    const int64_t out_channels = transposed ? (w1 < 0 ? -1 : w1 * group) : w0;
    if (transposed) {
        FOVEA_TRY(expect_dim(ctx, w0, in_channels, "weight dim 0 (input channels)"));
    } else {
        FOVEA_TRY(expect_dim(ctx, w1 < 0 ? -1 : w1 * group, in_channels, "weight dim 1 times group (input channels)"));
        if (w0 >= 0 && w0 % group != 0)
            return ctx.fail("weight dim 0 (" + str(w0) + " output channels) is not divisible by group " + str(group));
    }
    if (in_channels >= 0 && in_channels % group != 0)
        return ctx.fail("input channels " + str(in_channels) + " are not divisible by group " + str(group));
    FOVEA_TRY(expect_per_channel(ctx, 2, out_channels));
    return infer_windowed(ctx, transposed ? WindowKind::kConvTranspose : WindowKind::kConv, ctx.input(0).dtype,
                          out_channels);
}

Status infer_pool(InferContext& ctx, bool is_max) {
    FOVEA_TRY(ctx.expect_inputs(1, 1));
    if (is_max && ctx.node.opset >= 12) {
        FOVEA_TRY(expect_dtype(
            ctx, 0,
            {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8, DType::kUInt8}));
    } else {
        FOVEA_TRY(expect_dtype(ctx, 0, kFloatTypes));
    }
    const int64_t storage_order = ctx.node.attr_int("storage_order", 0);
    if (storage_order != 0 && storage_order != 1)
        return ctx.fail("attribute storage_order " + str(storage_order) + " must be 0 or 1");
    FOVEA_TRY(infer_windowed(ctx, WindowKind::kPool, ctx.input(0).dtype, dim_or_unknown(ctx.input(0).shape, 1)));
    if (is_max && has_output(ctx, 1)) ctx.set_output(1, DType::kInt64, ctx.outputs[0].shape);
    return Status::ok();
}

Status infer_global_pool(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 1));
    FOVEA_TRY(expect_dtype(ctx, 0, kFloatTypes));
    FOVEA_TRY(expect_rank(ctx, 0, 3, 64));
    std::optional<Shape> out = ctx.input(0).shape;
    if (out)
        for (size_t i = 2; i < out->size(); ++i) (*out)[i] = 1;
    ctx.set_output(0, ctx.input(0).dtype, out);
    return Status::ok();
}

// Softmax, LogSoftmax and LpNormalization keep the shape; only the axis needs checking.
Status infer_along_axis(InferContext& ctx, int64_t default_axis) {
    FOVEA_TRY(ctx.expect_inputs(1, 1));
    FOVEA_TRY(expect_dtype(ctx, 0, kFloatTypes));
    const int64_t rank = ctx.input(0).rank();
    if (rank >= 0) {
        int64_t axis = 0;
        FOVEA_TRY(unwrap(ctx, normalize_axis(ctx.node.attr_int("axis", default_axis), rank), axis));
    }
    ctx.set_output(0, ctx.input(0).dtype, ctx.input(0).shape);
    return Status::ok();
}

Status infer_softmax_like(InferContext& ctx) {
    return infer_along_axis(ctx, ctx.node.opset < 13 ? 1 : -1);
}

// Fails unless the optional per-axis quantization parameters (inputs 1 and 2) fit input 0 along `axis`.
Status check_quant_params(const InferContext& ctx) {
    FOVEA_TRY(expect_rank(ctx, 1, 0, 1));
    FOVEA_TRY(expect_rank(ctx, 2, 0, 1));
    const TensorInfo& scale = ctx.input(1);
    if (ctx.has_input(2) && scale.shape && ctx.input(2).shape && scale.shape_known() && ctx.input(2).shape_known() &&
        shape_numel(*scale.shape) != shape_numel(*ctx.input(2).shape))
        return ctx.fail("scale " + shape_to_string(*scale.shape) + " and zero point " +
                        shape_to_string(*ctx.input(2).shape) + " differ in size");
    const int64_t count = scale.shape_known() ? shape_numel(*scale.shape) : -1;
    const int64_t rank = ctx.input(0).rank();
    if (count > 1 && rank >= 0) {
        int64_t axis = 0;
        FOVEA_TRY(unwrap(ctx, normalize_axis(ctx.node.attr_int("axis", 1), rank), axis));
        FOVEA_TRY(expect_dim(ctx, count, dim_or_unknown(ctx.input(0).shape, static_cast<size_t>(axis)),
                             "the number of scales"));
    }
    return Status::ok();
}

// Letters of one einsum term in order, with "..." as '.'; fails on any other character.
Result<std::string> parse_einsum_term(const ir::Node& node, const std::string& term) {
    std::string labels;
    for (size_t i = 0; i < term.size(); ++i) {
        if (std::isalpha(static_cast<unsigned char>(term[i]))) {
            labels += term[i];
        } else if (term.compare(i, 3, "...") == 0 && labels.find('.') == std::string::npos) {
            labels += '.';
            i += 2;
        } else {
            return invalid_argument(node.describe() + ": einsum term '" + term + "' is malformed at '" + term[i] + "'");
        }
    }
    return labels;
}

}  // namespace

Result<Window> resolve_window(const ir::Node& node, WindowKind kind, const Shape& input, const Shape& weight_kernel) {
    const size_t n = input.size();
    auto fail = [&](const std::string& why) { return invalid_argument(node.describe() + ": " + why); };
    if (kind == WindowKind::kPool && !node.has_attr("kernel_shape")) return fail("attribute kernel_shape is required");
    Window w;
    if (node.has_attr("kernel_shape") || weight_kernel.empty()) {
        FOVEA_TRY(read_ints(node, "kernel_shape", 1, n, 1, w.kernel));
        for (size_t i = 0; i < weight_kernel.size(); ++i)
            if (weight_kernel[i] >= 0 && w.kernel[i] != weight_kernel[i])
                return fail("kernel_shape " + ints_to_string(w.kernel) + " differs from the weight's spatial shape " +
                            shape_to_string(weight_kernel));
    } else {
        w.kernel = weight_kernel;
    }
    FOVEA_TRY(read_ints(node, "strides", 1, n, 1, w.strides));
    FOVEA_TRY(read_ints(node, "dilations", 1, n, 1, w.dilations));
    std::vector<int64_t> pads, output_padding, output_shape;
    FOVEA_TRY(read_ints(node, "pads", 0, 2 * n, 0, pads));
    w.pad_begin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(n));
    w.pad_end.assign(pads.begin() + static_cast<std::ptrdiff_t>(n), pads.end());
    const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
    const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
    if (!same && auto_pad != "NOTSET" && auto_pad != "VALID")
        return fail("attribute auto_pad '" + auto_pad + "' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID");
    const bool ceil_mode = kind == WindowKind::kPool && node.attr_int("ceil_mode", 0) != 0;
    if (kind == WindowKind::kConvTranspose) {
        FOVEA_TRY(read_ints(node, "output_padding", 0, n, 0, output_padding));
        output_shape = node.attr_ints("output_shape");
        if (output_shape.size() == n + 2) output_shape.erase(output_shape.begin(), output_shape.begin() + 2);
        if (!output_shape.empty() && output_shape.size() != n)
            return fail("attribute output_shape " + ints_to_string(output_shape) + " does not have " +
                        str(static_cast<int64_t>(n)) + " spatial dims");
    }
    w.output.assign(n, -1);
    for (size_t i = 0; i < n; ++i) {
        const int64_t in = input[i], s = w.strides[i];
        const int64_t extent = (w.kernel[i] - 1) * w.dilations[i] + 1;
        if (auto_pad != "NOTSET") w.pad_begin[i] = w.pad_end[i] = 0;
        if (kind == WindowKind::kConvTranspose) {
            if (!output_shape.empty()) w.output[i] = output_shape[i];
            if (in < 0 || w.kernel[i] < 0) continue;
            const int64_t natural = s * (in - 1) + output_padding[i] + extent;
            if (output_shape.empty()) w.output[i] = same ? in * s : natural - w.pad_begin[i] - w.pad_end[i];
            if (!output_shape.empty() || same) {
                // An output larger than the natural one grows at the end, like output_padding (as onnxruntime does).
                const int64_t total = std::max<int64_t>(0, natural - w.output[i]);
                w.pad_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
                w.pad_end[i] = natural - w.output[i] - w.pad_begin[i];
            }
            if (w.output[i] < 0)
                return fail("output dim " + str(static_cast<int64_t>(i)) + " would be " + str(w.output[i]));
            continue;
        }
        if (in < 0 || w.kernel[i] < 0) continue;
        if (same) {
            w.output[i] = (in + s - 1) / s;
            const int64_t total = std::max<int64_t>(0, (w.output[i] - 1) * s + extent - in);
            w.pad_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
            w.pad_end[i] = total - w.pad_begin[i];
            continue;
        }
        const int64_t span = in + w.pad_begin[i] + w.pad_end[i] - extent;
        if (span < 0)
            return fail("window of extent " + str(extent) + " exceeds padded input size " + str(span + extent) +
                        " in spatial dim " + str(static_cast<int64_t>(i)));
        w.output[i] = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
        // As in PyTorch and the ONNX reference: the last window must start inside the input or its leading pad.
        if (ceil_mode && (w.output[i] - 1) * s >= in + w.pad_begin[i]) --w.output[i];
    }
    return w;
}

Result<EinsumPlan> plan_einsum(const ir::Node& node, const std::vector<Shape>& operands) {
    auto fail = [&](const std::string& why) { return invalid_argument(node.describe() + ": " + why); };
    std::string equation;
    for (char c : node.attr_string("equation", ""))
        if (!std::isspace(static_cast<unsigned char>(c))) equation += c;
    const size_t arrow = equation.find("->");
    const std::string lhs = equation.substr(0, arrow);
    std::vector<std::string> terms;
    for (size_t start = 0;;) {
        const size_t comma = lhs.find(',', start);
        FOVEA_ASSIGN(std::string term, parse_einsum_term(node, lhs.substr(start, comma - start)));
        terms.push_back(term);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (terms.size() != operands.size())
        return fail("equation '" + equation + "' has " + str(static_cast<int64_t>(terms.size())) + " terms for " +
                    str(static_cast<int64_t>(operands.size())) + " inputs");
    // Ellipsis dims align from the right across operands; they take labels 0..ellipsis_rank-1.
    std::vector<int64_t> covered(terms.size());  // dims each operand's ellipsis stands for
    int64_t ellipsis_rank = 0;
    for (size_t k = 0; k < terms.size(); ++k) {
        const bool has_ellipsis = terms[k].find('.') != std::string::npos;
        covered[k] =
            static_cast<int64_t>(operands[k].size()) - static_cast<int64_t>(terms[k].size()) + (has_ellipsis ? 1 : 0);
        if (covered[k] < 0 || (!has_ellipsis && covered[k] != 0))
            return fail("einsum term '" + terms[k] + "' does not match input " + str(static_cast<int64_t>(k)) +
                        "'s rank " + str(static_cast<int64_t>(operands[k].size())));
        ellipsis_rank = std::max(ellipsis_rank, covered[k]);
    }
    std::map<char, int> letter_label;
    std::map<char, int> letter_count;
    auto label_of = [&](char c) {
        auto [it, inserted] = letter_label.try_emplace(c, static_cast<int>(ellipsis_rank + letter_label.size()));
        return it->second;
    };
    EinsumPlan plan;
    for (size_t k = 0; k < terms.size(); ++k) {
        std::vector<int>& labels = plan.operands.emplace_back();
        for (char c : terms[k]) {
            if (c == '.') {
                for (int64_t e = ellipsis_rank - covered[k]; e < ellipsis_rank; ++e)
                    labels.push_back(static_cast<int>(e));
            } else {
                labels.push_back(label_of(c));
                ++letter_count[c];
            }
        }
    }
    std::string out_term;
    if (arrow == std::string::npos) {
        // Implicit output: the ellipsis dims, then the letters used exactly once, in alphabetical order.
        if (lhs.find("...") != std::string::npos) out_term += '.';
        for (const auto& [c, count] : letter_count)
            if (count == 1) out_term += c;
    } else {
        FOVEA_ASSIGN(out_term, parse_einsum_term(node, equation.substr(arrow + 2)));
    }
    for (char c : out_term) {
        if (c == '.') {
            for (int e = 0; e < ellipsis_rank; ++e) plan.output.push_back(e);
            continue;
        }
        if (!letter_count.count(c)) return fail("einsum output letter '" + std::string(1, c) + "' is in no input");
        if (std::count(out_term.begin(), out_term.end(), c) > 1)
            return fail("einsum output letter '" + std::string(1, c) + "' repeats");
        plan.output.push_back(letter_label[c]);
    }
    // A label's extent is its one non-1 size; size-1 dims broadcast.
    const size_t num_labels = static_cast<size_t>(ellipsis_rank) + letter_label.size();
    plan.sizes.assign(num_labels, 1);
    std::vector<bool> unknown(num_labels, false);
    for (size_t k = 0; k < operands.size(); ++k) {
        for (size_t d = 0; d < operands[k].size(); ++d) {
            const auto label = static_cast<size_t>(plan.operands[k][d]);
            const int64_t dim = operands[k][d];
            if (dim < 0) {
                unknown[label] = true;
            } else if (dim != 1) {
                if (plan.sizes[label] != 1 && plan.sizes[label] != dim)
                    return fail("einsum dims of one label disagree: " + str(plan.sizes[label]) + " and " + str(dim));
                plan.sizes[label] = dim;
            }
        }
    }
    for (size_t l = 0; l < num_labels; ++l)
        if (unknown[l] && plan.sizes[l] == 1) plan.sizes[l] = -1;
    return plan;
}

namespace {
constexpr Activation kActivations[] = {
    Activation::kNone, Activation::kRelu,      Activation::kClip,        Activation::kLeakyRelu, Activation::kSigmoid,
    Activation::kSiLU, Activation::kHardSwish, Activation::kHardSigmoid, Activation::kTanh,      Activation::kGelu};

size_t activation_param_count(Activation a) {
    switch (a) {
        case Activation::kClip:
        case Activation::kHardSigmoid:
            return 2;
        case Activation::kLeakyRelu:
            return 1;
        case Activation::kNone:
        case Activation::kRelu:
        case Activation::kSigmoid:
        case Activation::kSiLU:
        case Activation::kHardSwish:
        case Activation::kTanh:
        case Activation::kGelu:
            return 0;
    }
    return 0;
}
}  // namespace

std::string_view activation_name(Activation a) {
    switch (a) {
        case Activation::kNone:
            return "";
        case Activation::kRelu:
            return "Relu";
        case Activation::kClip:
            return "Clip";
        case Activation::kLeakyRelu:
            return "LeakyRelu";
        case Activation::kSigmoid:
            return "Sigmoid";
        case Activation::kSiLU:
            return "SiLU";
        case Activation::kHardSwish:
            return "HardSwish";
        case Activation::kHardSigmoid:
            return "HardSigmoid";
        case Activation::kTanh:
            return "Tanh";
        case Activation::kGelu:
            return "Gelu";
    }
    return "";
}

Result<Epilogue> read_epilogue(const ir::Node& node) {
    Epilogue e;
    const std::string name = node.attr_string("activation", "");
    const auto* found = std::find_if(std::begin(kActivations), std::end(kActivations),
                                     [&](Activation a) { return activation_name(a) == name; });
    if (found == std::end(kActivations))
        return invalid_argument(node.describe() + ": unknown activation '" + name + "'");
    e.activation = *found;
    e.params = node.attr_floats("activation_params");
    if (e.params.size() != activation_param_count(e.activation))
        return invalid_argument(node.describe() + ": activation '" + name + "' takes " +
                                str(static_cast<int64_t>(activation_param_count(e.activation))) + " parameters, got " +
                                str(static_cast<int64_t>(e.params.size())));
    e.has_sum = node.input(3) != nullptr;
    return e;
}

Status infer_Conv(InferContext& ctx) {
    return infer_conv_like(ctx, false);
}

// Conv's inference on inputs X, W, B, then checks the epilogue and that Sum has the output's dtype and shape.
Status infer_FusedConv(InferContext& ctx) {
    if (ctx.node.domain != kFoveaDomain) return ctx.fail_unsupported("FusedConv exists only in domain 'fovea'");
    FOVEA_TRY(ctx.expect_inputs(2, 4));
    FOVEA_TRY(read_epilogue(ctx.node).status());
    InferContext conv{ctx.node, {ctx.inputs.begin(), ctx.inputs.begin() + std::min<size_t>(ctx.inputs.size(), 3)}, {}};
    FOVEA_TRY(infer_conv_like(conv, false));
    ctx.outputs = std::move(conv.outputs);
    if (!ctx.has_input(3)) return Status::ok();
    const TensorInfo& sum = ctx.input(3);
    if (sum.dtype != ctx.input(0).dtype)
        return ctx.fail(std::string("Sum has dtype ") + dtype_name(sum.dtype) + " but X has " +
                        dtype_name(ctx.input(0).dtype));
    const std::optional<Shape>& y = ctx.outputs[0].shape;
    if (sum.shape && y) {
        bool same = sum.shape->size() == y->size();
        for (size_t i = 0; same && i < y->size(); ++i)
            same = (*sum.shape)[i] < 0 || (*y)[i] < 0 || (*sum.shape)[i] == (*y)[i];
        if (!same)
            return ctx.fail("Sum " + shape_to_string(*sum.shape) + " differs from the output " + shape_to_string(*y));
    }
    return Status::ok();
}

// A [..., M, K] times a 2-D B ([K, N], or [N, K] under transB), plus Bias [N]: [..., M, N].
Status infer_FusedMatMul(InferContext& ctx) {
    if (ctx.node.domain != kFoveaDomain) return ctx.fail_unsupported("FusedMatMul exists only in domain 'fovea'");
    FOVEA_TRY(ctx.expect_inputs(2, 3));
    FOVEA_TRY(read_epilogue(ctx.node).status());
    FOVEA_TRY(expect_dtype(ctx, 0, {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16}));
    FOVEA_TRY(expect_same_dtype(ctx, 1, 2));
    FOVEA_TRY(expect_rank(ctx, 0, 2, 64));
    FOVEA_TRY(expect_rank(ctx, 1, 2, 2));
    FOVEA_TRY(expect_rank(ctx, 2, 1, 1));
    const bool trans_b = ctx.node.attr_int("transB", 0) != 0;
    const std::optional<Shape>& a = ctx.input(0).shape;
    const std::optional<Shape>& b = ctx.input(1).shape;
    const int64_t n = dim_or_unknown(b, trans_b ? 0 : 1);
    if (a) FOVEA_TRY(expect_dim(ctx, dim_or_unknown(b, trans_b ? 1 : 0), a->back(), "B's inner dim"));
    if (ctx.has_input(2)) FOVEA_TRY(expect_dim(ctx, dim_or_unknown(ctx.input(2).shape, 0), n, "Bias's length"));
    if (!a) {
        ctx.set_output(0, ctx.input(0).dtype, std::nullopt);
        return Status::ok();
    }
    Shape out = *a;
    out.back() = n;
    ctx.set_output(0, ctx.input(0).dtype, out);
    return Status::ok();
}

Status infer_ConvTranspose(InferContext& ctx) {
    return infer_conv_like(ctx, true);
}
Status infer_AveragePool(InferContext& ctx) {
    return infer_pool(ctx, false);
}
Status infer_MaxPool(InferContext& ctx) {
    return infer_pool(ctx, true);
}
Status infer_GlobalAveragePool(InferContext& ctx) {
    return infer_global_pool(ctx);
}
Status infer_GlobalMaxPool(InferContext& ctx) {
    return infer_global_pool(ctx);
}

Status infer_BatchNormalization(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(5, 5));
    for (size_t i = 0; i < 5; ++i) FOVEA_TRY(expect_dtype(ctx, i, kFloatTypes));
    // Opset 14 made training explicit; before it, the extra outputs (mean, var, saved stats) meant training.
    bool extra_outputs = false;
    for (size_t i = 1; i < ctx.node.outputs.size(); ++i) extra_outputs = extra_outputs || has_output(ctx, i);
    const bool training = ctx.node.opset >= 14 ? ctx.node.attr_int("training_mode", 0) != 0 : extra_outputs;
    if (training) return ctx.fail_unsupported("training mode (batch statistics) is not supported, only inference");
    FOVEA_TRY(expect_rank(ctx, 0, 2, 64));
    const bool per_channel = ctx.node.opset >= 9 || ctx.node.attr_int("spatial", 1) != 0;
    if (per_channel) {
        for (size_t i = 1; i < 5; ++i) FOVEA_TRY(expect_per_channel(ctx, i, dim_or_unknown(ctx.input(0).shape, 1)));
    }
    ctx.set_output(0, ctx.input(0).dtype, ctx.input(0).shape);
    return Status::ok();
}

Status infer_InstanceNormalization(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(3, 3));
    FOVEA_TRY(expect_dtype(ctx, 0, kFloatTypes));
    FOVEA_TRY(expect_same_dtype(ctx, 1, 2));
    FOVEA_TRY(expect_rank(ctx, 0, 3, 64));
    const int64_t channels = dim_or_unknown(ctx.input(0).shape, 1);
    FOVEA_TRY(expect_per_channel(ctx, 1, channels));
    FOVEA_TRY(expect_per_channel(ctx, 2, channels));
    ctx.set_output(0, ctx.input(0).dtype, ctx.input(0).shape);
    return Status::ok();
}

Status infer_LayerNormalization(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(2, 3));
    FOVEA_TRY(expect_dtype(ctx, 0, kFloatTypes));
    FOVEA_TRY(expect_same_dtype(ctx, 1, 2));
    const int64_t stash_type = ctx.node.attr_int("stash_type", 1);
    if (stash_type != 1) return ctx.fail_unsupported("attribute stash_type " + str(stash_type) + " (only 1, float)");
    const std::optional<Shape>& x = ctx.input(0).shape;
    std::optional<Shape> stats;
    if (x) {
        int64_t axis = 0;
        FOVEA_TRY(unwrap(ctx, normalize_axis(ctx.node.attr_int("axis", -1), static_cast<int64_t>(x->size())), axis));
        const Shape normalized(x->begin() + axis, x->end());
        for (size_t i = 1; i < 3; ++i) {
            if (!ctx.has_input(i) || !ctx.input(i).shape) continue;
            const Shape& p = *ctx.input(i).shape;
            if (!broadcasts_to(p, normalized))
                return ctx.fail("input " + str(static_cast<int64_t>(i)) + " " + shape_to_string(p) +
                                " does not broadcast to the normalized shape " + shape_to_string(normalized));
        }
        stats = *x;
        std::fill(stats->begin() + axis, stats->end(), 1);
    }
    ctx.set_output(0, ctx.input(0).dtype, x);
    for (size_t i = 1; i < 3; ++i)
        if (has_output(ctx, i)) ctx.set_output(i, DType::kFloat32, stats);
    return Status::ok();
}

Status infer_Softmax(InferContext& ctx) {
    return infer_softmax_like(ctx);
}
Status infer_LogSoftmax(InferContext& ctx) {
    return infer_softmax_like(ctx);
}

Status infer_LpNormalization(InferContext& ctx) {
    const int64_t p = ctx.node.attr_int("p", 2);
    if (p != 1 && p != 2) return ctx.fail("attribute p " + str(p) + " must be 1 or 2");
    return infer_along_axis(ctx, -1);
}

Status infer_Gemm(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(2, 3));
    FOVEA_TRY(expect_dtype(
        ctx, 0, {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt32, DType::kInt64}));
    FOVEA_TRY(expect_same_dtype(ctx, 1, 2));
    FOVEA_TRY(expect_rank(ctx, 0, 2, 2));
    FOVEA_TRY(expect_rank(ctx, 1, 2, 2));
    FOVEA_TRY(expect_rank(ctx, 2, 0, 2));
    const bool trans_a = ctx.node.attr_int("transA", 0) != 0, trans_b = ctx.node.attr_int("transB", 0) != 0;
    const std::optional<Shape>& a = ctx.input(0).shape;
    const std::optional<Shape>& b = ctx.input(1).shape;
    const int64_t m = dim_or_unknown(a, trans_a ? 1 : 0), k = dim_or_unknown(a, trans_a ? 0 : 1);
    const int64_t n = dim_or_unknown(b, trans_b ? 0 : 1);
    FOVEA_TRY(expect_dim(ctx, dim_or_unknown(b, trans_b ? 1 : 0), k, "B's inner dim"));
    if (ctx.has_input(2) && ctx.input(2).shape) {
        // C broadcasts one way, to [M, N].
        const Shape& c = *ctx.input(2).shape;
        if (!broadcasts_to(c, Shape{m, n}))
            return ctx.fail("C " + shape_to_string(c) + " does not broadcast to " + shape_to_string(Shape{m, n}));
    }
    ctx.set_output(0, ctx.input(0).dtype, Shape{m, n});
    return Status::ok();
}

Status infer_MatMul(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(2, 2));
    FOVEA_TRY(expect_dtype(
        ctx, 0, {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt32, DType::kInt64}));
    FOVEA_TRY(expect_same_dtype(ctx, 1, 1));
    FOVEA_TRY(expect_rank(ctx, 0, 1, 64));
    FOVEA_TRY(expect_rank(ctx, 1, 1, 64));
    const std::optional<Shape>& a = ctx.input(0).shape;
    const std::optional<Shape>& b = ctx.input(1).shape;
    if (!a || !b) {
        ctx.set_output(0, ctx.input(0).dtype, std::nullopt);
        return Status::ok();
    }
    // A 1-D operand is a row (A) or column (B) vector whose unit dim is dropped from the result.
    const Shape a2 = a->size() == 1 ? Shape{1, (*a)[0]} : *a;
    const Shape b2 = b->size() == 1 ? Shape{(*b)[0], 1} : *b;
    FOVEA_TRY(expect_dim(ctx, b2[b2.size() - 2], a2.back(), "B's inner dim"));
    Shape out;
    FOVEA_TRY(unwrap(ctx, broadcast_shapes(Shape(a2.begin(), a2.end() - 2), Shape(b2.begin(), b2.end() - 2)), out));
    if (a->size() > 1) out.push_back(a2[a2.size() - 2]);
    if (b->size() > 1) out.push_back(b2.back());
    ctx.set_output(0, ctx.input(0).dtype, out);
    return Status::ok();
}

Status infer_Einsum(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(1, 64));
    FOVEA_TRY(expect_dtype(ctx, 0,
                           {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kInt8,
                            DType::kUInt8, DType::kInt32, DType::kInt64}));
    FOVEA_TRY(expect_same_dtype(ctx, 1, ctx.num_inputs() - 1));
    std::vector<Shape> shapes;
    for (const TensorInfo& in : ctx.inputs) {
        if (!in.present) return ctx.fail("Einsum inputs cannot be omitted");
        if (!in.shape) {
            ctx.set_output(0, ctx.input(0).dtype, std::nullopt);
            return Status::ok();
        }
        shapes.push_back(*in.shape);
    }
    FOVEA_ASSIGN(const EinsumPlan plan, plan_einsum(ctx.node, shapes));
    Shape out;
    for (int label : plan.output) out.push_back(plan.sizes[static_cast<size_t>(label)]);
    ctx.set_output(0, ctx.input(0).dtype, out);
    return Status::ok();
}

Status infer_QuantizeLinear(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(2, 3));
    FOVEA_TRY(expect_dtype(ctx, 0, {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt32}));
    FOVEA_TRY(expect_dtype(ctx, 1, kFloatTypes));
    FOVEA_TRY(expect_dtype(ctx, 2, {DType::kInt8, DType::kUInt8}));
    FOVEA_TRY(check_quant_params(ctx));
    ctx.set_output(0, ctx.has_input(2) ? ctx.input(2).dtype : DType::kUInt8, ctx.input(0).shape);
    return Status::ok();
}

Status infer_DequantizeLinear(InferContext& ctx) {
    FOVEA_TRY(ctx.expect_inputs(2, 3));
    FOVEA_TRY(expect_dtype(ctx, 0, {DType::kInt8, DType::kUInt8, DType::kInt32}));
    FOVEA_TRY(expect_dtype(ctx, 1, kFloatTypes));
    if (ctx.has_input(2) && ctx.input(2).dtype != ctx.input(0).dtype)
        return ctx.fail(std::string("zero point dtype ") + dtype_name(ctx.input(2).dtype) + " differs from input's " +
                        dtype_name(ctx.input(0).dtype));
    FOVEA_TRY(check_quant_params(ctx));
    ctx.set_output(0, ctx.input(1).dtype, ctx.input(0).shape);
    return Status::ok();
}

}  // namespace fovea::ops
