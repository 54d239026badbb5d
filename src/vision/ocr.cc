#include "vision/ocr.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "vision/draw.h"
#include "vision/preprocess.h"

namespace fovea::vision {

std::array<int, 2> db_input_size(int width, int height, int limit_side_len) {
    double ratio = 1.0;
    if (std::max(width, height) > limit_side_len)
        ratio = static_cast<double>(limit_side_len) / (height > width ? height : width);
    // Python's int() truncates and round() goes half to even, which nearbyint does in the default rounding mode.
    const auto round32 = [](int side) { return std::max(static_cast<int>(std::nearbyint(side / 32.0)) * 32, 32); };
    return {round32(static_cast<int>(width * ratio)), round32(static_cast<int>(height * ratio))};
}

void sort_reading_order(std::vector<TextBox>& boxes) {
    std::stable_sort(boxes.begin(), boxes.end(), [](const TextBox& a, const TextBox& b) {
        return a.points[1] != b.points[1] ? a.points[1] < b.points[1] : a.points[0] < b.points[0];
    });
    for (size_t i = 0; i + 1 < boxes.size(); ++i) {
        for (size_t j = i + 1; j-- > 0;) {
            const TextBox &prev = boxes[j], &next = boxes[j + 1];
            if (std::abs(next.points[1] - prev.points[1]) < 10 && next.points[0] < prev.points[0])
                std::swap(boxes[j], boxes[j + 1]);
            else
                break;
        }
    }
}

Result<media::Frame> crop_text_box(const media::Frame& frame, const std::array<float, 8>& quad) {
    if (frame.empty() || frame.width <= 0 || frame.height <= 0) return invalid_argument("crop_text_box: empty frame");
    // NV12, and pictures decoded on the GPU, through their BGR copy.
    const media::Frame bgr =
        frame.format == media::PixelFormat::kBGR24 && frame.pixels != nullptr ? frame : to_bgr_copy(frame);
    if (bgr.pixels == nullptr) return invalid_argument("crop_text_box: the frame's pixels cannot be read");
    const cv::Point2f p[4] = {{quad[0], quad[1]}, {quad[2], quad[3]}, {quad[4], quad[5]}, {quad[6], quad[7]}};
    const auto dist = [](cv::Point2f a, cv::Point2f b) { return std::hypot(a.x - b.x, a.y - b.y); };
    const int w = static_cast<int>(std::max(dist(p[0], p[1]), dist(p[2], p[3])));
    const int h = static_cast<int>(std::max(dist(p[0], p[3]), dist(p[1], p[2])));
    if (w < 1 || h < 1)
        return invalid_argument("crop_text_box: the box is " + std::to_string(w) + "x" + std::to_string(h) + " px");
    try {
        const cv::Point2f upright[4] = {{0, 0},
                                        {static_cast<float>(w), 0},
                                        {static_cast<float>(w), static_cast<float>(h)},
                                        {0, static_cast<float>(h)}};
        const cv::Mat src(bgr.height, bgr.width, CV_8UC3, const_cast<uint8_t*>(bgr.row(0)),
                          static_cast<size_t>(bgr.stride));
        cv::Mat crop;
        cv::warpPerspective(src, crop, cv::getPerspectiveTransform(p, upright), cv::Size(w, h), cv::INTER_CUBIC,
                            cv::BORDER_REPLICATE);
        if (h >= 1.5 * w) cv::rotate(crop, crop, cv::ROTATE_90_COUNTERCLOCKWISE);
        media::Frame out = media::make_bgr_frame(crop.cols, crop.rows);
        crop.copyTo(cv::Mat(out.height, out.width, CV_8UC3, out.pixels.get(), static_cast<size_t>(out.stride)));
        out.index = frame.index;
        out.pts_us = frame.pts_us;
        out.capture_time = frame.capture_time;
        out.wall_time_us = frame.wall_time_us;
        return out;
    } catch (const cv::Exception& e) {
        return internal_error(std::string("crop_text_box: OpenCV: ") + e.what());
    }
}

int rec_batch_width(std::span<const media::Frame> crops, int height, int min_width) {
    double ratio = static_cast<double>(min_width) / height;
    for (const media::Frame& c : crops)
        if (c.height > 0) ratio = std::max(ratio, static_cast<double>(c.width) / c.height);
    return static_cast<int>(height * ratio);
}

Status rec_input(const media::Frame& crop, int height, int width, float* dst) {
    if (crop.empty() || crop.width <= 0 || crop.height <= 0) return invalid_argument("rec_input: empty crop");
    if (height <= 0 || width <= 0) return invalid_argument("rec_input: bad input size");
    const int resized =
        std::min(width, static_cast<int>(std::ceil(height * (static_cast<double>(crop.width) / crop.height))));
    PreprocessSpec spec;
    spec.width = std::max(resized, 1);
    spec.height = height;
    spec.color = ColorOrder::kBGR;
    spec.resize = ResizeMode::kStretch;
    spec.mean = {0.5f, 0.5f, 0.5f};
    spec.std = {0.5f, 0.5f, 0.5f};
    std::vector<float> item(static_cast<size_t>(3 * height * spec.width));
    InputTransform unused;
    FOVEA_TRY(preprocess(crop, Rect{}, spec, item.data(), unused));
    // Row by row into the wider input; the rest of each row is 0 (mid-grey after normalization).
    std::memset(dst, 0, sizeof(float) * 3 * static_cast<size_t>(height) * static_cast<size_t>(width));
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < height; ++y)
            std::memcpy(dst + (static_cast<size_t>(c) * height + y) * width,
                        item.data() + (static_cast<size_t>(c) * height + y) * spec.width, sizeof(float) * spec.width);
    return Status::ok();
}

