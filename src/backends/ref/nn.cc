// Reference kernels for the nn group: convolution, pooling, normalization, matrix products, softmax and quantization.
// Window and einsum geometry comes from ops/nn_geometry.h, so kernels and shape inference cannot disagree.
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "backends/ref/kernels.h"
#include "ops/fused_conv.h"
#include "ops/nn_geometry.h"
#include "ops/op.h"

namespace fovea::ref {

namespace {

template <typename T>
constexpr bool kFloating = std::is_floating_point_v<T> || std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

// The type sums are kept in: Acc<T> for floating types, int64 for integers.
template <typename T>
using Wide = std::conditional_t<kFloating<T>, Acc<T>, int64_t>;

// Calls f.template operator()<T>() for a floating dtype; any other dtype is unsupported.
template <typename F>
Status visit_floating(const KernelContext& ctx, DType dt, F&& f) {
    return visit_dtype(dt, [&]<typename T>() -> Status {
        if constexpr (kFloating<T>) {
            f.template operator()<T>();
            return Status::ok();
        } else {
            return ctx.fail_unsupported(std::string("dtype ") + dtype_name(dt));
        }
    });
}

// Like visit_floating, but integers are welcome too (bool is not).
template <typename F>
Status visit_numeric(const KernelContext& ctx, DType dt, F&& f) {
    return visit_dtype(dt, [&]<typename T>() -> Status {
        if constexpr (std::is_same_v<T, bool>) {
            return ctx.fail_unsupported("dtype bool");
        } else {
            f.template operator()<T>();
            return Status::ok();
        }
    });
}

// Advances a row-major multi-index over `dims`; false once it wraps back to all zeros.
bool next_index(std::vector<int64_t>& index, std::span<const int64_t> dims) {
    for (size_t d = index.size(); d-- > 0;) {
        if (++index[d] < dims[d]) return true;
        index[d] = 0;
    }
    return false;
}

// Calls f(index, flat offset) for every multi-index of `dims` in row-major order.
template <typename F>
void for_each_index(std::span<const int64_t> dims, F&& f) {
    if (shape_numel(dims) == 0) return;
    std::vector<int64_t> index(dims.size(), 0);
    int64_t flat = 0;
    do {
        f(std::as_const(index), flat++);
    } while (next_index(index, dims));
}

int64_t dot(const std::vector<int64_t>& index, const std::vector<int64_t>& strides) {
    int64_t offset = 0;
    for (size_t d = 0; d < index.size(); ++d) offset += index[d] * strides[d];
    return offset;
}

int64_t product(const Shape& dims, size_t begin, size_t end) {
    int64_t n = 1;
    for (size_t d = begin; d < end; ++d) n *= dims[d];
    return n;
}

Shape spatial_dims(const Shape& shape) {
    return Shape(shape.begin() + 2, shape.end());
}

// Output i if the node has it, else nullptr.
Tensor* optional_output(KernelContext& ctx, size_t i) {
    return i < ctx.outputs.size() && ctx.outputs[i].defined() ? &ctx.outputs[i] : nullptr;
}

// The elements of `t` broadcast one way to `dims`, widened: per-channel and normalization parameters.
std::vector<double> broadcast_values(const Tensor& t, const Shape& dims) {
    std::vector<double> values;
    const std::vector<int64_t> strides = broadcast_strides(t.shape(), dims.size());
    for_each_index(dims, [&](const std::vector<int64_t>& index, int64_t) {
        values.push_back(t.element_as_double(dot(index, strides)));
    });
    return values;
}

// A window element that lands inside the input: its flat offsets in the kernel and in the input's spatial dims.
struct Tap {
    int64_t kernel;
    int64_t input;
};

// The taps of the window that computes spatial output position `out`. A transposed window gathers the inputs whose
// scatter reaches `out`. `padded`, when given, counts the window elements inside the padded input.
std::vector<Tap> window_taps(const ops::Window& w, const Shape& in, const std::vector<int64_t>& out, bool transposed,
                             int64_t* padded = nullptr) {
    std::vector<Tap> taps;
    const std::vector<int64_t> in_strides = contiguous_strides(in);
    int64_t padded_count = 0;
    for_each_index(w.kernel, [&](const std::vector<int64_t>& k, int64_t kernel_offset) {
        int64_t input_offset = 0;
        bool inside = true, inside_padded = true;
        for (size_t d = 0; d < in.size(); ++d) {
            int64_t pos = 0;
            if (transposed) {
                // Input i scatters to output i * stride - pad + k * dilation: invert that for this output.
                const int64_t scattered = out[d] + w.pad_begin[d] - k[d] * w.dilations[d];
                inside = inside && scattered % w.strides[d] == 0;
                pos = scattered / w.strides[d];
            } else {
                pos = out[d] * w.strides[d] - w.pad_begin[d] + k[d] * w.dilations[d];
            }
            inside_padded = inside_padded && pos < in[d] + w.pad_end[d];
            inside = inside && pos >= 0 && pos < in[d];
            input_offset += pos * in_strides[d];
        }
        if (inside) taps.push_back({kernel_offset, input_offset});
        padded_count += inside_padded ? 1 : 0;
    });
    if (padded) *padded = padded_count;
    return taps;
}

// The column-major (MaxPool storage_order 1) offset of the element at row-major `offset` in `dims`.
int64_t column_major_offset(int64_t offset, const Shape& dims) {
    std::vector<int64_t> index(dims.size());
    for (size_t d = dims.size(); d-- > 0;) {
        index[d] = offset % dims[d];
        offset /= dims[d];
    }
    int64_t result = 0, stride = 1;
    for (size_t d = 0; d < dims.size(); ++d) {
        result += index[d] * stride;
        stride *= dims[d];
    }
    return result;
}

// Conv and ConvTranspose as one gather: y[n, m, o] = b[m] + sum over the group's input channels and the window's taps
// of x * w. ConvTranspose differs only in its taps and its weight layout.
Status conv_like(KernelContext& ctx, bool transposed) {
    const Tensor& x = *ctx.inputs[0];
    const Tensor& w = *ctx.inputs[1];
    const Tensor* b = ctx.input(2);
    Tensor& y = ctx.outputs[0];
    const Shape in = spatial_dims(x.shape()), out = spatial_dims(y.shape());
    FOVEA_ASSIGN(const ops::Window win,
                 ops::resolve_window(ctx.node, transposed ? ops::WindowKind::kConvTranspose : ops::WindowKind::kConv,
                                     in, spatial_dims(w.shape())));
    const int64_t group = ctx.node.attr_int("group", 1);
    const int64_t batch = x.dim(0), channels = x.dim(1), features = y.dim(1);
    const int64_t group_channels = channels / group, group_features = features / group;
    const int64_t in_size = shape_numel(in), out_size = shape_numel(out), kernel_size = shape_numel(win.kernel);
    return visit_floating(ctx, x.dtype(), [&]<typename T>() {
        using A = Acc<T>;
        const T* xd = x.data<T>();
        const T* wd = w.data<T>();
        T* yd = y.data<T>();
        for_each_index(out, [&](const std::vector<int64_t>& o, int64_t o_flat) {
            const std::vector<Tap> taps = window_taps(win, in, o, transposed);
            for (int64_t n = 0; n < batch; ++n) {
                for (int64_t m = 0; m < features; ++m) {
                    const int64_t g = m / group_features;
                    A sum = b ? A(b->data<T>()[m]) : A(0);
                    for (int64_t cg = 0; cg < group_channels; ++cg) {
                        const int64_t c = g * group_channels + cg;
                        const T* xc = xd + (n * channels + c) * in_size;
                        // Conv weights are [M, C/group, k...]; ConvTranspose weights are [C, M/group, k...].
                        const int64_t filter =
                            transposed ? c * group_features + m % group_features : m * group_channels + cg;
                        const T* wc = wd + filter * kernel_size;
                        for (const Tap& t : taps) sum += A(xc[t.input]) * A(wc[t.kernel]);
                    }
                    yd[(n * features + m) * out_size + o_flat] = T(sum);
                }
            }
        });
    });
}

Status pool(KernelContext& ctx, bool is_max) {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = ctx.outputs[0];
    Tensor* indices = is_max ? optional_output(ctx, 1) : nullptr;
    const Shape in = spatial_dims(x.shape()), out = spatial_dims(y.shape());
    FOVEA_ASSIGN(const ops::Window win, ops::resolve_window(ctx.node, ops::WindowKind::kPool, in, {}));
    const bool count_include_pad = ctx.node.attr_int("count_include_pad", 0) != 0;
    const bool column_major = ctx.node.attr_int("storage_order", 0) == 1;
    const int64_t planes = x.dim(0) * x.dim(1), in_size = shape_numel(in), out_size = shape_numel(out);
    return visit_numeric(ctx, x.dtype(), [&]<typename T>() {
        using W = Wide<T>;
        const T* xd = x.data<T>();
        T* yd = y.data<T>();
        for_each_index(out, [&](const std::vector<int64_t>& o, int64_t o_flat) {
            int64_t padded = 0;
            const std::vector<Tap> taps = window_taps(win, in, o, false, &padded);
            for (int64_t p = 0; p < planes; ++p) {
                const T* xp = xd + p * in_size;
                const int64_t at = p * out_size + o_flat;
                if (!is_max) {
                    W sum = 0;
                    for (const Tap& t : taps) sum += W(xp[t.input]);
                    const auto count = static_cast<int64_t>(count_include_pad ? padded : std::ssize(taps));
                    yd[at] = T(sum / W(count));
                    continue;
                }
                // The first maximum wins, as in the ONNX reference.
                W best = std::numeric_limits<W>::lowest();
                int64_t best_input = -1;
                for (const Tap& t : taps) {
                    if (best_input < 0 || W(xp[t.input]) > best) {
                        best = W(xp[t.input]);
                        best_input = t.input;
                    }
                }
                yd[at] = T(best);
                if (indices && best_input >= 0)
                    indices->data<int64_t>()[at] =
                        p * in_size + (column_major ? column_major_offset(best_input, in) : best_input);
            }
        });
    });
}

Status global_pool(KernelContext& ctx, bool is_max) {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = ctx.outputs[0];
    const int64_t planes = x.dim(0) * x.dim(1), size = product(x.shape(), 2, x.shape().size());
    return visit_floating(ctx, x.dtype(), [&]<typename T>() {
        using A = Acc<T>;
        for (int64_t p = 0; p < planes; ++p) {
            const T* xp = x.data<T>() + p * size;
            A acc = is_max ? -std::numeric_limits<A>::infinity() : A(0);
            for (int64_t i = 0; i < size; ++i) acc = is_max ? std::max(acc, A(xp[i])) : acc + A(xp[i]);
            y.data<T>()[p] = T(is_max ? acc : acc / A(size));
        }
    });
}

// Lanes along an axis: `outer` blocks of `length` elements spaced `inner` apart.
struct Lanes {
    int64_t outer, length, inner;
    // Calls f(offset of the lane's first element) for every lane.
    template <typename F>
    void for_each(F&& f) const {
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) f(o * length * inner + i);
    }
};

// The lanes of `shape` along `axis`; `flatten` makes one lane of all dims from `axis` on (Softmax before opset 13).
Lanes lanes_along(const Shape& shape, size_t axis, bool flatten) {
    const size_t rank = shape.size();
    if (flatten) return {product(shape, 0, axis), product(shape, axis, rank), 1};
    return {product(shape, 0, axis), shape[axis], product(shape, axis + 1, rank)};
}

Status softmax(KernelContext& ctx, bool log) {
    const Tensor& x = *ctx.inputs[0];
    const bool legacy = ctx.node.opset < 13;
    FOVEA_ASSIGN(const int64_t axis, ops::normalize_axis(ctx.node.attr_int("axis", legacy ? 1 : -1), x.rank()));
    const Lanes lanes = lanes_along(x.shape(), static_cast<size_t>(axis), legacy);
    return visit_floating(ctx, x.dtype(), [&]<typename T>() {
        using A = Acc<T>;
        const T* xd = x.data<T>();
        T* yd = ctx.outputs[0].data<T>();
        lanes.for_each([&](int64_t base) {
            auto at = [&](int64_t j) { return base + j * lanes.inner; };
            // Subtracting the maximum keeps exp() finite without changing the result.
            A max = -std::numeric_limits<A>::infinity();
            for (int64_t j = 0; j < lanes.length; ++j) max = std::max(max, A(xd[at(j)]));
            A sum = 0;
            for (int64_t j = 0; j < lanes.length; ++j) sum += std::exp(A(xd[at(j)]) - max);
            for (int64_t j = 0; j < lanes.length; ++j) {
                const A shifted = A(xd[at(j)]) - max;
                yd[at(j)] = T(log ? shifted - std::log(sum) : std::exp(shifted) / sum);
            }
        });
    });
}

// Normalizes n contiguous values to zero mean and unit variance, then applies scale and bias; element i uses
// scale[i * step] and bias[i * step], so step 0 applies one value to the whole row. Returns mean and 1/stddev.
template <typename T>
std::pair<Acc<T>, Acc<T>> normalize_row(const T* x, T* y, int64_t n, double epsilon, const double* scale,
                                        const double* bias, int64_t step) {
    using A = Acc<T>;
    A mean = 0;
    for (int64_t i = 0; i < n; ++i) mean += A(x[i]);
    mean /= A(n);
    A variance = 0;
    for (int64_t i = 0; i < n; ++i) variance += (A(x[i]) - mean) * (A(x[i]) - mean);
    variance /= A(n);
    const A inv_std = A(1) / std::sqrt(variance + A(epsilon));
    for (int64_t i = 0; i < n; ++i) y[i] = T((A(x[i]) - mean) * inv_std * A(scale[i * step]) + A(bias[i * step]));
    return {mean, inv_std};
}

// Quantization parameter of each element: one for the whole tensor, or one per slice along `axis`.
struct ParamIndex {
    int64_t inner = 1, count = 1;
    int64_t operator()(int64_t offset) const { return offset / inner % count; }
};

Result<ParamIndex> quant_param_index(const KernelContext& ctx, const Tensor& x, const Tensor& scale) {
    if (scale.numel() == 1) return ParamIndex{};
    FOVEA_ASSIGN(const int64_t axis, ops::normalize_axis(ctx.node.attr_int("axis", 1), x.rank()));
    return ParamIndex{product(x.shape(), static_cast<size_t>(axis) + 1, x.shape().size()), x.dim(axis)};
}

// Every element of `t` as a float (quantization math is float32, as in the ONNX reference).
std::vector<float> float_values(const Tensor& t) {
    std::vector<float> values(static_cast<size_t>(t.numel()));
    visit_dtype(t.dtype(), [&]<typename T>() {
        for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(t.data<T>()[i]);
    });
    return values;
}

// out(i, j, sum) for each element of the m x n product of strided matrices a (m x k) and b (k x n):
// a(i, p) is a[i * a_row + p * a_col], b(p, j) is b[p * b_row + j * b_col].
template <typename T, typename F>
void matrix_product(const T* a, int64_t a_row, int64_t a_col, const T* b, int64_t b_row, int64_t b_col, int64_t m,
                    int64_t n, int64_t k, F&& out) {
    using W = Wide<T>;
    for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
            W sum = 0;
            for (int64_t p = 0; p < k; ++p) sum += W(a[i * a_row + p * a_col]) * W(b[p * b_row + j * b_col]);
            out(i, j, sum);
        }
    }
}

}  // namespace

