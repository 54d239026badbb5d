#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace fovea::eval {
namespace {

double area(const BoxF& b) {
    return std::max(0.0f, b.x2 - b.x1) * std::max(0.0f, b.y2 - b.y1);
}

double intersection(const BoxF& a, const BoxF& b) {
    const double w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
    const double h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
    return w > 0 && h > 0 ? w * h : 0.0;
}

// The overlap under which a false positive is about nothing there (the usual error-analysis cut).
constexpr double kNearMiss = 0.1;

}  // namespace

double iou(const BoxF& a, const BoxF& b) {
    const double i = intersection(a, b);
    const double u = area(a) + area(b) - i;
    return u > 0 ? i / u : 0.0;
}

double intersection_over_first(const BoxF& a, const BoxF& b) {
    const double aa = area(a);
    return aa > 0 ? intersection(a, b) / aa : 0.0;
}

double average_precision(const std::vector<double>& recall, const std::vector<double>& precision) {
    // Sentinels (0, 0) ... (1, 0), then precision at each recall = the best precision at that recall or beyond.
    std::vector<double> r{0.0}, p{0.0};
    r.insert(r.end(), recall.begin(), recall.end());
    p.insert(p.end(), precision.begin(), precision.end());
    r.push_back(1.0);
    p.push_back(0.0);
    for (size_t i = p.size() - 1; i > 0; --i) p[i - 1] = std::max(p[i - 1], p[i]);
    double ap = 0;
    for (size_t i = 1; i < r.size(); ++i) ap += (r[i] - r[i - 1]) * p[i];
    return ap;
}

std::vector<ClassMetrics> evaluate_detections(const std::vector<ImageDetections>& images, int num_classes,
                                              double iou_threshold) {
    std::vector<ClassMetrics> out(static_cast<size_t>(std::max(0, num_classes)));
    for (int c = 0; c < num_classes; ++c) {
        ClassMetrics& m = out[static_cast<size_t>(c)];
        m.confused_with.assign(out.size(), 0);
        struct Ranked {
            size_t image, pred;
            float score;
        };
        std::vector<Ranked> ranked;
        std::vector<std::vector<bool>> taken(images.size());
        for (size_t i = 0; i < images.size(); ++i) {
            taken[i].assign(images[i].truth.size(), false);
            for (const GroundTruth& t : images[i].truth) m.truths += t.cls == c && !t.difficult;
            for (size_t j = 0; j < images[i].predictions.size(); ++j)
                if (images[i].predictions[j].cls == c) ranked.push_back({i, j, images[i].predictions[j].score});
        }
        std::stable_sort(ranked.begin(), ranked.end(),
                         [](const Ranked& a, const Ranked& b) { return a.score > b.score; });
        std::vector<double> recall, precision;
        int64_t tp = 0, fp = 0;
        for (const Ranked& r : ranked) {
            const ImageDetections& img = images[r.image];
            const BoxF& box = img.predictions[r.pred].box;
            double best = 0;
            size_t best_t = 0;
            bool found = false;
            for (size_t t = 0; t < img.truth.size(); ++t) {
                if (img.truth[t].cls != c) continue;
                const double v = iou(box, img.truth[t].box);
                if (!found || v > best) best = v, best_t = t, found = true;
            }
            if (found && best >= iou_threshold) {
                if (img.truth[best_t].difficult) continue;
                if (!taken[r.image][best_t]) {
                    taken[r.image][best_t] = true;
                    ++tp;
                } else {
                    ++fp;
                    ++m.duplicates;
                }
            } else {
                ++fp;
                if (found && best >= kNearMiss) {
                    ++m.mislocated;
                } else {
                    double most = 0;
                    int other = -1;
                    for (const GroundTruth& t : img.truth)
                        if (const double v = iou(box, t.box); t.cls != c && v >= kNearMiss && v > most)
                            most = v, other = t.cls;
                    if (other < 0) {
                        ++m.background;
                    } else {
                        ++m.confused;
                        if (other < num_classes) ++m.confused_with[static_cast<size_t>(other)];
                    }
                }
            }
            recall.push_back(m.truths > 0 ? static_cast<double>(tp) / static_cast<double>(m.truths) : 0.0);
            precision.push_back(static_cast<double>(tp) / static_cast<double>(tp + fp));
        }
        m.predictions = tp + fp;
        m.hits = tp;
        m.precision = m.predictions > 0 ? static_cast<double>(tp) / static_cast<double>(m.predictions) : 0.0;
        m.recall = m.truths > 0 ? static_cast<double>(tp) / static_cast<double>(m.truths) : 0.0;
        m.ap = m.truths > 0 ? average_precision(recall, precision) : std::numeric_limits<double>::quiet_NaN();
    }
    return out;
}

double mean_ap(const std::vector<ClassMetrics>& classes) {
    double sum = 0;
    int n = 0;
    for (const ClassMetrics& m : classes)
        if (!std::isnan(m.ap)) sum += m.ap, ++n;
    return n > 0 ? sum / n : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace fovea::eval
