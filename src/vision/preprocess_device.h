// The per-pixel arithmetic of CudaPreprocessor, shared by its CUDA kernels (preprocess_cuda.cu) and by host code:
// the tests run these very functions on the CPU and compare them with OpenCV, so that the GPU path is checked on
// machines without a GPU. Plain C++17 with fixed-size structs: nvcc compiles it, and nothing here needs the C++20
// headers of the rest of fovea.
//
// Bit-exactness with OpenCV 4 where it matters: NV12 -> BGR, BGR <-> YCrCb, equalizeHist's and CLAHE's LUTs and
// CLAHE's interpolation reproduce OpenCV's integer and float steps (a luma off by one can move an equalized value
// by many levels). Bilinear resampling is done in float; cv::resize rounds to 8 bits, so the two differ by at most
// about 0.6 of a level.
#pragma once

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define FOVEA_HD __host__ __device__ inline
#else
#define FOVEA_HD inline
#endif

namespace fovea::vision::device {

constexpr int kMaxItemsPerLaunch = 16;  // keeps LaunchParams under the classic 4 KB kernel-parameter limit
constexpr int kBins = 256;

enum class SrcFormat : int32_t { kBGR24, kNV12 };
enum class EqMode : int32_t { kNone, kGlobal, kClahe };
enum class OutColor : int32_t { kRGB, kBGR, kGray };

// What every item of a batch shares.
struct SpecParams {
    int32_t width, height, channels;
    OutColor color;
    int32_t nchw;  // 1: NCHW, 0: NHWC
    int32_t fp16;  // 1: float16 output, 0: float32
    EqMode equalize;
    // Normalization folded into one multiply-add per channel: (raw * scale - mean) / std = raw * mul + add.
    float mul[3], add[3];
    float pad_value;
};

// One item: its source, ROI, placement in the model input and equalization tiling.
struct ItemParams {
    const uint8_t* src;  // the frame's first byte (device memory)
    int32_t pitch;
    SrcFormat format;
    const uint8_t* uv;  // NV12: the interleaved UV plane (after the luma rows, or a plane of its own)
    int32_t uv_pitch;
    int32_t roi_x, roi_y, roi_w, roi_h;
    int32_t place_x, place_y, place_w, place_h;
    float src_per_dst_x, src_per_dst_y;  // roi size / placement size
    // Equalization runs on the ROI's luma, in tiles_x * tiles_y tiles of tile_w * tile_h pixels. CLAHE's tiles
    // cover the ROI extended by reflection (BORDER_REFLECT_101) to whole tiles, as OpenCV does; global = one tile.
    int32_t tiles_x, tiles_y, tile_w, tile_h;
    int32_t clip_limit;  // CLAHE's per-bin limit (0: no clipping)
    float lut_scale;     // CLAHE: 255 / (tile_w * tile_h)
    float inv_tile_w, inv_tile_h;
    int64_t scratch_offset;  // where this item's histograms and LUTs start ([tiles][256] each)
    void* dst;               // the item's output (device memory)
};

struct LaunchParams {
    SpecParams spec;
    ItemParams items[kMaxItemsPerLaunch];
    int32_t count;
    int32_t tiles;         // tiles per item (scratch stride): 1 global, tile * tile CLAHE
    uint32_t* histograms;  // [batch][tiles][256]
    uint8_t* luts;         // [batch][tiles][256]
};
static_assert(sizeof(LaunchParams) <= 4096, "kernel parameters must stay within 4 KB");

FOVEA_HD int clamp_u8(int v) {
    return v < 0 ? 0 : (v > 255 ? 255 : v);
}

// cv::saturate_cast<uchar>(float): round to nearest even, then clamp.
FOVEA_HD int round_u8(float v) {
    return clamp_u8(static_cast<int>(rintf(v)));
}

// Float steps that must round like OpenCV's (compiled without FMA): nvcc would otherwise fuse a*b+c.
FOVEA_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
FOVEA_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

struct Bgr {
    int b, g, r;
};
struct Bgrf {
    float b, g, r;
};

// An 8-bit value as a float, exactly. On the GPU through the float's bits, an OR and a subtraction at full rate
// (the int-to-float conversion runs at a fraction of that rate, and a pixel needs up to 12).
FOVEA_HD float u8_to_float(int v) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(0x4B000000u | static_cast<unsigned>(v)) - 8388608.0f;  // 2^23 + v, minus 2^23
#else
    return static_cast<float>(v);
#endif
}

FOVEA_HD Bgrf to_float(Bgr p) {
    return {u8_to_float(p.b), u8_to_float(p.g), u8_to_float(p.r)};
}

