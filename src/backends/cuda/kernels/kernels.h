// Launchers of fovea's CUDA kernels: plain parameters, device pointers and a stream; they know no IR. Each returns
// the launch's error (cudaSuccess when it was enqueued). Element counts and strides are in elements.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace fovea::cuda {

// How float tensors are stored on the device.
enum class Float { kF32, kF16 };

constexpr int kMaxDims = 6;

// Unary maps: activations (also the epilogue of convolutions and matrix products) and elementwise math.
enum class Unary {
    kIdentity,
    kRelu,
    kClip,       // p0 = min, p1 = max, applied in Clip's order (min first)
    kLeakyRelu,  // p0 = alpha
    kSigmoid,
    kSiLU,
    kHardSwish,
    kHardSigmoid,  // p0 = alpha, p1 = beta
    kTanh,
    kGelu,
    kExp,
    kLog,
    kSqrt,
    kNeg,
    kAbs,
    kErf,
    kReciprocal,
    kSoftplus,
    kElu,  // p0 = alpha
    kFloor,
    kCeil,
    kPowScalar,  // x ^ p0
};

struct UnaryParams {
    Unary op = Unary::kIdentity;
    float p0 = 0, p1 = 0;
};

// y = f(x) over n elements (x may be y).
cudaError_t launch_unary(Float t, UnaryParams f, const void* x, void* y, int64_t n, cudaStream_t stream);

// In place, y[i] = f(y[i] + bias[(i / inner) % channels] + sum[i]); bias and sum may be null. The epilogue of a
// convolution (NCHW: inner = H*W) or of a matrix product (inner = 1, channels = N).
cudaError_t launch_bias_activation(Float t, UnaryParams f, void* y, const void* bias, const void* sum, int64_t n,
                                   int64_t channels, int64_t inner, cudaStream_t stream);

enum class Binary { kAdd, kSub, kMul, kDiv, kPow, kMax, kMin, kPRelu /* a < 0 ? a * b : a */ };

// y (contiguous, dims `size`) = a op b, where a and b are read at strides a_stride and b_stride (0 on broadcast dims).
struct BinaryParams {
    Binary op = Binary::kAdd;
    int rank = 0;
    int64_t size[kMaxDims] = {};
    int64_t a_stride[kMaxDims] = {};
    int64_t b_stride[kMaxDims] = {};
};
cudaError_t launch_binary(Float t, const BinaryParams& p, const void* a, const void* b, void* y, cudaStream_t stream);

// y (contiguous, dims `size`) = a chain of elementwise steps over x (read at x_stride): each step is a unary map or a
// binary op with one more operand, read at its own strides (0 on broadcast dims) on either side. The engine's
// elementwise groups (a layer scale then a residual Add, a detector head's decode) in one pass, in float.
constexpr int kMaxChainSteps = 8;
struct ChainStep {
    bool binary = false;
    UnaryParams unary;         // when !binary
    Binary op = Binary::kAdd;  // when binary: v = v op operand, or operand op v when operand_first
    bool operand_first = false;
    const void* operand = nullptr;
    int64_t stride[kMaxDims] = {};
};
struct ChainParams {
    int rank = 0;
    int64_t size[kMaxDims] = {};
    int64_t x_stride[kMaxDims] = {};
    int steps = 0;
    ChainStep step[kMaxChainSteps];
};
cudaError_t launch_chain(Float t, const ChainParams& p, const void* x, void* y, cudaStream_t stream);

// Elementwise ops whose output is not their operands' float type, over up to three operands read at their own strides
// (0 on broadcast dims) into a contiguous y of dims `size`.
struct Broadcast3 {
    int rank = 0;
    int64_t size[kMaxDims] = {};
    int64_t stride[3][kMaxDims] = {};
};
// Comparisons of float a and b (stored as t) into bool y; the logic ops read bool a and b (t is ignored for them).
enum class Compare { kEqual, kGreater, kGreaterOrEqual, kLess, kLessOrEqual, kAnd, kOr, kXor };
cudaError_t launch_compare(Float t, Compare op, const Broadcast3& p, const void* a, const void* b, bool* y,
                           cudaStream_t stream);
// Where: y = cond ? a : b (operands 0, 1, 2 of p), elements of any size (1, 2, 4 or 8 bytes).
cudaError_t launch_where(int element_size, const Broadcast3& p, const bool* cond, const void* a, const void* b, void* y,
                         cudaStream_t stream);

// Float conversion of n elements.
cudaError_t launch_cast(Float from, Float to, const void* x, void* y, int64_t n, cudaStream_t stream);

// The element types Cast converts between on the device.
enum class Element { kF32, kF16, kF64, kI64, kI32, kI8, kU8, kBool };
// y[i] = x[i] converted as ONNX's Cast does it (C++ conversions: floats truncate toward zero into integers, anything
// non-zero is true).
cudaError_t launch_convert(Element from, Element to, const void* x, void* y, int64_t n, cudaStream_t stream);