Status ref_Conv(KernelContext& ctx) {
    return conv_like(ctx, false);
}
// The Conv kernel, then the epilogue on its output: the residual Sum added, the activation applied.
Status ref_FusedConv(KernelContext& ctx) {
    FOVEA_ASSIGN(const ops::Epilogue epilogue, ops::read_epilogue(ctx.node));
    FOVEA_TRY(conv_like(ctx, false));
    Tensor& y = ctx.outputs[0];
    const Tensor* sum = epilogue.has_sum ? ctx.input(3) : nullptr;
    if (sum && sum->shape() != y.shape())
        return ctx.fail("Sum " + shape_to_string(sum->shape()) + " differs from the output " +
                        shape_to_string(y.shape()));
    return visit_floating(ctx, y.dtype(), [&]<typename T>() {
        using A = Acc<T>;
        T* yd = y.data<T>();
        const T* sd = sum ? sum->data<T>() : nullptr;
        for (int64_t i = 0; i < y.numel(); ++i)
            yd[i] = T(ops::apply_activation(epilogue, sd ? A(yd[i]) + A(sd[i]) : A(yd[i])));
    });
}
Status ref_ConvTranspose(KernelContext& ctx) {
    return conv_like(ctx, true);
}
Status ref_AveragePool(KernelContext& ctx) {
    return pool(ctx, false);
}
Status ref_MaxPool(KernelContext& ctx) {
    return pool(ctx, true);
}
Status ref_GlobalAveragePool(KernelContext& ctx) {
    return global_pool(ctx, false);
}
Status ref_GlobalMaxPool(KernelContext& ctx) {
    return global_pool(ctx, true);
}
Status ref_Softmax(KernelContext& ctx) {
    return softmax(ctx, false);
}
Status ref_LogSoftmax(KernelContext& ctx) {
    return softmax(ctx, true);
}

