// Convolutions through cuDNN's legacy API (algorithm chosen by measurement at build; ReLU epilogues fused by cuDNN,
// the others by fovea's bias + activation kernel), transposed convolutions as cuDNN's backward-data convolution, and
// matrix products through cuBLASLt (bias and ReLU epilogues fused by it, the others by the same kernel).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/cuda/conv_graph.h"
#include "backends/cuda/engine.h"
#include "backends/cuda/profile.h"
#include "ops/fused_conv.h"
#include "ops/nn_geometry.h"

namespace fovea::cuda {

namespace {

cudnnDataType_t cudnn_type(Float t) {
    return t == Float::kF32 ? CUDNN_DATA_FLOAT : CUDNN_DATA_HALF;
}

cudaDataType_t blas_type(Float t) {
    return t == Float::kF32 ? CUDA_R_32F : CUDA_R_16F;
}

Result<UnaryParams> epilogue_unary(const ir::Node& node, const ops::Epilogue& e) {
    UnaryParams f;
    auto param = [&](size_t i) { return i < e.params.size() ? e.params[i] : 0.f; };
    switch (e.activation) {
        case ops::Activation::kNone:
            f.op = Unary::kIdentity;
            break;
        case ops::Activation::kRelu:
            f.op = Unary::kRelu;
            break;
        case ops::Activation::kClip:
            f = {Unary::kClip, param(0), param(1)};
            break;
        case ops::Activation::kLeakyRelu:
            f = {Unary::kLeakyRelu, param(0), 0};
            break;
        case ops::Activation::kSigmoid:
            f.op = Unary::kSigmoid;
            break;
        case ops::Activation::kSiLU:
            f.op = Unary::kSiLU;
            break;
        case ops::Activation::kHardSwish:
            f.op = Unary::kHardSwish;
            break;
        case ops::Activation::kHardSigmoid:
            f = {Unary::kHardSigmoid, param(0), param(1)};
            break;
        case ops::Activation::kTanh:
            f.op = Unary::kTanh;
            break;
        case ops::Activation::kGelu:
            f.op = Unary::kGelu;
            break;
    }
    (void)node;
    return f;
}

// The cuDNN objects of one convolution; destroyed with the engine's launches.
struct ConvState {
    cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
    cudnnFilterDescriptor_t w = nullptr;
    cudnnConvolutionDescriptor_t conv = nullptr;
    cudnnActivationDescriptor_t act = nullptr;
    cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    size_t workspace = 0;
    bool fused = false;  // cudnnConvolutionBiasActivationForward does bias, residual and ReLU
    ConvState() = default;
    ConvState(const ConvState&) = delete;
    ConvState& operator=(const ConvState&) = delete;
    ~ConvState() {
        if (x) cudnnDestroyTensorDescriptor(x);
        if (y) cudnnDestroyTensorDescriptor(y);
        if (bias) cudnnDestroyTensorDescriptor(bias);
        if (w) cudnnDestroyFilterDescriptor(w);
        if (conv) cudnnDestroyConvolutionDescriptor(conv);
        if (act) cudnnDestroyActivationDescriptor(act);
    }
};

// Math for the precision: fp32 means float32 arithmetic (no TF32 tensor cores, which the default math mode allows on
// Ampere and later), fp16 takes tensor cores, tf32 lets cuDNN choose.
cudnnMathType_t conv_math(Precision precision) {
    return precision == Precision::kFP32   ? CUDNN_FMA_MATH
           : precision == Precision::kFP16 ? CUDNN_TENSOR_OP_MATH
                                           : CUDNN_DEFAULT_MATH;
}

// Creates and sets what a 2-D convolution is to cuDNN, in either direction: images x and y (4-D, in `format`),
// filters w, and the geometry with its group count and the precision's math type.
Status describe_conv(const std::string& what, cudnnDataType_t dt, cudnnTensorFormat_t format, Precision precision,
                     const Shape& x, const Shape& w, const Shape& y, const std::vector<int64_t>& pads,
                     const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations, int64_t group,
                     cudnnTensorDescriptor_t& xd, cudnnTensorDescriptor_t& yd, cudnnFilterDescriptor_t& wd,
                     cudnnConvolutionDescriptor_t& cd) {
    auto i = [](int64_t v) { return static_cast<int>(v); };
    FOVEA_CUDNN_TRY(cudnnCreateTensorDescriptor(&xd), what);
    FOVEA_CUDNN_TRY(cudnnCreateTensorDescriptor(&yd), what);
    FOVEA_CUDNN_TRY(cudnnCreateFilterDescriptor(&wd), what);
    FOVEA_CUDNN_TRY(cudnnCreateConvolutionDescriptor(&cd), what);
    FOVEA_CUDNN_TRY(cudnnSetTensor4dDescriptor(xd, format, dt, i(x[0]), i(x[1]), i(x[2]), i(x[3])),
                    what + " x descriptor");
    FOVEA_CUDNN_TRY(cudnnSetTensor4dDescriptor(yd, format, dt, i(y[0]), i(y[1]), i(y[2]), i(y[3])),
                    what + " y descriptor");
    FOVEA_CUDNN_TRY(cudnnSetFilter4dDescriptor(wd, dt, format, i(w[0]), i(w[1]), i(w[2]), i(w[3])),
                    what + " filter descriptor");
    FOVEA_CUDNN_TRY(
        cudnnSetConvolution2dDescriptor(cd, i(pads[0]), i(pads[1]), i(strides[0]), i(strides[1]), i(dilations[0]),
                                        i(dilations[1]), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
        what + " convolution descriptor");
    FOVEA_CUDNN_TRY(cudnnSetConvolutionGroupCount(cd, i(group)), what + " group count");
    FOVEA_CUDNN_TRY(cudnnSetConvolutionMathType(cd, conv_math(precision)), what + " math type");
    return Status::ok();
}

// A 1x1 convolution of 1x1 maps (a squeeze-excitation block's two convolutions): a matrix-vector product per image,
// which fovea's warp-per-output kernel does in a few microseconds where cuDNN's kernels took 30-100 at batch 1 on an
// H200. Both layouts are the same bytes here: x [N, C], w [K, C], y [N, K].
Result<Launch> build_dense_conv(const ir::Node& node, Builder& b, Float t, const ops::Epilogue& epilogue, int64_t rows,
                                int64_t channels_in, int64_t channels_out) {
    FOVEA_ASSIGN(const UnaryParams f, epilogue_unary(node, epilogue));
    FOVEA_ASSIGN(void* const x, b.pointer(node, node.input(0)));
    FOVEA_ASSIGN(void* const w, b.pointer(node, node.input(1)));
    void* bias = nullptr;
    void* sum = nullptr;
    if (const ir::Value* bv = node.input(2)) {
        FOVEA_ASSIGN(bias, b.pointer(node, bv));
    }
    if (epilogue.has_sum) {
        FOVEA_ASSIGN(sum, b.pointer(node, node.input(3)));
    }
    const ir::Value* yv = node.outputs[0];
    FOVEA_ASSIGN(void* const y, b.output_as(node, yv, b.layout(*yv)));
    return Launch([=, &node](const Exec& e) {
        return launched(node, launch_dense_rows(t, f, x, w, bias, sum, y, rows, channels_in, channels_out, e.stream));
    });
}

}  // namespace

Result<Launch> build_conv(const ir::Node& node, Builder& b) {
    const bool fused_op = node.op_type == "FusedConv";
    ops::Epilogue epilogue;
    if (fused_op) {
        FOVEA_ASSIGN(epilogue, ops::read_epilogue(node));
    }
    const ir::Value* xv = node.input(0);
    const ir::Value* wv = node.input(1);
    const ir::Value* bv = node.input(2);
    const ir::Value* sv = epilogue.has_sum ? node.input(3) : nullptr;
    const ir::Value* yv = node.outputs[0];
    FOVEA_ASSIGN(const Float t, b.float_type(node, *xv));
    Shape xs = shape_of(*xv), ws = shape_of(*wv), ys = shape_of(*yv);
    if (xs.size() != 3 && xs.size() != 4) return node_unsupported(node, "only 1-D and 2-D convolutions are");
    FOVEA_ASSIGN(const ops::Window win,
                 ops::resolve_window(node, ops::WindowKind::kConv, Shape(xs.begin() + 2, xs.end()),
                                     Shape(ws.begin() + 2, ws.end())));
    std::vector<int64_t> pads = win.pad_begin, strides = win.strides, dilations = win.dilations;
    for (size_t d = 0; d < pads.size(); ++d)
        if (win.pad_begin[d] != win.pad_end[d]) return node_unsupported(node, "asymmetric pads are not");
    if (xs.size() == 3) {  // 1-D as 2-D with a height of one
        xs.insert(xs.begin() + 2, 1);
        ws.insert(ws.begin() + 2, 1);
        ys.insert(ys.begin() + 2, 1);
        pads.insert(pads.begin(), 0);
        strides.insert(strides.begin(), 1);
        dilations.insert(dilations.begin(), 1);
    }
    const int64_t group = node.attr_int("group", 1);
    auto as_int = [](int64_t v) { return static_cast<int>(v); };
    const bool one_by_one_maps = xs.size() == 4 && xs[2] == 1 && xs[3] == 1 && ws[2] == 1 && ws[3] == 1 && ys[2] == 1 &&
                                 ys[3] == 1 && group == 1 &&
                                 std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; });
    if (one_by_one_maps) return build_dense_conv(node, b, t, epilogue, xs[0], xs[1], ys[1]);

