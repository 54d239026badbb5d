// The geometry PaddleOCR puts around its PP-OCR models (tools/infer/predict_system.py): the detector's input size,
// boxes in reading order, perspective crops of text boxes, the recognizer's padded input. Host code on OpenCV; the
// models' output decoding is in postprocess.h (db_text_boxes, ctc_greedy_decode), running them in pipeline/ocr.h.
#pragma once

#include <array>
#include <span>
#include <string>
#include <vector>

#include "fovea/status.h"
#include "media/frame.h"
#include "vision/postprocess.h"

namespace fovea::vision {

// DetResizeForTest with limit_type 'max': an image whose longer side exceeds limit_side_len is scaled down to it
// (never up), then each side rounds to the nearest multiple of 32 (at least 32). Returns {width, height}.
std::array<int, 2> db_input_size(int width, int height, int limit_side_len = 960);

// sorted_boxes: by the top-left corner's y then x, then a box whose top-left y is within 10 px of its predecessor's
// and lies left of it moves before it (text on one line reads left to right).
void sort_reading_order(std::vector<TextBox>& boxes);

// get_rotate_crop_image: the quad (clockwise from top-left) warped to an upright BGR24 image of its longer edge
// lengths (cubic interpolation, replicated border); a crop at least 1.5 times as tall as wide is turned 90 degrees
// counter-clockwise (vertical text). Any frame (NV12 and GPU pictures through their BGR copy); an error for a
// degenerate quad.
Result<media::Frame> crop_text_box(const media::Frame& frame, const std::array<float, 8>& quad);

// The recognizer's batch width: height * the widest aspect ratio among the crops, at least min_width.
int rec_batch_width(std::span<const media::Frame> crops, int height = 48, int min_width = 320);
// resize_norm_img: the crop resized to `height` and its width by aspect ratio (at most `width`), (x / 255 - 0.5) /
// 0.5 per channel in BGR order, NCHW, zeros to the right up to `width`. dst holds 3 * height * width floats.
Status rec_input(const media::Frame& crop, int height, int width, float* dst);

// Each quad as a closed polygon, numbered in order, with its text after the number when `texts` has one (printable
// ASCII only; other bytes show as '?', since OpenCV's fonts have no other glyphs). BGR24 frames; false otherwise.
bool draw_text_boxes(media::Frame& frame, std::span<const std::array<float, 8>> quads,
                     std::span<const std::string> texts);

}  // namespace fovea::vision
