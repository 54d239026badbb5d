// The text half of postprocess.h: PaddleOCR's CTC recognition decoding, its dictionary files, DB detection boxes.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "vision/postprocess.h"

namespace fovea::vision {

namespace {

// The probability of `row[best]`: the value itself when the row already is a distribution (PaddleOCR's
// recognizers end in softmax), else its softmax.
float probability_of(const float* row, int64_t classes, int64_t best) {
    double sum = 0;
    bool distribution = true;
    for (int64_t c = 0; c < classes; ++c) {
        if (!(row[c] >= 0.0f && row[c] <= 1.0f)) distribution = false;
        sum += row[c];
    }
    if (distribution && std::abs(sum - 1.0) < 1e-3) return row[best];
    double denom = 0;
    for (int64_t c = 0; c < classes; ++c) denom += std::exp(static_cast<double>(row[c]) - row[best]);
    return static_cast<float>(1.0 / denom);
}

}  // namespace

TextResult ctc_greedy_decode(const float* item, int64_t steps, int64_t classes,
                             const std::vector<std::string>& charset) {
    TextResult out;
    if (item == nullptr || steps <= 0 || classes <= 0) return out;
    double prob_sum = 0;
    int kept = 0;
    int64_t previous = -1;
    for (int64_t t = 0; t < steps; ++t) {
        const float* row = item + t * classes;
        const int64_t best = std::max_element(row, row + classes) - row;
        // A repeat is the same symbol at consecutive steps; a blank in between makes the second one a new character.
        if (best != 0 && best != previous && static_cast<size_t>(best) < charset.size()) {
            out.text += charset[static_cast<size_t>(best)];
            prob_sum += probability_of(row, classes, best);
            ++kept;
        }
        previous = best;
    }
    out.confidence = kept > 0 ? static_cast<float>(prob_sum / kept) : 0.0f;
    return out;
}

Result<std::vector<std::string>> load_ctc_charset(const std::string& path, bool use_space) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return not_found("ctc charset '" + path + "': cannot open the file");
    std::stringstream buffer;
    buffer << in.rdbuf();
    if (in.bad()) return io_error("ctc charset '" + path + "': read failed");
    const std::string content = buffer.str();
    std::vector<std::string> charset{"<blank>"};
    // Like Python's readlines(): every '\n' ends a line, a last line without one still counts; empty lines keep
    // their index, because the model's classes are numbered by line.
    size_t start = 0;
    while (start < content.size()) {
        size_t end = content.find('\n', start);
        if (end == std::string::npos) end = content.size();
        std::string line = content.substr(start, end - start);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        charset.push_back(std::move(line));
        start = end + 1;
    }
    if (charset.size() == 1) return invalid_argument("ctc charset '" + path + "': the file has no lines");
    if (use_space) charset.emplace_back(" ");
    return charset;
}

namespace {

// cv::boxPoints in PaddleOCR's order: clockwise from the top-left.
std::array<cv::Point2f, 4> ordered_corners(const cv::RotatedRect& rect) {
    std::array<cv::Point2f, 4> p;
    rect.points(p.data());
    std::stable_sort(p.begin(), p.end(), [](const cv::Point2f& a, const cv::Point2f& b) { return a.x < b.x; });
    const cv::Point2f tl = p[1].y > p[0].y ? p[0] : p[1], bl = p[1].y > p[0].y ? p[1] : p[0];
    const cv::Point2f tr = p[3].y > p[2].y ? p[2] : p[3], br = p[3].y > p[2].y ? p[3] : p[2];
    return {tl, tr, br, bl};
}

// Mean probability inside the polygon, over its bounding box (PaddleOCR's box_score_fast).
float box_score(const cv::Mat& prob, const std::array<cv::Point2f, 4>& box) {
    float xmin = box[0].x, xmax = box[0].x, ymin = box[0].y, ymax = box[0].y;
    for (const cv::Point2f& p : box) {
        xmin = std::min(xmin, p.x), xmax = std::max(xmax, p.x);
        ymin = std::min(ymin, p.y), ymax = std::max(ymax, p.y);
    }
    const int x0 = std::clamp(static_cast<int>(std::floor(xmin)), 0, prob.cols - 1);
    const int x1 = std::clamp(static_cast<int>(std::ceil(xmax)), 0, prob.cols - 1);
    const int y0 = std::clamp(static_cast<int>(std::floor(ymin)), 0, prob.rows - 1);
    const int y1 = std::clamp(static_cast<int>(std::ceil(ymax)), 0, prob.rows - 1);
    cv::Mat mask = cv::Mat::zeros(y1 - y0 + 1, x1 - x0 + 1, CV_8UC1);
    std::vector<cv::Point> poly;
    for (const cv::Point2f& p : box) poly.emplace_back(static_cast<int>(p.x - x0), static_cast<int>(p.y - y0));
    cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{poly}, cv::Scalar(1));
    return static_cast<float>(cv::mean(prob(cv::Rect(x0, y0, x1 - x0 + 1, y1 - y0 + 1)), mask)[0]);
}

}  // namespace

std::vector<TextBox> db_text_boxes(const float* prob, int h, int w, float threshold, float box_threshold,
                                   float unclip_ratio, int max_candidates, int min_size) {
    std::vector<TextBox> out;
    if (prob == nullptr || h <= 0 || w <= 0) return out;
    try {
        const cv::Mat pred(h, w, CV_32FC1, const_cast<float*>(prob));  // read only
        cv::Mat bitmap = pred > threshold;
        std::vector<std::vector<cv::Point>> contours;
        cv::findContours(bitmap, contours, cv::RETR_LIST, cv::CHAIN_APPROX_SIMPLE);
        const size_t n = std::min(contours.size(), static_cast<size_t>(std::max(max_candidates, 0)));
        for (size_t i = 0; i < n; ++i) {
            const cv::RotatedRect rect = cv::minAreaRect(contours[i]);
            if (std::min(rect.size.width, rect.size.height) < static_cast<float>(min_size)) continue;
            const float score = box_score(pred, ordered_corners(rect));
            if (score < box_threshold) continue;
            // pyclipper's round offset of a rectangle by d has, as its minimum-area rectangle, the rectangle grown
            // by d on every side.
            const float area = rect.size.width * rect.size.height;
            const float perimeter = 2.0f * (rect.size.width + rect.size.height);
            const float d = area * unclip_ratio / perimeter;
            const cv::RotatedRect grown(rect.center, cv::Size2f(rect.size.width + 2 * d, rect.size.height + 2 * d),
                                        rect.angle);
            if (std::min(grown.size.width, grown.size.height) < static_cast<float>(min_size + 2)) continue;
            TextBox box{};
            box.score = score;
            const std::array<cv::Point2f, 4> corners = ordered_corners(grown);
            for (size_t k = 0; k < 4; ++k) {
                box.points[2 * k] = std::clamp(corners[k].x, 0.0f, static_cast<float>(w));
                box.points[2 * k + 1] = std::clamp(corners[k].y, 0.0f, static_cast<float>(h));
            }
            out.push_back(box);
        }
    } catch (const cv::Exception&) {
        return {};  // only on malformed input, which the checks above exclude; no exception crosses the API
    }
    return out;
}

}  // namespace fovea::vision