    auto s = std::make_shared<ConvState>();
    const std::string what = node.describe() + ": cuDNN";
    const cudnnDataType_t dt = cudnn_type(t);
    // NHWC with KRSC filters: the layout cuDNN's tensor-core kernels read without transposing.
    const bool nhwc = b.nhwc && conv_takes_nhwc(node);
    const cudnnTensorFormat_t format = nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    // Tensor cores take NHWC channels in multiples of 8 halves (4 floats as TF32): fewer (an image's 3) leave cuDNN
    // slow fallback kernels. Such an input is copied into a zero-padded buffer and the filters padded to match.
    const int64_t channel_align = t == Float::kF16 ? 8 : 4;
    // A stride-2 convolution of a few channels with a wide filter (ResNet's 7x7 stem over RGB) runs as a stride-1
    // one over the image's 2x2 pixel blocks: 4x the channels, a filter half as wide (7x7 -> 4x4 over 12 channels),
    // which the tensor cores take. cuDNN ran ResNet-50's stem directly at about 40 TFLOP/s on the H200 (0.74 of 4.0
    // ms per batch of 128).
    const bool blocked_input = nhwc && group == 1 && b.precision != Precision::kFP32 && xs[1] * 4 <= 16 && ws[2] >= 5 &&
                               ws[3] >= 5 && strides == std::vector<int64_t>{2, 2} &&
                               dilations == std::vector<int64_t>{1, 1} && b.layout(*xv) != Layout::kNHWC;
    SpaceToDepth blocks;
    std::vector<float> blocked_filters;  // [K, 4C, R', S'] from [K, C, R, S]
    if (blocked_input) {
        // Output pixel i reads input 2i + r - pad; with top = pad rounded up to even that is block i + a, row
        // parity j, of the image padded by top, where r = 2a + j - (top - pad).
        blocks = {.n = xs[0],
                  .channels = xs[1],
                  .h = xs[2],
                  .w = xs[3],
                  .top = pads[0] + pads[0] % 2,
                  .left = pads[1] + pads[1] % 2};
        const int64_t shift_h = blocks.top - pads[0], shift_w = blocks.left - pads[1];
        const int64_t K = ws[0], C = xs[1], R = ws[2], S = ws[3];
        const int64_t taps_h = (R + shift_h + 1) / 2, taps_w = (S + shift_w + 1) / 2;
        blocks.out_h = ys[2] + taps_h - 1, blocks.out_w = ys[3] + taps_w - 1;
        const float* f = wv->constant->data<float>();
        blocked_filters.assign(static_cast<size_t>(K * 4 * C * taps_h * taps_w), 0.f);
        for (int64_t k = 0; k < K; ++k)
            for (int64_t c = 0; c < C; ++c)
                for (int64_t r = 0; r < R; ++r)
                    for (int64_t q = 0; q < S; ++q) {
                        const int64_t a = (r + shift_h) / 2, i = (r + shift_h) % 2;
                        const int64_t e = (q + shift_w) / 2, j = (q + shift_w) % 2;
                        const int64_t channel = (i * 2 + j) * C + c;
                        blocked_filters[static_cast<size_t>(((k * 4 * C + channel) * taps_h + a) * taps_w + e)] =
                            f[((k * C + c) * R + r) * S + q];
                    }
        xs = {xs[0], 4 * C, blocks.out_h, blocks.out_w};
        ws = {K, 4 * C, taps_h, taps_w};
        pads = {0, 0};
        strides = {1, 1};
    }
    const int64_t channels_in = xs[1], filter_channels = ws[1];  // filter_channels: per group
    if (nhwc && group == 1 && b.precision != Precision::kFP32 && channels_in % channel_align != 0) {
        xs[1] = (channels_in + channel_align - 1) / channel_align * channel_align;
        ws[1] = xs[1];
    }
    const bool padded = xs[1] != channels_in || blocked_input;  // either way read from a buffer of its own
    // Likewise output channels (a YOLO head's 255): the convolution writes a padded buffer, copied out.
    const int64_t channels_out = ys[1], out_count = shape_numel(ys);
    if (nhwc && group == 1 && b.precision != Precision::kFP32 && channels_out % channel_align != 0) {
        ys[1] = (channels_out + channel_align - 1) / channel_align * channel_align;
        ws[0] = ys[1];
    }
    const bool padded_out = ys[1] != channels_out;
    FOVEA_TRY(describe_conv(what, dt, format, b.precision, xs, ws, ys, pads, strides, dilations, group, s->x, s->y,
                            s->w, s->conv));
    const bool exact = b.precision == Precision::kFP32;
    const cudnnMathType_t math = conv_math(b.precision);
    int n = 0, c = 0, h = 0, w = 0;
    FOVEA_CUDNN_TRY(cudnnGetConvolution2dForwardOutputDim(s->conv, s->x, s->w, &n, &c, &h, &w), what);
    if (n != ys[0] || c != ys[1] || h != ys[2] || w != ys[3])
        return internal_error(node.describe() + ": cuDNN's output shape differs from the inferred one");

