#include "fovea/status.h"

#include <cstdio>
#include <cstdlib>

namespace fovea {

const char* status_code_name(StatusCode code) {
    switch (code) {
        case StatusCode::kOk:
            return "ok";
        case StatusCode::kInvalidArgument:
            return "invalid argument";
        case StatusCode::kNotFound:
            return "not found";
        case StatusCode::kUnsupported:
            return "unsupported";
        case StatusCode::kOutOfRange:
            return "out of range";
        case StatusCode::kIoError:
            return "I/O error";
        case StatusCode::kInternal:
            return "internal error";
    }
    return "?";
}

std::string Status::to_string() const {
    if (is_ok()) return "ok";
    return std::string(status_code_name(code_)) + ": " + message_;
}

Status Status::with_context(const std::string& context) const {
    if (is_ok()) return *this;
    return {code_, context + ": " + message_};
}

namespace detail {
void check_failed(const char* cond, const char* file, int line) {
    std::fprintf(stderr, "fovea internal check failed: %s at %s:%d\n", cond, file, line);
    std::abort();
}
}  // namespace detail

}  // namespace fovea
