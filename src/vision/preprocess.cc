#include "vision/preprocess.h"
#include "vision/preprocess_params.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace fovea::vision {

namespace {

std::string rect_string(const Rect& r) {
    return "(x " + std::to_string(r.x) + ", y " + std::to_string(r.y) + ", " + std::to_string(r.width) + "x" +
           std::to_string(r.height) + ")";
}

Status validate_frame(const media::Frame& frame) {
    if (!frame.on_host()) return invalid_argument("preprocess: the frame has no pixels");
    if (frame.width <= 0 || frame.height <= 0)
        return invalid_argument("preprocess: frame size " + std::to_string(frame.width) + "x" +
                                std::to_string(frame.height) + " is empty");
    switch (frame.format) {
        case media::PixelFormat::kBGR24:
            if (frame.stride < 3 * frame.width)
                return invalid_argument("preprocess: BGR24 frame stride " + std::to_string(frame.stride) +
                                        " is less than 3 * width " + std::to_string(frame.width));
            return Status::ok();
        case media::PixelFormat::kNV12:
            if (frame.stride < frame.width)
                return invalid_argument("preprocess: NV12 frame stride " + std::to_string(frame.stride) +
                                        " is less than width " + std::to_string(frame.width));
            if (frame.width % 2 != 0 || frame.height % 2 != 0)
                return invalid_argument("preprocess: NV12 frame size " + std::to_string(frame.width) + "x" +
                                        std::to_string(frame.height) + " is not even");
            return Status::ok();
    }
    return invalid_argument("preprocess: unknown pixel format");
}

// The ROI as a BGR image. NV12 is converted on the smallest even-aligned box around it, because chroma covers
// 2x2 luma pixels; the result is the same as converting the whole frame and cropping.
cv::Mat roi_as_bgr(const media::Frame& frame, const Rect& roi) {
    auto* base = const_cast<uint8_t*>(frame.pixels.get());  // cv::Mat headers take non-const data; never written
    switch (frame.format) {
        case media::PixelFormat::kBGR24: {
            const cv::Mat whole(frame.height, frame.width, CV_8UC3, base, static_cast<size_t>(frame.stride));
            return whole(cv::Rect(roi.x, roi.y, roi.width, roi.height));
        }
        case media::PixelFormat::kNV12: {
            const int x0 = roi.x & ~1, y0 = roi.y & ~1;
            const int x1 = (roi.x + roi.width + 1) & ~1, y1 = (roi.y + roi.height + 1) & ~1;
            const size_t stride = static_cast<size_t>(frame.stride);
            const cv::Mat y_plane(frame.height, frame.width, CV_8UC1, base, stride);
            const cv::Mat uv_plane(frame.height / 2, frame.width / 2, CV_8UC2,
                                   base + stride * static_cast<size_t>(frame.height), stride);
            cv::Mat bgr;
            cv::cvtColorTwoPlane(y_plane(cv::Rect(x0, y0, x1 - x0, y1 - y0)),
                                 uv_plane(cv::Rect(x0 / 2, y0 / 2, (x1 - x0) / 2, (y1 - y0) / 2)), bgr,
                                 cv::COLOR_YUV2BGR_NV12);
            return bgr(cv::Rect(roi.x - x0, roi.y - y0, roi.width, roi.height));
        }
    }
    return {};
}

cv::Mat equalize_luma(const cv::Mat& bgr, const PreprocessSpec& spec) {
    cv::Mat ycrcb;
    cv::cvtColor(bgr, ycrcb, cv::COLOR_BGR2YCrCb);
    cv::Mat y;
    cv::extractChannel(ycrcb, y, 0);
    switch (spec.equalize) {
        case Equalize::kNone:
            return bgr;
        case Equalize::kGlobal:
            cv::equalizeHist(y, y);
            break;
        case Equalize::kClahe:
            cv::createCLAHE(spec.clahe_clip, cv::Size(spec.clahe_tile, spec.clahe_tile))->apply(y, y);
            break;
    }
    cv::insertChannel(y, ycrcb, 0);
    cv::Mat out;
    cv::cvtColor(ycrcb, out, cv::COLOR_YCrCb2BGR);
    return out;
}

template <typename T>
void write_item(const cv::Mat& resized, const Placement& p, const PreprocessSpec& spec, T* dst) {
    const int channels = spec_channels(spec);
    const size_t plane = static_cast<size_t>(spec.width) * static_cast<size_t>(spec.height);
    std::array<float, 3> pad{};
    for (int c = 0; c < channels; ++c)
        pad[static_cast<size_t>(c)] = (static_cast<float>(spec.pad_value) * spec.scale - spec.mean[c]) / spec.std[c];
    for (int y = 0; y < spec.height; ++y) {
        const bool row_inside = y >= p.y && y < p.y + p.height;
        const uint8_t* src_row = row_inside ? resized.ptr<uint8_t>(y - p.y) : nullptr;
        for (int x = 0; x < spec.width; ++x) {
            std::array<float, 3> v = pad;
            if (row_inside && x >= p.x && x < p.x + p.width) {
                const uint8_t* px = src_row + 3 * (x - p.x);
                const float b = px[0], g = px[1], r = px[2];
                std::array<float, 3> raw{};
                switch (spec.color) {
                    case ColorOrder::kRGB:
                        raw = {r, g, b};
                        break;
                    case ColorOrder::kBGR:
                        raw = {b, g, r};
                        break;
                    case ColorOrder::kGray:
                        raw = {0.299f * r + 0.587f * g + 0.114f * b, 0, 0};
                        break;
                }
                for (int c = 0; c < channels; ++c)
                    v[static_cast<size_t>(c)] = (raw[static_cast<size_t>(c)] * spec.scale - spec.mean[c]) / spec.std[c];
            }
            const size_t pixel = static_cast<size_t>(y) * static_cast<size_t>(spec.width) + static_cast<size_t>(x);
            for (int c = 0; c < channels; ++c) {
                const size_t i = spec.layout == Layout::kNCHW ? static_cast<size_t>(c) * plane + pixel
                                                              : pixel * static_cast<size_t>(channels) + c;
                dst[i] = T(v[static_cast<size_t>(c)]);
            }
        }
    }
}

}  // namespace