Status ref_BatchNormalization(KernelContext& ctx) {
    const Tensor& x = *ctx.inputs[0];
    // Before opset 9, spatial=0 gave every activation (C x D1 x ...) its own statistics.
    const bool per_channel = ctx.node.opset >= 9 || ctx.node.attr_int("spatial", 1) != 0;
    const Shape param_shape = per_channel ? Shape{x.dim(1)} : Shape(x.shape().begin() + 1, x.shape().end());
    std::vector<std::vector<double>> params;  // scale, bias, mean, variance
    for (size_t i = 1; i < 5; ++i) params.push_back(broadcast_values(*ctx.inputs[i], param_shape));
    const double epsilon = ctx.node.attr_float("epsilon", 1e-5f);
    const int64_t channels = x.dim(1), inner = product(x.shape(), 2, x.shape().size());
    return visit_floating(ctx, x.dtype(), [&]<typename T>() {
        using A = Acc<T>;
        const T* xd = x.data<T>();
        T* yd = ctx.outputs[0].data<T>();
        for (int64_t i = 0; i < x.numel(); ++i) {
            const int64_t c = i / inner % channels;
            const auto p = static_cast<size_t>(per_channel ? c : c * inner + i % inner);
            const A normalized = (A(xd[i]) - A(params[2][p])) / std::sqrt(A(params[3][p]) + A(epsilon));
            yd[i] = T(normalized * A(params[0][p]) + A(params[1][p]));
        }
    });
}

