// Preprocessing: one frame's region of interest into one batch item of a model's input tensor (CPU, OpenCV).
// preprocess_cuda.h does the same for a whole batch on the GPU; both follow the same conventions, so that their
// outputs agree to about one grey level.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "fovea/status.h"
#include "fovea/tensor.h"
#include "media/frame.h"

namespace fovea::vision {

// A rectangle in pixels; a width or height of 0 reaches the frame's edge.
struct Rect {
    int x = 0, y = 0, width = 0, height = 0;
};

enum class Equalize { kNone, kGlobal, kClahe };  // on luma only (YCrCb's Y), before resizing
enum class ResizeMode { kStretch, kLetterbox };  // letterbox: keep aspect, centre, pad with pad_value
enum class ColorOrder { kRGB, kBGR, kGray };
enum class Layout { kNCHW, kNHWC };

// What a model wants as input. out = (pixel * scale - mean[c]) / std[c], with c in the output's channel order.
struct PreprocessSpec {
    int width = 640, height = 640;  // model input size
    Equalize equalize = Equalize::kNone;
    double clahe_clip = 2.0;  // OpenCV's clipLimit (<= 0: no clipping)
    int clahe_tile = 8;       // OpenCV's tileGridSize, the same in x and y
    ColorOrder color = ColorOrder::kRGB;
    ResizeMode resize = ResizeMode::kLetterbox;
    uint8_t pad_value = 114;
    float scale = 1.0f / 255.0f;
    std::array<float, 3> mean{0, 0, 0}, std{1, 1, 1};  // kGray uses element 0
    Layout layout = Layout::kNCHW;
    DType dtype = DType::kFloat32;  // kFloat32 or kFloat16
};

// Maps model-input coordinates back to frame coordinates (through letterbox/stretch and the ROI offset):
// frame = (model - pad) * scale + offset.
struct InputTransform {
    float scale_x = 1, scale_y = 1, pad_x = 0, pad_y = 0, offset_x = 0, offset_y = 0;
    float frame_x(float model_x) const { return (model_x - pad_x) * scale_x + offset_x; }
    float frame_y(float model_y) const { return (model_y - pad_y) * scale_y + offset_y; }
};

int spec_channels(const PreprocessSpec& spec);        // 1 for kGray, else 3
size_t input_item_bytes(const PreprocessSpec& spec);  // bytes of one batch item
Status validate(const PreprocessSpec& spec);          // sizes > 0, dtype f32/f16, std != 0, CLAHE tiles > 0, ...

// Resolves a ROI against a frame (0 sizes = to the edge); an error if empty or outside the frame.
Result<Rect> resolve_roi(const Rect& roi, int frame_width, int frame_height);

// Where a resolved ROI lands in the model input: the resized size and the top-left padding. Both the CPU and the
// CUDA path use this, so their geometry is identical by construction.
struct Placement {
    int x = 0, y = 0, width = 0, height = 0;  // the resized ROI inside the model input
};
Placement place_roi(const Rect& roi, const PreprocessSpec& spec);
InputTransform make_transform(const Rect& roi, const Placement& placement);

// One frame's ROI into one batch item at `dst` (input_item_bytes(spec) bytes). BGR24 or NV12 frames (NV12 needs
// even width and height); a frame decoded on the GPU is read from its host copy (media::host_frame: fetched once).
// Steps: crop, to BGR, equalize luma, resize (INTER_LINEAR), pad, colour order, normalize, layout and dtype.
Status preprocess(const media::Frame& frame, const Rect& roi, const PreprocessSpec& spec, void* dst,
                  InputTransform& transform);

}  // namespace fovea::vision