// Softmax (or log-softmax) along the middle dim of x viewed as [outer, axis, inner].
cudaError_t launch_softmax(Float t, bool log, const void* x, void* y, int64_t outer, int64_t axis, int64_t inner,
                           cudaStream_t stream);

// LayerNormalization of x viewed as [rows, size] (it normalizes trailing dims, so each row is contiguous):
// y = (x - mean) / sqrt(variance + epsilon) * scale + bias, in float. scale and bias hold `size` values each (bias may
// be null); mean and inv_std, when not null, receive each row's mean and 1 / sqrt(variance + epsilon).
cudaError_t launch_layer_norm(Float t, const void* x, const void* scale, const void* bias, void* y, void* mean,
                              void* inv_std, int64_t rows, int64_t size, float epsilon, cudaStream_t stream);

// InstanceNormalization of x viewed as [rows = N * channels, size]: each row normalized by its own mean and variance,
// then scaled and shifted by its channel's (row % channels) scale and bias.
cudaError_t launch_instance_norm(Float t, const void* x, const void* scale, const void* bias, void* y, int64_t rows,
                                 int64_t channels, int64_t size, float epsilon, cudaStream_t stream);

// ArgMax (max) or ArgMin along the middle dim of x viewed as [outer, count, inner]: y[o, i] (int64) is the index of the
// first extreme, or of the last one with `last`.
cudaError_t launch_arg_reduce(Float t, bool max, bool last, const void* x, int64_t* y, int64_t outer, int64_t count,
                              int64_t inner, cudaStream_t stream);

// TopK along the middle dim of x viewed as [outer, count, inner]: values and int64 indices [outer, k, inner], best
// first, ties to the lower index (the reference's stable order). One block per column, k block-wide selections, each
// the best element below the previous one in (value, index) order: O(k * count) reads, for the k of detectors and
// classifiers (k <= kMaxTopK; the engine runs larger ones on the host).
constexpr int64_t kMaxTopK = 1024;
cudaError_t launch_topk(Float t, bool largest, const void* x, void* values, int64_t* indices, int64_t outer,
                        int64_t count, int64_t inner, int64_t k, cudaStream_t stream);

// y[r, j] = f(sum_i x[r, i] * w[j, i] + bias[j] + sum[r, j]) for x [rows, c], w [k, c] (bias and sum may be null):
// a 1x1 convolution of 1x1 maps (squeeze-excitation blocks), one warp per output.
cudaError_t launch_dense_rows(Float t, UnaryParams f, const void* x, const void* w, const void* bias, const void* sum,
                              void* y, int64_t rows, int64_t c, int64_t k, cudaStream_t stream);

// A depthwise 2-D convolution (one filter per channel, group = channels) of NHWC maps, weights [kernel_h, kernel_w,
// channels], with the convolution epilogue y = f(conv + bias[c] + sum) (bias and sum may be null; sum is NHWC like y).
struct DepthwiseParams {
    int batch = 0, channels = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
    int kernel_h = 0, kernel_w = 0, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
};
// Whether launch_depthwise_nhwc takes these: channels a multiple of 16 bytes' worth, buffers 16-byte aligned.
bool depthwise_supported(Float t, const DepthwiseParams& p, const void* x, const void* w, const void* sum,
                         const void* y);
cudaError_t launch_depthwise_nhwc(Float t, const DepthwiseParams& p, UnaryParams f, const void* x, const void* w,
                                  const void* bias, const void* sum, void* y, cudaStream_t stream);

enum class Reduce { kSum, kMean, kMax, kMin };

// y[o, i] = reduce over r of x[o, r, i], with x viewed as [outer, count, inner]. Long columns (global pooling of
// NHWC maps) are split across blocks when `scratch` holds reduce_scratch_bytes(...) bytes; it may be null.
cudaError_t launch_reduce(Float t, Reduce op, const void* x, void* y, int64_t outer, int64_t count, int64_t inner,
                          void* scratch, size_t scratch_bytes, cudaStream_t stream);
size_t reduce_scratch_bytes(int64_t outer, int64_t count, int64_t inner);

// 2-D max or average pooling of NCHW images (planes = N*C), or of NHWC ones (channels_last: planes = N).
struct Pool2dParams {
    bool max = true;
    bool channels_last = false;
    int64_t channels = 1;
    bool count_include_pad = false;
    int64_t planes = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
    int64_t k_h = 1, k_w = 1, s_h = 1, s_w = 1, d_h = 1, d_w = 1;
    int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
};
cudaError_t launch_pool2d(Float t, const Pool2dParams& p, const void* x, void* y, cudaStream_t stream);

// Data movement, for any element size (1, 2, 4 or 8 bytes; moved in wider units where alignment allows).
// dst[r * dst_pitch + c] = src[r * src_pitch + c] for r < rows, c < cols (Concat and Split pieces).
cudaError_t launch_copy_rows(int element_size, const void* src, int64_t src_pitch, void* dst, int64_t dst_pitch,
                             int64_t rows, int64_t cols, cudaStream_t stream);