Status ref_InstanceNormalization(KernelContext& ctx) {
    const Tensor& x = *ctx.inputs[0];
    const int64_t channels = x.dim(1), size = product(x.shape(), 2, x.shape().size());
    const std::vector<double> scale = broadcast_values(*ctx.inputs[1], {channels});
    const std::vector<double> bias = broadcast_values(*ctx.inputs[2], {channels});
    const double epsilon = ctx.node.attr_float("epsilon", 1e-5f);
    return visit_floating(ctx, x.dtype(), [&]<typename T>() {
        for (int64_t p = 0; p < x.dim(0) * channels; ++p) {
            const auto c = static_cast<size_t>(p % channels);
            normalize_row(x.data<T>() + p * size, ctx.outputs[0].data<T>() + p * size, size, epsilon, &scale[c],
                          &bias[c], 0);
        }
    });
}

Status ref_LayerNormalization(KernelContext& ctx) {
    const Tensor& x = *ctx.inputs[0];
    FOVEA_ASSIGN(const int64_t axis, ops::normalize_axis(ctx.node.attr_int("axis", -1), x.rank()));
    const Shape normalized(x.shape().begin() + axis, x.shape().end());
    const int64_t size = shape_numel(normalized), rows = x.numel() / std::max<int64_t>(size, 1);
    const std::vector<double> scale = broadcast_values(*ctx.inputs[1], normalized);
    const std::vector<double> bias = ctx.input(2) ? broadcast_values(*ctx.inputs[2], normalized)
                                                  : std::vector<double>(static_cast<size_t>(size), 0.0);
    const double epsilon = ctx.node.attr_float("epsilon", 1e-5f);
    Tensor* mean_out = optional_output(ctx, 1);
    Tensor* inv_std_out = optional_output(ctx, 2);
    return visit_floating(ctx, x.dtype(), [&]<typename T>() {
        for (int64_t r = 0; r < rows; ++r) {
            const auto [mean, inv_std] = normalize_row(x.data<T>() + r * size, ctx.outputs[0].data<T>() + r * size,
                                                       size, epsilon, scale.data(), bias.data(), 1);
            if (mean_out) mean_out->data<float>()[r] = static_cast<float>(mean);
            if (inv_std_out) inv_std_out->data<float>()[r] = static_cast<float>(inv_std);
        }
    });
}