int spec_channels(const PreprocessSpec& spec) {
    return spec.color == ColorOrder::kGray ? 1 : 3;
}

size_t input_item_bytes(const PreprocessSpec& spec) {
    if (spec.width <= 0 || spec.height <= 0) return 0;
    return static_cast<size_t>(spec.width) * static_cast<size_t>(spec.height) *
           static_cast<size_t>(spec_channels(spec)) * dtype_size(spec.dtype);
}

Status validate(const PreprocessSpec& spec) {
    constexpr int kMaxSide = 16384;
    if (spec.width <= 0 || spec.height <= 0 || spec.width > kMaxSide || spec.height > kMaxSide)
        return invalid_argument("preprocess spec: input size " + std::to_string(spec.width) + "x" +
                                std::to_string(spec.height) + " must be between 1 and " + std::to_string(kMaxSide));
    if (spec.dtype != DType::kFloat32 && spec.dtype != DType::kFloat16)
        return unsupported(std::string("preprocess spec: dtype ") + dtype_name(spec.dtype) +
                           " (float32 and float16 are supported)");
    if (spec.equalize == Equalize::kClahe) {
        if (spec.clahe_tile <= 0 || spec.clahe_tile > 64)
            return invalid_argument("preprocess spec: clahe_tile " + std::to_string(spec.clahe_tile) +
                                    " must be between 1 and 64");
        if (!std::isfinite(spec.clahe_clip)) return invalid_argument("preprocess spec: clahe_clip is not finite");
    }
    if (!std::isfinite(spec.scale)) return invalid_argument("preprocess spec: scale is not finite");
    for (int c = 0; c < spec_channels(spec); ++c) {
        if (!std::isfinite(spec.mean[c]) || !std::isfinite(spec.std[c]) || spec.std[c] == 0.0f)
            return invalid_argument("preprocess spec: channel " + std::to_string(c) + " has mean " +
                                    std::to_string(spec.mean[c]) + " and std " + std::to_string(spec.std[c]) +
                                    " (std must be finite and non-zero)");
    }
    return Status::ok();
}