// cv::COLOR_YUV2BGR_NV12 (BT.601 limited range, 20-bit fixed point); chroma is shared by 2x2 pixels.
FOVEA_HD Bgr nv12_to_bgr(int y, int u, int v) {
    const int yy = (y > 16 ? y - 16 : 0) * 1220542;
    const int half = 1 << 19;
    u -= 128;
    v -= 128;
    return {clamp_u8((yy + half + 2116026 * u) >> 20), clamp_u8((yy + half - 852492 * v - 409993 * u) >> 20),
            clamp_u8((yy + half + 1673527 * v) >> 20)};
}

// The pixel at frame coordinates (x, y).
FOVEA_HD Bgr load_bgr(const ItemParams& it, int x, int y) {
    if (it.format == SrcFormat::kBGR24) {
        const uint8_t* p = it.src + static_cast<size_t>(y) * static_cast<size_t>(it.pitch) + 3 * static_cast<size_t>(x);
        return {p[0], p[1], p[2]};
    }
    const int luma = it.src[static_cast<size_t>(y) * static_cast<size_t>(it.pitch) + static_cast<size_t>(x)];
    const uint8_t* uv =
        it.uv + static_cast<size_t>(y / 2) * static_cast<size_t>(it.uv_pitch) + static_cast<size_t>(x & ~1);
    return nv12_to_bgr(luma, uv[0], uv[1]);
}

// cv::COLOR_BGR2YCrCb's Y (14-bit fixed point).
FOVEA_HD int luma_of(Bgr p) {
    return (p.b * 1868 + p.g * 9617 + p.r * 4899 + (1 << 13)) >> 14;
}

// BGR -> YCrCb, Y replaced by y_new, -> BGR, with OpenCV's rounding and saturation at each step.
FOVEA_HD Bgr with_luma(Bgr p, int y_old, int y_new) {
    const int cr = clamp_u8(((p.r - y_old) * 11682 + (128 << 14) + (1 << 13)) >> 14) - 128;
    const int cb = clamp_u8(((p.b - y_old) * 9241 + (128 << 14) + (1 << 13)) >> 14) - 128;
    return {clamp_u8(y_new + ((cb * 29049 + (1 << 13)) >> 14)),
            clamp_u8(y_new + ((cb * -5636 + cr * -11698 + (1 << 13)) >> 14)),
            clamp_u8(y_new + ((cr * 22987 + (1 << 13)) >> 14))};
}

// cv::borderInterpolate with BORDER_REFLECT_101.
FOVEA_HD int reflect101(int p, int n) {
    if (n == 1) return 0;
    while (p < 0 || p >= n) p = p < 0 ? -p : 2 * n - 2 - p;
    return p;
}

// The luma at (ex, ey) of the equalization domain (ROI coordinates, reflected past the ROI's right and bottom).
FOVEA_HD int domain_luma(const ItemParams& it, int ex, int ey) {
    const int x = reflect101(ex, it.roi_w), y = reflect101(ey, it.roi_h);
    return luma_of(load_bgr(it, it.roi_x + x, it.roi_y + y));
}

// cv::equalizeHist's LUT from the ROI's histogram of `total` pixels.
FOVEA_HD void global_lut(const uint32_t* hist, int total, uint8_t* lut) {
    int i = 0;
    while (i < kBins - 1 && hist[i] == 0) ++i;
    if (static_cast<int>(hist[i]) == total) {  // one grey level: OpenCV sets the image to it
        for (int k = 0; k < kBins; ++k) lut[k] = static_cast<uint8_t>(i);
        return;
    }
    const float scale = 255.0f / static_cast<float>(total - static_cast<int>(hist[i]));
    for (int k = 0; k <= i; ++k) lut[k] = 0;
    int sum = 0;
    for (int k = i + 1; k < kBins; ++k) {
        sum += static_cast<int>(hist[k]);
        lut[k] = static_cast<uint8_t>(round_u8(mul_rn(static_cast<float>(sum), scale)));
    }
}

// One CLAHE tile's LUT: clip, redistribute the excess evenly and then by a residual step, cumulate (OpenCV's
// CLAHE_CalcLut_Body for 8 bits).
FOVEA_HD void clahe_lut(const uint32_t* hist_in, int clip_limit, float lut_scale, uint8_t* lut) {
    int hist[kBins];
    for (int i = 0; i < kBins; ++i) hist[i] = static_cast<int>(hist_in[i]);
    if (clip_limit > 0) {
        int clipped = 0;
        for (int i = 0; i < kBins; ++i) {
            if (hist[i] > clip_limit) {
                clipped += hist[i] - clip_limit;
                hist[i] = clip_limit;
            }
        }
        const int batch = clipped / kBins;
        int residual = clipped - batch * kBins;
        for (int i = 0; i < kBins; ++i) hist[i] += batch;
        if (residual != 0) {
            const int step = kBins / residual > 1 ? kBins / residual : 1;
            for (int i = 0; i < kBins && residual > 0; i += step, --residual) ++hist[i];
        }
    }
    int sum = 0;
    for (int i = 0; i < kBins; ++i) {
        sum += hist[i];
        lut[i] = static_cast<uint8_t>(round_u8(mul_rn(static_cast<float>(sum), lut_scale)));
    }
}