Status ref_LpNormalization(KernelContext& ctx) {
    const Tensor& x = *ctx.inputs[0];
    FOVEA_ASSIGN(const int64_t axis, ops::normalize_axis(ctx.node.attr_int("axis", -1), x.rank()));
    const bool l1 = ctx.node.attr_int("p", 2) == 1;
    const Lanes lanes = lanes_along(x.shape(), static_cast<size_t>(axis), false);
    return visit_floating(ctx, x.dtype(), [&]<typename T>() {
        using A = Acc<T>;
        const T* xd = x.data<T>();
        T* yd = ctx.outputs[0].data<T>();
        lanes.for_each([&](int64_t base) {
            A norm = 0;
            for (int64_t j = 0; j < lanes.length; ++j) {
                const A v = A(xd[base + j * lanes.inner]);
                norm += l1 ? std::abs(v) : v * v;
            }
            if (!l1) norm = std::sqrt(norm);
            // An all-zero lane stays zero rather than becoming NaN.
            for (int64_t j = 0; j < lanes.length; ++j)
                yd[base + j * lanes.inner] = T(norm == A(0) ? A(0) : A(xd[base + j * lanes.inner]) / norm);
        });
    });
}

Status ref_Gemm(KernelContext& ctx) {
    const Tensor& a = *ctx.inputs[0];
    const Tensor& b = *ctx.inputs[1];
    const Tensor* c = ctx.input(2);
    Tensor& y = ctx.outputs[0];
    const bool trans_a = ctx.node.attr_int("transA", 0) != 0, trans_b = ctx.node.attr_int("transB", 0) != 0;
    const float alpha = ctx.node.attr_float("alpha", 1.0f), beta = ctx.node.attr_float("beta", 1.0f);
    const int64_t m = y.dim(0), n = y.dim(1), k = trans_a ? a.dim(0) : a.dim(1);
    const std::vector<int64_t> c_strides = c ? broadcast_strides(c->shape(), 2) : std::vector<int64_t>{0, 0};
    return visit_numeric(ctx, a.dtype(), [&]<typename T>() {
        using W = Wide<T>;
        const T* cd = c ? c->data<T>() : nullptr;
        matrix_product(a.data<T>(), trans_a ? 1 : k, trans_a ? m : 1, b.data<T>(), trans_b ? 1 : n, trans_b ? k : 1, m,
                       n, k, [&](int64_t i, int64_t j, W sum) {
                           W value = W(alpha) * sum;
                           if (cd) value += W(beta) * W(cd[i * c_strides[0] + j * c_strides[1]]);
                           y.data<T>()[i * n + j] = T(value);
                       });
    });
}