// A Concat's rows in one pass: row r of dst (`rows` rows of the pieces' cols together, contiguous) joins row r of
// each piece, read at the piece's pitch. Up to kMaxConcatPieces pieces; returns cudaErrorNotSupported for more, or
// when 32-bit indices do not reach (the caller copies piece by piece). One launch writing whole rows instead of one per
// piece writing a few columns of each: a detector head's join of 2-, 2- and 81-wide pieces wrote its rows thrice.
constexpr int kMaxConcatPieces = 8;
struct ConcatPiece {
    const void* src = nullptr;
    int64_t pitch = 0, cols = 0;
};
cudaError_t launch_concat_rows(int element_size, const ConcatPiece* pieces, int count, void* dst, int64_t rows,
                               cudaStream_t stream);

// NCHW images [n, channels, hw] into NHWC rows `dst_pitch` wide (channels <= dst_pitch; the rest of each row is left
// as it is): a convolution's input channels padded for tensor cores, in one pass.
cudaError_t launch_nchw_to_nhwc(int element_size, const void* src, void* dst, int64_t n, int64_t channels, int64_t hw,
                                int64_t dst_pitch, cudaStream_t stream);

// NCHW images [n, channels, h, w] as NHWC images of their 2x2 pixel blocks: [n, out_h, out_w, pitch], channel
// (i * 2 + j) * channels + k of block (m, l) holding src pixel (2m + i - top, 2l + j - left) of channel k, zero outside
// the image and past 4 * channels (a stride-2 convolution's input, for a stride-1 one over few channels; ops_conv.cc).
struct SpaceToDepth {
    int64_t n = 0, channels = 0, h = 0, w = 0, top = 0, left = 0, out_h = 0, out_w = 0, pitch = 0;
};
cudaError_t launch_space_to_depth(int element_size, const SpaceToDepth& p, const void* src, void* dst,
                                  cudaStream_t stream);

// dst (contiguous, dims `size`) [index] = src[sum index[d] * src_stride[d]] (Transpose, Slice with any step).
struct GatherDims {
    int rank = 0;
    int64_t size[kMaxDims] = {};
    int64_t src_stride[kMaxDims] = {};
};
cudaError_t launch_strided_copy(int element_size, const GatherDims& p, const void* src, void* dst, cudaStream_t stream);

// Pad: out dims `size`; input dims `in_size` placed at `begin` (negative crops).
enum class PadMode { kConstant, kEdge, kReflect };
struct PadParams {
    PadMode mode = PadMode::kConstant;
    int rank = 0;
    int64_t size[kMaxDims] = {};
    int64_t in_size[kMaxDims] = {};
    int64_t begin[kMaxDims] = {};
    uint64_t value_bits = 0;  // the constant, in the element's own representation
};
cudaError_t launch_pad(int element_size, const PadParams& p, const void* src, void* dst, cudaStream_t stream);

// dst[o, j, i] = src[o, indices[j] (negative counts from the end), i] with src viewed as [outer, axis, inner].
cudaError_t launch_gather(int element_size, const void* src, const int64_t* indices, int64_t count, void* dst,
                          int64_t outer, int64_t axis, int64_t inner, cudaStream_t stream);

// GatherElements: y[i] = x at i's coordinates, with the coordinate along `axis` replaced by indices[i] (negative
// counts from the end; out-of-range ones are clamped, as a kernel cannot fail). `size` is the indices' (and y's)
// shape, `x_stride` x's strides.
struct GatherElementsDims {
    int rank = 0, axis = 0;
    int64_t axis_len = 0;
    int64_t size[kMaxDims] = {};
    int64_t x_stride[kMaxDims] = {};
};
cudaError_t launch_gather_elements(int element_size, const GatherElementsDims& p, const void* src,
                                   const int64_t* indices, void* dst, cudaStream_t stream);

// Resize by separable taps: along each dim d, output coordinate x reads taps[offset[d] + x] (one or two input
// positions and their weights; nearest has one with weight 1).
struct ResizeTap {
    int32_t i0 = 0, i1 = 0;
    float w0 = 1, w1 = 0;
};
struct ResizeParams {
    int rank = 0;
    uint32_t blend = 0;  // bit d: some tap of dim d mixes two inputs or weighs one (not a plain pick)
    int64_t size[kMaxDims] = {};
    int64_t in_stride[kMaxDims] = {};
    int64_t tap_offset[kMaxDims] = {};
};
cudaError_t launch_resize(Float t, const ResizeParams& p, const ResizeTap* taps, const void* x, void* y,
                          cudaStream_t stream);
// A nearest resize that keeps whole rows of `inner` contiguous elements (NHWC's channels): p's dims are the outer
// ones (strides in elements, every tap a plain pick), each output row a copy of the row its taps pick, moved in the
// widest element that the rows and addresses allow. Upsampling feature maps in NHWC.
cudaError_t launch_resize_rows(int element_size, const ResizeParams& p, const ResizeTap* taps, const void* x, void* y,
                               int64_t inner, cudaStream_t stream);

}  // namespace fovea::cuda
