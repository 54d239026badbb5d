// CudaPreprocessor against the CPU preprocess(). Two halves:
// - DeviceArithmetic: the kernels' per-pixel functions (preprocess_device.h) run on the host, checked against
//   OpenCV bit for bit (equalization) and against preprocess() (whole items). Runs everywhere.
// - CudaPreprocessor: the real kernels on a GPU; skipped, visibly, without one.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "../media/host_backed_surface.h"
#include "test_frames.h"
#include "vision/frames_cuda.h"
#include "vision/preprocess_cuda.h"
#include "vision/preprocess_params.h"

#if defined(FOVEA_HAVE_CUDA)
#include <cuda_runtime.h>
#endif

namespace fovea::vision {
namespace {

using testing::bgr_frame_from;
using testing::nv12_frame_from;
using testing::random_bgr;
using testing::random_nv12;

std::vector<float> cpu_item(const media::Frame& frame, const Rect& roi, const PreprocessSpec& spec,
                            InputTransform* transform = nullptr) {
    std::vector<uint8_t> bytes(input_item_bytes(spec));
    InputTransform t;
    const Status s = preprocess(frame, roi, spec, bytes.data(), t);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    if (transform != nullptr) *transform = t;
    std::vector<float> out(bytes.size() / dtype_size(spec.dtype));
    for (size_t i = 0; i < out.size(); ++i) {
        if (spec.dtype == DType::kFloat16) {
            uint16_t h;
            std::memcpy(&h, bytes.data() + 2 * i, 2);
            out[i] = half_to_float(h);
        } else {
            std::memcpy(&out[i], bytes.data() + 4 * i, 4);
        }
    }
    return out;
}

// The item's equalization LUTs, computed on the host exactly as the histogram and LUT kernels do.
std::vector<uint8_t> host_luts(const device::ItemParams& it, const PreprocessSpec& spec) {
    const int tiles = equalize_tiles(spec);
    std::vector<uint32_t> hist(static_cast<size_t>(tiles) * device::kBins, 0);
    std::vector<uint8_t> luts(hist.size(), 0);
    for (int t = 0; t < tiles; ++t) {
        const int x0 = (t % it.tiles_x) * it.tile_w, y0 = (t / it.tiles_x) * it.tile_h;
        uint32_t* h = hist.data() + static_cast<size_t>(t) * device::kBins;
        for (int y = 0; y < it.tile_h; ++y)
            for (int x = 0; x < it.tile_w; ++x) ++h[device::domain_luma(it, x0 + x, y0 + y)];
        if (spec.equalize == Equalize::kGlobal)
            device::global_lut(h, it.roi_w * it.roi_h, luts.data() + static_cast<size_t>(t) * device::kBins);
        else
            device::clahe_lut(h, it.clip_limit, it.lut_scale, luts.data() + static_cast<size_t>(t) * device::kBins);
    }
    return luts;
}

device::ItemParams host_item(const media::Frame& frame, const Rect& roi, const PreprocessSpec& spec) {
    Result<Rect> r = resolve_roi(roi, frame.width, frame.height);
    EXPECT_TRUE(r.is_ok());
    return make_item_params(spec, frame.pixels.get(), frame.stride, frame.format, frame.height, *r, 0, nullptr);
}

// One item as the CUDA kernels compute it, on the host.
std::vector<float> emulated_item(const device::ItemParams& it, const PreprocessSpec& spec) {
    const device::SpecParams sp = make_spec_params(spec);
    const std::vector<uint8_t> luts = spec.equalize == Equalize::kNone ? std::vector<uint8_t>{} : host_luts(it, spec);
    std::vector<float> out(static_cast<size_t>(spec.width) * spec.height * sp.channels, NAN);
    for (int y = 0; y < spec.height; ++y) {
        for (int x = 0; x < spec.width; ++x) {
            float v[3];
            device::input_pixel(it, sp, luts.data(), x, y, v);
            for (int c = 0; c < sp.channels; ++c) {
                const size_t i = device::output_index(sp, x, y, c);
                out[i] = spec.dtype == DType::kFloat16 ? half_to_float(float_to_half(v[c])) : v[c];
            }
        }
    }
    return out;
}
std::vector<float> emulated_item(const media::Frame& frame, const Rect& roi, const PreprocessSpec& spec) {
    return emulated_item(host_item(frame, roi, spec), spec);
}

struct Diff {
    float max = 0;
    double mean = 0;
};
Diff diff(const std::vector<float>& a, const std::vector<float>& b) {
    Diff d;
    EXPECT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
        const float e = std::abs(a[i] - b[i]);
        d.max = std::isnan(e) ? INFINITY : std::max(d.max, e);
        d.mean += e;
    }
    d.mean /= std::max<size_t>(a.size(), 1);
    return d;
}

// OpenCV's luma equalization of a BGR image: the definition both paths follow.
cv::Mat opencv_equalized(const cv::Mat& bgr, const PreprocessSpec& spec) {
    cv::Mat ycrcb, y, out;
    cv::cvtColor(bgr, ycrcb, cv::COLOR_BGR2YCrCb);
    cv::extractChannel(ycrcb, y, 0);
    if (spec.equalize == Equalize::kGlobal)
        cv::equalizeHist(y, y);
    else
        cv::createCLAHE(spec.clahe_clip, cv::Size(spec.clahe_tile, spec.clahe_tile))->apply(y, y);
    cv::insertChannel(y, ycrcb, 0);
    cv::cvtColor(ycrcb, out, cv::COLOR_YCrCb2BGR);
    return out;
}

// Every ROI pixel that the resampler reads, equalized by the kernels' code, equals OpenCV's.
void expect_taps_equal_opencv(const media::Frame& frame, const cv::Mat& frame_bgr, const Rect& roi,
                              const PreprocessSpec& spec) {
    const device::ItemParams it = host_item(frame, roi, spec);
    const device::SpecParams sp = make_spec_params(spec);
    const std::vector<uint8_t> luts = host_luts(it, spec);
    const cv::Mat expected = opencv_equalized(frame_bgr(cv::Rect(it.roi_x, it.roi_y, it.roi_w, it.roi_h)), spec);
    int mismatches = 0;
    for (int y = 0; y < it.roi_h; ++y) {
        for (int x = 0; x < it.roi_w; ++x) {
            const device::Bgr p =
                device::equalize_tap(it, sp, luts.data(), device::load_bgr(it, it.roi_x + x, it.roi_y + y), x, y);
            const cv::Vec3b e = expected.at<cv::Vec3b>(y, x);
            if (p.b != e[0] || p.g != e[1] || p.r != e[2]) {
                if (++mismatches <= 3)
                    ADD_FAILURE() << "pixel " << x << "," << y << ": " << p.b << " " << p.g << " " << p.r
                                  << " vs OpenCV " << int(e[0]) << " " << int(e[1]) << " " << int(e[2]);
            }
        }
    }
    EXPECT_EQ(mismatches, 0) << "of " << it.roi_w * it.roi_h << " pixels";
}

TEST(DeviceArithmetic, Nv12ConversionIsOpenCvsBitForBit) {
    const cv::Mat nv12 = random_nv12(64, 48, 11);
    cv::Mat expected;
    cv::cvtColor(nv12, expected, cv::COLOR_YUV2BGR_NV12);
    const media::Frame frame = nv12_frame_from(nv12, 6);
    PreprocessSpec spec;
    const device::ItemParams it = host_item(frame, {}, spec);
    for (int y = 0; y < 48; ++y) {
        for (int x = 0; x < 64; ++x) {
            const device::Bgr p = device::load_bgr(it, x, y);
            const cv::Vec3b e = expected.at<cv::Vec3b>(y, x);
            ASSERT_TRUE(p.b == e[0] && p.g == e[1] && p.r == e[2]) << x << "," << y;
        }
    }
}

TEST(DeviceArithmetic, EqualizedPixelsAreOpenCvsBitForBit) {
    struct Case {
        int w, h;
        Rect roi;
        Equalize eq;
        double clip;
        int tile;
    };
    const Case cases[] = {
        {203, 149, {}, Equalize::kGlobal, 0, 0},
        {320, 240, {17, 9, 211, 133}, Equalize::kGlobal, 0, 0},
        {203, 149, {}, Equalize::kClahe, 2.0, 8},                  // neither side divides: reflected tiles
        {256, 128, {}, Equalize::kClahe, 3.0, 8},                  // both divide: no extension
        {240, 150, {}, Equalize::kClahe, 2.0, 8},                  // only the width divides: both are extended
        {320, 240, {17, 9, 211, 133}, Equalize::kClahe, 40.0, 5},  // clip so high that nothing is clipped
        {101, 67, {}, Equalize::kClahe, 0.0, 4},                   // no clip limit at all
        {37, 23, {}, Equalize::kClahe, 1.0, 8},                    // tiles of 5x3 pixels
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::to_string(c.w) + "x" + std::to_string(c.h) + " eq " + std::to_string(int(c.eq)) + " clip " +
                     std::to_string(c.clip) + " tile " + std::to_string(c.tile));
        PreprocessSpec spec;
        spec.equalize = c.eq;
        spec.clahe_clip = c.clip;
        spec.clahe_tile = c.tile > 0 ? c.tile : 8;
        const cv::Mat dim = random_bgr(c.w, c.h, 21, 30, 90);
        expect_taps_equal_opencv(bgr_frame_from(dim, 3), dim, c.roi, spec);
        const cv::Mat nv12 = random_nv12(c.w + c.w % 2, c.h + c.h % 2, 22);
        cv::Mat nv_bgr;
        cv::cvtColor(nv12, nv_bgr, cv::COLOR_YUV2BGR_NV12);
        expect_taps_equal_opencv(nv12_frame_from(nv12), nv_bgr, c.roi, spec);
    }
}