bool draw_text_boxes(media::Frame& frame, std::span<const std::array<float, 8>> quads,
                     std::span<const std::string> texts) {
    if (frame.pixels == nullptr || frame.format != media::PixelFormat::kBGR24 || frame.width <= 0 || frame.height <= 0)
        return false;
    try {
        cv::Mat img(frame.height, frame.width, CV_8UC3, frame.pixels.get(), static_cast<size_t>(frame.stride));
        const int thickness = std::max(1, frame.height / 480);
        const double font_scale = std::max(0.4, frame.height / 1800.0);
        const cv::Scalar box_colour(0, 200, 0), text_colour(0, 0, 0);
        for (size_t i = 0; i < quads.size(); ++i) {
            std::vector<cv::Point> poly;
            for (size_t k = 0; k < 8; k += 2)
                poly.emplace_back(static_cast<int>(std::lround(quads[i][k])),
                                  static_cast<int>(std::lround(quads[i][k + 1])));
            cv::polylines(img, poly, true, box_colour, thickness, cv::LINE_AA);
            std::string label = std::to_string(i + 1);
            if (i < texts.size()) {
                label += ' ';
                for (unsigned char ch : texts[i]) {
                    if (ch >= 0x80 && ch < 0xc0) continue;  // a UTF-8 continuation byte: its character has its '?'
                    label += ch >= 0x20 && ch < 0x7f ? static_cast<char>(ch) : '?';
                }
            }
            int baseline = 0;
            const cv::Size size = cv::getTextSize(label, cv::FONT_HERSHEY_SIMPLEX, font_scale, 1, &baseline);
            const int top = poly[0].y - size.height - baseline >= 0 ? poly[0].y - size.height - baseline : poly[0].y;
            cv::rectangle(img, cv::Rect(poly[0].x, top, size.width, size.height + baseline), box_colour, cv::FILLED);
            cv::putText(img, label, cv::Point(poly[0].x, top + size.height), cv::FONT_HERSHEY_SIMPLEX, font_scale,
                        text_colour, 1, cv::LINE_AA);
        }
    } catch (const cv::Exception&) {
        return false;
    }
    return true;
}

}  // namespace fovea::vision
