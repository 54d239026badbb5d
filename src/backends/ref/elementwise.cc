#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/ref/kernels.h"
#include "ops/elementwise_plan.h"

namespace fovea::ref {

namespace {

using ops::DTypeSet;

template <typename T>
constexpr bool kFloating = std::is_floating_point_v<T> || std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

// The type element math runs in: Acc<T> for floating types, T itself for integers and bool.
template <typename T>
using Calc = std::conditional_t<kFloating<T>, Acc<T>, T>;

template <typename C>
bool is_nan(C x) {
    if constexpr (std::is_floating_point_v<C>) {
        return std::isnan(x);
    } else {
        return false;
    }
}

// Integer +, - and * wrap around (as in numpy and ONNX Runtime) instead of overflowing, which C++ leaves undefined.
template <typename Op>
struct Wrapping {
    template <typename C>
    C operator()(C a, C b) const {
        if constexpr (std::is_integral_v<C>) {
            using U = std::make_unsigned_t<C>;
            return static_cast<C>(Op()(static_cast<U>(a), static_cast<U>(b)));
        } else {
            return Op()(a, b);
        }
    }
};
constexpr Wrapping<std::plus<>> kAdd;
constexpr Wrapping<std::minus<>> kSub;
constexpr Wrapping<std::multiplies<>> kMul;

template <typename C>
C negate(C x) {
    if constexpr (std::is_integral_v<C>) {
        return kSub(C(0), x);
    } else {
        return -x;  // not 0 - x, which would turn -0 into +0
    }
}

// Integer division truncates toward zero like C (ONNX's rule); x / 0 gives 0 and MIN / -1 wraps instead of trapping.
template <typename C>
C divide(C a, C b) {
    if constexpr (std::is_integral_v<C>) {
        if (b == 0) return 0;
        if constexpr (std::is_signed_v<C>) {
            if (b == -1) return negate(a);
        }
        return static_cast<C>(a / b);
    } else {
        return a / b;
    }
}

// Integer powers wrap like the other integer arithmetic; a negative exponent truncates 1 / base^-e toward zero.
template <typename T>
T int_power(T base, int64_t exponent) {
    const auto b = static_cast<int64_t>(base);
    if (exponent < 0) return static_cast<T>(b == 1 ? 1 : b == -1 ? (exponent % 2 ? -1 : 1) : 0);
    uint64_t result = 1;
    uint64_t factor = static_cast<uint64_t>(b);
    for (; exponent > 0; exponent >>= 1) {
        if (exponent & 1) result *= factor;
        factor *= factor;
    }
    return static_cast<T>(result);
}

// One value converted as Cast does: floating to integer truncates toward zero, saturating at the target's range
// (NaN gives 0) where C++ would be undefined; anything to bool is `!= 0`; float16 and bfloat16 round through float.
template <typename To, typename From>
To convert(From v) {
    if constexpr (std::is_same_v<To, bool>) {
        return static_cast<Calc<From>>(v) != Calc<From>(0);
    } else if constexpr (kFloating<To>) {
        return static_cast<To>(static_cast<Acc<To>>(v));
    } else if constexpr (kFloating<From>) {
        const double t = std::trunc(static_cast<double>(v));
        if (std::isnan(t)) return 0;
        if (t < static_cast<double>(std::numeric_limits<To>::lowest())) return std::numeric_limits<To>::lowest();
        if (t >= std::ldexp(1.0, std::numeric_limits<To>::digits)) return std::numeric_limits<To>::max();
        return static_cast<To>(t);
    } else {
        return static_cast<To>(v);
    }
}

template <typename T, typename E>
T power(T base, E exponent) {
    if constexpr (std::is_integral_v<T> && std::is_integral_v<E>) {
        return int_power(base, static_cast<int64_t>(exponent));
    } else if constexpr (kFloating<T>) {
        using C = Calc<T>;
        return static_cast<T>(std::pow(static_cast<C>(base), static_cast<C>(exponent)));
    } else {  // an integer base with a floating exponent
        return convert<T>(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
    }
}

template <typename C>
C total(std::span<const C> values) {
    C sum = values[0];
    for (size_t k = 1; k < values.size(); ++k) sum += values[k];
    return sum;
}

// The value `better` prefers over all others; NaN wins, as in numpy's maximum and minimum.
template <typename C, typename Better>
C pick(std::span<const C> values, Better better) {
    C best = values[0];
    for (size_t k = 1; k < values.size(); ++k)
        if (!is_nan(best) && (is_nan(values[k]) || better(values[k], best))) best = values[k];
    return best;
}

template <typename C>
C hard_sigmoid(C x, C alpha, C beta) {
    return std::max(C(0), std::min(C(1), alpha * x + beta));
}

Status unsupported_dtype(const KernelContext& ctx, DType dt) {
    return ctx.fail_unsupported(std::string("dtype ") + dtype_name(dt) + " is not supported");
}

// y[i] = fn(x[i]) computed in Calc<T>.
template <typename T, typename Fn>
void map_elements(const Tensor& x, Tensor& y, Fn fn) {
    const T* in = x.data<T>();
    T* out = y.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) out[i] = static_cast<T>(fn(static_cast<Calc<T>>(in[i])));
}

// Output 0 = fn applied to every element of input 0, whose dtype must be in kSet.
template <DTypeSet kSet, typename Fn>
Status unary(KernelContext& ctx, Fn fn) {
    const Tensor& x = *ctx.inputs[0];
    return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
        if constexpr (ops::dtype_in(kSet, dtype_of<T>())) {
            map_elements<T>(x, ctx.outputs[0], fn);
            return Status::ok();
        } else {
            return unsupported_dtype(ctx, x.dtype());
        }
    });
}

