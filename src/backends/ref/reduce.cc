// Reference kernels for reductions, arg/top-k selection, resampling and the detection helpers.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/ref/kernels.h"

namespace fovea::ref {

namespace {

template <typename T>
constexpr bool kFloatLike = std::is_floating_point_v<T> || std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

// The value kernels compute with: Acc<T> for floating types, int64_t for integers and bool.
template <typename T>
auto widen(T v) {
    if constexpr (kFloatLike<T>) {
        return static_cast<Acc<T>>(v);
    } else {
        return static_cast<int64_t>(v);
    }
}

template <typename T>
bool is_nan(T v) {
    if constexpr (kFloatLike<T>) {
        return std::isnan(widen(v));
    } else {
        return false;
    }
}

// a < b with NaN above every number (as numpy sorts), so that sorting and arg-selection see a strict weak order.
template <typename T>
bool less_nan_last(T a, T b) {
    if (is_nan(b)) return !is_nan(a);
    return !is_nan(a) && widen(a) < widen(b);
}

// Steps `index` to the next position of a row-major walk over `shape`; false once the walk wraps around.
bool advance(std::vector<int64_t>& index, const Shape& shape) {
    for (size_t d = index.size(); d-- > 0;) {
        if (++index[d] < shape[d]) return true;
        index[d] = 0;
    }
    return false;
}

// A tensor viewed as [outer, n, inner] around one axis.
struct AxisSplit {
    int64_t outer = 1;
    int64_t n = 1;
    int64_t inner = 1;

