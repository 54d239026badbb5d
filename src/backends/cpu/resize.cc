// Resize and Upsample on oneDNN resampling, for the configurations where oneDNN samples exactly where ONNX does.
// oneDNN maps output x to input (x + 0.5) * in / out - 0.5: nearest rounds that half away from zero, linear
// interpolates there with the edges repeated. Nearest modes are checked index by index at compile time; linear is
// taken for half_pixel sampling at the scale out / in.
#include <algorithm>
#include <cmath>

#include "backends/cpu/kernels.h"

namespace fovea::cpu {

namespace {

constexpr auto kF32 = dnnl::memory::data_type::f32;

// ONNX's input coordinate for output coordinate x; nullopt for transformations not taken here.
std::optional<double> onnx_coordinate(const std::string& mode, double x, double scale, double length, int64_t in) {
    if (mode == "half_pixel") return (x + 0.5) / scale - 0.5;
    if (mode == "pytorch_half_pixel") return length > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    if (mode == "asymmetric") return x / scale;
    if (mode == "align_corners") return length > 1 ? x * static_cast<double>(in - 1) / (length - 1) : 0.0;
    if (mode == "tf_half_pixel_for_nn") return (x + 0.5) / scale;
    return std::nullopt;
}

std::optional<int64_t> onnx_nearest(const std::string& mode, double src) {
    const double lo = std::floor(src), frac = src - lo;
    if (mode == "round_prefer_floor") return static_cast<int64_t>(frac > 0.5 ? lo + 1 : lo);
    if (mode == "round_prefer_ceil") return static_cast<int64_t>(frac >= 0.5 ? lo + 1 : lo);
    if (mode == "floor") return static_cast<int64_t>(lo);
    if (mode == "ceil") return static_cast<int64_t>(std::ceil(src));
    return std::nullopt;
}

// True when oneDNN's nearest sampling reads the same input index as ONNX for every output index of one axis.
bool nearest_matches(const std::string& coord, const std::string& rounding, int64_t in, int64_t out, double scale,
                     double length) {
    for (int64_t x = 0; x < out; ++x) {
        const std::optional<double> src = onnx_coordinate(coord, static_cast<double>(x), scale, length, in);
        const std::optional<int64_t> index = src ? onnx_nearest(rounding, *src) : std::nullopt;
        if (!index) return false;
        // oneDNN computes in float, as written here.
        const float mapped = (static_cast<float>(x) + 0.5f) * static_cast<float>(in) / static_cast<float>(out) - 0.5f;
        const auto dnnl_index = static_cast<int64_t>(std::roundf(mapped));
        if (std::clamp<int64_t>(*index, 0, in - 1) != std::clamp<int64_t>(dnnl_index, 0, in - 1)) return false;
    }
    return true;
}

}  // namespace

Compiled compile_resize(const ir::Node& node, Context& ctx) {
    const ir::Value& x = *node.inputs[0];
    const ir::Value& y = *node.outputs[0];
    if (x.dtype != DType::kFloat32 || y.dtype != DType::kFloat32 || !x.shape_known() || !y.shape_known())
        return decline();
    const Shape& xs = *x.shape;
    const Shape& ys = *y.shape;
    if (xs.size() < 3 || xs.size() > 5 || xs[0] != ys[0] || xs[1] != ys[1] || shape_numel(ys) == 0) return decline();
    // Upsample and opset-10 Resize sample asymmetrically, nearest rounding down.
    const bool legacy = node.op_type == "Upsample" || node.opset < 11;
    const std::string mode = node.attr_string("mode", "nearest");
    const std::string coord = legacy ? "asymmetric" : node.attr_string("coordinate_transformation_mode", "half_pixel");
    const std::string rounding = legacy ? "floor" : node.attr_string("nearest_mode", "round_prefer_floor");
    // An empty scales input counts as absent (opset 11 needs the slot even when sizes are given).
    const ir::Value* scales = node.input(legacy ? 1 : 2);
    if (scales && scales->shape_known() && shape_numel(*scales->shape) == 0) scales = nullptr;
    if (scales && !scales->constant) return decline();
    for (size_t d = 2; d < xs.size(); ++d) {
        const int64_t in = xs[d], out = ys[d];
        const double ratio = static_cast<double>(out) / static_cast<double>(in);
        const double scale = scales ? scales->constant->element_as_double(static_cast<int64_t>(d)) : ratio;
        const double length = scales ? static_cast<double>(in) * scale : static_cast<double>(out);
        if (mode == "nearest") {
            if (!nearest_matches(coord, rounding, in, out, scale, length)) return decline();
        } else if (mode == "linear") {
            const bool half_pixel = coord == "half_pixel" || (coord == "pytorch_half_pixel" && out > 1);
            if (!half_pixel || std::abs(scale - ratio) > 1e-6 * ratio) return decline();
        } else {
            return decline();
        }
    }
    const dnnl::memory::desc src = ctx.layout_desc(x, kF32), dst = ctx.layout_desc(y, kF32);
    const dnnl::algorithm alg =
        mode == "nearest" ? dnnl::algorithm::resampling_nearest : dnnl::algorithm::resampling_linear;
    const dnnl::resampling_forward::desc desc(dnnl::prop_kind::forward_inference, alg, src, dst);
    const dnnl::resampling_forward::primitive_desc pd(desc, user_attr(), ctx.engine());
    auto kernel = std::make_unique<DnnlKernel>(ctx, node);
    kernel->add(dnnl::resampling_forward(pd),
                {{DNNL_ARG_SRC, kernel->input(0, src)}, {DNNL_ARG_DST, kernel->output(0, dst)}});
    return DnnlKernel::finish(std::move(kernel));
}

}  // namespace fovea::cpu
