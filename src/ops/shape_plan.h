// Decoding of the shape ops' index inputs, shared by their inference and every backend's kernels so that all of
// them clamp, normalize and validate the same way. Errors carry no node prefix: callers add it.
#pragma once

#include <cstdint>
#include <vector>

#include "fovea/status.h"
#include "fovea/tensor.h"
#include "ir/graph.h"

namespace fovea::ops {

// What Slice takes from one data dim: elements start, start + step, ... (`size` of them).
// `size` is -1 when the data dim is unknown and the result depends on it.
struct SliceDim {
    int64_t start = 0;
    int64_t step = 1;
    int64_t size = -1;
};

// One entry per dim of `data_shape` (dims Slice does not name keep all their elements). `axes` and `steps` may be
// null (the defaults: every leading dim, step 1).
Result<std::vector<SliceDim>> plan_slice(const Shape& data_shape, const Tensor& starts, const Tensor& ends,
                                         const Tensor* axes, const Tensor* steps);

// Pad's amounts for one dim; negative values crop.
struct PadDim {
    int64_t begin = 0;
    int64_t end = 0;
};

// One entry per dim of a rank-`rank` input, from Pad's `pads` input and optional `axes` input (null: all dims).
Result<std::vector<PadDim>> plan_pads(int64_t rank, const Tensor& pads, const Tensor* axes);

// Shape's [start, end) over a rank-`rank` input: its opset-15 attributes, clamped to [0, rank].
struct DimRange {
    int64_t start = 0;
    int64_t end = 0;
};
DimRange shape_range(const ir::Node& node, int64_t rank);

// Transpose's `perm` attribute, checked to be a permutation of [0, rank); reversed dims when absent.
Result<std::vector<int64_t>> transpose_perm(const ir::Node& node, int64_t rank);

}  // namespace fovea::ops