    AxisSplit(const Shape& shape, int64_t axis) {
        for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
            const int64_t dim = shape[static_cast<size_t>(d)];
            if (d < axis) outer *= dim;
            if (d == axis) n = dim;
            if (d > axis) inner *= dim;
        }
    }
    int64_t offset(int64_t o, int64_t k, int64_t i) const { return (o * n + k) * inner + i; }
};

int64_t node_axis(const KernelContext& ctx, int64_t fallback, int64_t rank) {
    const int64_t axis = ctx.node.attr_int("axis", fallback);
    return axis < 0 ? axis + rank : axis;
}

// ---- Reduce* ----

enum class ReduceKind { kL2, kMax, kMean, kMin, kProd, kSum };

template <typename T, typename A>
A reduce_init(ReduceKind kind) {
    switch (kind) {
        case ReduceKind::kL2:
        case ReduceKind::kMean:
        case ReduceKind::kSum:
            return A{0};
        case ReduceKind::kProd:
            return A{1};
        case ReduceKind::kMax:
            if constexpr (kFloatLike<T>) {
                return -std::numeric_limits<A>::infinity();
            } else {
                return std::numeric_limits<T>::lowest();
            }
        case ReduceKind::kMin:
            if constexpr (kFloatLike<T>) {
                return std::numeric_limits<A>::infinity();
            } else {
                return std::numeric_limits<T>::max();
            }
    }
    return A{0};
}

// Folds one element into an accumulator; max and min let NaN through, as numpy does.
template <typename A>
A reduce_step(ReduceKind kind, A acc, A v) {
    switch (kind) {
        case ReduceKind::kL2:
            return acc + v * v;
        case ReduceKind::kMax:
            return is_nan(v) || v > acc ? v : acc;
        case ReduceKind::kMean:
        case ReduceKind::kSum:
            return acc + v;
        case ReduceKind::kMin:
            return is_nan(v) || v < acc ? v : acc;
        case ReduceKind::kProd:
            return acc * v;
    }
    return acc;
}

template <typename T>
void reduce_typed(const Tensor& x, const std::vector<bool>& reduced, ReduceKind kind, Tensor& y) {
    using A = decltype(widen(T{}));
    Shape kept = x.shape();
    int64_t count = 1;
    for (size_t d = 0; d < kept.size(); ++d) {
        if (!reduced[d]) continue;
        count *= kept[d];
        kept[d] = 1;
    }
    // Reduced dims get stride 0, so every input element lands on its output element.
    const std::vector<int64_t> out_strides = broadcast_strides(kept, kept.size());
    std::vector<A> acc(static_cast<size_t>(shape_numel(kept)), reduce_init<T, A>(kind));
    const T* in = x.data<T>();
    std::vector<int64_t> index(kept.size(), 0);
    for (int64_t i = 0; i < x.numel(); ++i, advance(index, x.shape())) {
        const int64_t o = std::inner_product(index.begin(), index.end(), out_strides.begin(), int64_t{0});
        acc[static_cast<size_t>(o)] = reduce_step(kind, acc[static_cast<size_t>(o)], widen(in[i]));
    }
    T* out = y.data<T>();
    for (size_t o = 0; o < acc.size(); ++o) {
        if (kind == ReduceKind::kL2) {
            out[o] = static_cast<T>(std::sqrt(acc[o]));
        } else if (kind == ReduceKind::kMean && count > 0) {
            out[o] = static_cast<T>(acc[o] / static_cast<A>(count));
        } else {
            out[o] = static_cast<T>(acc[o]);
        }
    }
}

Status reduce(KernelContext& ctx, ReduceKind kind) {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = ctx.outputs[0];
    const std::vector<int64_t> axes = ctx.input(1) ? ctx.input(1)->to_int64_vector() : std::vector<int64_t>{};
    if (axes.empty() && ctx.node.attr_int("noop_with_empty_axes", 0) != 0) {
        std::memcpy(y.raw_data(), x.raw_data(), x.nbytes());
        return Status::ok();
    }
    // Inference has validated the axes (in range, no repeats).
    std::vector<bool> reduced(x.shape().size(), axes.empty());
    for (int64_t a : axes) reduced[static_cast<size_t>(a < 0 ? a + x.rank() : a)] = true;
    return visit_dtype(x.dtype(), [&]<typename T>() {
        if constexpr (std::is_same_v<T, bool>) {
            return ctx.fail_unsupported("dtype bool is not supported");
        } else {
            reduce_typed<T>(x, reduced, kind, y);
            return Status::ok();
        }
    });
}

// ---- ArgMax / ArgMin / TopK ----

// Among equal values the first index wins, or the last with select_last_index.
Status arg_reduce(KernelContext& ctx, bool take_max) {
    const Tensor& x = *ctx.inputs[0];
    const AxisSplit split(x.shape(), node_axis(ctx, 0, x.rank()));
    const bool last = ctx.node.attr_int("select_last_index", 0) != 0;
    int64_t* out = ctx.outputs[0].data<int64_t>();
    return visit_dtype(x.dtype(), [&]<typename T>() {
        const T* in = x.data<T>();
        for (int64_t o = 0; o < split.outer; ++o) {
            for (int64_t i = 0; i < split.inner; ++i) {
                int64_t best = 0;
                for (int64_t k = 1; k < split.n; ++k) {
                    const T v = in[split.offset(o, k, i)];
                    const T b = in[split.offset(o, best, i)];
                    const bool better = take_max ? less_nan_last(b, v) : less_nan_last(v, b);
                    const bool tie = !less_nan_last(v, b) && !less_nan_last(b, v);
                    if (better || (last && tie)) best = k;
                }
                out[o * split.inner + i] = best;
            }
        }
        return Status::ok();
    });
}

// ---- Resize / Upsample ----

enum class ResampleMode { kNearest, kLinear, kCubic };
enum class CoordMode { kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn, kTfCropAndResize };
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };

struct ResampleParams {
    ResampleMode mode = ResampleMode::kNearest;
    CoordMode coord = CoordMode::kAsymmetric;
    NearestMode nearest = NearestMode::kFloor;
    double cubic_a = -0.75;
    bool exclude_outside = false;
    double extrapolation = 0.0;
};

template <typename E>
struct Named {
    const char* name;
    E value;
};

template <typename E, size_t N>
Result<E> parse_attr(const KernelContext& ctx, const char* attr, const char* fallback, const Named<E> (&table)[N]) {
    const std::string value = ctx.node.attr_string(attr, fallback);
    for (const Named<E>& entry : table)
        if (value == entry.name) return entry.value;
    return ctx.fail_unsupported(std::string(attr) + " '" + value + "' is not supported");
}

constexpr Named<ResampleMode> kModes[] = {
    {"nearest", ResampleMode::kNearest}, {"linear", ResampleMode::kLinear}, {"cubic", ResampleMode::kCubic}};
constexpr Named<CoordMode> kCoordModes[] = {{"half_pixel", CoordMode::kHalfPixel},
                                            {"pytorch_half_pixel", CoordMode::kPytorchHalfPixel},
                                            {"align_corners", CoordMode::kAlignCorners},
                                            {"asymmetric", CoordMode::kAsymmetric},
                                            {"tf_half_pixel_for_nn", CoordMode::kTfHalfPixelForNn},
                                            {"tf_crop_and_resize", CoordMode::kTfCropAndResize}};