    const Layout lay = nhwc ? Layout::kNHWC : Layout::kNCHW;
    // A padded input is gathered from NCHW (how images arrive) straight into its padded NHWC rows.
    const bool gather_nchw = padded && b.layout(*xv) != Layout::kNHWC;
    FOVEA_ASSIGN(void* const x_stored, b.pointer_as(node, xv, gather_nchw ? Layout::kNCHW : lay));
    blocks.pitch = xs[1];
    void* x = x_stored;
    const int esize = t == Float::kF16 ? 2 : 4;
    if (padded) {
        const size_t bytes = static_cast<size_t>(shape_numel(xs)) * esize;
        FOVEA_ASSIGN(x, b.upload(nullptr, bytes));
        // The padding channels stay zero: runs write only the first channels_in of each pixel.
        FOVEA_CUDA_TRY(cudaMemset(x, 0, bytes), what + " padded input");
    }
    void* wp = nullptr;
    if (nhwc) {
        // KCRS -> KRSC (C padded with zero filters), once, on the host.
        const float* f = blocked_input ? blocked_filters.data() : wv->constant->data<float>();
        const int64_t K = ws[0], C = ws[1], R = ws[2], S = ws[3];
        std::vector<float> krsc(static_cast<size_t>(K * C * R * S), 0.f);
        for (int64_t k = 0; k < channels_out; ++k)
            for (int64_t c = 0; c < filter_channels; ++c)
                for (int64_t r = 0; r < R; ++r)
                    for (int64_t q = 0; q < S; ++q)
                        krsc[static_cast<size_t>(((k * R + r) * S + q) * C + c)] =
                            f[((k * filter_channels + c) * R + r) * S + q];
        FOVEA_ASSIGN(wp, b.upload_floats(krsc, t));
    } else {
        FOVEA_ASSIGN(wp, b.pointer(node, wv));
    }
    FOVEA_ASSIGN(void* const y_out, b.output_as(node, yv, lay));
    void* y = y_out;
    if (padded_out) {
        FOVEA_ASSIGN(y, b.upload(nullptr, static_cast<size_t>(shape_numel(ys)) * esize));
    }
    void* bias = nullptr;
    void* sum = nullptr;
    if (bv) {
        FOVEA_ASSIGN(bias, b.pointer(node, bv));
    }
    if (sv) {
        FOVEA_ASSIGN(sum, b.pointer_as(node, sv, lay));
    }
    void* const node_bias = bias;

