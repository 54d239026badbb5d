#include "vision/draw.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace fovea::vision {

namespace {

// Well-separated hues by class id (golden-ratio steps), bright enough for a dark label background.
cv::Scalar class_colour(int class_id) {
    const double hue = std::fmod(std::abs(class_id) * 0.618033988749895, 1.0) * 6.0;
    const double f = hue - std::floor(hue);
    const double v = 255, p = 64, q = 64 + (255 - 64) * (1 - f), t = 64 + (255 - 64) * f;
    double r = v, g = t, b = p;
    switch (static_cast<int>(hue)) {
        case 1:
            r = q, g = v, b = p;
            break;
        case 2:
            r = p, g = v, b = t;
            break;
        case 3:
            r = p, g = q, b = v;
            break;
        case 4:
            r = t, g = p, b = v;
            break;
        case 5:
            r = v, g = p, b = q;
            break;
        default:
            break;
    }
    return {b, g, r};
}

}  // namespace

bool draw_detections(media::Frame& frame, std::span<const Detection> dets, std::span<const std::string> labels,
                     bool highlight) {
    if (!frame.on_host() || frame.format != media::PixelFormat::kBGR24 || frame.width <= 0 || frame.height <= 0)
        return false;
    try {
        cv::Mat img(frame.height, frame.width, CV_8UC3, frame.pixels.get(), static_cast<size_t>(frame.stride));
        const int thickness = std::max(1, frame.height / 360) * (highlight ? 2 : 1);
        const double font_scale = std::max(0.4, frame.height / 1800.0);
        for (const Detection& d : dets) {
            const cv::Scalar colour = class_colour(d.class_id);
            const cv::Point p1(static_cast<int>(std::lround(d.box.x1)), static_cast<int>(std::lround(d.box.y1)));
            const cv::Point p2(static_cast<int>(std::lround(d.box.x2)), static_cast<int>(std::lround(d.box.y2)));
            cv::rectangle(img, p1, p2, colour, thickness, cv::LINE_AA);
            char score[16];
            std::snprintf(score, sizeof score, " %.2f", static_cast<double>(d.score));
            const std::string text = (d.class_id >= 0 && static_cast<size_t>(d.class_id) < labels.size()
                                          ? labels[static_cast<size_t>(d.class_id)]
                                          : std::to_string(d.class_id)) +
                                     score;
            int baseline = 0;
            const cv::Size size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, font_scale, 1, &baseline);
            // Above the box when there is room, else inside it.
            const int top = p1.y - size.height - baseline >= 0 ? p1.y - size.height - baseline : p1.y;
            cv::rectangle(img, cv::Rect(p1.x, top, size.width, size.height + baseline), colour, cv::FILLED);
            cv::putText(img, text, cv::Point(p1.x, top + size.height), cv::FONT_HERSHEY_SIMPLEX, font_scale,
                        cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
        }
    } catch (const cv::Exception&) {
        return false;
    }
    return true;
}

media::Frame to_bgr_copy(const media::Frame& input) {
    // A frame decoded on the GPU: its host copy, fetched once and shared with every other reader.
    Result<media::Frame> host = media::host_frame(input);
    if (!host.is_ok() || !host->on_host() || input.width <= 0 || input.height <= 0) return {};
    const media::Frame& frame = *host;
    media::Frame out = media::make_bgr_frame(frame.width, frame.height);
    out.index = frame.index;
    out.pts_us = frame.pts_us;
    out.capture_time = frame.capture_time;
    out.wall_time_us = frame.wall_time_us;
    cv::Mat dst(frame.height, frame.width, CV_8UC3, out.pixels.get(), static_cast<size_t>(out.stride));
    switch (frame.format) {
        case media::PixelFormat::kBGR24:
            cv::Mat(frame.height, frame.width, CV_8UC3, const_cast<uint8_t*>(frame.row(0)),
                    static_cast<size_t>(frame.stride))
                .copyTo(dst);
            break;
        case media::PixelFormat::kNV12:
            // Luma rows, then interleaved chroma at half height: OpenCV reads both as one (h * 3/2) x w plane.
            cv::cvtColor(cv::Mat(frame.height * 3 / 2, frame.width, CV_8UC1, const_cast<uint8_t*>(frame.row(0)),
                                 static_cast<size_t>(frame.stride)),
                         dst, cv::COLOR_YUV2BGR_NV12);
            break;
    }
    return out;
}

}  // namespace fovea::vision