Result<Rect> resolve_roi(const Rect& roi, int frame_width, int frame_height) {
    if (frame_width <= 0 || frame_height <= 0)
        return invalid_argument("roi: frame size " + std::to_string(frame_width) + "x" + std::to_string(frame_height) +
                                " is empty");
    if (roi.x < 0 || roi.y < 0 || roi.width < 0 || roi.height < 0)
        return invalid_argument("roi " + rect_string(roi) + " has a negative coordinate or size");
    if (roi.x >= frame_width || roi.y >= frame_height)
        return out_of_range("roi " + rect_string(roi) + " starts outside the " + std::to_string(frame_width) + "x" +
                            std::to_string(frame_height) + " frame");
    Rect r = roi;
    if (r.width == 0) r.width = frame_width - r.x;
    if (r.height == 0) r.height = frame_height - r.y;
    // 64-bit sums: x + width of hostile values must not overflow.
    if (int64_t{r.x} + r.width > frame_width || int64_t{r.y} + r.height > frame_height)
        return out_of_range("roi " + rect_string(roi) + " reaches outside the " + std::to_string(frame_width) + "x" +
                            std::to_string(frame_height) + " frame");
    return r;
}

Placement place_roi(const Rect& roi, const PreprocessSpec& spec) {
    switch (spec.resize) {
        case ResizeMode::kStretch:
            return {0, 0, spec.width, spec.height};
        case ResizeMode::kLetterbox: {
            const double r =
                std::min(static_cast<double>(spec.width) / roi.width, static_cast<double>(spec.height) / roi.height);
            const int w = std::clamp(static_cast<int>(std::lround(roi.width * r)), 1, spec.width);
            const int h = std::clamp(static_cast<int>(std::lround(roi.height * r)), 1, spec.height);
            return {(spec.width - w) / 2, (spec.height - h) / 2, w, h};
        }
    }
    return {};
}

InputTransform make_transform(const Rect& roi, const Placement& placement) {
    InputTransform t;
    t.scale_x = static_cast<float>(roi.width) / static_cast<float>(placement.width);
    t.scale_y = static_cast<float>(roi.height) / static_cast<float>(placement.height);
    t.pad_x = static_cast<float>(placement.x);
    t.pad_y = static_cast<float>(placement.y);
    t.offset_x = static_cast<float>(roi.x);
    t.offset_y = static_cast<float>(roi.y);
    return t;
}

Status preprocess(const media::Frame& input, const Rect& roi, const PreprocessSpec& spec, void* dst,
                  InputTransform& transform) {
    FOVEA_TRY(validate(spec));
    // A frame decoded on the GPU is read from its host copy, fetched here on first use and shared after.
    Result<media::Frame> host = media::host_frame(input);
    if (!host.is_ok()) return host.status().with_context("preprocess");
    const media::Frame& frame = *host;
    FOVEA_TRY(validate_frame(frame));
    if (dst == nullptr) return invalid_argument("preprocess: the destination is null");
    FOVEA_ASSIGN(const Rect r, resolve_roi(roi, frame.width, frame.height));
    const Placement p = place_roi(r, spec);
    try {
        cv::Mat bgr = roi_as_bgr(frame, r);
        if (spec.equalize != Equalize::kNone) bgr = equalize_luma(bgr, spec);
        cv::Mat resized = bgr;
        if (bgr.cols != p.width || bgr.rows != p.height)
            cv::resize(bgr, resized, cv::Size(p.width, p.height), 0, 0, cv::INTER_LINEAR);
        if (spec.dtype == DType::kFloat16)
            write_item(resized, p, spec, static_cast<Half*>(dst));
        else
            write_item(resized, p, spec, static_cast<float*>(dst));
    } catch (const cv::Exception& e) {
        return internal_error(std::string("preprocess: OpenCV: ") + e.what());
    }
    transform = make_transform(r, p);
    return Status::ok();
}

}  // namespace fovea::vision