// Calls fn(i, offsets) for every element i of `out_shape`, where offsets[k] is the element of input k (of shape
// in_shapes[k], broadcast to out_shape) that element i reads.
template <typename Fn>
void for_each_broadcast(const Shape& out_shape, const std::vector<Shape>& in_shapes, Fn fn) {
    const size_t rank = out_shape.size();
    std::vector<std::vector<int64_t>> strides;
    for (const Shape& s : in_shapes) strides.push_back(broadcast_strides(s, rank));
    std::vector<int64_t> offsets(in_shapes.size());
    const int64_t count = shape_numel(out_shape);
    for (int64_t i = 0; i < count; ++i) {
        std::fill(offsets.begin(), offsets.end(), 0);
        int64_t rest = i;
        for (size_t d = rank; d-- > 0;) {
            const int64_t coord = rest % out_shape[d];
            rest /= out_shape[d];
            for (size_t k = 0; k < offsets.size(); ++k) offsets[k] += coord * strides[k][d];
        }
        fn(i, std::span<const int64_t>(offsets));
    }
}

// The input shapes as broadcasting sees them (legacy axis alignment applied).
Result<std::vector<Shape>> operand_shapes(const KernelContext& ctx) {
    std::vector<Shape> shapes;
    for (size_t i = 0; i < ctx.inputs.size(); ++i) {
        auto shape = ops::broadcast_operand_shape(ctx.node, i, ctx.inputs[i]->shape(), ctx.inputs[0]->rank());
        if (!shape.is_ok()) return ctx.fail(shape.status().message());
        shapes.push_back(std::move(*shape));
    }
    return shapes;
}

// Output 0 = fn(values of every input at each broadcast position), the inputs sharing one dtype T from kSet and
// fn taking a span of Calc<T>. The output is bool when fn returns bool, T otherwise.
template <DTypeSet kSet, typename Fn>
Status broadcast(KernelContext& ctx, Fn fn) {
    FOVEA_ASSIGN(const std::vector<Shape> shapes, operand_shapes(ctx));
    const DType dt = ctx.inputs[0]->dtype();
    return visit_dtype(dt, [&]<typename T>() -> Status {
        if constexpr (ops::dtype_in(kSet, dtype_of<T>())) {
            using C = Calc<T>;
            using Out = std::conditional_t<std::is_same_v<decltype(fn(std::span<const C>())), bool>, bool, T>;
            std::vector<const T*> in;
            for (const Tensor* t : ctx.inputs) in.push_back(t->data<T>());
            Out* out = ctx.outputs[0].data<Out>();
            const auto values = std::make_unique<C[]>(in.size());  // not std::vector, which packs bools
            for_each_broadcast(ctx.outputs[0].shape(), shapes, [&](int64_t i, std::span<const int64_t> offsets) {
                for (size_t k = 0; k < in.size(); ++k) values[k] = static_cast<C>(in[k][offsets[k]]);
                out[i] = static_cast<Out>(fn(std::span<const C>(values.get(), in.size())));
            });
            return Status::ok();
        } else {
            return unsupported_dtype(ctx, dt);
        }
    });
}

}  // namespace