constexpr Named<NearestMode> kNearestModes[] = {{"round_prefer_floor", NearestMode::kRoundPreferFloor},
                                                {"round_prefer_ceil", NearestMode::kRoundPreferCeil},
                                                {"floor", NearestMode::kFloor},
                                                {"ceil", NearestMode::kCeil}};

// Upsample and opset-10 Resize know only `mode`: they sample asymmetrically, nearest rounding down.
bool is_legacy_resample(const ir::Node& node) {
    return node.op_type == "Upsample" || node.opset < 11;
}

Result<ResampleParams> resample_params(const KernelContext& ctx) {
    ResampleParams p;
    FOVEA_ASSIGN(p.mode, parse_attr(ctx, "mode", "nearest", kModes));
    if (is_legacy_resample(ctx.node)) return p;
    FOVEA_ASSIGN(p.coord, parse_attr(ctx, "coordinate_transformation_mode", "half_pixel", kCoordModes));
    FOVEA_ASSIGN(p.nearest, parse_attr(ctx, "nearest_mode", "round_prefer_floor", kNearestModes));
    p.cubic_a = ctx.node.attr_float("cubic_coeff_a", -0.75f);
    p.exclude_outside = ctx.node.attr_int("exclude_outside", 0) != 0;
    p.extrapolation = ctx.node.attr_float("extrapolation_value", 0.0f);
    return p;
}

// One input position an output coordinate reads, and its weight.
struct Tap {
    int64_t index;
    double weight;
};

// Per output coordinate along one axis: the taps, and whether it falls outside a tf_crop_and_resize crop.
struct AxisTaps {
    std::vector<std::vector<Tap>> taps;
    std::vector<bool> outside;
};

// The input coordinate of output coordinate x. `length` is the unrounded output length (input * scale).
double source_coord(CoordMode coord, double x, double scale, double length, int64_t in, double roi_start,
                    double roi_end) {
    const double last = static_cast<double>(in - 1);
    switch (coord) {
        case CoordMode::kHalfPixel:
            return (x + 0.5) / scale - 0.5;
        case CoordMode::kPytorchHalfPixel:
            return length > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
        case CoordMode::kAlignCorners:
            return length > 1 ? x * last / (length - 1) : 0.0;
        case CoordMode::kAsymmetric:
            return x / scale;
        case CoordMode::kTfHalfPixelForNn:
            return (x + 0.5) / scale;
        case CoordMode::kTfCropAndResize:
            return length > 1 ? roi_start * last + x * (roi_end - roi_start) * last / (length - 1)
                              : 0.5 * (roi_start + roi_end) * last;
    }
    return 0.0;
}

int64_t nearest_index(NearestMode mode, double src) {
    const double lo = std::floor(src);
    const double frac = src - lo;
    switch (mode) {
        case NearestMode::kRoundPreferFloor:
            return static_cast<int64_t>(frac > 0.5 ? lo + 1 : lo);
        case NearestMode::kRoundPreferCeil:
            return static_cast<int64_t>(frac >= 0.5 ? lo + 1 : lo);
        case NearestMode::kFloor:
            return static_cast<int64_t>(lo);
        case NearestMode::kCeil:
            return static_cast<int64_t>(std::ceil(src));
    }
    return 0;
}

// Keys' cubic convolution kernel at distance d with coefficient a.
double cubic_weight(double d, double a) {
    d = std::abs(d);
    if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
    if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
    return 0.0;
}

// The taps for input coordinate `src` along an axis of `in` elements; reads past the edges repeat the edge.
std::vector<Tap> sample_taps(const ResampleParams& p, double src, int64_t in) {
    const int64_t lo = static_cast<int64_t>(std::floor(src));
    const double t = src - static_cast<double>(lo);
    std::vector<Tap> taps;
    switch (p.mode) {
        case ResampleMode::kNearest:
            taps = {{nearest_index(p.nearest, src), 1.0}};
            break;
        case ResampleMode::kLinear:
            taps = {{lo, 1 - t}, {lo + 1, t}};
            break;
        case ResampleMode::kCubic:
            for (int64_t j = -1; j <= 2; ++j)
                taps.push_back({lo + j, cubic_weight(t - static_cast<double>(j), p.cubic_a)});
            break;
    }
    if (p.exclude_outside && p.mode != ResampleMode::kNearest) {
        double sum = 0;
        for (Tap& tap : taps) {
            if (tap.index < 0 || tap.index >= in) tap.weight = 0;
            sum += tap.weight;
        }
        if (sum != 0)
            for (Tap& tap : taps) tap.weight /= sum;
    }
    for (Tap& tap : taps) tap.index = std::clamp<int64_t>(tap.index, 0, in - 1);
    // Zero-weight taps change nothing but the cost: an unresized axis keeps exactly one tap.
    std::erase_if(taps, [](const Tap& tap) { return tap.weight == 0; });
    return taps;
}

