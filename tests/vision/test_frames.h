// Frames for the vision tests: random or patterned pixels with a fixed seed, BGR24 and NV12, padded strides.
#pragma once

#include <cstring>
#include <random>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "media/frame.h"

namespace fovea::vision::testing {

// A BGR24 frame holding `img` (CV_8UC3), with `extra` bytes of row padding filled with a canary.
inline media::Frame bgr_frame_from(const cv::Mat& img, int extra = 0) {
    media::Frame f;
    f.width = img.cols;
    f.height = img.rows;
    f.stride = img.cols * 3 + extra;
    f.format = media::PixelFormat::kBGR24;
    f.pixels = std::make_shared<uint8_t[]>(static_cast<size_t>(f.stride) * static_cast<size_t>(f.height));
    std::memset(f.pixels.get(), 0xA5, static_cast<size_t>(f.stride) * static_cast<size_t>(f.height));
    for (int y = 0; y < img.rows; ++y) std::memcpy(f.row(y), img.ptr(y), static_cast<size_t>(img.cols) * 3);
    return f;
}

// An NV12 frame from a (rows * 3 / 2, cols) single-channel NV12 image, with `extra` bytes of row padding.
inline media::Frame nv12_frame_from(const cv::Mat& nv12, int extra = 0) {
    media::Frame f;
    f.width = nv12.cols;
    f.height = nv12.rows * 2 / 3;
    f.stride = nv12.cols + extra;
    f.format = media::PixelFormat::kNV12;
    f.pixels = std::make_shared<uint8_t[]>(static_cast<size_t>(f.stride) * static_cast<size_t>(nv12.rows));
    std::memset(f.pixels.get(), 0xA5, static_cast<size_t>(f.stride) * static_cast<size_t>(nv12.rows));
    for (int y = 0; y < nv12.rows; ++y) std::memcpy(f.row(y), nv12.ptr(y), static_cast<size_t>(nv12.cols));
    return f;
}

// Smooth random colours (blurred noise), so that resizing has structure to get wrong.
inline cv::Mat random_bgr(int width, int height, uint32_t seed, int lo = 0, int hi = 256) {
    cv::Mat img(height, width, CV_8UC3);
    cv::RNG rng(seed);
    rng.fill(img, cv::RNG::UNIFORM, lo, hi);
    cv::GaussianBlur(img, img, cv::Size(5, 5), 1.5);
    return img;
}

// Random NV12 planes (luma blurred; chroma random), as a (height * 3 / 2, width) image.
inline cv::Mat random_nv12(int width, int height, uint32_t seed) {
    cv::Mat nv12(height * 3 / 2, width, CV_8UC1);
    cv::RNG rng(seed);
    rng.fill(nv12, cv::RNG::UNIFORM, 16, 236);
    cv::Mat luma = nv12(cv::Rect(0, 0, width, height));
    cv::GaussianBlur(luma, luma, cv::Size(5, 5), 1.5);
    return nv12;
}

}  // namespace fovea::vision::testing