    // What this convolution is to cuDNN: its cache entry applies only to exactly this.
    std::string signature = node.name + "|" + node.op_type + "|x" + shape_to_string(xs) + "|w" + shape_to_string(ws) +
                            "|y" + shape_to_string(ys) + "|p" + shape_to_string(pads) + "|s" +
                            shape_to_string(strides) + "|d" + shape_to_string(dilations) + "|g" +
                            std::to_string(group) + (nhwc ? "|nhwc" : "|nchw") + (t == Float::kF16 ? "|f16" : "|f32") +
                            "|a" + std::to_string(static_cast<int>(epilogue.activation)) + (sv ? "|sum" : "");
    for (char& ch : signature)
        if (ch == '\t' || ch == '\n') ch = ' ';
    bool found = false;
    const ConvChoice* cached = nullptr;
    if (b.cached) {
        // A cached choice is used only if cuDNN still accepts it for these descriptors.
        if (auto it = b.cached->convs.find(signature); it != b.cached->convs.end()) {
            const ConvChoice& c = it->second;
            const auto algo = static_cast<cudnnConvolutionFwdAlgo_t>(c.algo);
            size_t bytes = 0;
            const bool math_ok = exact || cudnnSetConvolutionMathType(s->conv, static_cast<cudnnMathType_t>(c.math)) ==
                                              CUDNN_STATUS_SUCCESS;
            if (c.algo >= 0 && c.algo < CUDNN_CONVOLUTION_FWD_ALGO_COUNT && math_ok &&
                cudnnGetConvolutionForwardWorkspaceSize(b.exec.cudnn, s->x, s->w, s->conv, s->y, algo, &bytes) ==
                    CUDNN_STATUS_SUCCESS &&
                bytes <= b.scratch_bytes) {
                s->algo = algo;
                s->workspace = bytes;
                found = true;
                cached = &c;
            } else if (!exact) {
                FOVEA_CUDNN_TRY(cudnnSetConvolutionMathType(s->conv, math), what + " math type");
            }
        }
    }
    if (!found) {
        // Measure the candidates on this device, on the real buffers (nothing in them is live while building).
        ++b.searched;
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int returned = 0;
        FOVEA_CUDNN_TRY(cudnnFindConvolutionForwardAlgorithmEx(b.exec.cudnn, s->x, x, s->w, wp, s->conv, s->y, y,
                                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf,
                                                               b.scratch, b.scratch_bytes),
                        what + " algorithm search");
        for (int i = 0; i < returned && !found; ++i) {
            if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > b.scratch_bytes) continue;
            s->algo = perf[i].algo;
            s->workspace = perf[i].memory;
            // cuDNN asks callers to run with the math type it measured; exact fp32 keeps FMA math regardless.
            if (!exact) FOVEA_CUDNN_TRY(cudnnSetConvolutionMathType(s->conv, perf[i].mathType), what + " math type");
            found = true;
        }
    }
    if (!found) return node_unsupported(node, "cuDNN has no algorithm for this convolution");
    b.need_workspace(s->workspace);

    const int64_t channels = channels_out;
    FOVEA_ASSIGN(UnaryParams f, epilogue_unary(node, epilogue));
    // cuDNN's fused call takes ReLU (identity only with one algorithm); the bias it needs may be zeros.
    if (f.op == Unary::kRelu && !padded_out) {
        FOVEA_CUDNN_TRY(cudnnCreateTensorDescriptor(&s->bias), what);
        FOVEA_CUDNN_TRY(cudnnSetTensor4dDescriptor(s->bias, format, dt, 1, as_int(channels), 1, 1), what);
        FOVEA_CUDNN_TRY(cudnnCreateActivationDescriptor(&s->act), what);
        FOVEA_CUDNN_TRY(cudnnSetActivationDescriptor(s->act, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0),
                        what);
        if (!bias) {
            FOVEA_ASSIGN(bias, b.upload_floats(std::vector<float>(static_cast<size_t>(channels), 0.f), t));
        }
        const float one = 1.f, alpha2 = sum ? 1.f : 0.f;
        // Not every configuration has a fused kernel: a trial on the build's scratch decides.
        const cudnnStatus_t trial = cudnnConvolutionBiasActivationForward(
            b.exec.cudnn, &one, s->x, x, s->w, wp, s->conv, s->algo, b.scratch, b.scratch_bytes, &alpha2, s->y,
            sum ? sum : y, s->bias, bias, s->act, s->y, y);
        s->fused = trial == CUDNN_STATUS_SUCCESS;
        if (!s->fused && !bv) bias = nullptr;
    }
    const int64_t count = out_count, inner = nhwc ? 1 : ys[2] * ys[3];
    const bool epilogue_kernel = !s->fused && (bias || sum || f.op != Unary::kIdentity);
    const int64_t pixels = xs[0] * xs[2] * xs[3], channels_padded = xs[1];
    const int64_t out_pixels = ys[0] * ys[2] * ys[3], out_padded = ys[1];
    const Launch legacy = [=, &node](const Exec& e) -> Status {
        const float one = 1.f, zero = 0.f, alpha2 = sum ? 1.f : 0.f;
        if (s->fused) {
            FOVEA_CUDNN_TRY(cudnnConvolutionBiasActivationForward(e.cudnn, &one, s->x, x, s->w, wp, s->conv, s->algo,
                                                                  e.workspace, e.workspace_bytes, &alpha2, s->y,
                                                                  sum ? sum : y, s->bias, bias, s->act, s->y, y),
                            node.describe() + ": cuDNN");
            return Status::ok();
        }
        FOVEA_CUDNN_TRY(cudnnConvolutionForward(e.cudnn, &one, s->x, x, s->w, wp, s->conv, s->algo, e.workspace,
                                                e.workspace_bytes, &zero, s->y, y),
                        node.describe() + ": cuDNN");
        if (padded_out)
            FOVEA_TRY(launched(
                node, launch_copy_rows(esize, y, out_padded, y_out, channels_out, out_pixels, channels_out, e.stream)));
        if (epilogue_kernel)
            return launched(node, launch_bias_activation(t, f, y_out, bias, sum, count, channels, inner, e.stream));
        return Status::ok();
    };

    // Timings at build run with the build's scratch as workspace (nothing in it is live yet).
    Exec trial = b.exec;
    trial.workspace = b.scratch;
    trial.workspace_bytes = b.scratch_bytes;

    // Depthwise convolutions (MobileNet, EfficientNet): fovea's NHWC kernel where it measures clearly faster than the
    // above, measured at every build, cached or not (a few runs per convolution). FOVEA_CUDA_DEPTHWISE=fovea or =cudnn
    // forces the choice (tests, comparisons).
    Launch depthwise;
    const char* depthwise_env = std::getenv("FOVEA_CUDA_DEPTHWISE");
    const std::string depthwise_choice = depthwise_env ? depthwise_env : "";
    if (nhwc && group == channels_in && group == channels_out && filter_channels == 1 && depthwise_choice != "cudnn") {
        DepthwiseParams dp;
        dp.batch = as_int(xs[0]), dp.channels = as_int(channels_in), dp.in_h = as_int(xs[2]), dp.in_w = as_int(xs[3]);
        dp.out_h = as_int(ys[2]), dp.out_w = as_int(ys[3]), dp.kernel_h = as_int(ws[2]), dp.kernel_w = as_int(ws[3]);
        dp.stride_h = as_int(strides[0]), dp.stride_w = as_int(strides[1]), dp.pad_h = as_int(pads[0]);
        dp.pad_w = as_int(pads[1]), dp.dilation_h = as_int(dilations[0]), dp.dilation_w = as_int(dilations[1]);
        // [C, 1, R, S] -> [R, S, C]: a tap's filters for consecutive channels are one vector.
        const float* f32 = wv->constant->data<float>();
        const int64_t C = channels_in, R = ws[2], S = ws[3];
        std::vector<float> rsc(static_cast<size_t>(C * R * S));
        for (int64_t c = 0; c < C; ++c)
            for (int64_t r = 0; r < R * S; ++r) rsc[static_cast<size_t>(r * C + c)] = f32[c * R * S + r];
        FOVEA_ASSIGN(void* const wd, b.upload_floats(rsc, t));
        if (depthwise_supported(t, dp, x, wd, sum, y_out)) {
            depthwise = [=, &node](const Exec& e) -> Status {
                return launched(node, launch_depthwise_nhwc(t, dp, f, x, wd, node_bias, sum, y_out, e.stream));
            };
            if (depthwise_choice != "fovea") {
                FOVEA_ASSIGN(const float own_ms, measure_ms(trial.stream, [&] { return depthwise(trial); }));
                FOVEA_ASSIGN(const float legacy_ms, measure_ms(trial.stream, [&] { return legacy(trial); }));
                // A clear win only: at batch 128 on the H200 single timings picked fovea's kernel for layers where
                // it was not faster inside the network (MobileNetV2 4.3-4.5 ms against cuDNN's 4.0), at batch 1 it
                // wins by far (0.45 against 0.60 ms).
                if (own_ms > 0.85f * legacy_ms) depthwise = nullptr;
            }
        }
    }

    // The graph API's fused kernel where it measures faster than the above (or where the cache says it did). A search
    // compares them once every node is built (Builder::deferred): the plans compile meanwhile.
    std::shared_ptr<GraphConv> graph;
    auto chosen_graph = std::make_shared<std::shared_ptr<GraphConv>>();  // what the launch runs, once decided
    const auto record = [&b, signature, s, cached](const GraphConv* g) {
        // A cached build's plans are still compiling: the workspace they need is the one recorded.
        const size_t graph_workspace = !g ? 0 : cached ? cached->graph_workspace : g->workspace();
        b.need_workspace(graph_workspace);
        cudnnMathType_t used = CUDNN_DEFAULT_MATH;
        cudnnGetConvolutionMathType(s->conv, &used);
        b.chosen.convs[signature] = {static_cast<int>(s->algo), static_cast<int>(used), s->workspace, s->fused,
                                     g ? g->candidate() : -1,   graph_workspace};
    };
    // It fuses identity, ReLU, sigmoid and SiLU epilogues; any other activation (ReLU6, HardSwish, LeakyRelu, ...)
    // runs as one in-place kernel after the fused convolution, bias and residual, which may still beat the legacy
    // convolution by far (on the H200 at batch 128 the graph API ran MobileNetV2's linear 1x1 projections in
    // 0.01-0.05 ms against the legacy path's 0.12-0.29; its ReLU6 1x1 expansions took 0.14-0.39 ms on the latter).
    const Unary graph_activation = graph_conv_supports(f.op) ? f.op : Unary::kIdentity;
    const bool activation_after = graph_activation != f.op;
    const Launch activate = [=, &node](const Exec& e) -> Status {
        return launched(node, launch_unary(t, f, y_out, y_out, count, e.stream));
    };
    // A padded output (a YOLO head's 255 channels in 256) takes the graph path too, with its bias padded by zeros,
    // then copied out: on the legacy path those heads ran at ~30 TFLOP/s (0.4 of 3.2 ms per YOLOv5s batch of 16).
    const Launch copy_out = [=, &node](const Exec& e) -> Status {
        return launched(
            node, launch_copy_rows(esize, y, out_padded, y_out, channels_out, out_pixels, channels_out, e.stream));
    };
    void* graph_bias = node_bias;
    const bool graph_padded_ok = !padded_out || (!sv && (!bv || bv->constant));
    if (padded_out && bv && bv->constant && graph_padded_ok) {
        std::vector<float> padded_bias(static_cast<size_t>(out_padded), 0.f);
        for (int64_t c = 0; c < channels_out; ++c)
            padded_bias[static_cast<size_t>(c)] = static_cast<float>(bv->constant->element_as_double(c));
        FOVEA_ASSIGN(graph_bias, b.upload_floats(padded_bias, t));
    }
    if (t == Float::kF16 && nhwc && group == 1 && graph_padded_ok && graph_conv_supports(Unary::kIdentity) &&
        !(sum && sum == y) && (!cached || cached->graph >= 0)) {
        GraphConvSpec spec;
        spec.n = xs[0], spec.c = xs[1], spec.h = xs[2], spec.w = xs[3];
        spec.k = ws[0], spec.r = ws[2], spec.s = ws[3];
        spec.p = ys[2], spec.q = ys[3];
        spec.pads = {pads[0], pads[1]};
        spec.strides = {strides[0], strides[1]};
        spec.dilations = {dilations[0], dilations[1]};
        spec.bias = graph_bias != nullptr;
        spec.sum = sum != nullptr;
        spec.activation = graph_activation;
        const GraphConvBuffers buffers{x, wp, graph_bias, sum, y};
        graph = GraphConv::build(b.exec.cudnn, b.exec.stream, spec, buffers, b.scratch, b.scratch_bytes,
                                 cached ? cached->graph : -1, b.graph_plans);
    } else if (StepProfiler::requested() && t == Float::kF16 && nhwc && group == 1) {
        std::fprintf(stderr, "fovea cuda profile: %s: legacy path (padded output %d, cached choice %d)\n",
                     node.describe().c_str(), int{padded_out}, cached ? cached->graph : -2);
    }
    if (graph && !cached) {
        b.deferred.push_back([=, &b, &node]() -> Status {
            if (graph->usable(b.scratch_bytes)) {
                FOVEA_ASSIGN(const float legacy_ms, measure_ms(trial.stream, [&] { return legacy(trial); }));
                float graph_ms = graph->measured_ms();
                if (activation_after) {
                    FOVEA_ASSIGN(const float activation_ms, measure_ms(trial.stream, [&] { return activate(trial); }));
                    graph_ms += activation_ms;
                }
                if (padded_out) {
                    FOVEA_ASSIGN(const float copy_ms, measure_ms(trial.stream, [&] { return copy_out(trial); }));
                    graph_ms += copy_ms;
                }
                if (graph_conv_forced() || graph_ms < legacy_ms) *chosen_graph = graph;
                if (StepProfiler::requested())
                    std::fprintf(stderr, "fovea cuda profile: %s: graph API %.3f ms, legacy %.3f ms\n",
                                 node.describe().c_str(), graph_ms, legacy_ms);
            } else if (StepProfiler::requested()) {
                std::fprintf(stderr, "fovea cuda profile: %s: no graph-API plan\n", node.describe().c_str());
            }
            if (!*chosen_graph && graph_conv_forced()) {
                return node_unsupported(node, "FOVEA_CUDA_GRAPH_CONV=force: cuDNN's graph API has no engine for it");
            }
            record(chosen_graph->get());
            return Status::ok();
        });
    } else {
        *chosen_graph = graph;
        record(graph.get());
    }
    return Launch([=, &node](const Exec& e) -> Status {
        if (blocked_input)
            FOVEA_TRY(launched(node, launch_space_to_depth(esize, blocks, x_stored, x, e.stream)));
        else if (gather_nchw)
            FOVEA_TRY(launched(node, launch_nchw_to_nhwc(esize, x_stored, x, xs[0], channels_in, xs[2] * xs[3],
                                                         channels_padded, e.stream)));
        else if (padded)
            FOVEA_TRY(launched(node, launch_copy_rows(esize, x_stored, channels_in, x, channels_padded, pixels,
                                                      channels_in, e.stream)));
        if (depthwise) return depthwise(e);
        GraphConv* const fused = chosen_graph->get();
        if (!fused || !fused->usable(e.workspace_bytes)) return legacy(e);
        const Status ran = fused->run(e.cudnn, e.workspace);
        if (!ran.is_ok()) return internal_error(node.describe() + ": " + ran.message());
        if (padded_out) FOVEA_TRY(copy_out(e));
        return activation_after ? activate(e) : Status::ok();
    });
}