Status ref_MatMul(KernelContext& ctx) {
    const Tensor& a = *ctx.inputs[0];
    const Tensor& b = *ctx.inputs[1];
    Tensor& y = ctx.outputs[0];
    // A 1-D A is a row vector, a 1-D B a column vector; batch dims broadcast.
    const Shape a2 = a.rank() == 1 ? Shape{1, a.dim(0)} : a.shape();
    const Shape b2 = b.rank() == 1 ? Shape{b.dim(0), 1} : b.shape();
    const int64_t m = a2[a2.size() - 2], k = a2.back(), n = b2.back();
    const Shape a_batch(a2.begin(), a2.end() - 2), b_batch(b2.begin(), b2.end() - 2);
    FOVEA_ASSIGN(const Shape batch, ops::broadcast_shapes(a_batch, b_batch));
    const std::vector<int64_t> a_strides = broadcast_strides(a_batch, batch.size());
    const std::vector<int64_t> b_strides = broadcast_strides(b_batch, batch.size());
    return visit_numeric(ctx, a.dtype(), [&]<typename T>() {
        using W = Wide<T>;
        for_each_index(batch, [&](const std::vector<int64_t>& index, int64_t flat) {
            T* yd = y.data<T>() + flat * m * n;
            matrix_product(a.data<T>() + dot(index, a_strides) * m * k, k, 1,
                           b.data<T>() + dot(index, b_strides) * k * n, n, 1, m, n, k,
                           [&](int64_t i, int64_t j, W sum) { yd[i * n + j] = T(sum); });
        });
    });
}

