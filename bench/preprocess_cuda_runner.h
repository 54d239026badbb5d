// The benchmark's view of CudaPreprocessor, in C++17: preprocess_cuda.cu is compiled by nvcc as C++17 and cannot
// include fovea's C++20 headers, so this .h/.cc pair stands between them.
#pragma once

#include <cstddef>
#include <string>

namespace fovea::bench {

struct PreprocessRunner;

// A letterboxing preprocessor to width x height, NCHW, float16 or float32; nullptr and `error` on failure.
PreprocessRunner* create_letterbox_runner(int width, int height, bool fp16, int max_batch, std::string& error);
std::size_t runner_item_bytes(const PreprocessRunner* runner);
// `count` frames in device memory, all width x height with `pitch`: BGR24, or NV12 (the UV plane after the luma
// rows); asynchronous on `stream`.
bool runner_run(PreprocessRunner* runner, const unsigned char* const* frames, int count, int width, int height,
                int pitch, bool nv12, void* dst, void* stream, std::string& error);
void destroy_runner(PreprocessRunner* runner);

}  // namespace fovea::bench