Status ref_Abs(KernelContext& ctx) {
    return unary<DTypeSet::kNumeric>(ctx, [](auto x) -> decltype(x) {
        if constexpr (std::is_unsigned_v<decltype(x)>) {
            return x;
        } else if constexpr (std::is_floating_point_v<decltype(x)>) {
            return std::abs(x);
        } else {
            return x < 0 ? negate(x) : x;
        }
    });
}
Status ref_Ceil(KernelContext& ctx) {
    return unary<DTypeSet::kFloat>(ctx, [](auto x) { return std::ceil(x); });
}
Status ref_Erf(KernelContext& ctx) {
    return unary<DTypeSet::kNumeric>(ctx, [](auto x) { return std::erf(x); });
}
Status ref_Exp(KernelContext& ctx) {
    return unary<DTypeSet::kFloat>(ctx, [](auto x) { return std::exp(x); });
}
Status ref_Floor(KernelContext& ctx) {
    return unary<DTypeSet::kFloat>(ctx, [](auto x) { return std::floor(x); });
}
Status ref_Gelu(KernelContext& ctx) {
    return unary<DTypeSet::kFloat>(ctx, [](auto x) {
        using C = decltype(x);
        return x * C(0.5) * (C(1) + std::erf(x / std::sqrt(C(2))));
    });
}
Status ref_HardSwish(KernelContext& ctx) {
    return unary<DTypeSet::kFloat>(ctx, [](auto x) {
        using C = decltype(x);
        return x * hard_sigmoid(x, C(1) / C(6), C(0.5));
    });
}
Status ref_Log(KernelContext& ctx) {
    return unary<DTypeSet::kFloat>(ctx, [](auto x) { return std::log(x); });
}
Status ref_Neg(KernelContext& ctx) {
    return unary<DTypeSet::kSigned>(ctx, [](auto x) { return negate(x); });
}
Status ref_Not(KernelContext& ctx) {
    return unary<DTypeSet::kBool>(ctx, [](bool x) { return !x; });
}
Status ref_Reciprocal(KernelContext& ctx) {
    return unary<DTypeSet::kFloat>(ctx, [](auto x) { return decltype(x)(1) / x; });
}
Status ref_Relu(KernelContext& ctx) {
    return unary<DTypeSet::kSigned>(ctx, [](auto x) { return x < 0 ? decltype(x)(0) : x; });
}
Status ref_Round(KernelContext& ctx) {
    // nearbyint in the default rounding mode rounds halves to even, as ONNX asks.
    return unary<DTypeSet::kFloat>(ctx, [](auto x) { return std::nearbyint(x); });
}
Status ref_Sigmoid(KernelContext& ctx) {
    return unary<DTypeSet::kFloat>(ctx, [](auto x) { return decltype(x)(1) / (decltype(x)(1) + std::exp(-x)); });
}
Status ref_SiLU(KernelContext& ctx) {
    return unary<DTypeSet::kFloat>(ctx, [](auto x) { return x / (decltype(x)(1) + std::exp(-x)); });
}
Status ref_Sign(KernelContext& ctx) {
    return unary<DTypeSet::kNumeric>(ctx, [](auto x) -> decltype(x) {
        using C = decltype(x);
        if (x > C(0)) return C(1);
        if constexpr (std::is_signed_v<C> || kFloating<C>) {
            if (x < C(0)) return C(-1);
        }
        return x;  // zero, or NaN
    });
}
Status ref_Softplus(KernelContext& ctx) {
    // log(1 + exp(x)), arranged so that exp never overflows.
    return unary<DTypeSet::kFloat>(
        ctx, [](auto x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); });
}
Status ref_Sqrt(KernelContext& ctx) {
    return unary<DTypeSet::kFloat>(ctx, [](auto x) { return std::sqrt(x); });
}
Status ref_Tanh(KernelContext& ctx) {
    return unary<DTypeSet::kFloat>(ctx, [](auto x) { return std::tanh(x); });
}

