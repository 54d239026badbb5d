#include "pipeline/ocr.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <list>
#include <numeric>

#include "core/cache_dir.h"
#include "vision/ocr.h"
#include "vision/preprocess.h"

namespace fovea::pipeline {
namespace {

namespace fs = std::filesystem;

Status check_file(const std::string& path, const char* what) {
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) return Status::ok();
    return not_found(std::string(what) + " " + path + " is missing: `make models` (scripts/fetch-models.sh) fetches " +
                     "the PP-OCRv4 files into " + ppocr_model_dir());
}

}  // namespace

std::string ppocr_model_dir() {
    return (cache_dir() / "models" / "ppocr").string();
}

// Both models take images of any size (and the recognizer any batch), and a session compiles its kernels for one
// input shape: each model keeps the sessions of the last few shapes, so that alternating shapes do not recompile.
struct TextReader::Model {
    static constexpr size_t kMaxSessions = 4;
    std::string path, base_dir, input;
    std::vector<std::byte> bytes;
    SessionOptions options;
    std::list<std::pair<Shape, std::unique_ptr<Session>>> sessions;  // most recently used first
    std::unique_ptr<Session> unbound;                                // loaded, not yet run: the first shape's

    static Result<std::unique_ptr<Model>> load(const std::string& path, const OcrOptions& o, Shape& input_shape) {
        auto m = std::make_unique<Model>();
        m->path = path;
        std::ifstream in(path, std::ios::binary | std::ios::ate);
        if (in) m->bytes.resize(static_cast<size_t>(in.tellg()));
        if (!in.seekg(0) ||
            !in.read(reinterpret_cast<char*>(m->bytes.data()), static_cast<std::streamsize>(m->bytes.size())))
            return io_error(path + ": cannot read the model file");
        m->base_dir = fs::path(path).parent_path().string();
        m->options.backend = o.backend;
        m->options.precision = o.precision;
        m->options.threads = o.threads;
        // Loaded now, so that a bad file, backend or precision shows at once; it compiles at its first run.
        auto first = Session::load_from_memory(m->bytes, m->options, m->base_dir);
        if (!first.is_ok()) return first.status().with_context(path);
        const std::vector<TensorDesc>& inputs = (*first)->inputs();
        if (inputs.size() != 1 || inputs[0].shape.size() != 4 || (*first)->outputs().empty())
            return invalid_argument(path + ": expected one input [N, 3, H, W] (a PP-OCR model)");
        m->input = inputs[0].name;
        input_shape = inputs[0].shape;
        m->unbound = std::move(*first);
        return m;
    }

    Result<std::vector<Tensor>> run(const Tensor& input) {
        auto it =
            std::find_if(sessions.begin(), sessions.end(), [&](const auto& s) { return s.first == input.shape(); });
        if (it == sessions.end()) {
            std::unique_ptr<Session> session = std::move(unbound);
            if (!session) {
                SessionOptions so = options;
                so.input_shapes[this->input] = input.shape();
                auto loaded = Session::load_from_memory(bytes, so, base_dir);
                if (!loaded.is_ok()) return loaded.status().with_context(path);
                session = std::move(*loaded);
            }
            sessions.emplace_front(input.shape(), std::move(session));
            if (sessions.size() > kMaxSessions) sessions.pop_back();
        } else {
            sessions.splice(sessions.begin(), sessions, it);
        }
        auto out = sessions.front().second->run({{this->input, input}});
        if (!out.is_ok()) return out.status().with_context(path);
        if (out->empty()) return invalid_argument(path + ": the model has no outputs");
        return out;
    }
};

TextReader::~TextReader() = default;

Result<std::unique_ptr<TextReader>> TextReader::load(OcrOptions options) {
    const fs::path dir = ppocr_model_dir();
    if (options.det_path.empty()) options.det_path = (dir / "det.onnx").string();
    if (options.rec_path.empty()) options.rec_path = (dir / "rec.onnx").string();
    if (options.charset_path.empty()) options.charset_path = (dir / "ppocr_keys_v1.txt").string();
    FOVEA_TRY(check_file(options.det_path, "the text detection model"));
    FOVEA_TRY(check_file(options.rec_path, "the text recognition model"));
    FOVEA_TRY(check_file(options.charset_path, "the recognizer's dictionary"));
    if (options.rec_batch < 1)
        return invalid_argument("rec_batch must be at least 1, got " + std::to_string(options.rec_batch));
    if (options.limit_side_len < 32)
        return invalid_argument("limit_side_len must be at least 32, got " + std::to_string(options.limit_side_len));

    std::unique_ptr<TextReader> r(new TextReader());
    Shape det_shape, rec_shape;
    FOVEA_ASSIGN(r->det_, Model::load(options.det_path, options, det_shape));
    FOVEA_ASSIGN(r->rec_, Model::load(options.rec_path, options, rec_shape));
    if (rec_shape[2] > 0) r->rec_height_ = static_cast<int>(rec_shape[2]);
    FOVEA_ASSIGN(r->charset_, vision::load_ctc_charset(options.charset_path));
    r->options_ = std::move(options);
    return r;
}