AxisTaps axis_taps(const ResampleParams& p, int64_t in, int64_t out, double scale, double length, double roi_start,
                   double roi_end) {
    AxisTaps axis;
    for (int64_t x = 0; x < out; ++x) {
        const double src = source_coord(p.coord, static_cast<double>(x), scale, length, in, roi_start, roi_end);
        axis.outside.push_back(p.coord == CoordMode::kTfCropAndResize &&
                               (src < 0 || src > static_cast<double>(in - 1)));
        axis.taps.push_back(sample_taps(p, src, in));
    }
    return axis;
}

// Integer outputs of linear and cubic sampling round to nearest and saturate (cubic overshoots).
template <typename T, typename A>
T narrow(A v) {
    if constexpr (kFloatLike<T>) {
        return static_cast<T>(v);
    } else {
        const double lowest = static_cast<double>(std::numeric_limits<T>::lowest());
        const double highest = static_cast<double>(std::numeric_limits<T>::max());
        return static_cast<T>(std::clamp(std::round(static_cast<double>(v)), lowest, highest));
    }
}

template <typename T>
void resample_typed(const Tensor& x, const std::vector<AxisTaps>& axes, const ResampleParams& p, Tensor& y) {
    using A = std::conditional_t<kFloatLike<T>, Acc<T>, double>;
    const T* in = x.data<T>();
    T* out = y.data<T>();
    const std::vector<int64_t> in_strides = x.strides();
    const size_t rank = axes.size();
    std::vector<int64_t> index(rank, 0);
    std::vector<const std::vector<Tap>*> taps(rank);
    Shape tap_counts(rank);
    for (int64_t o = 0; o < y.numel(); ++o, advance(index, y.shape())) {
        bool outside = false;
        for (size_t d = 0; d < rank; ++d) {
            const size_t at = static_cast<size_t>(index[d]);
            outside = outside || axes[d].outside[at];
            taps[d] = &axes[d].taps[at];
            tap_counts[d] = static_cast<int64_t>(taps[d]->size());
        }
        if (outside) {
            out[o] = narrow<T>(p.extrapolation);
            continue;
        }
        // Nearest copies the element itself, which keeps wide integers exact.
        if (p.mode == ResampleMode::kNearest) {
            int64_t offset = 0;
            for (size_t d = 0; d < rank; ++d) offset += (*taps[d])[0].index * in_strides[d];
            out[o] = in[offset];
            continue;
        }
        A sum = 0;
        std::vector<int64_t> pick(rank, 0);
        do {
            double weight = 1;
            int64_t offset = 0;
            for (size_t d = 0; d < rank; ++d) {
                const Tap& tap = (*taps[d])[static_cast<size_t>(pick[d])];
                weight *= tap.weight;
                offset += tap.index * in_strides[d];
            }
            sum += static_cast<A>(weight) * static_cast<A>(widen(in[offset]));
        } while (advance(pick, tap_counts));
        out[o] = narrow<T>(sum);
    }
}