// Specs that cover every branch of the kernels, on awkward sizes.
std::vector<PreprocessSpec> kernel_specs() {
    std::vector<PreprocessSpec> specs;
    for (ResizeMode resize : {ResizeMode::kLetterbox, ResizeMode::kStretch}) {
        for (Equalize eq : {Equalize::kNone, Equalize::kGlobal, Equalize::kClahe}) {
            for (DType dtype : {DType::kFloat32, DType::kFloat16}) {
                PreprocessSpec s;
                s.width = 160;
                s.height = 96;
                s.resize = resize;
                s.equalize = eq;
                s.clahe_tile = 6;
                s.dtype = dtype;
                s.layout = dtype == DType::kFloat16 ? Layout::kNHWC : Layout::kNCHW;
                s.color = eq == Equalize::kClahe ? ColorOrder::kBGR : ColorOrder::kRGB;
                specs.push_back(s);
            }
        }
    }
    PreprocessSpec gray;
    gray.width = 99;
    gray.height = 101;
    gray.color = ColorOrder::kGray;
    gray.mean = {0.5f, 0, 0};
    gray.std = {0.25f, 1, 1};
    specs.push_back(gray);
    PreprocessSpec imagenet;
    imagenet.width = 224;
    imagenet.height = 224;
    imagenet.resize = ResizeMode::kStretch;
    imagenet.mean = {0.485f, 0.456f, 0.406f};
    imagenet.std = {0.229f, 0.224f, 0.225f};
    specs.push_back(imagenet);
    return specs;
}

