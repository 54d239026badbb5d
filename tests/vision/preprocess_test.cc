#include "vision/preprocess.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "test_frames.h"

namespace fovea::vision {
namespace {

using testing::bgr_frame_from;
using testing::nv12_frame_from;
using testing::random_bgr;
using testing::random_nv12;

constexpr float kCanary = -12345.0f;

std::vector<float> run_f32(const media::Frame& frame, const Rect& roi, const PreprocessSpec& spec,
                           InputTransform* transform = nullptr) {
    std::vector<float> out(input_item_bytes(spec) / sizeof(float), kCanary);
    InputTransform t;
    const Status s = preprocess(frame, roi, spec, out.data(), t);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    if (transform != nullptr) *transform = t;
    return out;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    float m = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
}

// The output's value at (channel, y, x) of an NCHW float item.
float at(const std::vector<float>& item, const PreprocessSpec& s, int c, int y, int x) {
    return item[(static_cast<size_t>(c) * s.height + y) * s.width + x];
}

TEST(Preprocess, LetterboxOf1080pTo640KeepsAspectAndCentres) {
    const media::Frame frame = bgr_frame_from(random_bgr(1920, 1080, 1));
    PreprocessSpec spec;
    InputTransform t;
    const std::vector<float> out = run_f32(frame, {}, spec, &t);
    // 1920x1080 * 1/3 = 640x360, centred: 140 rows of padding above and below.
    EXPECT_FLOAT_EQ(t.scale_x, 3.0f);
    EXPECT_FLOAT_EQ(t.scale_y, 3.0f);
    EXPECT_FLOAT_EQ(t.pad_x, 0.0f);
    EXPECT_FLOAT_EQ(t.pad_y, 140.0f);
    EXPECT_FLOAT_EQ(t.frame_x(0), 0.0f);
    EXPECT_FLOAT_EQ(t.frame_y(140), 0.0f);
    EXPECT_FLOAT_EQ(t.frame_x(640), 1920.0f);
    EXPECT_FLOAT_EQ(t.frame_y(500), 1080.0f);
    EXPECT_FLOAT_EQ(t.frame_x(320), 960.0f);
    EXPECT_FLOAT_EQ(t.frame_y(320), 540.0f);
    const float pad = 114.0f / 255.0f;
    for (int c = 0; c < 3; ++c) {
        EXPECT_FLOAT_EQ(at(out, spec, c, 0, 0), pad);
        EXPECT_FLOAT_EQ(at(out, spec, c, 139, 639), pad);
        EXPECT_FLOAT_EQ(at(out, spec, c, 500, 17), pad);
        EXPECT_FLOAT_EQ(at(out, spec, c, 639, 639), pad);
    }
    // Content rows hold the resized frame (RGB order): compare with cv::resize.
    cv::Mat expected;
    cv::resize(random_bgr(1920, 1080, 1), expected, cv::Size(640, 360), 0, 0, cv::INTER_LINEAR);
    for (int y : {140, 141, 300, 499}) {
        for (int x : {0, 1, 333, 639}) {
            const cv::Vec3b px = expected.at<cv::Vec3b>(y - 140, x);
            EXPECT_FLOAT_EQ(at(out, spec, 0, y, x), px[2] / 255.0f) << y << "," << x;
            EXPECT_FLOAT_EQ(at(out, spec, 2, y, x), px[0] / 255.0f) << y << "," << x;
        }
    }
}

TEST(Preprocess, RoiOffsetsTheTransformAndSelectsItsPixels) {
    const cv::Mat img = random_bgr(1920, 1080, 2);
    const media::Frame frame = bgr_frame_from(img, 7);
    PreprocessSpec spec;
    spec.width = 320;
    spec.height = 320;
    spec.color = ColorOrder::kBGR;
    spec.scale = 1.0f;
    InputTransform t;
    // 401x201 at (101, 51): scale 320/401, resized to 320x160 (160.4 rounds down), 80 rows of padding above.
    const std::vector<float> out = run_f32(frame, {101, 51, 401, 201}, spec, &t);
    EXPECT_FLOAT_EQ(t.pad_x, 0.0f);
    EXPECT_FLOAT_EQ(t.pad_y, 80.0f);
    EXPECT_FLOAT_EQ(t.scale_x, 401.0f / 320.0f);
    EXPECT_FLOAT_EQ(t.scale_y, 201.0f / 160.0f);
    EXPECT_FLOAT_EQ(t.frame_x(0), 101.0f);
    EXPECT_FLOAT_EQ(t.frame_y(80), 51.0f);
    EXPECT_NEAR(t.frame_x(320), 502.0f, 1e-4);
    EXPECT_NEAR(t.frame_y(240), 252.0f, 1e-4);
    cv::Mat expected;
    cv::resize(img(cv::Rect(101, 51, 401, 201)), expected, cv::Size(320, 160), 0, 0, cv::INTER_LINEAR);
    for (int y = 0; y < 160; y += 7)
        for (int x = 0; x < 320; x += 5)
            for (int c = 0; c < 3; ++c)
                ASSERT_FLOAT_EQ(at(out, spec, c, y + 80, x), expected.at<cv::Vec3b>(y, x)[c]) << y << "," << x;
}

TEST(Preprocess, StretchFillsTheInputWithoutPadding) {
    const cv::Mat img = random_bgr(1920, 1080, 3);
    PreprocessSpec spec;
    spec.resize = ResizeMode::kStretch;
    spec.width = 416;
    spec.height = 256;
    spec.color = ColorOrder::kBGR;
    spec.scale = 1.0f;
    InputTransform t;
    const std::vector<float> out = run_f32(bgr_frame_from(img), {0, 0, 0, 0}, spec, &t);
    EXPECT_FLOAT_EQ(t.scale_x, 1920.0f / 416.0f);
    EXPECT_FLOAT_EQ(t.scale_y, 1080.0f / 256.0f);
    EXPECT_FLOAT_EQ(t.pad_x, 0.0f);
    EXPECT_FLOAT_EQ(t.pad_y, 0.0f);
    EXPECT_NEAR(t.frame_x(416), 1920.0f, 1e-3);
    EXPECT_NEAR(t.frame_y(256), 1080.0f, 1e-3);
    cv::Mat expected;
    cv::resize(img, expected, cv::Size(416, 256), 0, 0, cv::INTER_LINEAR);
    for (int y = 0; y < 256; ++y)
        for (int x = 0; x < 416; ++x)
            for (int c = 0; c < 3; ++c)
                ASSERT_FLOAT_EQ(at(out, spec, c, y, x), expected.at<cv::Vec3b>(y, x)[c]) << y << "," << x;
}

TEST(Preprocess, NchwAndNhwcHoldTheSameValues) {
    const media::Frame frame = bgr_frame_from(random_bgr(333, 217, 4), 5);
    for (ColorOrder color : {ColorOrder::kRGB, ColorOrder::kGray}) {
        PreprocessSpec nchw;
        nchw.width = 97;
        nchw.height = 61;
        nchw.color = color;
        nchw.mean = {0.1f, 0.2f, 0.3f};
        nchw.std = {0.5f, 0.25f, 2.0f};
        PreprocessSpec nhwc = nchw;
        nhwc.layout = Layout::kNHWC;
        const std::vector<float> a = run_f32(frame, {3, 5, 301, 111}, nchw);
        const std::vector<float> b = run_f32(frame, {3, 5, 301, 111}, nhwc);
        const int channels = spec_channels(nchw);
        ASSERT_EQ(a.size(), b.size());
        for (int y = 0; y < 61; ++y)
            for (int x = 0; x < 97; ++x)
                for (int c = 0; c < channels; ++c)
                    ASSERT_EQ(at(a, nchw, c, y, x), b[(static_cast<size_t>(y) * 97 + x) * channels + c]);
    }
}

TEST(Preprocess, Float16OutputIsTheFloat32OutputRounded) {
    const media::Frame frame = bgr_frame_from(random_bgr(257, 129, 5));
    PreprocessSpec f32;
    f32.width = 63;
    f32.height = 47;
    f32.mean = {0.485f, 0.456f, 0.406f};
    f32.std = {0.229f, 0.224f, 0.225f};
    PreprocessSpec f16 = f32;
    f16.dtype = DType::kFloat16;
    ASSERT_EQ(input_item_bytes(f16) * 2, input_item_bytes(f32));
    const std::vector<float> ref = run_f32(frame, {}, f32);
    std::vector<uint16_t> half(input_item_bytes(f16) / 2, 0xFFFF);
    InputTransform t;
    ASSERT_TRUE(preprocess(frame, {}, f16, half.data(), t).is_ok());
    for (size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(half[i], float_to_half(ref[i])) << i;
}

TEST(Preprocess, NormalizesAConstantFrameAsComputedByHand) {
    cv::Mat img(50, 70, CV_8UC3, cv::Scalar(10, 20, 30));  // B, G, R
    const media::Frame frame = bgr_frame_from(img);
    PreprocessSpec spec;
    spec.width = 35;
    spec.height = 35;
    spec.mean = {0.485f, 0.456f, 0.406f};
    spec.std = {0.229f, 0.224f, 0.225f};
    // Letterbox: 70x50 -> 35x25, 5 rows of padding above.
    std::vector<float> out = run_f32(frame, {}, spec);
    EXPECT_NEAR(at(out, spec, 0, 20, 10), (30 / 255.0 - 0.485) / 0.229, 1e-5);  // R
    EXPECT_NEAR(at(out, spec, 1, 20, 10), (20 / 255.0 - 0.456) / 0.224, 1e-5);  // G
    EXPECT_NEAR(at(out, spec, 2, 20, 10), (10 / 255.0 - 0.406) / 0.225, 1e-5);  // B
    EXPECT_NEAR(at(out, spec, 0, 2, 10), (114 / 255.0 - 0.485) / 0.229, 1e-5);  // padding
    EXPECT_NEAR(at(out, spec, 2, 33, 10), (114 / 255.0 - 0.406) / 0.225, 1e-5);

    spec.color = ColorOrder::kBGR;
    out = run_f32(frame, {}, spec);
    EXPECT_NEAR(at(out, spec, 0, 20, 10), (10 / 255.0 - 0.485) / 0.229, 1e-5);

    spec.color = ColorOrder::kGray;
    spec.scale = 1.0f;
    spec.mean = {1.0f, 0, 0};
    spec.std = {2.0f, 1, 1};
    out = run_f32(frame, {}, spec);
    ASSERT_EQ(out.size(), 35u * 35u);
    EXPECT_NEAR(out[20 * 35 + 10], (0.299 * 30 + 0.587 * 20 + 0.114 * 10 - 1.0) / 2.0, 1e-4);
    EXPECT_NEAR(out[0], (114 - 1.0) / 2.0, 1e-5);
}

// A dim frame of low contrast: luma between about 50 and 70.
cv::Mat dim_frame(int width, int height, uint32_t seed) {
    return random_bgr(width, height, seed, 40, 80);
}

cv::Mat luma_of(const cv::Mat& bgr) {
    cv::Mat ycrcb, y;
    cv::cvtColor(bgr, ycrcb, cv::COLOR_BGR2YCrCb);
    cv::extractChannel(ycrcb, y, 0);
    return y;
}

// The output (BGR, scale 1, same size: no resampling) as an 8-bit image.
cv::Mat output_as_bgr(const std::vector<float>& out, const PreprocessSpec& spec) {
    cv::Mat img(spec.height, spec.width, CV_8UC3);
    for (int y = 0; y < spec.height; ++y)
        for (int x = 0; x < spec.width; ++x)
            for (int c = 0; c < 3; ++c) img.at<cv::Vec3b>(y, x)[c] = static_cast<uint8_t>(at(out, spec, c, y, x));
    return img;
}

void expect_equalized_luma(Equalize mode) {
    const cv::Mat img = dim_frame(203, 149, 6);
    PreprocessSpec spec;
    spec.width = 203;
    spec.height = 149;
    spec.color = ColorOrder::kBGR;
    spec.scale = 1.0f;
    spec.equalize = mode;
    spec.clahe_clip = 3.0;
    spec.clahe_tile = 5;
    const cv::Mat out = output_as_bgr(run_f32(bgr_frame_from(img), {}, spec), spec);
    const cv::Mat y_in = luma_of(img), y_out = luma_of(out);
    double in_min, in_max, out_min, out_max;
    cv::minMaxLoc(y_in, &in_min, &in_max);
    cv::minMaxLoc(y_out, &out_min, &out_max);
    EXPECT_LT(in_max - in_min, 40);
    EXPECT_GT(out_max - out_min, 2 * (in_max - in_min)) << "luma spread did not increase";
    cv::Mat expected;
    if (mode == Equalize::kGlobal)
        cv::equalizeHist(y_in, expected);
    else
        cv::createCLAHE(3.0, cv::Size(5, 5))->apply(y_in, expected);
    // YCrCb -> BGR -> YCrCb rounds each way, and stretched luma with colour saturates BGR near 0 and 255: the luma
    // survives within a few levels, almost everywhere within one.
    cv::Mat diff;
    cv::absdiff(expected, y_out, diff);
    double max_diff;
    cv::minMaxLoc(diff, nullptr, &max_diff);
    EXPECT_LE(max_diff, 4);
    EXPECT_LT(cv::mean(diff)[0], 0.5);
    EXPECT_GT(cv::norm(expected, y_in, cv::NORM_INF), 20) << "the expected equalization changes the luma";
}

TEST(Preprocess, GlobalEqualizationSpreadsLumaLikeEqualizeHist) {
    expect_equalized_luma(Equalize::kGlobal);
}

TEST(Preprocess, ClaheSpreadsLumaLikeOpenCvClahe) {
    expect_equalized_luma(Equalize::kClahe);
}

TEST(Preprocess, Nv12InputMatchesTheBgrPath) {
    const cv::Mat nv12 = random_nv12(322, 186, 7);
    cv::Mat bgr;
    cv::cvtColor(nv12, bgr, cv::COLOR_YUV2BGR_NV12);
    const media::Frame nv_frame = nv12_frame_from(nv12, 10);
    const media::Frame bgr_frame = bgr_frame_from(bgr);
    PreprocessSpec spec;
    spec.width = 128;
    spec.height = 96;
    for (Equalize eq : {Equalize::kNone, Equalize::kGlobal, Equalize::kClahe}) {
        spec.equalize = eq;
        // Odd ROI edges: the chroma of the first and last columns belongs to pixels outside the ROI.
        for (const Rect& roi : {Rect{}, Rect{33, 17, 201, 111}, Rect{1, 1, 320, 184}}) {
            const std::vector<float> a = run_f32(nv_frame, roi, spec);
            const std::vector<float> b = run_f32(bgr_frame, roi, spec);
            EXPECT_LE(max_abs_diff(a, b), 1e-6f) << "roi x " << roi.x << " eq " << static_cast<int>(eq);
        }
    }
}

TEST(Preprocess, PaddedStrideGivesTheSameOutput) {
    const cv::Mat img = random_bgr(101, 77, 8);
    PreprocessSpec spec;
    spec.width = 64;
    spec.height = 64;
    EXPECT_EQ(max_abs_diff(run_f32(bgr_frame_from(img, 0), {5, 6, 50, 40}, spec),
                           run_f32(bgr_frame_from(img, 13), {5, 6, 50, 40}, spec)),
              0.0f);
}

TEST(Preprocess, RejectsBadSpecsWithTheirReason) {
    PreprocessSpec s;
    s.width = 0;
    EXPECT_NE(validate(s).message().find("input size 0x640"), std::string::npos) << validate(s).message();
    s = {};
    s.dtype = DType::kInt8;
    EXPECT_EQ(validate(s).code(), StatusCode::kUnsupported);
    EXPECT_NE(validate(s).message().find("int8"), std::string::npos) << validate(s).message();
    s = {};
    s.std = {1, 0, 1};
    EXPECT_NE(validate(s).message().find("channel 1"), std::string::npos) << validate(s).message();
    s.color = ColorOrder::kGray;  // gray uses channel 0 only
    EXPECT_TRUE(validate(s).is_ok()) << validate(s).message();
    s = {};
    s.equalize = Equalize::kClahe;
    s.clahe_tile = 0;
    EXPECT_NE(validate(s).message().find("clahe_tile"), std::string::npos);
    s = {};
    s.scale = NAN;
    EXPECT_FALSE(validate(s).is_ok());
    EXPECT_TRUE(validate(PreprocessSpec{}).is_ok());
}

TEST(Preprocess, ResolvesRoisAndRejectsBadOnes) {
    Result<Rect> r = resolve_roi({}, 1920, 1080);
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ(r->width, 1920);
    EXPECT_EQ(r->height, 1080);
    r = resolve_roi({100, 200, 0, 50}, 1920, 1080);
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ(r->width, 1820);
    EXPECT_EQ(r->height, 50);
    EXPECT_EQ(resolve_roi({1920, 0, 0, 0}, 1920, 1080).status().code(), StatusCode::kOutOfRange);
    EXPECT_EQ(resolve_roi({1000, 0, 921, 10}, 1920, 1080).status().code(), StatusCode::kOutOfRange);
    EXPECT_EQ(resolve_roi({0, 0, 10, 2147483647}, 1920, 1080).status().code(), StatusCode::kOutOfRange);
    EXPECT_EQ(resolve_roi({-1, 0, 10, 10}, 1920, 1080).status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(resolve_roi({1000, 0, 921, 10}, 1920, 1080).status().message().find("outside the 1920x1080 frame"),
              std::string::npos);
}

TEST(Preprocess, RejectsBadFramesAndDestinations) {
    PreprocessSpec spec;
    std::vector<float> out(input_item_bytes(spec) / 4);
    InputTransform t;
    media::Frame empty;
    EXPECT_FALSE(preprocess(empty, {}, spec, out.data(), t).is_ok());
    const media::Frame frame = bgr_frame_from(random_bgr(64, 48, 9));
    EXPECT_NE(preprocess(frame, {}, spec, nullptr, t).message().find("null"), std::string::npos);
    EXPECT_EQ(preprocess(frame, {60, 0, 10, 10}, spec, out.data(), t).code(), StatusCode::kOutOfRange);
    media::Frame odd = nv12_frame_from(random_nv12(64, 48, 9));
    odd.width = 63;
    EXPECT_NE(preprocess(odd, {}, spec, out.data(), t).message().find("not even"), std::string::npos);
    media::Frame narrow = frame;
    narrow.stride = 100;
    EXPECT_NE(preprocess(narrow, {}, spec, out.data(), t).message().find("stride"), std::string::npos);
}

}  // namespace
}  // namespace fovea::vision