Status resample(KernelContext& ctx) {
    FOVEA_ASSIGN(const ResampleParams p, resample_params(ctx));
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = ctx.outputs[0];
    const bool legacy = is_legacy_resample(ctx.node);
    // An empty scales or sizes input counts as absent (opset 11 requires the scales slot even with sizes).
    const auto given = [&](size_t i) {
        const Tensor* t = ctx.input(i);
        return t && t->numel() > 0 ? t : nullptr;
    };
    const Tensor* scales = given(legacy ? 1 : 2);
    const Tensor* roi = legacy ? nullptr : given(1);
    const int64_t rank = x.rank();
    if (p.coord == CoordMode::kTfCropAndResize && (!roi || roi->numel() != 2 * rank))
        return ctx.fail("tf_crop_and_resize needs an roi of " + std::to_string(2 * rank) + " elements");
    std::vector<AxisTaps> axes;
    for (int64_t d = 0; d < rank; ++d) {
        const int64_t in = x.dim(d);
        const int64_t out = y.dim(d);
        if (in == 0 && out > 0) return ctx.fail("cannot resize an empty axis to " + std::to_string(out));
        const double scale = scales ? scales->element_as_double(d) : static_cast<double>(out) / static_cast<double>(in);
        const double length = scales ? static_cast<double>(in) * scale : static_cast<double>(out);
        const double roi_start = roi ? roi->element_as_double(d) : 0.0;
        const double roi_end = roi ? roi->element_as_double(rank + d) : 1.0;
        axes.push_back(axis_taps(p, in, out, scale, length, roi_start, roi_end));
    }
    return visit_dtype(x.dtype(), [&]<typename T>() {
        resample_typed<T>(x, axes, p, y);
        return Status::ok();
    });
}

// ---- NonMaxSuppression ----

struct Corners {
    double y1, x1, y2, x2;
};

// Box `b` of batch `n`: [y1, x1, y2, x2] with either diagonal, or [x_center, y_center, width, height].
Corners box_at(const Tensor& boxes, int64_t n, int64_t b, bool center_point) {
    const int64_t base = (n * boxes.dim(1) + b) * 4;
    const double v0 = boxes.element_as_double(base);
    const double v1 = boxes.element_as_double(base + 1);
    const double v2 = boxes.element_as_double(base + 2);
    const double v3 = boxes.element_as_double(base + 3);
    if (center_point) return {v1 - v3 / 2, v0 - v2 / 2, v1 + v3 / 2, v0 + v2 / 2};
    return {std::min(v0, v2), std::min(v1, v3), std::max(v0, v2), std::max(v1, v3)};
}

double iou(const Corners& p, const Corners& q) {
    const double area_p = (p.y2 - p.y1) * (p.x2 - p.x1);
    const double area_q = (q.y2 - q.y1) * (q.x2 - q.x1);
    if (area_p <= 0 || area_q <= 0) return 0.0;
    const double h = std::max(0.0, std::min(p.y2, q.y2) - std::max(p.y1, q.y1));
    const double w = std::max(0.0, std::min(p.x2, q.x2) - std::max(p.x1, q.x1));
    const double inter = h * w;
    return inter / (area_p + area_q - inter);
}

}  // namespace

Status ref_ArgMax(KernelContext& ctx) {
    return arg_reduce(ctx, true);
}
Status ref_ArgMin(KernelContext& ctx) {
    return arg_reduce(ctx, false);
}

// Greedy per batch and class: candidates above score_threshold by descending score (ties: lower box index), each
// kept unless its IoU with an already kept box exceeds iou_threshold, until max_output_boxes_per_class are kept.
Status ref_NonMaxSuppression(KernelContext& ctx) {
    const Tensor& boxes = *ctx.inputs[0];
    const Tensor& scores = *ctx.inputs[1];
    const Tensor* max_t = ctx.input(2);
    const Tensor* iou_t = ctx.input(3);
    const Tensor* score_t = ctx.input(4);
    const int64_t max_per_class = max_t && max_t->numel() > 0 ? max_t->element_as_int64(0) : 0;
    const double iou_threshold = iou_t && iou_t->numel() > 0 ? iou_t->element_as_double(0) : 0.0;
    const bool filter_scores = score_t && score_t->numel() > 0;
    const double score_threshold = filter_scores ? score_t->element_as_double(0) : 0.0;
    const bool center_point = ctx.node.attr_int("center_point_box", 0) != 0;
    const int64_t batches = scores.dim(0);
    const int64_t classes = scores.dim(1);
    const int64_t num_boxes = scores.dim(2);

    std::vector<int64_t> selected;  // (batch, class, box) triples
    for (int64_t n = 0; n < batches; ++n) {
        for (int64_t c = 0; c < classes; ++c) {
            const auto score = [&](int64_t b) { return scores.element_as_double((n * classes + c) * num_boxes + b); };
            std::vector<int64_t> candidates;
            for (int64_t b = 0; b < num_boxes; ++b)
                if (!filter_scores || score(b) > score_threshold) candidates.push_back(b);
            std::stable_sort(candidates.begin(), candidates.end(),
                             [&](int64_t a, int64_t b) { return score(a) > score(b); });
            std::vector<Corners> kept;
            for (int64_t b : candidates) {
                if (static_cast<int64_t>(kept.size()) >= max_per_class) break;
                const Corners box = box_at(boxes, n, b, center_point);
                if (std::any_of(kept.begin(), kept.end(),
                                [&](const Corners& k) { return iou(k, box) > iou_threshold; }))
                    continue;
                kept.push_back(box);
                selected.insert(selected.end(), {n, c, b});
            }
        }
    }
    const int64_t count = static_cast<int64_t>(selected.size() / 3);
    ctx.outputs[0] = Tensor::from_vector<int64_t>({count, 3}, selected);
    return Status::ok();
}