std::string describe(const PreprocessSpec& s) {
    return std::to_string(s.width) + "x" + std::to_string(s.height) +
           (s.resize == ResizeMode::kLetterbox ? " letterbox" : " stretch") + " eq " + std::to_string(int(s.equalize)) +
           " color " + std::to_string(int(s.color)) + " " + dtype_name(s.dtype) +
           (s.layout == Layout::kNCHW ? " nchw" : " nhwc");
}

// cv::resize works in 11-bit fixed point and rounds to 8 bits, the kernels blend in float: up to about 0.8 of a
// level apart (measured on these frames), in units of the output.
float tolerance(const PreprocessSpec& s, float levels) {
    float t = 0;
    for (int c = 0; c < spec_channels(s); ++c) t = std::max(t, levels * s.scale / std::abs(s.std[c]));
    const float fp16 = s.dtype == DType::kFloat16 ? 4.0f / 1024.0f : 0.0f;  // half ulp of values up to ~4
    return t + fp16;
}

TEST(DeviceArithmetic, WholeItemsMatchTheCpuPath) {
    const cv::Mat bgr = random_bgr(643, 359, 31, 20, 120);
    const media::Frame bgr_frame = bgr_frame_from(bgr, 9);
    const media::Frame nv12_frame = nv12_frame_from(random_nv12(642, 360, 32), 14);
    for (const PreprocessSpec& spec : kernel_specs()) {
        for (const media::Frame* frame : {&bgr_frame, &nv12_frame}) {
            for (const Rect& roi : {Rect{}, Rect{31, 17, 401, 203}}) {
                SCOPED_TRACE(describe(spec) + (frame == &bgr_frame ? " bgr" : " nv12") + " roi x " +
                             std::to_string(roi.x));
                const Diff d = diff(emulated_item(*frame, roi, spec), cpu_item(*frame, roi, spec));
                EXPECT_LE(d.max, tolerance(spec, 1.0f));
                EXPECT_LE(d.mean, tolerance(spec, 0.35f));  // 8-bit rounding alone averages 0.25
            }
        }
    }
}