namespace {

// The cuDNN objects of one transposed convolution. ConvTranspose is the gradient of a convolution with respect to its
// input: its input is that convolution's output (cuDNN's dy), its output the convolution's input (dx), and its
// weights [C_in, M / group, k...] are the convolution's filters as they stand.
struct DeconvState {
    cudnnTensorDescriptor_t dy = nullptr, dx = nullptr;
    cudnnFilterDescriptor_t w = nullptr;
    cudnnConvolutionDescriptor_t conv = nullptr;
    cudnnConvolutionBwdDataAlgo_t algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
    size_t workspace = 0;
    DeconvState() = default;
    DeconvState(const DeconvState&) = delete;
    DeconvState& operator=(const DeconvState&) = delete;
    ~DeconvState() {
        if (dy) cudnnDestroyTensorDescriptor(dy);
        if (dx) cudnnDestroyTensorDescriptor(dx);
        if (w) cudnnDestroyFilterDescriptor(w);
        if (conv) cudnnDestroyConvolutionDescriptor(conv);
    }
};

}  // namespace

Result<Launch> build_conv_transpose(const ir::Node& node, Builder& b) {
    const ir::Value* xv = node.input(0);
    const ir::Value* wv = node.input(1);
    const ir::Value* bv = node.input(2);
    const ir::Value* yv = node.outputs[0];
    FOVEA_ASSIGN(const Float t, b.float_type(node, *xv));
    Shape xs = shape_of(*xv), ws = shape_of(*wv), ys = shape_of(*yv);
    if (xs.size() != 3 && xs.size() != 4) return node_unsupported(node, "only 1-D and 2-D transposed convolutions are");
    if (shape_numel(ys) == 0) return Launch([](const Exec&) { return Status::ok(); });
    if (shape_numel(xs) == 0) return node_unsupported(node, "an empty input is not");
    FOVEA_ASSIGN(const ops::Window win,
                 ops::resolve_window(node, ops::WindowKind::kConvTranspose, Shape(xs.begin() + 2, xs.end()),
                                     Shape(ws.begin() + 2, ws.end())));
    // y[o] is element o + pad_begin of the full scatter ("natural": s * (in - 1) + extent long; zero outside it).
    // cuDNN's backward data computes that scatter cropped by the same `pads` at both ends. Where y's crop is
    // asymmetric or negative (asymmetric pads, output_padding, output_shape, SAME auto_pad), cuDNN computes the
    // largest symmetric crop inside y's window (`full` long), which lands in y shifted by pads - pad_begin, the rest
    // of y zero.
    const size_t spatial = xs.size() - 2;
    std::vector<int64_t> pads(spatial), full(spatial), begin(spatial), strides = win.strides, dilations = win.dilations;
    bool direct = true;
    for (size_t d = 0; d < spatial; ++d) {
        const int64_t natural = strides[d] * (xs[d + 2] - 1) + (win.kernel[d] - 1) * dilations[d] + 1;
        const int64_t crop_end = natural - win.pad_begin[d] - ys[d + 2];  // pad_end less output_padding
        // At least one element of the scatter survives, so that cuDNN has something to compute.
        pads[d] = std::clamp<int64_t>(std::min(win.pad_begin[d], crop_end), 0, (natural - 1) / 2);
        full[d] = natural - 2 * pads[d];
        begin[d] = pads[d] - win.pad_begin[d];
        direct = direct && begin[d] == 0 && full[d] == ys[d + 2];
    }
    if (xs.size() == 3) {  // 1-D as 2-D with a height of one
        xs.insert(xs.begin() + 2, 1);
        ws.insert(ws.begin() + 2, 1);
        ys.insert(ys.begin() + 2, 1);
        pads.insert(pads.begin(), 0);
        full.insert(full.begin(), 1);
        begin.insert(begin.begin(), 0);
        strides.insert(strides.begin(), 1);
        dilations.insert(dilations.begin(), 1);
    }
    const int64_t group = node.attr_int("group", 1);

    auto s = std::make_shared<DeconvState>();
    const std::string what = node.describe() + ": cuDNN";
    const cudnnDataType_t dt = cudnn_type(t);
    const Shape dx_shape = {ys[0], ys[1], full[0], full[1]};
    // The convolution this is the gradient of: from dx (the node's output, cropped) to dy (its input).
    FOVEA_TRY(describe_conv(what, dt, CUDNN_TENSOR_NCHW, b.precision, dx_shape, ws, xs, pads, strides, dilations, group,
                            s->dx, s->dy, s->w, s->conv));
    const bool exact = b.precision == Precision::kFP32;
    const cudnnMathType_t math = conv_math(b.precision);
    // The convolution this is the gradient of maps dx back onto exactly the node's input.
    int n = 0, c = 0, h = 0, w = 0;
    FOVEA_CUDNN_TRY(cudnnGetConvolution2dForwardOutputDim(s->conv, s->dx, s->w, &n, &c, &h, &w), what);
    if (n != xs[0] || c != xs[1] || h != xs[2] || w != xs[3])
        return internal_error(node.describe() + ": the convolution cuDNN would transpose does not map " +
                              shape_to_string(dx_shape) + " onto the input " + shape_to_string(xs));

    FOVEA_ASSIGN(void* x, b.pointer(node, xv));
    FOVEA_ASSIGN(void* wp, b.pointer(node, wv));
    FOVEA_ASSIGN(void* y, b.pointer(node, yv));
    void* bias = nullptr;
    if (bv) {
        FOVEA_ASSIGN(bias, b.pointer(node, bv));
    }
    const int esize = element_size(b.stored(*yv));
    void* dx = y;
    PadParams place;
    if (!direct) {
        FOVEA_ASSIGN(dx, b.upload(nullptr, static_cast<size_t>(shape_numel(dx_shape)) * esize));
        place.mode = PadMode::kConstant;  // value_bits 0: zero in both float types
        place.rank = 4;
        for (int d = 0; d < 4; ++d) {
            place.size[d] = ys[static_cast<size_t>(d)];
            place.in_size[d] = dx_shape[static_cast<size_t>(d)];
            place.begin[d] = d < 2 ? 0 : begin[static_cast<size_t>(d - 2)];
        }
    }

    std::string signature = node.name + "|" + node.op_type + "|x" + shape_to_string(xs) + "|w" + shape_to_string(ws) +
                            "|dx" + shape_to_string(dx_shape) + "|p" + shape_to_string(pads) + "|s" +
                            shape_to_string(strides) + "|d" + shape_to_string(dilations) + "|g" +
                            std::to_string(group) + (t == Float::kF16 ? "|f16" : "|f32");
    for (char& ch : signature)
        if (ch == '\t' || ch == '\n') ch = ' ';
    bool found = false;
    if (b.cached) {
        if (auto it = b.cached->convs.find(signature); it != b.cached->convs.end()) {
            const ConvChoice& choice = it->second;
            const auto algo = static_cast<cudnnConvolutionBwdDataAlgo_t>(choice.algo);
            size_t bytes = 0;
            const bool math_ok =
                exact ||
                cudnnSetConvolutionMathType(s->conv, static_cast<cudnnMathType_t>(choice.math)) == CUDNN_STATUS_SUCCESS;
            if (choice.algo >= 0 && choice.algo < CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT && math_ok &&
                cudnnGetConvolutionBackwardDataWorkspaceSize(b.exec.cudnn, s->w, s->dy, s->conv, s->dx, algo, &bytes) ==
                    CUDNN_STATUS_SUCCESS &&
                bytes <= b.scratch_bytes) {
                s->algo = algo;
                s->workspace = bytes;
                found = true;
            } else if (!exact) {
                FOVEA_CUDNN_TRY(cudnnSetConvolutionMathType(s->conv, math), what + " math type");
            }
        }
    }
    if (!found) {
        ++b.searched;
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        int returned = 0;
        FOVEA_CUDNN_TRY(cudnnFindConvolutionBackwardDataAlgorithmEx(b.exec.cudnn, s->w, wp, s->dy, x, s->conv, s->dx,
                                                                    dx, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                                    &returned, perf, b.scratch, b.scratch_bytes),
                        what + " algorithm search");
        // The fastest deterministic algorithm (ALGO_0 accumulates with atomics: run-to-run differences), else the
        // fastest of any kind.
        for (int pass = 0; pass < 2 && !found; ++pass) {
            for (int i = 0; i < returned && !found; ++i) {
                if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > b.scratch_bytes) continue;
                if (pass == 0 && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
                s->algo = perf[i].algo;
                s->workspace = perf[i].memory;
                if (!exact)
                    FOVEA_CUDNN_TRY(cudnnSetConvolutionMathType(s->conv, perf[i].mathType), what + " math type");
                found = true;
            }
        }
    }
    if (!found) return node_unsupported(node, "cuDNN has no algorithm for this transposed convolution");
    b.need_workspace(s->workspace);
    {
        cudnnMathType_t used = math;
        cudnnGetConvolutionMathType(s->conv, &used);
        b.chosen.convs[signature] = {static_cast<int>(s->algo), static_cast<int>(used), s->workspace, false};
    }

    const int64_t count = shape_numel(ys), channels = ys[1], inner = ys[2] * ys[3];
    return Launch([=, &node](const Exec& e) -> Status {
        const float one = 1.f, zero = 0.f;
        FOVEA_CUDNN_TRY(cudnnConvolutionBackwardData(e.cudnn, &one, s->w, wp, s->dy, x, s->conv, s->algo, e.workspace,
                                                     e.workspace_bytes, &zero, s->dx, dx),
                        node.describe() + ": cuDNN");
        if (!direct) FOVEA_TRY(launched(node, launch_pad(esize, place, dx, y, e.stream)));
        if (bias)
            return launched(
                node, launch_bias_activation(t, UnaryParams{}, y, bias, nullptr, count, channels, inner, e.stream));
        return Status::ok();
    });
}

