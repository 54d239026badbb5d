// TextReader: PaddleOCR's PP-OCR system on one image, as its predict_system.py runs it: DB text detection, a
// perspective crop of each box, CTC recognition in batches of similar aspect ratio. What `fovea ocr` runs.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fovea/session.h"
#include "fovea/status.h"
#include "media/frame.h"
#include "vision/postprocess.h"

namespace fovea::pipeline {

// Where scripts/fetch-models.sh puts the PP-OCRv4 files: $FOVEA_CACHE_DIR/models/ppocr, else
// $XDG_CACHE_HOME/fovea/models/ppocr, else ~/.cache/fovea/models/ppocr.
std::string ppocr_model_dir();

struct OcrOptions {
    // Empty: det.onnx, rec.onnx, ppocr_keys_v1.txt in ppocr_model_dir().
    std::string det_path, rec_path, charset_path;
    std::string backend = "cpu";
    std::string precision = "fp32";
    int threads = 0;                // 0: all cores
    int limit_side_len = 960;       // det_limit_side_len (limit_type 'max')
    float db_threshold = 0.3f;      // det_db_thresh
    float db_box_threshold = 0.6f;  // det_db_box_thresh
    float db_unclip_ratio = 1.5f;   // det_db_unclip_ratio
    int rec_batch = 6;              // rec_batch_num
    float min_score = 0.5f;         // drop_score: texts read with a lower confidence are left out
};

struct OcrText {
    std::array<float, 8> box;  // x, y of 4 corners in frame pixels, clockwise from the top-left
    float box_score = 0;       // the detector's mean probability inside the box
    std::string text;          // UTF-8, never empty
    float score = 0;           // the recognizer's mean probability of the characters
};

class TextReader {
  public:
    // Loads both models and the dictionary; a missing file is a not_found error naming it and how to fetch it.
    static Result<std::unique_ptr<TextReader>> load(OcrOptions options);
    ~TextReader();
    TextReader(const TextReader&) = delete;
    TextReader& operator=(const TextReader&) = delete;

    const OcrOptions& options() const { return options_; }

    // Texts in reading order (top to bottom, left to right), with at least min_score. Not thread-safe.
    Result<std::vector<OcrText>> read(const media::Frame& frame);
    // The two halves: text boxes in frame pixels, in reading order; and the text of each crop (any size, BGR24),
    // in the order given.
    Result<std::vector<vision::TextBox>> detect(const media::Frame& frame);
    Result<std::vector<vision::TextResult>> recognize(std::span<const media::Frame> crops);

    struct Model;  // one model file, compiled for each input shape in recent use

  private:
    TextReader() = default;
    OcrOptions options_;
    std::unique_ptr<Model> det_, rec_;
    int rec_height_ = 48;
    std::vector<std::string> charset_;
};

}  // namespace fovea::pipeline