// Frames decoded on the GPU have their UV plane apart from the luma rows (NVDEC's surfaces are coded-height tall):
// the kernels' addressing of such a plane gives exactly what the contiguous host layout gives.
TEST(DeviceArithmetic, Nv12WithAChromaPlaneOfItsOwnReadsLikeTheContiguousLayout) {
    const media::Frame host = nv12_frame_from(random_nv12(98, 62, 77), 6);
    const auto surface = media::testing::HostBackedSurface::from(host);
    const media::DevicePlanes& p = surface->planes();
    ASSERT_NE(p.chroma, p.luma + static_cast<size_t>(p.luma_pitch) * 62);
    for (PreprocessSpec spec : kernel_specs()) {
        SCOPED_TRACE(describe(spec));
        for (const Rect& roi : {Rect{}, Rect{5, 3, 61, 41}}) {
            Result<Rect> r = resolve_roi(roi, host.width, host.height);
            ASSERT_TRUE(r.is_ok());
            const device::ItemParams apart = make_item_params(spec, p.luma, p.luma_pitch, media::PixelFormat::kNV12,
                                                              host.height, *r, 0, nullptr, p.chroma, p.chroma_pitch);
            const std::vector<float> want = emulated_item(host, roi, spec), got = emulated_item(apart, spec);
            EXPECT_EQ(diff(got, want).max, 0.0f);
        }
    }
}