// CLAHE's output for luma v at ROI pixel (x, y): the four nearest tiles' LUTs blended bilinearly
// (OpenCV's CLAHE_Interpolation_Body). `luts` is the item's [tiles][256].
FOVEA_HD int clahe_value(const ItemParams& it, const uint8_t* luts, int x, int y, int v) {
    const float txf = add_rn(mul_rn(static_cast<float>(x), it.inv_tile_w), -0.5f);
    const float tyf = add_rn(mul_rn(static_cast<float>(y), it.inv_tile_h), -0.5f);
    int tx1 = static_cast<int>(floorf(txf)), ty1 = static_cast<int>(floorf(tyf));
    const float xa = add_rn(txf, -static_cast<float>(tx1)), ya = add_rn(tyf, -static_cast<float>(ty1));
    const float xa1 = add_rn(1.0f, -xa), ya1 = add_rn(1.0f, -ya);
    const int tx2 = tx1 + 1 < it.tiles_x - 1 ? tx1 + 1 : it.tiles_x - 1;
    const int ty2 = ty1 + 1 < it.tiles_y - 1 ? ty1 + 1 : it.tiles_y - 1;
    tx1 = tx1 > 0 ? tx1 : 0;
    ty1 = ty1 > 0 ? ty1 : 0;
    const uint8_t* row1 = luts + static_cast<size_t>(ty1 * it.tiles_x) * kBins;
    const uint8_t* row2 = luts + static_cast<size_t>(ty2 * it.tiles_x) * kBins;
    const float l11 = row1[tx1 * kBins + v], l12 = row1[tx2 * kBins + v];
    const float l21 = row2[tx1 * kBins + v], l22 = row2[tx2 * kBins + v];
    const float top = add_rn(mul_rn(l11, xa1), mul_rn(l12, xa));
    const float bottom = add_rn(mul_rn(l21, xa1), mul_rn(l22, xa));
    return round_u8(add_rn(mul_rn(top, ya1), mul_rn(bottom, ya)));
}

// A source pixel's luma equalized; (x, y) is its place in the ROI (CLAHE blends the tiles around it).
FOVEA_HD Bgr equalize_tap(const ItemParams& it, const SpecParams& sp, const uint8_t* luts, Bgr p, int x, int y) {
    if (sp.equalize == EqMode::kNone) return p;
    const int luma = luma_of(p);
    const int eq = sp.equalize == EqMode::kGlobal ? luts[luma] : clahe_value(it, luts, x, y, luma);
    return with_luma(p, luma, eq);
}

// cv::resize INTER_LINEAR's source positions along one axis: pixel centres aligned, edges clamped (both taps on the
// edge pixel). A zero-weight second tap repeats the first, so integer-ratio downscales read only the rows and
// columns they use.
FOVEA_HD void axis_taps(int d, float src_per_dst, int n, int& i0, int& i1, float& frac) {
    const float f = (static_cast<float>(d) + 0.5f) * src_per_dst - 0.5f;
    int i = static_cast<int>(floorf(f));
    frac = f - static_cast<float>(i);
    if (i < 0) i = 0, frac = 0;
    if (i >= n - 1) i = n - 1, frac = 0;
    i0 = i;
    i1 = frac > 0 && i + 1 < n ? i + 1 : i;
}

// Where model-input pixel (x, y) samples the ROI: columns x0, x1 and rows y0, y1, the second's weights fx, fy (a
// zero weight repeats the first). `pad`: the pixel lies outside the placement (the letterbox border).
struct Taps {
    int x0, x1, y0, y1;
    float fx, fy;
    bool pad;
};

FOVEA_HD Taps pixel_taps(const ItemParams& it, int x, int y) {
    const int px = x - it.place_x, py = y - it.place_y;
    Taps t{0, 0, 0, 0, 0, 0, px < 0 || py < 0 || px >= it.place_w || py >= it.place_h};
    if (t.pad) return t;
    axis_taps(px, it.src_per_dst_x, it.roi_w, t.x0, t.x1, t.fx);
    axis_taps(py, it.src_per_dst_y, it.roi_h, t.y0, t.y1, t.fy);
    return t;
}