namespace {

// Y (row-major, M x N) = alpha op(A) op(B) for `batch` matrices `stride_*` elements apart, through cuBLAS's
// column-major view: Y^T = op(B)^T op(A)^T.
struct GemmShape {
    bool trans_a = false, trans_b = false;
    int64_t m = 0, n = 0, k = 0;
    int64_t batch = 1, stride_a = 0, stride_b = 0, stride_c = 0;
    float alpha = 1.f;
};

// What the product is followed by: Y = f(alpha op(A) op(B) + beta C + bias).
struct GemmEpilogue {
    const void* c = nullptr;  // [M, N], Y's shape (null: none)
    float beta = 0.f;
    const void* bias = nullptr;  // [N], added to every row (null: none)
    UnaryParams f;
};

// One product's cuBLASLt descriptors and algorithm, chosen at build; destroyed with the engine's launches.
struct LtGemm {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t b = nullptr, a = nullptr, y = nullptr;  // cuBLASLt's A, B and C = D: op(B)^T, op(A)^T, Y^T
    cublasLtMatmulAlgo_t algo{};
    size_t workspace = 0;
    LtGemm() = default;
    LtGemm(const LtGemm&) = delete;
    LtGemm& operator=(const LtGemm&) = delete;
    ~LtGemm() {
        if (desc) cublasLtMatmulDescDestroy(desc);
        if (b) cublasLtMatrixLayoutDestroy(b);
        if (a) cublasLtMatrixLayoutDestroy(a);
        if (y) cublasLtMatrixLayoutDestroy(y);
    }
};

// The alignment of a matrix at `p` (each batch `stride` bytes on): the largest power of two, up to cuBLASLt's default
// of 256, that divides both. The heuristic then leaves out kernels that need more (arena values are 64-byte aligned).
uint32_t lt_alignment(const void* p, int64_t stride) {
    const uint64_t bits = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)) | static_cast<uint64_t>(stride) | 256;
    return static_cast<uint32_t>(bits & (~bits + 1));
}

