// Data movement (Concat, Split, Slice, Transpose, Pad, Gather) and Resize. NCHW throughout, as every value is
// stored contiguously in its logical order.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cuda/engine.h"
#include "backends/cuda/kernels/fast_div.h"
#include "ops/shape_plan.h"

namespace fovea::cuda {

namespace {

// One copy_rows launch per piece: pieces of `rows` rows, each piece `cols` wide at column `offset` of the joined row.
struct Piece {
    const void* src;
    void* dst;
    int64_t src_pitch, dst_pitch, cols;
};

Launch pieces_launch(const ir::Node& node, int esize, int64_t rows, std::vector<Piece> pieces) {
    return [=, &node](const Exec& e) -> Status {
        for (const Piece& p : pieces)
            FOVEA_TRY(launched(
                node, launch_copy_rows(esize, p.src, p.src_pitch, p.dst, p.dst_pitch, rows, p.cols, e.stream)));
        return Status::ok();
    };
}

}  // namespace

Result<Launch> build_concat(const ir::Node& node, Builder& b) {
    const ir::Value* yv = node.outputs[0];
    const Shape& ys = shape_of(*yv);
    FOVEA_ASSIGN(const size_t axis, axis_attr(node, ys.size()));
    const int esize = element_size(b.stored(*yv));
    // NHWC channel concat: each pixel's row of channels is the joined row.
    const bool nhwc = b.layout(*yv) == Layout::kNHWC;
    const int64_t inner = nhwc ? 1 : product(ys, axis + 1, ys.size());
    const int64_t rows = nhwc ? ys[0] * ys[2] * ys[3] : product(ys, 0, axis);
    FOVEA_ASSIGN(void* y, b.pointer(node, yv));
    std::vector<Piece> pieces;
    int64_t offset = 0;
    for (const ir::Value* v : node.inputs) {
        if (!v) continue;
        const int64_t cols = shape_of(*v)[axis] * inner;
        void* dst = static_cast<std::byte*>(y) + offset * esize;
        offset += cols;
        if (const View* view = b.view(*v)) {  // a Split's piece, say: its rows at the pitch of what it views
            const std::optional<int64_t> pitch = row_pitch(shape_of(*v), view->strides, axis);
            if (nhwc || !pitch) return node_error(node, "a strided view it cannot read (internal)");
            FOVEA_ASSIGN(const void* x, b.view_pointer(node, *view));
            pieces.push_back({x, dst, *pitch, ys[axis] * inner, cols});
            continue;
        }
        FOVEA_ASSIGN(void* x, b.pointer_as(node, v, nhwc ? Layout::kNHWC : Layout::kNCHW));
        pieces.push_back({x, dst, cols, ys[axis] * inner, cols});
    }
    // Every piece in one pass where the kernel takes them (up to kMaxConcatPieces, 32-bit indices), else one copy
    // per piece.
    std::vector<ConcatPiece> joined;
    for (const Piece& p : pieces) joined.push_back({p.src, p.src_pitch, p.cols});
    const bool one_pass = joined.size() <= static_cast<size_t>(kMaxConcatPieces) &&
                          fits_fast_div(rows * (ys[axis] * inner)) &&
                          std::all_of(joined.begin(), joined.end(),
                                      [&](const ConcatPiece& p) { return fits_fast_div(rows * p.pitch + p.cols); });
    if (!one_pass) return pieces_launch(node, esize, rows, std::move(pieces));
    return Launch([=, &node](const Exec& e) {
        return launched(node,
                        launch_concat_rows(esize, joined.data(), static_cast<int>(joined.size()), y, rows, e.stream));
    });
}

Result<Launch> build_split(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    const Shape& xs = shape_of(*xv);
    FOVEA_ASSIGN(const size_t axis, axis_attr(node, xs.size()));
    const int esize = element_size(b.stored(*xv));
    const bool nhwc = xs.size() == 4 && axis == 1 && b.layout(*xv) == Layout::kNHWC;
    const int64_t inner = nhwc ? 1 : product(xs, axis + 1, xs.size());
    const int64_t rows = nhwc ? xs[0] * xs[2] * xs[3] : product(xs, 0, axis);
    FOVEA_ASSIGN(void* x, b.pointer_as(node, xv, nhwc ? Layout::kNHWC : Layout::kNCHW));
    std::vector<Piece> pieces;
    int64_t offset = 0;
    for (const ir::Value* v : node.outputs) {
        if (!v) return node_unsupported(node, "omitted outputs are not");
        const int64_t cols = shape_of(*v)[axis] * inner;
        FOVEA_ASSIGN(void* y, b.output_as(node, v, nhwc ? Layout::kNHWC : Layout::kNCHW));
        pieces.push_back({static_cast<std::byte*>(x) + offset * esize, y, xs[axis] * inner, cols, cols});
        offset += cols;
    }
    return pieces_launch(node, esize, rows, std::move(pieces));
}

namespace {

Launch strided_launch(const ir::Node& node, int esize, GatherDims p, const void* src, void* dst) {
    return [=, &node](const Exec& e) { return launched(node, launch_strided_copy(esize, p, src, dst, e.stream)); };
}

}  // namespace

Result<Launch> build_slice(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    const Shape& xs = shape_of(*xv);
    if (xs.size() > kMaxDims) return node_unsupported(node, "more than 6 dims are not");
    for (size_t i = 1; i < node.inputs.size(); ++i)
        if (node.inputs[i] && !node.inputs[i]->constant)
            return node_unsupported(node, "runtime starts, ends, axes or steps are not");
    auto constant = [&](size_t i) -> const Tensor* { return node.input(i) ? &*node.input(i)->constant : nullptr; };
    if (!constant(1) || !constant(2)) return node_error(node, "starts and ends are required");
    auto plan = ops::plan_slice(xs, *constant(1), *constant(2), constant(3), constant(4));
    if (!plan.is_ok()) return node_error(node, plan.status().message());
    const std::vector<int64_t> in_strides = contiguous_strides(xs);
    GatherDims p;
    p.rank = static_cast<int>(xs.size());
    int64_t start = 0;
    for (size_t d = 0; d < xs.size(); ++d) {
        const ops::SliceDim& s = (*plan)[d];
        p.size[d] = s.size;
        p.src_stride[d] = s.step * in_strides[d];
        start += s.start * in_strides[d];
    }
    const int esize = element_size(b.stored(*xv));
    FOVEA_ASSIGN(void* x, b.pointer(node, xv));
    FOVEA_ASSIGN(void* y, b.pointer(node, node.outputs[0]));
    return strided_launch(node, esize, p, static_cast<std::byte*>(x) + start * esize, y);
}

Result<Launch> build_transpose(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    const Shape& xs = shape_of(*xv);
    if (xs.size() > kMaxDims) return node_unsupported(node, "more than 6 dims are not");
    auto perm = ops::transpose_perm(node, static_cast<int64_t>(xs.size()));
    if (!perm.is_ok()) return node_error(node, perm.status().message());
    const std::vector<int64_t> in_strides = contiguous_strides(xs);
    GatherDims p;
    p.rank = static_cast<int>(xs.size());
    for (size_t d = 0; d < xs.size(); ++d) {
        const auto from = static_cast<size_t>((*perm)[d]);
        p.size[d] = xs[from];
        p.src_stride[d] = in_strides[from];
    }
    const int esize = element_size(b.stored(*xv));
    FOVEA_ASSIGN(void* x, b.pointer(node, xv));
    FOVEA_ASSIGN(void* y, b.pointer(node, node.outputs[0]));
    return strided_launch(node, esize, p, x, y);
}

// DepthToSpace and SpaceToDepth: x [N, C, H, W] seen as a 6-D view and copied in another order (a transpose).
Result<Launch> build_depth_space(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    const Shape& xs = shape_of(*xv);
    if (xs.size() != 4) return node_error(node, "X must be 4-D");
    const int64_t bs = node.attr_int("blocksize", 0);
    if (bs <= 0) return node_error(node, "blocksize must be positive");
    const int64_t n = xs[0], c = xs[1], h = xs[2], w = xs[3];
    Shape view;
    std::vector<int64_t> perm;
    if (node.op_type == "SpaceToDepth") {
        if (h % bs || w % bs) return node_error(node, "H and W must be multiples of blocksize");
        view = {n, c, h / bs, bs, w / bs, bs};
        perm = {0, 3, 5, 1, 2, 4};
    } else {
        if (c % (bs * bs)) return node_error(node, "C must be a multiple of blocksize^2");
        const bool crd = node.attr_string("mode", "DCR") == "CRD";
        view = crd ? Shape{n, c / (bs * bs), bs, bs, h, w} : Shape{n, bs, bs, c / (bs * bs), h, w};
        perm = crd ? std::vector<int64_t>{0, 1, 4, 2, 5, 3} : std::vector<int64_t>{0, 3, 4, 1, 5, 2};
    }
    const std::vector<int64_t> strides = contiguous_strides(view);
    GatherDims p;
    p.rank = 6;
    for (size_t d = 0; d < 6; ++d) {
        const auto from = static_cast<size_t>(perm[d]);
        p.size[d] = view[from];
        p.src_stride[d] = strides[from];
    }
    FOVEA_ASSIGN(void* x, b.pointer(node, xv));
    FOVEA_ASSIGN(void* y, b.pointer(node, node.outputs[0]));
    return strided_launch(node, element_size(b.stored(*xv)), p, x, y);
}

Result<Launch> build_pad(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    const Shape& xs = shape_of(*xv);
    const Shape& ys = shape_of(*node.outputs[0]);
    if (xs.size() > kMaxDims) return node_unsupported(node, "more than 6 dims are not");
    const std::string mode = node.attr_string("mode", "constant");
    PadParams p;
    if (mode == "constant")
        p.mode = PadMode::kConstant;
    else if (mode == "edge")
        p.mode = PadMode::kEdge;
    else if (mode == "reflect")
        p.mode = PadMode::kReflect;
    else
        return node_unsupported(node, "mode '" + mode + "' is not");
    for (size_t i = 1; i < node.inputs.size(); ++i)
        if (node.inputs[i] && !node.inputs[i]->constant) return node_unsupported(node, "runtime pads are not");
    if (!node.input(1)) return node_error(node, "pads are required");
    const Tensor* axes = node.input(3) ? &*node.input(3)->constant : nullptr;
    auto pads = ops::plan_pads(static_cast<int64_t>(xs.size()), *node.input(1)->constant, axes);
    if (!pads.is_ok()) return node_error(node, pads.status().message());
    p.rank = static_cast<int>(xs.size());
    for (size_t d = 0; d < xs.size(); ++d) {
        p.size[d] = ys[d];
        p.in_size[d] = xs[d];
        p.begin[d] = (*pads)[d].begin;
    }
    const DType dt = b.stored(*xv);
    const double value =
        node.input(2) && node.input(2)->constant->numel() > 0 ? node.input(2)->constant->element_as_double(0) : 0.0;
    switch (dt) {
        case DType::kFloat32: {
            const float f = static_cast<float>(value);
            std::memcpy(&p.value_bits, &f, sizeof f);
            break;
        }
        case DType::kFloat16: {
            const uint16_t h = float_to_half(static_cast<float>(value));
            std::memcpy(&p.value_bits, &h, sizeof h);
            break;
        }
        case DType::kInt64: {
            const auto i = static_cast<int64_t>(value);
            std::memcpy(&p.value_bits, &i, sizeof i);
            break;
        }
        case DType::kInt32: {
            const auto i = static_cast<int32_t>(value);
            std::memcpy(&p.value_bits, &i, sizeof i);
            break;
        }
        default:
            return node_unsupported(node, std::string("dtype ") + dtype_name(dt) + " is not");
    }
    const int esize = element_size(dt);
    FOVEA_ASSIGN(void* x, b.pointer(node, xv));
    FOVEA_ASSIGN(void* y, b.pointer(node, node.outputs[0]));
    return Launch([=, &node](const Exec& e) { return launched(node, launch_pad(esize, p, x, y, e.stream)); });
}

namespace {

// Gather's and GatherElements' indices as int64 on the device: constants converted and uploaded, runtime int64
// read in place.
Result<const int64_t*> device_indices(const ir::Node& node, Builder& b, const ir::Value* iv) {
    if (iv->constant) {
        std::vector<int64_t> host(static_cast<size_t>(iv->constant->numel()));
        for (size_t i = 0; i < host.size(); ++i) host[i] = iv->constant->element_as_int64(static_cast<int64_t>(i));
        FOVEA_ASSIGN(void* up, b.upload(host.data(), host.size() * sizeof(int64_t)));
        return static_cast<const int64_t*>(up);
    }
    if (iv->dtype != DType::kInt64) return node_unsupported(node, "runtime indices other than int64 are not");
    FOVEA_ASSIGN(void* p, b.pointer(node, iv));
    return static_cast<const int64_t*>(p);
}

}  // namespace

Result<Launch> build_gather(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    const ir::Value* iv = node.input(1);
    const Shape& xs = shape_of(*xv);
    FOVEA_ASSIGN(const size_t axis, axis_attr(node, xs.size()));
    const int64_t count = shape_numel(shape_of(*iv));
    FOVEA_ASSIGN(const int64_t* idx, device_indices(node, b, iv));
    const int esize = element_size(b.stored(*xv));
    const int64_t outer = product(xs, 0, axis), inner = product(xs, axis + 1, xs.size()), len = xs[axis];
    FOVEA_ASSIGN(void* x, b.pointer(node, xv));
    FOVEA_ASSIGN(void* y, b.pointer(node, node.outputs[0]));
    return Launch([=, &node](const Exec& e) {
        return launched(node, launch_gather(esize, x, idx, count, y, outer, len, inner, e.stream));
    });
}

Result<Launch> build_gather_elements(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    const ir::Value* iv = node.input(1);
    const Shape& xs = shape_of(*xv);
    const Shape& is = shape_of(*iv);
    if (xs.size() > kMaxDims || xs.size() != is.size()) return node_unsupported(node, "more than 6 dims are not");
    FOVEA_ASSIGN(const size_t axis, axis_attr(node, xs.size()));
    GatherElementsDims p;
    p.rank = static_cast<int>(xs.size());
    p.axis = static_cast<int>(axis);
    p.axis_len = xs[axis];
    int64_t stride = 1;
    for (size_t d = xs.size(); d-- > 0;) {
        p.size[d] = is[d];
        p.x_stride[d] = stride;
        stride *= xs[d];
    }
    FOVEA_ASSIGN(const int64_t* idx, device_indices(node, b, iv));
    const int esize = element_size(b.stored(*xv));
    FOVEA_ASSIGN(void* x, b.pointer(node, xv));
    FOVEA_ASSIGN(void* y, b.pointer(node, node.outputs[0]));
    return Launch(
        [=, &node](const Exec& e) { return launched(node, launch_gather_elements(esize, p, x, idx, y, e.stream)); });
}

namespace {

// ONNX Resize's coordinate transforms and rounding, as the reference backend applies them.
double source_coord(const std::string& coord, double x, double scale, double length, int64_t in) {
    if (coord == "half_pixel") return (x + 0.5) / scale - 0.5;
    if (coord == "pytorch_half_pixel") return length > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    if (coord == "align_corners") return length > 1 ? x * static_cast<double>(in - 1) / (length - 1) : 0.0;
    if (coord == "tf_half_pixel_for_nn") return (x + 0.5) / scale;
    return x / scale;  // asymmetric
}

int64_t nearest_index(const std::string& mode, double src) {
    const double lo = std::floor(src), frac = src - lo;
    if (mode == "round_prefer_ceil") return static_cast<int64_t>(frac >= 0.5 ? lo + 1 : lo);
    if (mode == "floor") return static_cast<int64_t>(lo);
    if (mode == "ceil") return static_cast<int64_t>(std::ceil(src));
    return static_cast<int64_t>(frac > 0.5 ? lo + 1 : lo);  // round_prefer_floor
}

}  // namespace

Result<Launch> build_resize(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    const ir::Value* yv = node.outputs[0];
    FOVEA_ASSIGN(const Float t, b.float_type(node, *xv));
    const Shape& xs = shape_of(*xv);
    const Shape& ys = shape_of(*yv);
    if (xs.size() > kMaxDims) return node_unsupported(node, "more than 6 dims are not");
    const bool legacy = node.op_type == "Upsample" || node.opset < 11;
    const std::string mode = node.attr_string("mode", "nearest");
    const std::string coord = legacy ? "asymmetric" : node.attr_string("coordinate_transformation_mode", "half_pixel");
    const std::string rounding = legacy ? "floor" : node.attr_string("nearest_mode", "round_prefer_floor");
    const bool exclude_outside = !legacy && node.attr_int("exclude_outside", 0) != 0;
    if (mode != "nearest" && mode != "linear") return node_unsupported(node, "mode '" + mode + "' is not");
    if (coord == "tf_crop_and_resize") return node_unsupported(node, "tf_crop_and_resize is not");
    const ir::Value* sv = legacy ? node.input(1) : node.input(2);
    if (sv && !sv->constant) return node_unsupported(node, "runtime scales are not");
    const Tensor* scales = sv && sv->constant->numel() > 0 ? &*sv->constant : nullptr;

    std::vector<ResizeTap> taps;
    ResizeParams p;
    p.rank = static_cast<int>(xs.size());
    const std::vector<int64_t> in_strides = contiguous_strides(xs);
    for (size_t d = 0; d < xs.size(); ++d) {
        const int64_t in = xs[d], out = ys[d];
        const double scale = scales ? scales->element_as_double(static_cast<int64_t>(d))
                                    : static_cast<double>(out) / static_cast<double>(in);
        const double length = scales ? static_cast<double>(in) * scale : static_cast<double>(out);
        p.size[d] = out;
        p.in_stride[d] = in_strides[d];
        p.tap_offset[d] = static_cast<int64_t>(taps.size());
        for (int64_t x = 0; x < out; ++x) {
            const double src = source_coord(coord, static_cast<double>(x), scale, length, in);
            ResizeTap tap;
            if (mode == "nearest") {
                tap.i0 = static_cast<int32_t>(std::clamp<int64_t>(nearest_index(rounding, src), 0, in - 1));
            } else {
                const int64_t lo = static_cast<int64_t>(std::floor(src));
                const double frac = src - static_cast<double>(lo);
                double w0 = 1 - frac, w1 = frac;
                if (exclude_outside) {
                    if (lo < 0 || lo >= in) w0 = 0;
                    if (lo + 1 < 0 || lo + 1 >= in) w1 = 0;
                    const double sum = w0 + w1;
                    if (sum != 0) {
                        w0 /= sum;
                        w1 /= sum;
                    }
                }
                tap.i0 = static_cast<int32_t>(std::clamp<int64_t>(lo, 0, in - 1));
                tap.i1 = static_cast<int32_t>(std::clamp<int64_t>(lo + 1, 0, in - 1));
                tap.w0 = static_cast<float>(w0);
                tap.w1 = static_cast<float>(w1);
            }
            if (tap.w1 != 0.f || tap.w0 != 1.f) p.blend |= 1u << d;
            taps.push_back(tap);
        }
    }
    FOVEA_ASSIGN(void* table, b.upload(taps.data(), taps.size() * sizeof(ResizeTap)));
    // NHWC: the same taps, dims walked in N, H, W, C order over NHWC strides.
    const bool nhwc = xs.size() == 4 && b.layout(*xv) == Layout::kNHWC;
    if (nhwc) {
        constexpr size_t kOrder[4] = {0, 2, 3, 1};
        const int64_t nhwc_stride[4] = {xs[1] * xs[2] * xs[3], 1, xs[3] * xs[1], xs[1]};
        ResizeParams q = p;
        q.blend = 0;
        for (size_t d = 0; d < 4; ++d) {
            if ((p.blend >> kOrder[d]) & 1) q.blend |= 1u << d;
            q.size[d] = p.size[kOrder[d]];
            q.in_stride[d] = nhwc_stride[kOrder[d]];
            q.tap_offset[d] = p.tap_offset[kOrder[d]];
        }
        p = q;
    }
    const Layout lay = nhwc ? Layout::kNHWC : Layout::kNCHW;
    FOVEA_ASSIGN(void* x, b.pointer_as(node, xv, lay));
    FOVEA_ASSIGN(void* y, b.output_as(node, yv, lay));
    const auto* tap_table = static_cast<const ResizeTap*>(table);
    // Nearest over H and W of NHWC, channels kept: whole pixels copied, in wide elements.
    bool channels_kept = nhwc && p.blend == 0 && xs[1] == ys[1];
    for (int64_t c = 0; channels_kept && c < xs[1]; ++c)
        channels_kept = taps[static_cast<size_t>(p.tap_offset[3] + c)].i0 == c;
    if (channels_kept) {
        ResizeParams outer = p;
        outer.rank = 3;
        const int64_t channels = xs[1], esize = element_size(b.stored(*xv));
        return Launch([=, &node](const Exec& e) {  // beyond 32-bit indices, the general kernel
            const cudaError_t r =
                launch_resize_rows(static_cast<int>(esize), outer, tap_table, x, y, channels, e.stream);
            return launched(node, r == cudaErrorNotSupported ? launch_resize(t, p, tap_table, x, y, e.stream) : r);
        });
    }
    return Launch([=, &node](const Exec& e) { return launched(node, launch_resize(t, p, tap_table, x, y, e.stream)); });
}

}  // namespace fovea::cuda
