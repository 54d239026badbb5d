// `fovea ocr IMAGE...`: PP-OCRv4 text detection and recognition on still images (pipeline/ocr.h), one line per
// text in reading order, or a JSON array.
#include <cmath>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "media/encode.h"
#include "media/source.h"
#include "pipeline/ocr.h"
#include "vision/draw.h"
#include "vision/ocr.h"

namespace fovea::cli {

namespace {

double rounded(float v) {
    return std::round(static_cast<double>(v) * 1e4) / 1e4;
}

// "x1,y1 x2,y2 x3,y3 x4,y4": the corners are whole pixels.
std::string box_text(const std::array<float, 8>& b) {
    std::string s;
    for (size_t k = 0; k < 8; k += 2) {
        if (k) s += ' ';
        s += std::to_string(std::lround(b[k])) + "," + std::to_string(std::lround(b[k + 1]));
    }
    return s;
}

}  // namespace

Command add_ocr(CLI::App& app) {
    auto* sub = app.add_subcommand(
        "ocr", "Read the text in images with PP-OCRv4 (text detection, then recognition of each box)");
    struct Options {
        std::vector<std::string> images;
        pipeline::OcrOptions ocr;
        bool json = false;
        std::string draw;
    };
    auto o = std::make_shared<Options>();
    const std::string dir = pipeline::ppocr_model_dir();
    sub->add_option("images", o->images, "Image files (JPEG, PNG, BMP)")->required();
    sub->add_option("--det", o->ocr.det_path, "Text detection model (default: " + dir + "/det.onnx)");
    sub->add_option("--rec", o->ocr.rec_path, "Text recognition model (default: " + dir + "/rec.onnx)");
    sub->add_option("--keys", o->ocr.charset_path,
                    "The recognizer's dictionary, one character a line (default: " + dir + "/ppocr_keys_v1.txt)");
    sub->add_option("--backend,-b", o->ocr.backend, "cpu, ref or cuda")->capture_default_str();
    sub->add_option("--precision", o->ocr.precision, "fp32 or bf16 (cpu); fp32, tf32 or fp16 (cuda)")
        ->capture_default_str();
    sub->add_option("--threads", o->ocr.threads, "CPU threads (0: all cores)")->capture_default_str();
    sub->add_option("--min-score", o->ocr.min_score, "Leave out texts read with a lower confidence (0-1)")
        ->capture_default_str();
    sub->add_option("--limit-side-len", o->ocr.limit_side_len,
                    "Scale images down so their longer side is at most this before detection")
        ->capture_default_str();
    sub->add_flag("--json", o->json, "Print a JSON array of {image, box, box_score, text, score}");
    sub->add_option("--draw", o->draw, "Write a JPEG of the (one) image with the text boxes drawn");
    return {sub, [o]() -> Status {
                if (!o->draw.empty() && o->images.size() != 1)
                    return invalid_argument("ocr: --draw takes one image, got " + std::to_string(o->images.size()));
                media::quiet_ffmpeg_log();
                // Every image first: a bad one fails before the models load, and before any output.
                std::vector<media::Frame> frames;
                for (const std::string& path : o->images) {
                    FOVEA_ASSIGN(media::Frame f, media::read_image(path));
                    frames.push_back(std::move(f));
                }
                auto reader = pipeline::TextReader::load(o->ocr);
                if (!reader.is_ok()) return reader.status().with_context("ocr");
                std::string json;  // one object a line
                for (size_t i = 0; i < frames.size(); ++i) {
                    const std::string& path = o->images[i];
                    auto read = (*reader)->read(frames[i]);
                    if (!read.is_ok()) return read.status().with_context("ocr: " + path);
                    for (const pipeline::OcrText& t : *read) {
                        if (o->json) {
                            nlohmann::ordered_json item{{"image", path}, {"box", nlohmann::ordered_json::array()}};
                            for (size_t k = 0; k < 8; k += 2)
                                item["box"].push_back({std::lround(t.box[k]), std::lround(t.box[k + 1])});
                            item["box_score"] = rounded(t.box_score);
                            item["text"] = t.text;
                            item["score"] = rounded(t.score);
                            json += (json.empty() ? "[\n  " : ",\n  ") +
                                    item.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
                        } else {
                            // Tab-separated: [image,] box, score, text (the text last: it may hold spaces).
                            std::printf("%s%s\t%.4f\t%s\n", frames.size() > 1 ? (path + "\t").c_str() : "",
                                        box_text(t.box).c_str(), static_cast<double>(t.score), t.text.c_str());
                        }
                    }
                    if (!o->draw.empty()) {
                        media::Frame canvas = vision::to_bgr_copy(frames[i]);
                        std::vector<std::array<float, 8>> quads;
                        std::vector<std::string> texts;
                        for (const pipeline::OcrText& t : *read) quads.push_back(t.box), texts.push_back(t.text);
                        vision::draw_text_boxes(canvas, quads, texts);
                        FOVEA_TRY(media::write_jpeg(o->draw, canvas));
                    }
                }
                if (o->json) std::printf("%s\n", json.empty() ? "[]" : (json + "\n]").c_str());
                return Status::ok();
            }};
}

}  // namespace fovea::cli
