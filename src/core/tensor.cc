#include "fovea/tensor.h"

#include <bit>
#include <cmath>
#include <cstdlib>
#include <new>

namespace fovea {

size_t dtype_size(DType dt) {
    switch (dt) {
        case DType::kFloat32:
            return 4;
        case DType::kFloat64:
            return 8;
        case DType::kFloat16:
            return 2;
        case DType::kBFloat16:
            return 2;
        case DType::kInt8:
            return 1;
        case DType::kUInt8:
            return 1;
        case DType::kInt32:
            return 4;
        case DType::kInt64:
            return 8;
        case DType::kBool:
            return 1;
    }
    return 0;
}

const char* dtype_name(DType dt) {
    switch (dt) {
        case DType::kFloat32:
            return "float32";
        case DType::kFloat64:
            return "float64";
        case DType::kFloat16:
            return "float16";
        case DType::kBFloat16:
            return "bfloat16";
        case DType::kInt8:
            return "int8";
        case DType::kUInt8:
            return "uint8";
        case DType::kInt32:
            return "int32";
        case DType::kInt64:
            return "int64";
        case DType::kBool:
            return "bool";
    }
    return "?";
}

bool is_floating(DType dt) {
    return dt == DType::kFloat32 || dt == DType::kFloat64 || dt == DType::kFloat16 || dt == DType::kBFloat16;
}

float half_to_float(uint16_t h) {
    const uint32_t sign = (h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);  // inf / nan
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {  // subnormal: normalize
        int e = -1;
        do {
            ++e;
            mant <<= 1;
        } while ((mant & 0x400u) == 0);
        bits = sign | static_cast<uint32_t>(112 - e) << 23 | ((mant & 0x3ffu) << 13);
    }
    return std::bit_cast<float>(bits);
}

uint16_t float_to_half(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0));
    if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
    if (abs < 0x38800000u) {  // result is subnormal or zero: round to nearest even in units of 2^-24
        const float scaled = std::bit_cast<float>(abs) * 16777216.0f;
        return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(scaled)));
    }
    const uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);  // round to nearest even
    return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}

float bfloat16_to_float(uint16_t b) {
    return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}

uint16_t float_to_bfloat16(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // keep NaN a NaN
    return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

Half::Half(float f) : bits(float_to_half(f)) {}
Half::operator float() const {
    return half_to_float(bits);
}
BFloat16::BFloat16(float f) : bits(float_to_bfloat16(f)) {}
BFloat16::operator float() const {
    return bfloat16_to_float(bits);
}

int64_t shape_numel(std::span<const int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string shape_to_string(std::span<const int64_t> shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ",";
        s += shape[i] < 0 ? "?" : std::to_string(shape[i]);
    }
    return s + "]";
}

std::vector<int64_t> contiguous_strides(std::span<const int64_t> shape) {
    std::vector<int64_t> strides(shape.size(), 1);
    for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
    return strides;
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
    for (int64_t d : shape_) FOVEA_CHECK(d >= 0);
    // Round up so that vector loops may read a whole cache line; never size 0, so data() is never null.
    const size_t bytes = (nbytes() + kAlignment - 1) / kAlignment * kAlignment + kAlignment;
    auto* p = static_cast<std::byte*>(::operator new(bytes, std::align_val_t(kAlignment)));
    std::memset(p, 0, bytes);
    storage_ = std::shared_ptr<std::byte>(p, [](std::byte* q) { ::operator delete(q, std::align_val_t(kAlignment)); });
}

void Tensor::zero() {
    if (defined()) std::memset(raw_data(), 0, nbytes());
}

Tensor Tensor::view(std::shared_ptr<std::byte> owner, size_t offset, DType dtype, Shape shape) {
    Tensor t;
    t.dtype_ = dtype;
    t.shape_ = std::move(shape);
    std::byte* p = owner.get() + offset;
    t.storage_ = std::shared_ptr<std::byte>(std::move(owner), p);  // aliasing: shares the owner's lifetime
    return t;
}

Tensor Tensor::reshaped(Shape shape) const {
    FOVEA_CHECK(shape_numel(shape) == numel());
    Tensor t = *this;
    t.shape_ = std::move(shape);
    return t;
}

Tensor Tensor::clone() const {
    Tensor t(dtype_, shape_);
    if (nbytes()) std::memcpy(t.raw_data(), raw_data(), nbytes());
    return t;
}

double Tensor::element_as_double(int64_t i) const {
    return visit_dtype(dtype_, [&]<typename T>() { return static_cast<double>(static_cast<const T*>(raw_data())[i]); });
}

int64_t Tensor::element_as_int64(int64_t i) const {
    return visit_dtype(dtype_, [&]<typename T>() {
        if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
            return static_cast<int64_t>(static_cast<float>(static_cast<const T*>(raw_data())[i]));
        } else {
            return static_cast<int64_t>(static_cast<const T*>(raw_data())[i]);
        }
    });
}

std::vector<int64_t> Tensor::to_int64_vector() const {
    std::vector<int64_t> v(static_cast<size_t>(numel()));
    for (int64_t i = 0; i < numel(); ++i) v[static_cast<size_t>(i)] = element_as_int64(i);
    return v;
}

std::string Tensor::describe() const {
    return std::string(dtype_name(dtype_)) + shape_to_string(shape_);
}

}  // namespace fovea