Result<std::vector<vision::TextBox>> TextReader::detect(const media::Frame& frame) {
    const auto [w, h] = vision::db_input_size(frame.width, frame.height, options_.limit_side_len);
    vision::PreprocessSpec spec;
    spec.width = w;
    spec.height = h;
    spec.resize = vision::ResizeMode::kStretch;
    // PaddleOCR normalizes the BGR image it decoded with ImageNet's RGB mean and std, channel by channel as stored.
    spec.color = vision::ColorOrder::kBGR;
    spec.mean = {0.485f, 0.456f, 0.406f};
    spec.std = {0.229f, 0.224f, 0.225f};
    Tensor input(DType::kFloat32, {1, 3, h, w});
    vision::InputTransform unused;
    FOVEA_TRY(vision::preprocess(frame, vision::Rect{}, spec, input.raw_data(), unused));
    FOVEA_ASSIGN(std::vector<Tensor> out, det_->run(input));
    const Tensor& prob = out[0];
    if (prob.dtype() != DType::kFloat32 || prob.rank() != 4 || prob.dim(0) != 1 || prob.dim(1) != 1)
        return invalid_argument(options_.det_path + ": output " + shape_to_string(prob.shape()) +
                                " is not a DB probability map [1, 1, H, W]");
    const int mh = static_cast<int>(prob.dim(2)), mw = static_cast<int>(prob.dim(3));
    std::vector<vision::TextBox> boxes = vision::db_text_boxes(prob.data<float>(), mh, mw, options_.db_threshold,
                                                               options_.db_box_threshold, options_.db_unclip_ratio);
    // To frame pixels as DBPostProcess rounds them, clipped to the last pixel (filter_tag_det_res), and boxes of
    // 3 px or less on a side dropped.
    std::vector<vision::TextBox> kept;
    for (vision::TextBox b : boxes) {
        for (size_t k = 0; k < 8; k += 2) {
            b.points[k] =
                std::clamp(std::nearbyint(b.points[k] / mw * frame.width), 0.0f, static_cast<float>(frame.width - 1));
            b.points[k + 1] = std::clamp(std::nearbyint(b.points[k + 1] / mh * frame.height), 0.0f,
                                         static_cast<float>(frame.height - 1));
        }
        const auto side = [&](size_t a, size_t c) {
            return static_cast<int>(std::hypot(b.points[a] - b.points[c], b.points[a + 1] - b.points[c + 1]));
        };
        if (side(0, 2) <= 3 || side(0, 6) <= 3) continue;
        kept.push_back(b);
    }
    vision::sort_reading_order(kept);
    return kept;
}

Result<std::vector<vision::TextResult>> TextReader::recognize(std::span<const media::Frame> crops) {
    std::vector<vision::TextResult> results(crops.size());
    // Crops of similar aspect ratio share a batch, so that little of it is padding.
    std::vector<size_t> order(crops.size());
    std::iota(order.begin(), order.end(), size_t{0});
    const auto ratio = [&](size_t i) { return static_cast<double>(crops[i].width) / std::max(crops[i].height, 1); };
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ratio(a) < ratio(b); });
    for (size_t first = 0; first < order.size(); first += static_cast<size_t>(options_.rec_batch)) {
        const size_t n = std::min(order.size() - first, static_cast<size_t>(options_.rec_batch));
        std::vector<media::Frame> batch;
        for (size_t i = first; i < first + n; ++i) batch.push_back(crops[order[i]]);
        const int width = vision::rec_batch_width(batch, rec_height_);
        Tensor input(DType::kFloat32, {static_cast<int64_t>(n), 3, rec_height_, width});
        const size_t item = static_cast<size_t>(3 * rec_height_ * width);
        for (size_t i = 0; i < n; ++i)
            FOVEA_TRY(vision::rec_input(batch[i], rec_height_, width, input.data<float>() + i * item));
        FOVEA_ASSIGN(std::vector<Tensor> out, rec_->run(input));
        const Tensor& probs = out[0];
        if (probs.dtype() != DType::kFloat32 || probs.rank() != 3 || probs.dim(0) != static_cast<int64_t>(n))
            return invalid_argument(options_.rec_path + ": output " + shape_to_string(probs.shape()) +
                                    " is not [N, steps, classes]");
        if (static_cast<size_t>(probs.dim(2)) != charset_.size())
            return invalid_argument(options_.rec_path + ": " + std::to_string(probs.dim(2)) + " classes, but " +
                                    options_.charset_path + " gives " + std::to_string(charset_.size()) +
                                    " (blank + its lines + space)");
        const int64_t steps = probs.dim(1), classes = probs.dim(2);
        for (size_t i = 0; i < n; ++i)
            results[order[first + i]] = vision::ctc_greedy_decode(
                probs.data<float>() + static_cast<int64_t>(i) * steps * classes, steps, classes, charset_);
    }
    return results;
}

Result<std::vector<OcrText>> TextReader::read(const media::Frame& frame) {
    FOVEA_ASSIGN(std::vector<vision::TextBox> boxes, detect(frame));
    std::vector<media::Frame> crops;
    crops.reserve(boxes.size());
    for (const vision::TextBox& b : boxes) {
        FOVEA_ASSIGN(media::Frame crop, vision::crop_text_box(frame, b.points));
        crops.push_back(std::move(crop));
    }
    FOVEA_ASSIGN(std::vector<vision::TextResult> texts, recognize(crops));
    std::vector<OcrText> out;
    for (size_t i = 0; i < boxes.size(); ++i) {
        if (texts[i].text.empty() || texts[i].confidence < options_.min_score) continue;
        out.push_back({boxes[i].points, boxes[i].score, std::move(texts[i].text), texts[i].confidence});
    }
    return out;
}

}  // namespace fovea::pipeline
