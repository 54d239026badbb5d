// From the public preprocessing types to the plain parameter structs of preprocess_device.h: the one place where
// CudaPreprocessor (and the tests that run its arithmetic on the host) derive geometry and equalization tiling.
#pragma once

#include "vision/preprocess.h"
#include "vision/preprocess_device.h"

namespace fovea::vision {

device::SpecParams make_spec_params(const PreprocessSpec& spec);

// Histograms (and LUTs) per item: 0 without equalization, 1 global, clahe_tile^2 for CLAHE.
int equalize_tiles(const PreprocessSpec& spec);

// One item's parameters for a resolved ROI of a frame at `src` (device or, in tests, host memory). Item
// `item_index` of the batch uses scratch [item_index * tiles * 256, ...) and writes to `dst`. NV12: the UV plane is
// at `chroma` (with `chroma_pitch`), or, when that is null, after `frame_height` rows of `src` at `pitch`.
device::ItemParams make_item_params(const PreprocessSpec& spec, const uint8_t* src, int pitch,
                                    media::PixelFormat format, int frame_height, const Rect& roi, int item_index,
                                    void* dst, const uint8_t* chroma = nullptr, int chroma_pitch = 0);

}  // namespace fovea::vision