// cuBLASLt's description of the product with `epilogue` (reading `bias`), and the first algorithm of its heuristic
// that fits the workspace; null where it offers none.
Result<std::shared_ptr<LtGemm>> plan_lt(const ir::Node& node, Builder& b, Float t, const GemmShape& g, const void* a,
                                        const void* bm, const void* c, const void* y, cublasLtEpilogue_t epilogue,
                                        const void* bias) {
    const std::string what = node.describe() + ": cuBLASLt";
    auto s = std::make_shared<LtGemm>();
    // fp32: float32 arithmetic; tf32: TF32 tensor cores; fp16: float16 storage, float32 accumulation and scales.
    const cublasComputeType_t compute =
        b.precision == Precision::kTF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    FOVEA_CUBLAS_TRY(cublasLtMatmulDescCreate(&s->desc, compute, CUDA_R_32F), what);
    auto set = [&](cublasLtMatmulDescAttributes_t attr, const auto& value) {
        return cublas_status(cublasLtMatmulDescSetAttribute(s->desc, attr, &value, sizeof(value)), what);
    };
    FOVEA_TRY(set(CUBLASLT_MATMUL_DESC_TRANSA, static_cast<int32_t>(g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N)));
    FOVEA_TRY(set(CUBLASLT_MATMUL_DESC_TRANSB, static_cast<int32_t>(g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N)));
    FOVEA_TRY(set(CUBLASLT_MATMUL_DESC_EPILOGUE, static_cast<uint32_t>(epilogue)));
    // N long (the rows of Y^T), of Y's type (the default of CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE). The heuristic reads
    // its alignment off the pointer.
    if (bias) FOVEA_TRY(set(CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias));

    // Column-major and packed: each matrix's leading dimension is its row count.
    const cudaDataType_t dt = blas_type(t);
    const int esize = t == Float::kF16 ? 2 : 4;
    auto layout = [&](cublasLtMatrixLayout_t& l, int64_t rows, int64_t cols, int64_t stride) -> Status {
        FOVEA_CUBLAS_TRY(
            cublasLtMatrixLayoutCreate(&l, dt, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), rows), what);
        if (g.batch == 1) return Status::ok();
        const auto count = static_cast<int32_t>(g.batch);
        FOVEA_CUBLAS_TRY(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)),
                         what);
        FOVEA_CUBLAS_TRY(
            cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)),
            what);
        return Status::ok();
    };
    FOVEA_TRY(layout(s->b, g.trans_b ? g.k : g.n, g.trans_b ? g.n : g.k, g.stride_b));
    FOVEA_TRY(layout(s->a, g.trans_a ? g.m : g.k, g.trans_a ? g.k : g.m, g.stride_a));
    FOVEA_TRY(layout(s->y, g.n, g.m, g.stride_c));

    cublasLtMatmulPreference_t pref = nullptr;
    FOVEA_CUBLAS_TRY(cublasLtMatmulPreferenceCreate(&pref), what);
    const std::unique_ptr<std::remove_pointer_t<cublasLtMatmulPreference_t>, decltype(&cublasLtMatmulPreferenceDestroy)>
        pref_owner(pref, cublasLtMatmulPreferenceDestroy);
    auto prefer = [&](cublasLtMatmulPreferenceAttributes_t attr, const auto& value) {
        return cublas_status(cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value)), what);
    };
    // 32 MiB, what NVIDIA suggests for Hopper, shared with the convolutions' workspace.
    const uint64_t max_workspace = std::min<uint64_t>(b.scratch_bytes, uint64_t{32} << 20);
    FOVEA_TRY(prefer(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, max_workspace));
    const int64_t batched = g.batch > 1 ? esize : 0;  // per-batch strides count only when there are batches
    FOVEA_TRY(prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, lt_alignment(bm, g.stride_b * batched)));
    FOVEA_TRY(prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, lt_alignment(a, g.stride_a * batched)));
    FOVEA_TRY(prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, lt_alignment(c ? c : y, g.stride_c * batched)));
    FOVEA_TRY(prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, lt_alignment(y, g.stride_c * batched)));

    constexpr int kRequested = 8;
    cublasLtMatmulHeuristicResult_t results[kRequested] = {};
    int returned = 0;
    const cublasStatus_t searched = cublasLtMatmulAlgoGetHeuristic(b.exec.cublaslt, s->desc, s->b, s->a, s->y, s->y,
                                                                   pref, kRequested, results, &returned);
    if (searched == CUBLAS_STATUS_NOT_SUPPORTED) return std::shared_ptr<LtGemm>();
    FOVEA_CUBLAS_TRY(searched, what + " heuristic");
    for (int i = 0; i < returned; ++i) {
        if (results[i].state != CUBLAS_STATUS_SUCCESS || results[i].workspaceSize > max_workspace) continue;
        s->algo = results[i].algo;
        s->workspace = results[i].workspaceSize;
        return s;
    }
    return std::shared_ptr<LtGemm>();
}

// cuBLAS's own choice, where cuBLASLt's heuristic offers nothing: Y = alpha op(A) op(B) + beta C, C copied into Y.
Launch cublas_launch(const ir::Node& node, Float t, Precision precision, GemmShape g, const void* a, const void* bm,
                     const void* c, float beta, void* y) {
    const cublasComputeType_t compute =
        precision == Precision::kTF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    const cudaDataType_t dt = blas_type(t);
    const size_t bytes = static_cast<size_t>(g.batch * g.m * g.n) * (t == Float::kF16 ? 2 : 4);
    if (!c) beta = 0.f;
    return [=, &node](const Exec& e) -> Status {
        if (c) FOVEA_TRY(launched(node, cudaMemcpyAsync(y, c, bytes, cudaMemcpyDeviceToDevice, e.stream)));
        const auto lda = static_cast<int>(g.trans_a ? g.m : g.k);
        const auto ldb = static_cast<int>(g.trans_b ? g.k : g.n);
        const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
        const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
        const auto m = static_cast<int>(g.m), n = static_cast<int>(g.n), k = static_cast<int>(g.k);
        if (g.batch == 1) {
            FOVEA_CUBLAS_TRY(cublasGemmEx(e.cublas, op_b, op_a, n, m, k, &g.alpha, bm, dt, ldb, a, dt, lda, &beta, y,
                                          dt, n, compute, CUBLAS_GEMM_DEFAULT),
                             node.describe() + ": cublasGemmEx");
        } else {
            FOVEA_CUBLAS_TRY(cublasGemmStridedBatchedEx(e.cublas, op_b, op_a, n, m, k, &g.alpha, bm, dt, ldb,
                                                        g.stride_b, a, dt, lda, g.stride_a, &beta, y, dt, n, g.stride_c,
                                                        static_cast<int>(g.batch), compute, CUBLAS_GEMM_DEFAULT),
                             node.describe() + ": cublasGemmStridedBatchedEx");
        }
        return Status::ok();
    };
}

// The product and its epilogue: cuBLASLt with the bias and ReLU in its epilogue where it has an algorithm for that,
// every other activation (its tanh GELU is not ONNX's erf one) with the bias in one kernel after the product.
Result<Launch> gemm_launch(const ir::Node& node, Builder& b, Float t, const GemmShape& g, const void* a, const void* bm,
                           void* y, const GemmEpilogue& ep) {
    const int64_t count = g.batch * g.m * g.n;
    if (count == 0) return Launch([](const Exec&) { return Status::ok(); });
    if (g.k == 0) return node_unsupported(node, "an empty inner dimension is not");
    // FOVEA_CUDA_GEMM=unfused or =cublas forces the fallbacks below (tests, comparisons).
    const char* forced_env = std::getenv("FOVEA_CUDA_GEMM");
    const std::string forced = forced_env ? forced_env : "";
    std::shared_ptr<LtGemm> lt;
    bool fused = false;
    const bool relu = ep.f.op == Unary::kRelu;
    const bool fusable = relu || (ep.f.op == Unary::kIdentity && ep.bias);
    if (fusable && forced.empty()) {
        const cublasLtEpilogue_t epilogue = !relu     ? CUBLASLT_EPILOGUE_BIAS
                                            : ep.bias ? CUBLASLT_EPILOGUE_RELU_BIAS
                                                      : CUBLASLT_EPILOGUE_RELU;
        FOVEA_ASSIGN(lt, plan_lt(node, b, t, g, a, bm, ep.c, y, epilogue, ep.bias));
        fused = lt != nullptr;
    }
    if (!lt && forced != "cublas") {
        FOVEA_ASSIGN(lt, plan_lt(node, b, t, g, a, bm, ep.c, y, CUBLASLT_EPILOGUE_DEFAULT, nullptr));
    }
    if (StepProfiler::requested() && forced.empty() && (!lt || fused != fusable))
        std::fprintf(stderr, "fovea cuda profile: %s: %s\n", node.describe().c_str(),
                     !lt ? "no cuBLASLt algorithm, cuBLAS's own"
                         : "no cuBLASLt algorithm with the epilogue, which runs after the product");
    Launch product;
    if (lt) {
        b.need_workspace(lt->workspace);
        const float alpha = g.alpha, beta = ep.c ? ep.beta : 0.f;
        const void* c = ep.c ? ep.c : y;
        product = [=, &node](const Exec& e) -> Status {
            FOVEA_CUBLAS_TRY(cublasLtMatmul(e.cublaslt, lt->desc, &alpha, bm, lt->b, a, lt->a, &beta, c, lt->y, y,
                                            lt->y, &lt->algo, e.workspace, lt->workspace, e.stream),
                             node.describe() + ": cublasLtMatmul");
            return Status::ok();
        };
    } else {
        product = cublas_launch(node, t, b.precision, g, a, bm, ep.c, ep.beta, y);
    }
    if (fused || (!ep.bias && ep.f.op == Unary::kIdentity)) return product;
    return Launch([=, &node](const Exec& e) -> Status {
        FOVEA_TRY(product(e));
        return launched(node, launch_bias_activation(t, ep.f, y, ep.bias, nullptr, count, g.n, 1, e.stream));
    });
}

}  // namespace