// The pixel's four taps (x0,y0), (x1,y0), (x0,y1), (x1,y1), read and equalized. A tap that repeats another is not
// read or equalized again. Taps of several pixels can be read before any is used (the CUDA kernel does).
FOVEA_HD void read_taps(const ItemParams& it, const Taps& t, Bgr q[4]) {
    if (t.pad) return;
    q[0] = load_bgr(it, it.roi_x + t.x0, it.roi_y + t.y0);
    if (t.x1 != t.x0) q[1] = load_bgr(it, it.roi_x + t.x1, it.roi_y + t.y0);
    if (t.y1 != t.y0) q[2] = load_bgr(it, it.roi_x + t.x0, it.roi_y + t.y1);
    if (t.x1 != t.x0 && t.y1 != t.y0) q[3] = load_bgr(it, it.roi_x + t.x1, it.roi_y + t.y1);
}

FOVEA_HD void equalize_taps(const ItemParams& it, const SpecParams& sp, const uint8_t* luts, const Taps& t, Bgr q[4]) {
    if (t.pad || sp.equalize == EqMode::kNone) return;
    q[0] = equalize_tap(it, sp, luts, q[0], t.x0, t.y0);
    if (t.x1 != t.x0) q[1] = equalize_tap(it, sp, luts, q[1], t.x1, t.y0);
    if (t.y1 != t.y0) q[2] = equalize_tap(it, sp, luts, q[2], t.x0, t.y1);
    if (t.x1 != t.x0 && t.y1 != t.y0) q[3] = equalize_tap(it, sp, luts, q[3], t.x1, t.y1);
}

// The normalized values, in output channel order, from the taps read_taps and equalize_taps left in q.
FOVEA_HD void finish_pixel(const SpecParams& sp, const Taps& t, const Bgr q[4], float out[3]) {
    float raw[3] = {0, 0, 0};
    if (t.pad) {
        raw[0] = raw[1] = raw[2] = sp.pad_value;
    } else {
        // All taps on one pixel (exact 1/n scales): weights 1, 0, 0, 0, so no blend.
        const Bgrf a = to_float(q[0]);
        float bl = a.b, gr = a.g, rd = a.r;
        if (t.x1 != t.x0 || t.y1 != t.y0) {
            const Bgrf b = t.x1 == t.x0 ? a : to_float(q[1]);
            const Bgrf c = t.y1 == t.y0 ? a : to_float(q[2]);
            const Bgrf d = t.y1 == t.y0 ? b : (t.x1 == t.x0 ? c : to_float(q[3]));
            const float fx = t.fx, fy = t.fy;
            const float wa = (1 - fx) * (1 - fy), wb = fx * (1 - fy), wc = (1 - fx) * fy, wd = fx * fy;
            bl = wa * a.b + wb * b.b + wc * c.b + wd * d.b;
            gr = wa * a.g + wb * b.g + wc * c.g + wd * d.g;
            rd = wa * a.r + wb * b.r + wc * c.r + wd * d.r;
        }
        switch (sp.color) {
            case OutColor::kRGB:
                raw[0] = rd, raw[1] = gr, raw[2] = bl;
                break;
            case OutColor::kBGR:
                raw[0] = bl, raw[1] = gr, raw[2] = rd;
                break;
            case OutColor::kGray:
                raw[0] = 0.299f * rd + 0.587f * gr + 0.114f * bl, raw[1] = raw[2] = 0;
                break;
        }
    }
    for (int c = 0; c < 3; ++c) out[c] = raw[c] * sp.mul[c] + sp.add[c];
}

// The normalized values of model-input pixel (x, y), in output channel order (out[channels..2] are left unused).
FOVEA_HD void input_pixel(const ItemParams& it, const SpecParams& sp, const uint8_t* luts, int x, int y, float out[3]) {
    const Taps t = pixel_taps(it, x, y);
    Bgr q[4] = {};
    read_taps(it, t, q);
    equalize_taps(it, sp, luts, t, q);
    finish_pixel(sp, t, q, out);
}

// Element index of (x, y, c) in one item.
FOVEA_HD size_t output_index(const SpecParams& sp, int x, int y, int c) {
    const size_t pixel = static_cast<size_t>(y) * static_cast<size_t>(sp.width) + static_cast<size_t>(x);
    return sp.nchw ? static_cast<size_t>(c) * static_cast<size_t>(sp.width) * static_cast<size_t>(sp.height) + pixel
                   : pixel * static_cast<size_t>(sp.channels) + static_cast<size_t>(c);
}

// Launchers (preprocess_cuda.cu). Each returns nullptr on success, else CUDA's message.
const char* launch_preprocess(const LaunchParams& params, int hist_slices, void* stream);
const char* device_alloc(void** ptr, size_t bytes);
void device_free(void* ptr);
bool device_available();

}  // namespace fovea::vision::device
