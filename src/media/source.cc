#include "media/source.h"

#include <cmath>
#include <filesystem>
#include <optional>
#include <string_view>

#include "media/source_impl.h"

namespace fovea::media {
namespace detail {

const char* kind_name(SourceKind kind) {
    switch (kind) {
        case SourceKind::kFile:
            return "file";
        case SourceKind::kRtsp:
            return "rtsp";
        case SourceKind::kRtmp:
            return "rtmp";
        case SourceKind::kHttp:
            return "http";
        case SourceKind::kV4l2:
            return "v4l2";
        case SourceKind::kImages:
            return "images";
        case SourceKind::kSynthetic:
            return "synthetic";
    }
    return "?";
}

std::string redact_uri(const std::string& uri) {
    const size_t scheme = uri.find("://");
    if (scheme == std::string::npos) return uri;
    const size_t authority = scheme + 3;
    const size_t path = uri.find('/', authority);
    const size_t at = uri.rfind('@', path == std::string::npos ? uri.size() : path);
    if (at == std::string::npos || at < authority) return uri;
    const size_t colon = uri.find(':', authority);
    if (colon == std::string::npos || colon > at) return uri;
    return uri.substr(0, colon + 1) + "***" + uri.substr(at);
}

std::string source_label(const SourceSpec& spec) {
    const std::string uri = redact_uri(spec.uri);
    if (spec.name.empty() || spec.name == spec.uri) return "source '" + uri + "'";
    return "source '" + spec.name + "' (" + uri + ")";
}

double effective_fps(const SourceSpec& spec) {
    return spec.fps > 0 ? spec.fps : 25.0;
}

}  // namespace detail

namespace {

using detail::SourceKind;

bool starts_with_ci(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
    }
    return true;
}

std::optional<SourceKind> kind_from_name(std::string_view type) {
    if (type == "file") return SourceKind::kFile;
    if (type == "rtsp") return SourceKind::kRtsp;
    if (type == "rtmp") return SourceKind::kRtmp;
    if (type == "http") return SourceKind::kHttp;
    if (type == "v4l2") return SourceKind::kV4l2;
    if (type == "images") return SourceKind::kImages;
    if (type == "synthetic") return SourceKind::kSynthetic;
    return std::nullopt;
}

Result<SourceKind> infer_kind(const SourceSpec& spec, const std::string& label) {
    const std::string& uri = spec.uri;
    if (uri == "synthetic") return SourceKind::kSynthetic;
    if (starts_with_ci(uri, "rtsp://") || starts_with_ci(uri, "rtsps://")) return SourceKind::kRtsp;
    if (starts_with_ci(uri, "rtmp://") || starts_with_ci(uri, "rtmps://")) return SourceKind::kRtmp;
    if (starts_with_ci(uri, "http://") || starts_with_ci(uri, "https://")) return SourceKind::kHttp;
    if (uri.rfind("/dev/video", 0) == 0) return SourceKind::kV4l2;
    if (uri.find("://") != std::string::npos) {
        return invalid_argument(label +
                                ": unknown uri scheme (expected rtsp://, rtmp://, http(s)://, a path, or 'synthetic')");
    }
    std::error_code ec;
    if (!uri.empty() && (uri.back() == '/' || std::filesystem::is_directory(uri, ec))) return SourceKind::kImages;
    return SourceKind::kFile;
}

// The uri schemes a network type accepts, so that a type/uri mismatch is caught before opening.
bool uri_fits(SourceKind kind, const std::string& uri) {
    switch (kind) {
        case SourceKind::kRtsp:
            return starts_with_ci(uri, "rtsp://") || starts_with_ci(uri, "rtsps://");
        case SourceKind::kRtmp:
            return starts_with_ci(uri, "rtmp://") || starts_with_ci(uri, "rtmps://");
        case SourceKind::kHttp:
            return starts_with_ci(uri, "http://") || starts_with_ci(uri, "https://");
        case SourceKind::kFile:
        case SourceKind::kV4l2:
        case SourceKind::kImages:
            return uri.find("://") == std::string::npos;
        case SourceKind::kSynthetic:
            return true;
    }
    return false;
}

Result<SourceKind> validate(const SourceSpec& spec) {
    const std::string label = detail::source_label(spec);
    if (spec.uri.empty() && spec.type != "synthetic") return invalid_argument(label + ": empty uri");
    SourceKind kind = SourceKind::kFile;
    if (spec.type.empty()) {
        FOVEA_ASSIGN(kind, infer_kind(spec, label));
    } else {
        const auto named = kind_from_name(spec.type);
        if (!named) {
            return invalid_argument(label + ": unknown source type '" + spec.type +
                                    "' (expected file, rtsp, rtmp, http, v4l2, images or synthetic)");
        }
        kind = *named;
        if (!uri_fits(kind, spec.uri)) {
            return invalid_argument(label + ": uri does not fit source type '" + spec.type + "'");
        }
    }
    if (!std::isfinite(spec.fps) || spec.fps < 0 || spec.fps > 1000) {
        return invalid_argument(label + ": fps must be in [0, 1000], got " + std::to_string(spec.fps));
    }
    if (spec.width < 0 || spec.height < 0 || spec.width > 16384 || spec.height > 16384) {
        return invalid_argument(label + ": width and height must be in [0, 16384], got " + std::to_string(spec.width) +
                                "x" + std::to_string(spec.height));
    }
    if ((spec.width == 0) != (spec.height == 0)) {
        return invalid_argument(label + ": give both width and height, or neither");
    }
    if (spec.transport != "tcp" && spec.transport != "udp") {
        return invalid_argument(label + ": transport must be 'tcp' or 'udp', got '" + spec.transport + "'");
    }
    if (spec.timeout_ms <= 0 || spec.timeout_ms > 3600 * 1000) {
        return invalid_argument(label + ": timeout_ms must be in [1, 3600000], got " + std::to_string(spec.timeout_ms));
    }
    if (spec.hw_decode != "auto" && spec.hw_decode != "cuda" && spec.hw_decode != "none") {
        return invalid_argument(label + ": hw_decode must be 'auto', 'cuda' or 'none', got '" + spec.hw_decode + "'");
    }
    return kind;
}

}  // namespace

Result<std::string> resolve_source_type(const SourceSpec& spec) {
    FOVEA_ASSIGN(const SourceKind kind, validate(spec));
    return std::string(detail::kind_name(kind));
}

Result<std::unique_ptr<Source>> make_source(const SourceSpec& spec) {
    FOVEA_ASSIGN(const SourceKind kind, validate(spec));
    switch (kind) {
        case SourceKind::kFile:
        case SourceKind::kRtsp:
        case SourceKind::kRtmp:
        case SourceKind::kHttp:
        case SourceKind::kV4l2:
            return detail::make_av_source(spec, kind);
        case SourceKind::kImages:
            return detail::make_image_folder_source(spec);
        case SourceKind::kSynthetic:
            return detail::make_synthetic_source(spec);
    }
    return internal_error("unhandled source kind");
}

}  // namespace fovea::media