Result<Launch> build_gemm(const ir::Node& node, Builder& b) {
    const ir::Value* av = node.input(0);
    const ir::Value* bv = node.input(1);
    const ir::Value* cv = node.input(2);
    const ir::Value* yv = node.outputs[0];
    FOVEA_ASSIGN(const Float t, b.float_type(node, *av));
    const Shape& as = shape_of(*av);
    const Shape& ys = shape_of(*yv);
    if (as.size() != 2 || shape_of(*bv).size() != 2) return node_unsupported(node, "only 2-D operands are");
    GemmShape g;
    g.trans_a = node.attr_int("transA", 0) != 0;
    g.trans_b = node.attr_int("transB", 0) != 0;
    g.m = ys[0];
    g.n = ys[1];
    g.k = g.trans_a ? as[0] : as[1];
    g.alpha = node.attr_float("alpha", 1.f);
    const float beta = node.attr_float("beta", 1.f);
    FOVEA_ASSIGN(void* a, b.pointer(node, av));
    FOVEA_ASSIGN(void* bm, b.pointer(node, bv));
    FOVEA_ASSIGN(void* y, b.pointer(node, yv));
    if (!cv || beta == 0.f) return gemm_launch(node, b, t, g, a, bm, y, {});

    // C of Y's shape is cuBLASLt's C (scaled by beta there), a row vector its bias; any other broadcast of C is added
    // by the binary kernel.
    const Shape& cs = shape_of(*cv);
    GemmEpilogue ep;
    if (cs == ys) {
        FOVEA_ASSIGN(ep.c, b.pointer(node, cv));
        ep.beta = beta;
        return gemm_launch(node, b, t, g, a, bm, y, ep);
    }
    void* c = nullptr;
    if (beta != 1.f) {
        if (!cv->constant) return node_unsupported(node, "a runtime C scaled by beta is not");
        std::vector<float> scaled(static_cast<size_t>(cv->constant->numel()));
        for (size_t i = 0; i < scaled.size(); ++i)
            scaled[i] = beta * static_cast<float>(cv->constant->element_as_double(static_cast<int64_t>(i)));
        FOVEA_ASSIGN(c, b.upload_floats(scaled, t));
    } else {
        FOVEA_ASSIGN(c, b.pointer(node, cv));
    }
    const bool row = shape_numel(cs) == g.n && (cs.size() == 1 || (cs.size() == 2 && cs[0] == 1));
    if (row) {
        ep.bias = c;
        return gemm_launch(node, b, t, g, a, bm, y, ep);
    }
    FOVEA_ASSIGN(const Launch product, gemm_launch(node, b, t, g, a, bm, y, {}));
    BinaryParams p;
    p.op = Binary::kAdd;
    p.rank = 2;
    p.size[0] = g.m;
    p.size[1] = g.n;
    p.a_stride[0] = g.n;
    p.a_stride[1] = 1;
    const Shape c2 = cs.size() == 2 ? cs : cs.size() == 1 ? Shape{1, cs[0]} : Shape{1, 1};
    p.b_stride[0] = c2[0] == 1 ? 0 : c2[1];
    p.b_stride[1] = c2[1] == 1 ? 0 : 1;
    return Launch([=, &node](const Exec& e) -> Status {
        FOVEA_TRY(product(e));
        return launched(node, launch_binary(t, p, y, c, y, e.stream));
    });
}

Result<Launch> build_matmul(const ir::Node& node, Builder& b) {
    const ir::Value* av = node.input(0);
    const ir::Value* bv = node.input(1);
    const ir::Value* yv = node.outputs[0];
    FOVEA_ASSIGN(const Float t, b.float_type(node, *av));
    const Shape& as = shape_of(*av);
    const Shape& bs = shape_of(*bv);
    if (as.size() < 2 || bs.size() < 2) return node_unsupported(node, "1-D operands are not");
    GemmShape g;
    g.k = as.back();
    g.n = bs.back();
    const Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
    if (bs.size() == 2) {
        g.m = shape_numel(Shape(as.begin(), as.end() - 1));  // A's batch dims fold into M
    } else if (a_batch == b_batch) {
        g.m = as[as.size() - 2];
        g.batch = shape_numel(a_batch);
        g.stride_a = g.m * g.k;
        g.stride_b = g.k * g.n;
        g.stride_c = g.m * g.n;
    } else {
        return node_unsupported(node, "batch broadcasting other than a 2-D B is not");
    }
    FOVEA_ASSIGN(void* a, b.pointer(node, av));
    FOVEA_ASSIGN(void* bm, b.pointer(node, bv));
    FOVEA_ASSIGN(void* y, b.pointer(node, yv));
    return gemm_launch(node, b, t, g, a, bm, y, {});
}

// A [..., M, K] (its leading dims folded into rows) times a 2-D B, with the bias and activation of ops/fused_conv.h.
Result<Launch> build_fused_matmul(const ir::Node& node, Builder& b) {
    FOVEA_ASSIGN(const ops::Epilogue epilogue, ops::read_epilogue(node));
    const ir::Value* av = node.input(0);
    const ir::Value* bv = node.input(1);
    const ir::Value* biasv = node.input(2);
    const ir::Value* yv = node.outputs[0];
    FOVEA_ASSIGN(const Float t, b.float_type(node, *av));
    const Shape& as = shape_of(*av);
    const Shape& bs = shape_of(*bv);
    if (as.size() < 2 || bs.size() != 2) return node_unsupported(node, "A of rank 2 or more and a 2-D B are");
    GemmShape g;
    g.trans_b = node.attr_int("transB", 0) != 0;
    g.m = shape_numel(Shape(as.begin(), as.end() - 1));
    g.k = as.back();
    g.n = g.trans_b ? bs[0] : bs[1];
    GemmEpilogue ep;
    FOVEA_ASSIGN(ep.f, epilogue_unary(node, epilogue));
    FOVEA_ASSIGN(void* a, b.pointer(node, av));
    FOVEA_ASSIGN(void* bm, b.pointer(node, bv));
    FOVEA_ASSIGN(void* y, b.pointer(node, yv));
    if (biasv) {
        FOVEA_ASSIGN(ep.bias, b.pointer(node, biasv));
    }
    return gemm_launch(node, b, t, g, a, bm, y, ep);
}

}  // namespace fovea::cuda
