#include "vision/postprocess.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace fovea::vision {

float iou(const Box& a, const Box& b) {
    const float iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
    const float ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
    const float inter = iw > 0 && ih > 0 ? iw * ih : 0.0f;
    const float area_a = std::max(0.0f, a.x2 - a.x1) * std::max(0.0f, a.y2 - a.y1);
    const float area_b = std::max(0.0f, b.x2 - b.x1) * std::max(0.0f, b.y2 - b.y1);
    const float uni = area_a + area_b - inter;
    return uni > 0 ? inter / uni : 0.0f;
}

namespace {


// The lowest threshold any class can pass: boxes whose best possible score is below it are skipped early.
float min_threshold(const DetectOptions& o) {
    float t = o.conf_threshold;
    for (float c : o.class_thresholds) t = std::min(t, c);
    return t;
}

}  // namespace

Box box_from_center(float cx, float cy, float w, float h) {
    return {cx - w * 0.5f, cy - h * 0.5f, cx + w * 0.5f, cy + h * 0.5f};
}

std::vector<Detection> decode_yolov5(const float* item, int64_t boxes, int64_t channels, const DetectOptions& o) {
    std::vector<Detection> dets;
    if (item == nullptr || boxes <= 0 || channels <= 5) return dets;
    const float floor = min_threshold(o);
    for (int64_t b = 0; b < boxes; ++b) {
        const float* row = item + b * channels;
        const float obj = row[4];
        if (!(obj >= floor)) continue;  // class scores are <= 1, so obj bounds the score; also drops NaN
        int best = 0;
        for (int64_t c = 1; c < channels - 5; ++c)
            if (row[5 + c] > row[5 + best]) best = static_cast<int>(c);
        const float score = obj * row[5 + best];
        if (score >= o.threshold(best)) dets.push_back({box_from_center(row[0], row[1], row[2], row[3]), score, best});
    }
    return nms(std::move(dets), o.iou_threshold, o.class_agnostic, o.max_detections);
}

std::vector<Detection> decode_yolov8(const float* item, int64_t channels, int64_t boxes, const DetectOptions& o) {
    std::vector<Detection> dets;
    if (item == nullptr || boxes <= 0 || channels <= 4) return dets;
    const int64_t classes = channels - 4;
    // Channel-major: walking classes per box strides by `boxes`; keep a running best per box instead, row by row.
    std::vector<float> best_score(item + 4 * boxes, item + 5 * boxes);
    std::vector<int> best_class(static_cast<size_t>(boxes), 0);
    for (int64_t c = 1; c < classes; ++c) {
        const float* row = item + (4 + c) * boxes;
        for (int64_t b = 0; b < boxes; ++b) {
            if (row[b] > best_score[static_cast<size_t>(b)]) {
                best_score[static_cast<size_t>(b)] = row[b];
                best_class[static_cast<size_t>(b)] = static_cast<int>(c);
            }
        }
    }
    for (int64_t b = 0; b < boxes; ++b) {
        const float score = best_score[static_cast<size_t>(b)];
        const int cls = best_class[static_cast<size_t>(b)];
        if (score >= o.threshold(cls))
            dets.push_back(
                {box_from_center(item[b], item[boxes + b], item[2 * boxes + b], item[3 * boxes + b]), score, cls});
    }
    return nms(std::move(dets), o.iou_threshold, o.class_agnostic, o.max_detections);
}

std::vector<Detection> nms(std::vector<Detection> dets, float iou_threshold, bool class_agnostic, int max_detections) {
    std::erase_if(dets, [](const Detection& d) { return std::isnan(d.score); });
    std::stable_sort(dets.begin(), dets.end(),
                     [](const Detection& a, const Detection& b) { return a.score > b.score; });
    const size_t cap = max_detections > 0 ? static_cast<size_t>(max_detections) : dets.size();
    std::vector<Detection> kept;
    for (const Detection& d : dets) {
        if (kept.size() >= cap) break;
        const bool suppressed = std::any_of(kept.begin(), kept.end(), [&](const Detection& k) {
            return (class_agnostic || k.class_id == d.class_id) && iou(k.box, d.box) > iou_threshold;
        });
        if (!suppressed) kept.push_back(d);
    }
    return kept;
}

void map_to_frame(std::vector<Detection>& dets, const InputTransform& t, int frame_width, int frame_height) {
    const float fw = static_cast<float>(std::max(frame_width, 0));
    const float fh = static_cast<float>(std::max(frame_height, 0));
    for (Detection& d : dets) {
        d.box.x1 = std::clamp(t.frame_x(d.box.x1), 0.0f, fw);
        d.box.x2 = std::clamp(t.frame_x(d.box.x2), 0.0f, fw);
        d.box.y1 = std::clamp(t.frame_y(d.box.y1), 0.0f, fh);
        d.box.y2 = std::clamp(t.frame_y(d.box.y2), 0.0f, fh);
    }
}

std::vector<ClassScore> top_k(const float* logits, int64_t n, int k, bool apply_softmax) {
    if (logits == nullptr || n <= 0 || k <= 0) return {};
    std::vector<float> scores(logits, logits + n);
    if (apply_softmax) {
        const float mx = *std::max_element(scores.begin(), scores.end());
        double sum = 0;
        for (float& s : scores) {
            s = std::exp(s - mx);
            sum += s;
        }
        for (float& s : scores) s = static_cast<float>(s / sum);
    }
    std::vector<int> idx(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), 0);
    const size_t kk = std::min(static_cast<size_t>(k), idx.size());
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(kk), idx.end(), [&](int a, int b) {
        const float sa = scores[static_cast<size_t>(a)], sb = scores[static_cast<size_t>(b)];
        return sa > sb || (sa == sb && a < b);
    });
    std::vector<ClassScore> out;
    out.reserve(kk);
    for (size_t i = 0; i < kk; ++i) out.push_back({idx[i], scores[static_cast<size_t>(idx[i])]});
    return out;
}

}  // namespace fovea::vision