Status ref_Elu(KernelContext& ctx) {
    const float alpha = ctx.node.attr_float("alpha", 1.0f);
    return unary<DTypeSet::kFloat>(ctx, [alpha](auto x) {
        using C = decltype(x);
        return x < 0 ? C(alpha) * std::expm1(x) : x;
    });
}
Status ref_HardSigmoid(KernelContext& ctx) {
    const float alpha = ctx.node.attr_float("alpha", 0.2f);
    const float beta = ctx.node.attr_float("beta", 0.5f);
    return unary<DTypeSet::kFloat>(ctx, [alpha, beta](auto x) {
        using C = decltype(x);
        return hard_sigmoid(x, C(alpha), C(beta));
    });
}
Status ref_LeakyRelu(KernelContext& ctx) {
    const float alpha = ctx.node.attr_float("alpha", 0.01f);
    return unary<DTypeSet::kFloat>(ctx, [alpha](auto x) { return x < 0 ? decltype(x)(alpha) * x : x; });
}
Status ref_Selu(KernelContext& ctx) {
    const float alpha = ctx.node.attr_float("alpha", 1.67326319217681884765625f);
    const float gamma = ctx.node.attr_float("gamma", 1.05070102214813232421875f);
    return unary<DTypeSet::kFloat>(ctx, [alpha, gamma](auto x) {
        using C = decltype(x);
        return C(gamma) * (x > 0 ? x : C(alpha) * std::expm1(x));
    });
}

Status ref_Clip(KernelContext& ctx) {
    const Tensor& x = *ctx.inputs[0];
    const Tensor* lo = ctx.input(1);
    const Tensor* hi = ctx.input(2);
    return visit_dtype(x.dtype(), [&]<typename T>() -> Status {
        if constexpr (ops::dtype_in(DTypeSet::kNumeric, dtype_of<T>())) {
            using C = Calc<T>;
            // Absent bounds do not clip at all (not even infinities to the type's finite range).
            const C lo_value = lo ? static_cast<C>(lo->data<T>()[0]) : C(0);
            const C hi_value = hi ? static_cast<C>(hi->data<T>()[0]) : C(0);
            map_elements<T>(x, ctx.outputs[0], [&](C v) {
                if (lo && v < lo_value) v = lo_value;
                if (hi && v > hi_value) v = hi_value;  // min > max clips everything to max, as ONNX says
                return v;
            });
            return Status::ok();
        } else {
            return unsupported_dtype(ctx, x.dtype());
        }
    });
}

Status ref_Add(KernelContext& ctx) {
    return broadcast<DTypeSet::kNumeric>(ctx, [](auto v) { return kAdd(v[0], v[1]); });
}
Status ref_And(KernelContext& ctx) {
    return broadcast<DTypeSet::kBool>(ctx, [](auto v) { return v[0] && v[1]; });
}
Status ref_Div(KernelContext& ctx) {
    return broadcast<DTypeSet::kNumeric>(ctx, [](auto v) { return divide(v[0], v[1]); });
}
Status ref_Equal(KernelContext& ctx) {
    return broadcast<DTypeSet::kAny>(ctx, [](auto v) { return v[0] == v[1]; });
}
Status ref_Greater(KernelContext& ctx) {
    return broadcast<DTypeSet::kNumeric>(ctx, [](auto v) { return v[0] > v[1]; });
}
Status ref_GreaterOrEqual(KernelContext& ctx) {
    return broadcast<DTypeSet::kNumeric>(ctx, [](auto v) { return v[0] >= v[1]; });
}
Status ref_Less(KernelContext& ctx) {
    return broadcast<DTypeSet::kNumeric>(ctx, [](auto v) { return v[0] < v[1]; });
}
Status ref_LessOrEqual(KernelContext& ctx) {
    return broadcast<DTypeSet::kNumeric>(ctx, [](auto v) { return v[0] <= v[1]; });
}
Status ref_Max(KernelContext& ctx) {
    return broadcast<DTypeSet::kNumeric>(ctx, [](auto v) { return pick(v, std::greater<>()); });
}
Status ref_Mean(KernelContext& ctx) {
    return broadcast<DTypeSet::kFloat>(ctx, [](auto v) {
        using C = typename decltype(v)::value_type;
        return total(v) / static_cast<C>(v.size());
    });
}
Status ref_Min(KernelContext& ctx) {
    return broadcast<DTypeSet::kNumeric>(ctx, [](auto v) { return pick(v, std::less<>()); });
}
Status ref_Mul(KernelContext& ctx) {
    return broadcast<DTypeSet::kNumeric>(ctx, [](auto v) { return kMul(v[0], v[1]); });
}
Status ref_Or(KernelContext& ctx) {
    return broadcast<DTypeSet::kBool>(ctx, [](auto v) { return v[0] || v[1]; });
}
Status ref_PRelu(KernelContext& ctx) {
    return broadcast<DTypeSet::kNumeric>(ctx, [](auto v) { return v[0] < 0 ? kMul(v[0], v[1]) : v[0]; });
}
Status ref_Sub(KernelContext& ctx) {
    return broadcast<DTypeSet::kNumeric>(ctx, [](auto v) { return kSub(v[0], v[1]); });
}
Status ref_Sum(KernelContext& ctx) {
    return broadcast<DTypeSet::kFloat>(ctx, [](auto v) { return total(v); });
}