// Coordinates of the non-zero elements, one row per dimension, in row-major order.
Status ref_NonZero(KernelContext& ctx) {
    const Tensor& x = *ctx.inputs[0];
    const Shape shape = x.rank() == 0 ? Shape{1} : x.shape();  // numpy treats a scalar as one element of a 1-D array
    return visit_dtype(x.dtype(), [&]<typename T>() {
        const T* in = x.data<T>();
        std::vector<std::vector<int64_t>> coords(shape.size());
        std::vector<int64_t> index(shape.size(), 0);
        for (int64_t i = 0; i < x.numel(); ++i, advance(index, shape)) {
            if (widen(in[i]) == 0) continue;
            for (size_t d = 0; d < shape.size(); ++d) coords[d].push_back(index[d]);
        }
        const int64_t count = static_cast<int64_t>(coords[0].size());
        Tensor out(DType::kInt64, {static_cast<int64_t>(shape.size()), count});
        int64_t* dst = out.data<int64_t>();
        for (const std::vector<int64_t>& row : coords) dst = std::copy(row.begin(), row.end(), dst);
        ctx.outputs[0] = out;
        return Status::ok();
    });
}

Status ref_ReduceL2(KernelContext& ctx) {
    return reduce(ctx, ReduceKind::kL2);
}
Status ref_ReduceMax(KernelContext& ctx) {
    return reduce(ctx, ReduceKind::kMax);
}
Status ref_ReduceMean(KernelContext& ctx) {
    return reduce(ctx, ReduceKind::kMean);
}
Status ref_ReduceMin(KernelContext& ctx) {
    return reduce(ctx, ReduceKind::kMin);
}
Status ref_ReduceProd(KernelContext& ctx) {
    return reduce(ctx, ReduceKind::kProd);
}
Status ref_ReduceSum(KernelContext& ctx) {
    return reduce(ctx, ReduceKind::kSum);
}
Status ref_Resize(KernelContext& ctx) {
    return resample(ctx);
}

// The k largest (or smallest) along the axis, in order; equal values keep their index order.
Status ref_TopK(KernelContext& ctx) {
    const Tensor& x = *ctx.inputs[0];
    const int64_t k = ctx.node.opset < 10 ? ctx.node.attr_int("k", 0) : ctx.inputs[1]->element_as_int64(0);
    const AxisSplit split(x.shape(), node_axis(ctx, -1, x.rank()));
    const bool largest = ctx.node.attr_int("largest", 1) != 0;
    int64_t* indices = ctx.outputs[1].data<int64_t>();
    return visit_dtype(x.dtype(), [&]<typename T>() {
        const T* in = x.data<T>();
        T* values = ctx.outputs[0].data<T>();
        std::vector<int64_t> order(static_cast<size_t>(split.n));
        for (int64_t o = 0; o < split.outer; ++o) {
            for (int64_t i = 0; i < split.inner; ++i) {
                std::iota(order.begin(), order.end(), int64_t{0});
                std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
                    const T va = in[split.offset(o, a, i)];
                    const T vb = in[split.offset(o, b, i)];
                    return largest ? less_nan_last(vb, va) : less_nan_last(va, vb);
                });
                for (int64_t j = 0; j < k; ++j) {
                    const int64_t at = (o * k + j) * split.inner + i;
                    values[at] = in[split.offset(o, order[static_cast<size_t>(j)], i)];
                    indices[at] = order[static_cast<size_t>(j)];
                }
            }
        }
        return Status::ok();
    });
}

Status ref_Upsample(KernelContext& ctx) {
    return resample(ctx);
}

}  // namespace fovea::ref