TEST(CudaPreprocessor, WithoutCudaCreateFailsClearly) {
    if (cuda_device_available()) GTEST_SKIP() << "a CUDA device is present: covered by the GPU tests";
    const Result<std::unique_ptr<CudaPreprocessor>> p = CudaPreprocessor::create(PreprocessSpec{}, 4);
    EXPECT_EQ(p.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(p.status().message().find("CUDA"), std::string::npos) << p.status().message();
}

#if defined(FOVEA_HAVE_CUDA)

#define SKIP_WITHOUT_GPU()                                                                 \
    do {                                                                                   \
        int count = 0;                                                                     \
        const cudaError_t e = cudaGetDeviceCount(&count);                                  \
        if (e != cudaSuccess) GTEST_SKIP() << "no CUDA device: " << cudaGetErrorString(e); \
        if (count == 0) GTEST_SKIP() << "no CUDA device: cudaGetDeviceCount returned 0";   \
    } while (0)

#define CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

// A frame copied to device memory with its own (padded) pitch.
struct DeviceFrame {
    void* ptr = nullptr;
    DeviceImage image;
    DeviceFrame() = default;
    DeviceFrame(const DeviceFrame&) = delete;
    ~DeviceFrame() { cudaFree(ptr); }
};

void upload(const media::Frame& f, int extra_pitch, DeviceFrame& out) {
    const int row_bytes = f.format == media::PixelFormat::kBGR24 ? 3 * f.width : f.width;
    const int rows = f.format == media::PixelFormat::kNV12 ? f.height * 3 / 2 : f.height;
    const int pitch = row_bytes + extra_pitch;
    CUDA_OK(cudaMalloc(&out.ptr, static_cast<size_t>(pitch) * rows));
    CUDA_OK(cudaMemset(out.ptr, 0xA5, static_cast<size_t>(pitch) * rows));
    CUDA_OK(cudaMemcpy2D(out.ptr, pitch, f.pixels.get(), f.stride, row_bytes, rows, cudaMemcpyHostToDevice));
    out.image = {static_cast<const uint8_t*>(out.ptr), f.width, f.height, pitch, f.format};
}

// Runs `frames` x `rois` through the GPU and compares each item with preprocess().
void expect_gpu_matches_cpu(const PreprocessSpec& spec, const std::vector<media::Frame>& frames,
                            const std::vector<Rect>& rois) {
    const size_t n = frames.size();
    Result<std::unique_ptr<CudaPreprocessor>> pre = CudaPreprocessor::create(spec, static_cast<int>(n));
    ASSERT_TRUE(pre.is_ok()) << pre.status().to_string();
    std::vector<DeviceFrame> dev(n);
    std::vector<DeviceImage> images;
    for (size_t i = 0; i < n; ++i) {
        upload(frames[i], static_cast<int>(i % 3) * 32, dev[i]);
        images.push_back(dev[i].image);
    }
    const size_t item = input_item_bytes(spec);
    void* dst = nullptr;
    CUDA_OK(cudaMalloc(&dst, item * (n + 1)));
    CUDA_OK(cudaMemset(dst, 0xFF, item * (n + 1)));  // NaN canaries, one spare item past the batch
    cudaStream_t stream;
    CUDA_OK(cudaStreamCreate(&stream));
    std::vector<InputTransform> transforms(n);
    const Status s = (*pre)->run(images, rois, dst, stream, transforms);
    ASSERT_TRUE(s.is_ok()) << s.to_string();
    CUDA_OK(cudaStreamSynchronize(stream));
    std::vector<uint8_t> host(item * (n + 1));
    CUDA_OK(cudaMemcpy(host.data(), dst, host.size(), cudaMemcpyDeviceToHost));
    cudaStreamDestroy(stream);
    cudaFree(dst);

    // Equalization is bit-exact (DeviceArithmetic), so the same resampling tolerance holds; CLAHE gets a little
    // more room for the GPU's float ops that do not go through mul_rn/add_rn.
    const float tol = tolerance(spec, spec.equalize == Equalize::kClahe ? 1.5f : 1.0f);
    for (size_t i = 0; i < n; ++i) {
        SCOPED_TRACE(describe(spec) + " item " + std::to_string(i));
        InputTransform cpu_t;
        const std::vector<float> want = cpu_item(frames[i], rois[i], spec, &cpu_t);
        std::vector<float> got(want.size());
        for (size_t k = 0; k < got.size(); ++k) {
            const uint8_t* p = host.data() + i * item + k * dtype_size(spec.dtype);
            if (spec.dtype == DType::kFloat16) {
                uint16_t h;
                std::memcpy(&h, p, 2);
                got[k] = half_to_float(h);
            } else {
                std::memcpy(&got[k], p, 4);
            }
        }
        const Diff d = diff(got, want);
        EXPECT_LE(d.max, tol) << "mean abs diff " << d.mean;
        EXPECT_LE(d.mean, tolerance(spec, 0.35f));  // 8-bit rounding alone averages 0.25
        EXPECT_FLOAT_EQ(transforms[i].scale_x, cpu_t.scale_x);
        EXPECT_FLOAT_EQ(transforms[i].pad_y, cpu_t.pad_y);
        EXPECT_FLOAT_EQ(transforms[i].offset_x, cpu_t.offset_x);
    }
    for (size_t k = 0; k < item; ++k) ASSERT_EQ(host[n * item + k], 0xFF) << "wrote past the batch at byte " << k;
}

std::vector<media::Frame> mixed_frames() {
    return {bgr_frame_from(random_bgr(1920, 1080, 41)), nv12_frame_from(random_nv12(1280, 720, 42)),
            bgr_frame_from(random_bgr(643, 359, 43, 30, 90)), nv12_frame_from(random_nv12(642, 362, 44))};
}
const std::vector<Rect> kMixedRois = {{}, {101, 57, 801, 403}, {3, 0, 0, 0}, {31, 17, 401, 203}};

TEST(CudaPreprocessor, MatchesTheCpuPathForEverySpec) {
    SKIP_WITHOUT_GPU();
    for (PreprocessSpec spec : kernel_specs()) {
        spec.width = spec.width * 4 + 1;  // odd, larger sizes than the host emulation can afford
        spec.height = spec.height * 4 + 3;
        for (Layout layout : {Layout::kNCHW, Layout::kNHWC}) {
            spec.layout = layout;
            expect_gpu_matches_cpu(spec, mixed_frames(), kMixedRois);
        }
    }
}

TEST(CudaPreprocessor, BatchesLargerThanOneLaunchAreChunked) {
    SKIP_WITHOUT_GPU();
    std::vector<media::Frame> frames;
    std::vector<Rect> rois;
    for (int i = 0; i < 2 * device::kMaxItemsPerLaunch + 3; ++i) {
        frames.push_back(i % 2 ? nv12_frame_from(random_nv12(98 + 2 * i, 62, 50 + i))
                               : bgr_frame_from(random_bgr(97 + i, 61, 50 + i, 30, 90)));
        rois.push_back({i % 5, i % 3, 0, 0});
    }
    PreprocessSpec spec;
    spec.width = 64;
    spec.height = 48;
    spec.equalize = Equalize::kClahe;
    spec.clahe_tile = 4;
    expect_gpu_matches_cpu(spec, frames, rois);
    spec.equalize = Equalize::kGlobal;
    expect_gpu_matches_cpu(spec, frames, rois);
}

TEST(CudaPreprocessor, RejectsBadBatchesBeforeLaunching) {
    SKIP_WITHOUT_GPU();
    EXPECT_FALSE(CudaPreprocessor::create(PreprocessSpec{}, 0).is_ok());
    Result<std::unique_ptr<CudaPreprocessor>> pre = CudaPreprocessor::create(PreprocessSpec{}, 2);
    ASSERT_TRUE(pre.is_ok()) << pre.status().to_string();
    const uint8_t* fake = reinterpret_cast<const uint8_t*>(16);  // never dereferenced: checks fail first
    std::vector<DeviceImage> images = {{fake, 64, 48, 192, media::PixelFormat::kBGR24}};
    std::vector<Rect> rois = {{}};
    std::vector<InputTransform> t(1);
    void* dst = reinterpret_cast<void*>(16);
    EXPECT_NE((*pre)->run(images, {}, dst, nullptr, t).message().find("rois"), std::string::npos);
    rois[0] = {60, 0, 10, 10};
    EXPECT_EQ((*pre)->run(images, rois, dst, nullptr, t).code(), StatusCode::kOutOfRange);
    rois[0] = {};
    images[0].pitch = 100;
    EXPECT_NE((*pre)->run(images, rois, dst, nullptr, t).message().find("pitch"), std::string::npos);
    images = std::vector<DeviceImage>(3, DeviceImage{fake, 64, 48, 192, media::PixelFormat::kBGR24});
    rois.resize(3);
    t.resize(3);
    EXPECT_NE((*pre)->run(images, rois, dst, nullptr, t).message().find("max_batch"), std::string::npos);
}

// A picture in GPU memory laid out like NVDEC's: luma and chroma in separate pitched allocations (so the UV plane
// does not follow the luma rows), as media's decoder makes them; downloaded on demand like theirs.
class CudaSurface final : public media::DeviceSurface {
  public:
    static std::shared_ptr<CudaSurface> from(const media::Frame& nv12) {
        void *luma = nullptr, *chroma = nullptr;
        size_t luma_pitch = 0, chroma_pitch = 0;
        const auto w = static_cast<size_t>(nv12.width), h = static_cast<size_t>(nv12.height);
        if (cudaMallocPitch(&luma, &luma_pitch, w, h) != cudaSuccess) return nullptr;
        if (cudaMallocPitch(&chroma, &chroma_pitch, w + 300, h / 2) != cudaSuccess) return nullptr;  // another pitch
        cudaMemcpy2D(luma, luma_pitch, nv12.row(0), static_cast<size_t>(nv12.stride), w, h, cudaMemcpyHostToDevice);
        cudaMemcpy2D(chroma, chroma_pitch, nv12.row(nv12.height), static_cast<size_t>(nv12.stride), w, h / 2,
                     cudaMemcpyHostToDevice);
        media::DevicePlanes p;
        p.luma = static_cast<const uint8_t*>(luma);
        p.chroma = static_cast<const uint8_t*>(chroma);
        p.luma_pitch = static_cast<int>(luma_pitch);
        p.chroma_pitch = static_cast<int>(chroma_pitch);
        cudaGetDevice(&p.device);
        return std::shared_ptr<CudaSurface>(new CudaSurface(p, nv12.width, nv12.height));
    }
    ~CudaSurface() override {
        cudaFree(const_cast<uint8_t*>(planes().luma));
        cudaFree(const_cast<uint8_t*>(planes().chroma));
    }

  protected:
    Status download(uint8_t* dst, int stride) const override {
        const media::DevicePlanes& p = planes();
        const auto w = static_cast<size_t>(width()), h = static_cast<size_t>(height());
        cudaMemcpy2D(dst, static_cast<size_t>(stride), p.luma, static_cast<size_t>(p.luma_pitch), w, h,
                     cudaMemcpyDeviceToHost);
        const cudaError_t e = cudaMemcpy2D(dst + static_cast<size_t>(stride) * h, static_cast<size_t>(stride), p.chroma,
                                           static_cast<size_t>(p.chroma_pitch), w, h / 2, cudaMemcpyDeviceToHost);
        return e == cudaSuccess ? Status::ok() : internal_error(cudaGetErrorString(e));
    }

  private:
    CudaSurface(const media::DevicePlanes& p, int w, int h) : DeviceSurface(p, w, h) {}
};

// The batch `images` x `rois` through CudaPreprocessor, back on the host as raw bytes.
std::vector<uint8_t> run_on_gpu(const PreprocessSpec& spec, const std::vector<DeviceImage>& images,
                                const std::vector<Rect>& rois, void* stream) {
    const size_t item = input_item_bytes(spec);
    Result<std::unique_ptr<CudaPreprocessor>> pre = CudaPreprocessor::create(spec, static_cast<int>(images.size()));
    EXPECT_TRUE(pre.is_ok()) << pre.status().to_string();
    if (!pre.is_ok()) return {};
    void* dst = nullptr;
    EXPECT_EQ(cudaMalloc(&dst, item * images.size()), cudaSuccess);
    std::vector<InputTransform> transforms(images.size());
    const Status s = (*pre)->run(images, rois, dst, stream, transforms);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    std::vector<uint8_t> out(item * images.size());
    EXPECT_EQ(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(out.data(), dst, out.size(), cudaMemcpyDeviceToHost), cudaSuccess);
    cudaFree(dst);
    return out;
}

std::vector<float> as_floats(const std::vector<uint8_t>& bytes, const PreprocessSpec& spec, size_t item_index) {
    const size_t item = input_item_bytes(spec), n = item / dtype_size(spec.dtype);
    std::vector<float> out(n);
    for (size_t k = 0; k < n; ++k) {
        const uint8_t* p = bytes.data() + item_index * item + k * dtype_size(spec.dtype);
        if (spec.dtype == DType::kFloat16) {
            uint16_t h;
            std::memcpy(&h, p, 2);
            out[k] = half_to_float(h);
        } else {
            std::memcpy(&out[k], p, 4);
        }
    }
    return out;
}

// Preprocessing a frame decoded on the GPU (read in place: separate chroma plane, other pitches) gives the very bytes
// that preprocessing its downloaded host frame on the GPU gives, and agrees with the CPU path on that host frame.
TEST(DeviceFrames, PreprocessingInPlaceMatchesPreprocessingTheDownloadedFrame) {
    SKIP_WITHOUT_GPU();
    const std::vector<media::Frame> hosts = {nv12_frame_from(random_nv12(1280, 720, 61)),
                                             nv12_frame_from(random_nv12(642, 362, 62), 10)};
    std::vector<media::Frame> gpu;
    for (const media::Frame& h : hosts) {
        auto surface = CudaSurface::from(h);
        ASSERT_NE(surface, nullptr);
        gpu.push_back(media::testing::device_only_frame(h, surface));
    }
    cudaStream_t stream;
    CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    for (PreprocessSpec spec : kernel_specs()) {
        spec.width = 160;
        spec.height = 96;
        SCOPED_TRACE(describe(spec));
        const std::vector<Rect> rois = {{}, {31, 17, 401, 203}};
        std::vector<DeviceImage> in_place;
        for (const media::Frame& g : gpu) in_place.push_back(device_image(g));
        // The downloaded host frames, uploaded the way the pipeline uploads host frames.
        std::vector<media::Frame> downloaded;
        for (const media::Frame& g : gpu) {
            Result<media::Frame> h = media::host_frame(g);
            ASSERT_TRUE(h.is_ok()) << h.status().to_string();
            downloaded.push_back(*h);
        }
        std::vector<DeviceFrame> dev(downloaded.size());
        std::vector<DeviceImage> uploaded;
        for (size_t i = 0; i < downloaded.size(); ++i) {
            upload(downloaded[i], 64, dev[i]);
            uploaded.push_back(dev[i].image);
        }
        const std::vector<uint8_t> got = run_on_gpu(spec, in_place, rois, stream);
        const std::vector<uint8_t> want = run_on_gpu(spec, uploaded, rois, stream);
        EXPECT_EQ(got, want);
        for (size_t i = 0; i < gpu.size(); ++i) {
            const Diff d = diff(as_floats(got, spec, i), cpu_item(downloaded[i], rois[i], spec));
            EXPECT_LE(d.max, tolerance(spec, spec.equalize == Equalize::kClahe ? 1.5f : 1.0f)) << "item " << i;
        }
    }
    cudaStreamDestroy(stream);
    for (const media::Frame& g : gpu) EXPECT_EQ(g.device->downloads(), 1) << "downloaded for the comparison only";
}

// A batch mixing frames decoded on the GPU, host frames, and a GPU frame the uploader cannot read in place (another
// device): the first are used where they are, the others go up; every item comes out as if preprocessed alone.
TEST(DeviceFrames, TheUploaderUsesGpuFramesInPlaceAndUploadsTheRest) {
    SKIP_WITHOUT_GPU();
    const media::Frame a = nv12_frame_from(random_nv12(320, 184, 71));
    const media::Frame b = bgr_frame_from(random_bgr(300, 200, 72), 12);
    const media::Frame c = nv12_frame_from(random_nv12(256, 144, 73));
    auto surface_a = CudaSurface::from(a);
    ASSERT_NE(surface_a, nullptr);
    const media::Frame gpu_a = media::testing::device_only_frame(a, surface_a);
    auto elsewhere = media::testing::HostBackedSurface::from(c);  // device -1: not this GPU
    const media::Frame gpu_c = media::testing::device_only_frame(c, elsewhere);

    Result<std::unique_ptr<CudaFrameUploader>> up = CudaFrameUploader::create();
    ASSERT_TRUE(up.is_ok()) << up.status().to_string();
    cudaStream_t stream;
    CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    const std::vector<const media::Frame*> batch = {&gpu_a, &b, &gpu_c, &gpu_a};
    Result<std::vector<DeviceImage>> images = (*up)->upload(batch, stream);
    ASSERT_TRUE(images.is_ok()) << images.status().to_string();
    ASSERT_EQ(images->size(), 4u);
    EXPECT_EQ((*images)[0].data, surface_a->planes().luma) << "used in place";
    EXPECT_EQ((*images)[0].chroma, surface_a->planes().chroma);
    EXPECT_EQ((*images)[3].data, surface_a->planes().luma);
    EXPECT_EQ((*up)->device_frames(), 2);
    EXPECT_EQ((*up)->uploaded_frames(), 2);
    EXPECT_EQ(surface_a->downloads(), 0) << "never downloaded";
    EXPECT_EQ(elsewhere->calls(), 1) << "downloaded once, then uploaded";

    PreprocessSpec spec;
    spec.width = 96;
    spec.height = 64;
    spec.equalize = Equalize::kGlobal;
    const std::vector<Rect> rois = {{}, {10, 20, 200, 100}, {}, {40, 30, 100, 100}};
    const std::vector<uint8_t> got = run_on_gpu(spec, *images, rois, stream);
    const std::vector<const media::Frame*> plain = {&a, &b, &c, &a};
    for (size_t i = 0; i < plain.size(); ++i) {
        const Diff d = diff(as_floats(got, spec, i), cpu_item(*plain[i], rois[i], spec));
        EXPECT_LE(d.max, tolerance(spec, 1.0f)) << "item " << i;
    }
    cudaStreamDestroy(stream);
}

#endif  // FOVEA_HAVE_CUDA

}  // namespace
}  // namespace fovea::vision