Status ref_Pow(KernelContext& ctx) {
    FOVEA_ASSIGN(const std::vector<Shape> shapes, operand_shapes(ctx));
    const Tensor& base = *ctx.inputs[0];
    const Tensor& exponent = *ctx.inputs[1];
    return visit_dtype(base.dtype(), [&]<typename T>() -> Status {
        return visit_dtype(exponent.dtype(), [&]<typename E>() -> Status {
            if constexpr (ops::dtype_in(DTypeSet::kNumeric, dtype_of<T>()) &&
                          ops::dtype_in(DTypeSet::kNumeric, dtype_of<E>())) {
                const T* b = base.data<T>();
                const E* e = exponent.data<E>();
                T* out = ctx.outputs[0].data<T>();
                for_each_broadcast(ctx.outputs[0].shape(), shapes, [&](int64_t i, std::span<const int64_t> offsets) {
                    out[i] = power(b[offsets[0]], e[offsets[1]]);
                });
                return Status::ok();
            } else {
                return unsupported_dtype(ctx, dtype_of<T>() == DType::kBool ? base.dtype() : exponent.dtype());
            }
        });
    });
}

Status ref_Where(KernelContext& ctx) {
    FOVEA_ASSIGN(const std::vector<Shape> shapes, operand_shapes(ctx));
    const bool* condition = ctx.inputs[0]->data<bool>();
    return visit_dtype(ctx.inputs[1]->dtype(), [&]<typename T>() -> Status {
        const T* x = ctx.inputs[1]->data<T>();
        const T* y = ctx.inputs[2]->data<T>();
        T* out = ctx.outputs[0].data<T>();
        for_each_broadcast(ctx.outputs[0].shape(), shapes, [&](int64_t i, std::span<const int64_t> offsets) {
            out[i] = condition[offsets[0]] ? x[offsets[1]] : y[offsets[2]];
        });
        return Status::ok();
    });
}

Status ref_Cast(KernelContext& ctx) {
    const Tensor& x = *ctx.inputs[0];
    Tensor& y = ctx.outputs[0];
    visit_dtype(x.dtype(), [&]<typename From>() {
        visit_dtype(y.dtype(), [&]<typename To>() {
            const From* in = x.data<From>();
            To* out = y.data<To>();
            for (int64_t i = 0; i < x.numel(); ++i) out[i] = convert<To>(in[i]);
        });
    });
    return Status::ok();
}

Status ref_Identity(KernelContext& ctx) {
    ctx.outputs[0] = ctx.inputs[0]->clone();
    return Status::ok();
}

Status ref_Dropout(KernelContext& ctx) {
    // Inference: nothing is dropped (inference rejects training mode), so the optional mask is all true.
    ctx.outputs[0] = ctx.inputs[0]->clone();
    if (ctx.outputs.size() > 1 && ctx.outputs[1].defined()) {
        Tensor& mask = ctx.outputs[1];
        visit_dtype(mask.dtype(), [&]<typename T>() {
            for (T& m : mask.span<T>()) m = convert<T>(true);
        });
    }
    return Status::ok();
}

}  // namespace fovea::ref