namespace fovea::vision {

device::SpecParams make_spec_params(const PreprocessSpec& spec) {
    device::SpecParams p{};
    p.width = spec.width;
    p.height = spec.height;
    p.channels = spec_channels(spec);
    switch (spec.color) {
        case ColorOrder::kRGB:
            p.color = device::OutColor::kRGB;
            break;
        case ColorOrder::kBGR:
            p.color = device::OutColor::kBGR;
            break;
        case ColorOrder::kGray:
            p.color = device::OutColor::kGray;
            break;
    }
    p.nchw = spec.layout == Layout::kNCHW ? 1 : 0;
    p.fp16 = spec.dtype == DType::kFloat16 ? 1 : 0;
    switch (spec.equalize) {
        case Equalize::kNone:
            p.equalize = device::EqMode::kNone;
            break;
        case Equalize::kGlobal:
            p.equalize = device::EqMode::kGlobal;
            break;
        case Equalize::kClahe:
            p.equalize = device::EqMode::kClahe;
            break;
    }
    for (size_t c = 0; c < 3; ++c) {
        p.mul[c] = spec.scale / spec.std[c];
        p.add[c] = -spec.mean[c] / spec.std[c];
    }
    p.pad_value = static_cast<float>(spec.pad_value);
    return p;
}

int equalize_tiles(const PreprocessSpec& spec) {
    switch (spec.equalize) {
        case Equalize::kNone:
            return 0;
        case Equalize::kGlobal:
            return 1;
        case Equalize::kClahe:
            return spec.clahe_tile * spec.clahe_tile;
    }
    return 0;
}

device::ItemParams make_item_params(const PreprocessSpec& spec, const uint8_t* src, int pitch,
                                    media::PixelFormat format, int frame_height, const Rect& roi, int item_index,
                                    void* dst, const uint8_t* chroma, int chroma_pitch) {
    device::ItemParams it{};
    it.src = src;
    it.pitch = pitch;
    it.format = format == media::PixelFormat::kNV12 ? device::SrcFormat::kNV12 : device::SrcFormat::kBGR24;
    it.uv = chroma != nullptr ? chroma : src + static_cast<size_t>(pitch) * static_cast<size_t>(frame_height);
    it.uv_pitch = chroma != nullptr ? chroma_pitch : pitch;
    it.roi_x = roi.x;
    it.roi_y = roi.y;
    it.roi_w = roi.width;
    it.roi_h = roi.height;
    const Placement p = place_roi(roi, spec);
    it.place_x = p.x;
    it.place_y = p.y;
    it.place_w = p.width;
    it.place_h = p.height;
    // cv::resize's scale: 1 / (dst / src) in double, used as float.
    it.src_per_dst_x = static_cast<float>(1.0 / (static_cast<double>(p.width) / roi.width));
    it.src_per_dst_y = static_cast<float>(1.0 / (static_cast<double>(p.height) / roi.height));
    it.tiles_x = it.tiles_y = 1;
    it.tile_w = roi.width;
    it.tile_h = roi.height;
    if (spec.equalize == Equalize::kClahe) {
        // cv::CLAHE pads the image by reflection to whole tiles in both directions unless both already divide.
        const int t = spec.clahe_tile;
        const bool divides = roi.width % t == 0 && roi.height % t == 0;
        const int ext_w = divides ? roi.width : roi.width + t - roi.width % t;
        const int ext_h = divides ? roi.height : roi.height + t - roi.height % t;
        it.tiles_x = it.tiles_y = t;
        it.tile_w = ext_w / t;
        it.tile_h = ext_h / t;
        const int total = it.tile_w * it.tile_h;
        it.lut_scale = 255.0f / static_cast<float>(total);
        it.clip_limit = spec.clahe_clip > 0.0 ? std::max(static_cast<int>(spec.clahe_clip * total / 256), 1) : 0;
    }
    it.inv_tile_w = 1.0f / static_cast<float>(it.tile_w);
    it.inv_tile_h = 1.0f / static_cast<float>(it.tile_h);
    it.scratch_offset = static_cast<int64_t>(item_index) * equalize_tiles(spec) * device::kBins;
    it.dst = dst;
    return it;
}

}  // namespace fovea::vision
