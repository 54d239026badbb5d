// Tensor: a dtype, a shape and 64-byte aligned host memory, shared between copies of the handle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fovea/status.h"

namespace fovea {

enum class DType : uint8_t { kFloat32, kFloat64, kFloat16, kBFloat16, kInt8, kUInt8, kInt32, kInt64, kBool };

size_t dtype_size(DType dt);
const char* dtype_name(DType dt);  // "float32", "int64", ...
bool is_floating(DType dt);

// IEEE binary16 and bfloat16 storage types; arithmetic goes through float.
struct Half {
    uint16_t bits = 0;
    Half() = default;
    explicit Half(float f);
    operator float() const;  // NOLINT: implicit widening is what kernels want
};
struct BFloat16 {
    uint16_t bits = 0;
    BFloat16() = default;
    explicit BFloat16(float f);
    operator float() const;  // NOLINT
};
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bfloat16_to_float(uint16_t b);
uint16_t float_to_bfloat16(float f);

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
    return DType::kFloat32;
}
template <>
constexpr DType dtype_of<double>() {
    return DType::kFloat64;
}
template <>
constexpr DType dtype_of<Half>() {
    return DType::kFloat16;
}
template <>
constexpr DType dtype_of<BFloat16>() {
    return DType::kBFloat16;
}
template <>
constexpr DType dtype_of<int8_t>() {
    return DType::kInt8;
}
template <>
constexpr DType dtype_of<uint8_t>() {
    return DType::kUInt8;
}
template <>
constexpr DType dtype_of<int32_t>() {
    return DType::kInt32;
}
template <>
constexpr DType dtype_of<int64_t>() {
    return DType::kInt64;
}
template <>
constexpr DType dtype_of<bool>() {
    return DType::kBool;
}

// Calls f.template operator()<T>() with the C++ type of `dt`.
template <typename F>
decltype(auto) visit_dtype(DType dt, F&& f) {
    switch (dt) {
        case DType::kFloat32:
            return f.template operator()<float>();
        case DType::kFloat64:
            return f.template operator()<double>();
        case DType::kFloat16:
            return f.template operator()<Half>();
        case DType::kBFloat16:
            return f.template operator()<BFloat16>();
        case DType::kInt8:
            return f.template operator()<int8_t>();
        case DType::kUInt8:
            return f.template operator()<uint8_t>();
        case DType::kInt32:
            return f.template operator()<int32_t>();
        case DType::kInt64:
            return f.template operator()<int64_t>();
        case DType::kBool:
            return f.template operator()<bool>();
    }
    return f.template operator()<float>();  // unreachable: every enumerator is handled above
}

using Shape = std::vector<int64_t>;
int64_t shape_numel(std::span<const int64_t> shape);                      // 1 for a scalar
std::string shape_to_string(std::span<const int64_t> shape);              // "[1,3,224,224]"; -1 prints as '?'
std::vector<int64_t> contiguous_strides(std::span<const int64_t> shape);  // in elements, C order

class Tensor {
  public:
    static constexpr size_t kAlignment = 64;

    Tensor() = default;
    // Allocates zero-filled storage for `shape`.
    Tensor(DType dtype, Shape shape);
    // Copies `values` into a new tensor of `shape` (numel must match).
    template <typename T>
    static Tensor from_vector(Shape shape, const std::vector<T>& values) {
        Tensor t(dtype_of<T>(), std::move(shape));
        FOVEA_CHECK(static_cast<size_t>(t.numel()) == values.size());
        T* out = t.data<T>();
        for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];  // a loop, since std::vector<bool> has no data()
        return t;
    }
    template <typename T>
    static Tensor scalar(T value) {
        return from_vector<T>({}, {value});
    }

    // A tensor over `bytes` at `offset` of memory that `owner` keeps alive (memory-planned arenas); not zeroed.
    static Tensor view(std::shared_ptr<std::byte> owner, size_t offset, DType dtype, Shape shape);

    bool defined() const { return storage_ != nullptr; }
    // True when no other tensor shares this one's storage (views of an arena never are: they share its owner).
    bool sole_owner() const { return storage_ != nullptr && storage_.use_count() == 1; }
    // Sets every byte to zero, as a newly allocated tensor is.
    void zero();
    DType dtype() const { return dtype_; }
    const Shape& shape() const { return shape_; }
    int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
    int64_t dim(int64_t i) const { return shape_[static_cast<size_t>(i)]; }
    int64_t numel() const { return shape_numel(shape_); }
    size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
    std::vector<int64_t> strides() const { return contiguous_strides(shape_); }

    void* raw_data() { return storage_.get(); }
    const void* raw_data() const { return storage_.get(); }
    template <typename T>
    T* data() {
        FOVEA_CHECK(dtype_of<T>() == dtype_);
        return static_cast<T*>(raw_data());
    }
    template <typename T>
    const T* data() const {
        FOVEA_CHECK(dtype_of<T>() == dtype_);
        return static_cast<const T*>(raw_data());
    }
    template <typename T>
    std::span<T> span() {
        return {data<T>(), static_cast<size_t>(numel())};
    }
    template <typename T>
    std::span<const T> span() const {
        return {data<T>(), static_cast<size_t>(numel())};
    }

    // A view of the same storage with another shape of the same element count.
    Tensor reshaped(Shape shape) const;
    // A deep copy with its own storage.
    Tensor clone() const;
    // Element i of any dtype, widened: for shape inputs, indices and tests.
    double element_as_double(int64_t i) const;
    int64_t element_as_int64(int64_t i) const;
    // Every element widened to int64 (shape-like inputs: axes, pads, sizes).
    std::vector<int64_t> to_int64_vector() const;
    std::string describe() const;  // "float32[1,3,224,224]"

  private:
    DType dtype_ = DType::kFloat32;
    Shape shape_;
    std::shared_ptr<std::byte> storage_;
};

}  // namespace fovea
