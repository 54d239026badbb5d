// Status and Result<T>: how every recoverable error travels in fovea (I/O, parsing, unsupported op, bad input).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace fovea {

enum class StatusCode {
    kOk,
    kInvalidArgument,  // the caller gave something malformed (file, tensor, option)
    kNotFound,         // a file, input or output name that does not exist
    kUnsupported,      // well-formed, but fovea does not implement it (op, attribute value, dtype)
    kOutOfRange,       // an index or size beyond its bounds
    kIoError,          // the operating system refused a read or write
    kInternal,         // a bug in fovea
};

const char* status_code_name(StatusCode code);

// A code and a message; messages name what failed and where ("node 'conv1' (Conv, opset 11): ...").
class [[nodiscard]] Status {
  public:
    Status() = default;
    Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
    static Status ok() { return {}; }

    bool is_ok() const { return code_ == StatusCode::kOk; }
    StatusCode code() const { return code_; }
    const std::string& message() const { return message_; }
    std::string to_string() const;

    // Prefixes context, so errors read outermost-first: "loading model.onnx: node 'x' (Conv): bad pads".
    Status with_context(const std::string& context) const;

  private:
    StatusCode code_ = StatusCode::kOk;
    std::string message_;
};

inline Status invalid_argument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status not_found(std::string m) {
    return {StatusCode::kNotFound, std::move(m)};
}
inline Status unsupported(std::string m) {
    return {StatusCode::kUnsupported, std::move(m)};
}
inline Status out_of_range(std::string m) {
    return {StatusCode::kOutOfRange, std::move(m)};
}
inline Status io_error(std::string m) {
    return {StatusCode::kIoError, std::move(m)};
}
inline Status internal_error(std::string m) {
    return {StatusCode::kInternal, std::move(m)};
}

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design, like std::expected
    Result(Status status) : v_(std::move(status)) {}

    bool is_ok() const { return std::holds_alternative<T>(v_); }
    const Status& status() const {
        static const Status kOk;
        return is_ok() ? kOk : std::get<Status>(v_);
    }
    T& value() & { return std::get<T>(v_); }
    const T& value() const& { return std::get<T>(v_); }
    T&& value() && { return std::get<T>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }

  private:
    std::variant<T, Status> v_;
};

}  // namespace fovea

#define FOVEA_CONCAT_INNER(a, b) a##b
#define FOVEA_CONCAT(a, b) FOVEA_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` failed.
#define FOVEA_TRY(expr)                                   \
    do {                                                  \
        ::fovea::Status fovea_status_ = (expr);           \
        if (!fovea_status_.is_ok()) return fovea_status_; \
    } while (0)

// `FOVEA_ASSIGN(auto x, make())`: unwraps a Result or returns its Status.
#define FOVEA_ASSIGN(lhs, expr) FOVEA_ASSIGN_IMPL(FOVEA_CONCAT(fovea_result_, __LINE__), lhs, expr)
#define FOVEA_ASSIGN_IMPL(tmp, lhs, expr)  \
    auto tmp = (expr);                     \
    if (!tmp.is_ok()) return tmp.status(); \
    lhs = std::move(tmp).value()

// Internal invariants only: a failure here is a fovea bug, never a user error.
#define FOVEA_CHECK(cond)                                                      \
    do {                                                                       \
        if (!(cond)) ::fovea::detail::check_failed(#cond, __FILE__, __LINE__); \
    } while (0)

namespace fovea::detail {
[[noreturn]] void check_failed(const char* cond, const char* file, int line);
}