// Rows of A (its leading dims flattened) times B, then the bias and the activation, in the accumulator type.
Status ref_FusedMatMul(KernelContext& ctx) {
    FOVEA_ASSIGN(const ops::Epilogue epilogue, ops::read_epilogue(ctx.node));
    const Tensor& a = *ctx.inputs[0];
    const Tensor& b = *ctx.inputs[1];
    const Tensor* bias = ctx.input(2);
    Tensor& y = ctx.outputs[0];
    const bool trans_b = ctx.node.attr_int("transB", 0) != 0;
    const int64_t k = a.shape().back(), n = y.shape().back(), m = a.numel() / std::max<int64_t>(k, 1);
    return visit_floating(ctx, a.dtype(), [&]<typename T>() {
        using A = Acc<T>;
        const T* bd = bias ? bias->data<T>() : nullptr;
        matrix_product(a.data<T>(), k, 1, b.data<T>(), trans_b ? 1 : n, trans_b ? k : 1, m, n, k,
                       [&](int64_t i, int64_t j, Wide<T> sum) {
                           const A value = A(sum) + (bd ? A(bd[j]) : A(0));
                           y.data<T>()[i * n + j] = T(ops::apply_activation(epilogue, value));
                       });
    });
}

Status ref_Einsum(KernelContext& ctx) {
    std::vector<Shape> shapes;
    for (const Tensor* in : ctx.inputs) shapes.push_back(in->shape());
    FOVEA_ASSIGN(const ops::EinsumPlan plan, ops::plan_einsum(ctx.node, shapes));
    // Each tensor's stride per label; a label repeated within one operand walks its diagonal.
    auto label_strides = [&](const Shape& shape, const std::vector<int>& labels) {
        std::vector<int64_t> strides(plan.sizes.size(), 0);
        const std::vector<int64_t> own = contiguous_strides(shape);
        for (size_t d = 0; d < shape.size(); ++d)
            if (shape[d] != 1) strides[static_cast<size_t>(labels[d])] += own[d];
        return strides;
    };
    std::vector<std::vector<int64_t>> in_strides;
    for (size_t i = 0; i < shapes.size(); ++i) in_strides.push_back(label_strides(shapes[i], plan.operands[i]));
    Tensor& y = ctx.outputs[0];
    const std::vector<int64_t> out_strides = label_strides(y.shape(), plan.output);
    return visit_numeric(ctx, y.dtype(), [&]<typename T>() {
        using W = Wide<T>;
        std::vector<W> sums(static_cast<size_t>(y.numel()), W(0));
        // One product per combination of every label's index; labels absent from the output are summed over.
        for_each_index(plan.sizes, [&](const std::vector<int64_t>& index, int64_t) {
            W term = 1;
            for (size_t i = 0; i < shapes.size(); ++i) term *= W(ctx.inputs[i]->data<T>()[dot(index, in_strides[i])]);
            sums[static_cast<size_t>(dot(index, out_strides))] += term;
        });
        for (size_t i = 0; i < sums.size(); ++i) y.data<T>()[i] = T(sums[i]);
    });
}

Status ref_QuantizeLinear(KernelContext& ctx) {
    const Tensor& x = *ctx.inputs[0];
    const Tensor& scale = *ctx.inputs[1];
    const Tensor* zero_point = ctx.input(2);
    Tensor& y = ctx.outputs[0];
    FOVEA_ASSIGN(const ParamIndex param, quant_param_index(ctx, x, scale));
    const std::vector<float> values = float_values(x), scales = float_values(scale);
    return visit_dtype(y.dtype(), [&]<typename Q>() -> Status {
        if constexpr (std::is_same_v<Q, int8_t> || std::is_same_v<Q, uint8_t>) {
            const auto lo = static_cast<float>(std::numeric_limits<Q>::lowest());
            const auto hi = static_cast<float>(std::numeric_limits<Q>::max());
            for (int64_t i = 0; i < x.numel(); ++i) {
                const int64_t p = param(i);
                const float zp = zero_point ? static_cast<float>(zero_point->data<Q>()[p]) : 0.0f;
                // nearbyint rounds half to even under the default rounding mode; NaN saturates to the zero point.
                const float q = std::nearbyint(values[static_cast<size_t>(i)] / scales[static_cast<size_t>(p)]) + zp;
                y.data<Q>()[i] = static_cast<Q>(std::isnan(q) ? zp : std::clamp(q, lo, hi));
            }
            return Status::ok();
        } else {
            return ctx.fail_unsupported(std::string("output dtype ") + dtype_name(y.dtype()));
        }
    });
}

Status ref_DequantizeLinear(KernelContext& ctx) {
    const Tensor& x = *ctx.inputs[0];
    const Tensor& scale = *ctx.inputs[1];
    const Tensor* zero_point = ctx.input(2);
    FOVEA_ASSIGN(const ParamIndex param, quant_param_index(ctx, x, scale));
    const std::vector<float> values = float_values(x), scales = float_values(scale);
    const std::vector<float> zero_points = zero_point ? float_values(*zero_point) : std::vector<float>(scales.size());
    return visit_floating(ctx, ctx.outputs[0].dtype(), [&]<typename T>() {
        for (int64_t i = 0; i < x.numel(); ++i) {
            const auto p = static_cast<size_t>(param(i));
            ctx.outputs[0].data<T>()[i] = T((values[static_cast<size_t>(i)] - zero_points[p]) * scales[p]);
        }
    });
}

}  // namespace fovea::ref
