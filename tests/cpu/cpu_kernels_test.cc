// The CPU backend's kernels against the reference backend, one node at a time, on what the ONNX conformance cases
// cannot reach: constant operands (weights, scales, bounds, exponents), fovea's FusedConv, odd shapes and
// broadcasting in either operand. Outputs start filled with a NaN canary, so a kernel must write every element, and
// every kernel runs twice on different buffers, as a session may move them. The NHWC layout plan is tested on small
// whole graphs, through sessions.
#include <gtest/gtest.h>

#include <omp.h>

#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../passes/pass_test_util.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dnnl_kernel.h"
#include "backends/cpu/layout.h"
#include "backends/ref/ref_backend.h"
#include "ir/graph.h"
#include "ir/passes/passes.h"
#include "ops/infer_graph.h"

namespace fovea {
namespace {

// Uniform values in [lo, hi] from a fixed seed: the same inputs on every run.
Tensor random_tensor(const Shape& shape, float lo, float hi, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    Tensor t(DType::kFloat32, shape);
    for (float& v : t.span<float>()) v = dist(rng);
    return t;
}

Tensor canary(DType dtype, const Shape& shape) {
    Tensor t(dtype, shape);
    if (dtype == DType::kFloat32)
        for (float& v : t.span<float>()) v = std::nanf("");
    return t;
}

// One node in a graph of its own: inputs are graph inputs (random data) or constants; outputs get their types
// from shape inference.
class NodeCase {
  public:
    explicit NodeCase(const std::string& op_type, int opset = 17, const std::string& domain = "") {
        node_ = graph_.add_node(op_type, "n");
        node_->opset = opset;
        node_->domain = domain;
    }
    // A runtime input of random values in [lo, hi].
    NodeCase& input(const Shape& shape, float lo = -1.0f, float hi = 1.0f) {
        return add_input(random_tensor(shape, lo, hi, static_cast<uint32_t>(values_.size() + 1)), false);
    }
    NodeCase& constant(Tensor t) { return add_input(std::move(t), true); }
    NodeCase& random_constant(const Shape& shape, float lo = -1.0f, float hi = 1.0f) {
        return constant(random_tensor(shape, lo, hi, static_cast<uint32_t>(values_.size() + 101)));
    }
    NodeCase& absent() {
        node_->inputs.push_back(nullptr);
        values_.push_back(nullptr);
        return *this;
    }
    NodeCase& attr(const std::string& name, ir::Attribute value) {
        node_->attrs[name] = std::move(value);
        return *this;
    }
    NodeCase& outputs(size_t n) {
        for (size_t i = 0; i < n; ++i) {
            ir::Value* v = graph_.add_value("y" + std::to_string(i));
            v->producer = node_;
            node_->outputs.push_back(v);
        }
        return *this;
    }

    // The CPU backend's kernel for the node (nullptr when it declines), after shape inference.
    std::unique_ptr<runtime::NodeKernel> compile_cpu(int threads = 0, const std::string& precision = "fp32") {
        if (node_->outputs.empty()) outputs(1);
        const Status inferred = ops::infer_node(*node_);
        EXPECT_TRUE(inferred.is_ok()) << inferred.to_string();
        backend_ = cpu::make_cpu_backend({.threads = threads, .precision = precision});
        auto kernel = backend_->compile(*node_);
        EXPECT_TRUE(kernel.is_ok()) << kernel.status().to_string();
        return kernel.is_ok() ? std::move(kernel).value() : nullptr;
    }

    // Runs the CPU kernel twice (fresh canary outputs each time) and compares both runs with the reference backend.
    void expect_matches_ref(double tolerance = 1e-4, int threads = 0, const std::string& precision = "fp32") {
        auto kernel = compile_cpu(threads, precision);
        ASSERT_NE(kernel, nullptr) << node_->describe() << " was declined";
        std::vector<const Tensor*> args;
        for (const Tensor* t : values_) args.push_back(t);
        std::vector<Tensor> expected;
        const Status ref = ref::run_node(*node_, args, expected);
        ASSERT_TRUE(ref.is_ok()) << ref.to_string();
        for (int run = 0; run < 2; ++run) {
            std::vector<Tensor> outputs;
            for (const ir::Value* v : node_->outputs) outputs.push_back(canary(v->dtype, *v->shape));
            const Status s = kernel->run(args, outputs);
            ASSERT_TRUE(s.is_ok()) << s.to_string();
            for (size_t o = 0; o < outputs.size(); ++o) expect_close(outputs[o], expected[o], tolerance);
        }
    }

    bool declined() { return compile_cpu() == nullptr; }
    ir::Node& node() { return *node_; }

  private:
    NodeCase& add_input(Tensor t, bool is_constant) {
        ir::Value* v = graph_.add_value("x" + std::to_string(values_.size()));
        if (is_constant) {
            v->set_initializer(std::move(t));
            values_.push_back(&*v->constant);
        } else {
            v->dtype = t.dtype();
            v->has_type = true;
            v->shape = t.shape();
            owned_.push_back(std::make_unique<Tensor>(std::move(t)));
            values_.push_back(owned_.back().get());
        }
        node_->inputs.push_back(v);
        return *this;
    }

    static void expect_close(const Tensor& actual, const Tensor& expected, double tolerance) {
        ASSERT_EQ(actual.shape(), expected.shape());
        ASSERT_EQ(actual.dtype(), expected.dtype());
        int64_t bad = 0, first = -1;
        for (int64_t i = 0; i < expected.numel(); ++i) {
            const double a = actual.element_as_double(i), e = expected.element_as_double(i);
            const bool ok = a == e || std::abs(a - e) <= tolerance * (1.0 + std::abs(e));
            if (!ok && bad++ == 0) first = i;
        }
        EXPECT_EQ(bad, 0) << bad << " of " << expected.numel() << " differ; first at " << first << ": "
                          << actual.element_as_double(first) << " vs reference " << expected.element_as_double(first);
    }

    ir::Graph graph_;
    ir::Node* node_;
    std::vector<const Tensor*> values_;
    std::vector<std::unique_ptr<Tensor>> owned_;
    std::unique_ptr<runtime::Backend> backend_;
};

using Ints = std::vector<int64_t>;
using Floats = std::vector<float>;

// ---- convolutions ----

TEST(CpuConv, matches_ref_with_odd_shapes_strides_and_asymmetric_pads) {
    NodeCase("Conv")
        .input({2, 5, 13, 11})
        .random_constant({7, 5, 3, 2})
        .random_constant({7})
        .attr("strides", Ints{2, 1})
        .attr("pads", Ints{1, 0, 2, 1})
        .expect_matches_ref();
}

TEST(CpuConv, matches_ref_depthwise_dilated_same_upper) {
    NodeCase("Conv")
        .input({1, 6, 17, 9})
        .random_constant({12, 1, 3, 3})
        .attr("group", int64_t{6})
        .attr("dilations", Ints{2, 2})
        .attr("auto_pad", std::string("SAME_UPPER"))
        .expect_matches_ref();
}

TEST(CpuConv, matches_ref_in_1d_and_3d) {
    NodeCase("Conv").input({2, 3, 19}).random_constant({4, 3, 3}).attr("pads", Ints{1, 1}).expect_matches_ref();
    NodeCase("Conv").input({1, 2, 5, 6, 7}).random_constant({3, 2, 2, 3, 2}).random_constant({3}).expect_matches_ref();
}

TEST(CpuConv, matches_ref_with_runtime_weights) {
    NodeCase("Conv").input({1, 4, 9, 9}).input({8, 2, 3, 3}).input({8}).attr("group", int64_t{2}).expect_matches_ref();
}

// 3x3 stride-1 convolutions between 64-channel images take oneDNN's Winograd kernels: with a bias, and fused with a
// residual and ReLU (ResNet's) or SiLU (then our own pass after the convolution).
TEST(CpuConv, matches_ref_through_winograd_for_wide_3x3) {
    NodeCase("Conv")
        .input({2, 64, 10, 9})
        .random_constant({64, 64, 3, 3})
        .random_constant({64})
        .attr("pads", Ints{1, 1, 1, 1})
        .expect_matches_ref();
    for (const char* activation : {"Relu", "SiLU"}) {
        SCOPED_TRACE(activation);
        NodeCase c("FusedConv", 1, "fovea");
        c.input({1, 64, 7, 11}).random_constant({96, 64, 3, 3}).random_constant({96}).input({1, 96, 7, 11});
        c.attr("pads", Ints{1, 1, 1, 1})
            .attr("activation", std::string(activation))
            .attr("activation_params", Floats{});
        c.expect_matches_ref();
    }
}

// Every FusedConv epilogue, with and without the residual.
class CpuFusedConv : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(CpuFusedConv, matches_ref) {
    const auto& [activation, residual] = GetParam();
    Floats params;
    if (activation == "Clip") params = {-0.5f, 0.7f};
    if (activation == "LeakyRelu") params = {0.1f};
    if (activation == "HardSigmoid") params = {0.3f, 0.4f};
    NodeCase c("FusedConv", 1, "fovea");
    c.input({2, 5, 13, 11}).random_constant({7, 5, 3, 3}).random_constant({7});
    if (residual) c.input({2, 7, 13, 11});
    c.attr("pads", Ints{1, 1, 1, 1}).attr("activation", activation).attr("activation_params", params);
    c.expect_matches_ref();
}

INSTANTIATE_TEST_SUITE_P(Epilogues, CpuFusedConv,
                         ::testing::Combine(::testing::Values("", "Relu", "Clip", "LeakyRelu", "Sigmoid", "SiLU",
                                                              "HardSwish", "HardSigmoid", "Tanh", "Gelu"),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<std::string, bool>>& p) {
                             const std::string name = std::get<0>(p.param).empty() ? "None" : std::get<0>(p.param);
                             return name + (std::get<1>(p.param) ? "_residual" : "");
                         });

// FusedMatMul with every epilogue: rows from a 4-D A (ConvNeXt's Linear layers), B stored either way, with and
// without a bias; at 3 rows (our small-product kernel when B is transposed) and at 70 (oneDNN).
class CpuFusedMatMul : public ::testing::TestWithParam<std::string> {};

TEST_P(CpuFusedMatMul, matches_ref) {
    const std::string& activation = GetParam();
    Floats params;
    if (activation == "Clip") params = {-0.5f, 0.7f};
    if (activation == "LeakyRelu") params = {0.1f};
    if (activation == "HardSigmoid") params = {0.3f, 0.4f};
    for (const Shape& a : {Shape{3, 29}, Shape{2, 5, 7, 29}}) {
        for (int64_t trans_b : {0, 1}) {
            for (bool bias : {false, true}) {
                SCOPED_TRACE(shape_to_string(a) + (trans_b ? " transB" : "") + (bias ? " bias" : ""));
                NodeCase c("FusedMatMul", 1, "fovea");
                c.input(a).random_constant(trans_b ? Shape{37, 29} : Shape{29, 37});
                if (bias) c.random_constant({37});
                c.attr("transB", trans_b).attr("activation", activation).attr("activation_params", params);
                EXPECT_FALSE(c.declined());
                c.expect_matches_ref();
            }
        }
    }
    NodeCase runtime_b("FusedMatMul", 1, "fovea");  // weights computed by the graph
    runtime_b.input({6, 29}).input({29, 37}).random_constant({37});
    runtime_b.attr("activation", activation).attr("activation_params", params).expect_matches_ref();
}

INSTANTIATE_TEST_SUITE_P(Epilogues, CpuFusedMatMul,
                         ::testing::Values("", "Relu", "Clip", "LeakyRelu", "Sigmoid", "SiLU", "HardSwish",
                                           "HardSigmoid", "Tanh", "Gelu"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                             return p.param.empty() ? std::string("None") : p.param;
                         });

// fovea.ConcatAffine, plain layout (the NHWC one runs in the DenseNet zoo test): inputs of several widths, each
// activation kind its kernel treats apart (ReLU and none vectorized, the rest through the shared epilogue).
TEST(CpuConcatAffine, matches_ref_for_each_kind_of_activation) {
    for (const char* activation : {"", "Relu", "HardSwish"}) {
        SCOPED_TRACE(activation);
        NodeCase c("ConcatAffine", 1, "fovea");
        c.random_constant({19}).random_constant({19}).input({2, 3, 5, 7}).input({2, 16, 5, 7}, -2.0f, 2.0f);
        c.attr("axis", int64_t{1}).attr("activation", std::string(activation)).attr("activation_params", Floats{});
        EXPECT_FALSE(c.declined());
        c.expect_matches_ref();
    }
}

TEST(CpuConvTranspose, matches_ref_with_groups_output_padding_and_output_shape) {
    NodeCase("ConvTranspose")
        .input({2, 4, 5, 7})
        .random_constant({4, 3, 3, 3})
        .random_constant({6})
        .attr("group", int64_t{2})
        .attr("strides", Ints{2, 3})
        .attr("pads", Ints{1, 0, 1, 1})
        .attr("output_padding", Ints{1, 2})
        .expect_matches_ref();
    NodeCase("ConvTranspose")
        .input({1, 3, 4, 4})
        .random_constant({3, 2, 3, 3})
        .attr("strides", Ints{2, 2})
        .attr("output_shape", Ints{10, 9})
        .expect_matches_ref();
    // 16 output channels: oneDNN's blocked destination, the bias added after the deconvolution on the stored output
    // (the 6-channel case above writes its stored layout directly).
    NodeCase("ConvTranspose")
        .input({2, 8, 6, 5})
        .random_constant({8, 16, 2, 2})
        .random_constant({16})
        .attr("strides", Ints{2, 2})
        .expect_matches_ref();
}

// ---- matrix products ----

TEST(CpuMatMul, matches_ref_with_batch_broadcast_and_vectors) {
    NodeCase("MatMul").input({2, 1, 3, 4}).input({5, 4, 6}).expect_matches_ref();
    NodeCase("MatMul").input({3, 7}).random_constant({7, 5}).expect_matches_ref();
    NodeCase("MatMul").input({7}).input({2, 7, 5}).expect_matches_ref();
    NodeCase("MatMul").input({2, 3, 7}).input({7}).expect_matches_ref();
    // Weights shared by every batch run as one 2-D product (a Linear layer over NHWC), read in place in fp32.
    NodeCase("MatMul").input({2, 5, 3, 16}).random_constant({16, 24}).expect_matches_ref();
    NodeCase("MatMul").input({4, 3, 16}).random_constant({1, 16, 24}).expect_matches_ref();
}

TEST(CpuGemm, matches_ref_with_transposes_alpha_beta_and_broadcast_bias) {
    for (const Shape& c_shape : {Shape{5}, Shape{3, 5}, Shape{3, 1}, Shape{}}) {
        NodeCase("Gemm")
            .input({7, 3})
            .random_constant({5, 7})
            .random_constant(c_shape)
            .attr("transA", int64_t{1})
            .attr("transB", int64_t{1})
            .attr("alpha", 0.5f)
            .attr("beta", 2.0f)
            .expect_matches_ref();
    }
    NodeCase("Gemm").input({3, 7}).input({7, 5}).input({5}).expect_matches_ref();
    NodeCase("Gemm").input({3, 7}).input({7, 5}).attr("alpha", 3.0f).expect_matches_ref();
}

// Linear layers and 1x1 convolutions of 1x1 images at up to 8 rows take fovea's own product kernel (not oneDNN):
// widths and depths that are not multiples of its 4 rows and vector length, with and without a bias and epilogue;
// 9 rows go to oneDNN.
TEST(CpuSkinnyProduct, matches_ref_for_linear_layers_and_squeeze_excitation_convolutions) {
    auto own_kernel = [](NodeCase& c) { return dynamic_cast<cpu::DnnlKernel*>(c.compile_cpu().get()) == nullptr; };
    for (int64_t rows : {1, 3, 8, 9}) {
        SCOPED_TRACE(rows);
        NodeCase gemm("Gemm");
        gemm.input({rows, 37}).random_constant({23, 37}).random_constant({23}).attr("transB", int64_t{1});
        EXPECT_EQ(own_kernel(gemm), rows <= 8);
        gemm.expect_matches_ref();
        NodeCase wide("Gemm");  // enough work for both threads
        wide.input({rows, 576}).random_constant({130, 576}).random_constant({1, 130}).attr("transB", int64_t{1});
        EXPECT_EQ(own_kernel(wide), rows <= 8);
        wide.expect_matches_ref();
        NodeCase conv("Conv");
        conv.input({rows, 5, 1, 1}).random_constant({7, 5, 1, 1});
        EXPECT_EQ(own_kernel(conv), rows <= 8);
        conv.expect_matches_ref();
        for (const char* activation : {"Relu", "HardSigmoid"}) {
            NodeCase fused("FusedConv", 1, "fovea");
            fused.input({rows, 96, 1, 1}).random_constant({26, 96, 1, 1}).random_constant({26});
            fused.attr("activation", std::string(activation))
                .attr("activation_params", std::string(activation) == "Relu" ? Floats{} : Floats{0.2f, 0.5f});
            EXPECT_EQ(own_kernel(fused), rows <= 8);
            fused.expect_matches_ref();
        }
    }
    // Weights not stored [width, depth], a scaled product, or a bigger image: oneDNN.
    NodeCase plain("Gemm");
    plain.input({1, 37}).random_constant({37, 23});
    EXPECT_FALSE(own_kernel(plain));
    NodeCase scaled("Gemm");
    scaled.input({1, 37}).random_constant({23, 37}).attr("transB", int64_t{1}).attr("alpha", 2.0f);
    EXPECT_FALSE(own_kernel(scaled));
    scaled.expect_matches_ref();
    NodeCase image("Conv");
    image.input({1, 5, 2, 1}).random_constant({7, 5, 1, 1});
    EXPECT_FALSE(own_kernel(image));
}

TEST(CpuGemm, declines_a_scaled_runtime_bias) {
    EXPECT_TRUE(NodeCase("Gemm").input({3, 7}).input({7, 5}).input({5}).attr("beta", 0.5f).declined());
}

// ---- pooling ----

TEST(CpuPool, matches_ref_with_ceil_mode_pads_and_dilations) {
    NodeCase("MaxPool")
        .input({2, 3, 11, 10})
        .attr("kernel_shape", Ints{3, 3})
        .attr("strides", Ints{2, 2})
        .attr("pads", Ints{1, 0, 1, 0})
        .attr("ceil_mode", int64_t{1})
        .expect_matches_ref();
    NodeCase("MaxPool")
        .input({1, 2, 12, 12})
        .attr("kernel_shape", Ints{2, 3})
        .attr("dilations", Ints{2, 2})
        .expect_matches_ref();
    NodeCase("AveragePool")
        .input({2, 3, 11, 10})
        .attr("kernel_shape", Ints{3, 2})
        .attr("strides", Ints{2, 2})
        .attr("pads", Ints{1, 1, 1, 1})
        .attr("ceil_mode", int64_t{1})
        .expect_matches_ref();
    NodeCase("AveragePool")
        .input({2, 3, 9, 9})
        .attr("kernel_shape", Ints{3, 3})
        .attr("pads", Ints{1, 1, 1, 1})
        .attr("count_include_pad", int64_t{1})
        .expect_matches_ref();
    NodeCase("GlobalAveragePool").input({2, 5, 7, 3}).expect_matches_ref();
    NodeCase("GlobalMaxPool").input({2, 5, 7}).expect_matches_ref();
}

TEST(CpuPool, declines_indices_and_padding_counted_past_the_declared_pads) {
    EXPECT_TRUE(NodeCase("MaxPool").input({1, 2, 6, 6}).attr("kernel_shape", Ints{2, 2}).outputs(2).declined());
    EXPECT_TRUE(NodeCase("AveragePool")
                    .input({1, 2, 6, 6})
                    .attr("kernel_shape", Ints{3, 3})
                    .attr("strides", Ints{2, 2})
                    .attr("ceil_mode", int64_t{1})
                    .attr("count_include_pad", int64_t{1})
                    .declined());
}

// ---- elementwise ----

TEST(CpuUnary, matches_ref_for_each_op) {
    for (const char* op : {"Relu", "Sigmoid", "Tanh", "Exp", "Abs", "Neg", "Elu", "Selu", "Softplus", "HardSwish",
                           "HardSigmoid", "LeakyRelu"})
        NodeCase(op).input({3, 5, 7}, -3.0f, 3.0f).expect_matches_ref();
    NodeCase("Sqrt").input({2, 9}, 0.1f, 4.0f).expect_matches_ref();
    NodeCase("Erf").input({3, 1000}, -3.0f, 3.0f).expect_matches_ref();
    NodeCase("Gelu", 1, "fovea").input({3, 5, 7}, -3.0f, 3.0f).expect_matches_ref();
    NodeCase("SiLU", 1, "fovea").input({3, 5, 7}, -3.0f, 3.0f).expect_matches_ref();
    NodeCase("Reciprocal").input({2, 9}, 0.5f, 2.0f).expect_matches_ref();
    NodeCase("LeakyRelu").input({4, 4}).attr("alpha", 0.3f).expect_matches_ref();
    NodeCase("HardSigmoid").input({4, 4}, -4.0f, 4.0f).attr("alpha", 0.4f).attr("beta", 0.3f).expect_matches_ref();
}

TEST(CpuUnary, takes_clip_and_pow_with_constant_operands) {
    NodeCase("Clip", 13)
        .input({3, 11}, -2.0f, 2.0f)
        .constant(Tensor::scalar(-0.5f))
        .constant(Tensor::scalar(0.75f))
        .expect_matches_ref();
    NodeCase("Clip", 13).input({3, 11}, -2.0f, 2.0f).absent().constant(Tensor::scalar(0.25f)).expect_matches_ref();
    NodeCase("Pow").input({3, 11}, 0.1f, 2.0f).constant(Tensor::scalar(2.0f)).expect_matches_ref();
    NodeCase("Pow").input({3, 11}, 0.1f, 2.0f).constant(Tensor::scalar(0.5f)).expect_matches_ref();
}

TEST(CpuUnary, declines_runtime_bounds_and_exponents) {
    EXPECT_TRUE(NodeCase("Clip", 13).input({3, 11}).input({}).declined());
    EXPECT_TRUE(NodeCase("Pow").input({3, 11}).input({3, 11}).declined());
    EXPECT_TRUE(NodeCase("Log").input({3, 11}, 0.5f, 2.0f).declined());
}

TEST(CpuBinary, matches_ref_broadcasting_either_operand) {
    for (const char* op : {"Add", "Sub", "Mul", "Div", "Max", "Min"}) {
        NodeCase(op).input({2, 3, 4, 5}).input({2, 3, 4, 5}, 0.5f, 2.0f).expect_matches_ref();
        NodeCase(op).input({2, 3, 4, 5}).input({3, 1, 1}, 0.5f, 2.0f).expect_matches_ref();
        NodeCase(op).input({1, 3, 1, 5}, 0.5f, 2.0f).input({2, 3, 4, 5}, 0.5f, 2.0f).expect_matches_ref();
        NodeCase(op).input({}).input({2, 7}, 0.5f, 2.0f).expect_matches_ref();
    }
}

TEST(CpuBinary, declines_operands_that_both_broadcast) {
    EXPECT_TRUE(NodeCase("Add").input({2, 1}).input({1, 3}).declined());
}

TEST(CpuSum, matches_ref_for_sum_and_mean) {
    NodeCase("Sum").input({3, 5}).input({3, 5}).input({3, 5}).expect_matches_ref();
    NodeCase("Mean").input({3, 5}).input({3, 5}).expect_matches_ref();
}

// ---- normalization ----

TEST(CpuSoftmax, matches_ref_for_both_axis_semantics) {
    NodeCase("Softmax", 13).input({2, 3, 4}, -5.0f, 5.0f).attr("axis", int64_t{1}).expect_matches_ref();
    NodeCase("Softmax", 11).input({2, 3, 4}, -5.0f, 5.0f).attr("axis", int64_t{1}).expect_matches_ref();
    NodeCase("LogSoftmax", 13).input({2, 3, 4}, -5.0f, 5.0f).expect_matches_ref();
}

TEST(CpuSoftmax, matches_ref_over_an_axis_that_is_not_innermost) {
    // YOLOv8's DFL head: 16 bins on axis 1, 4 x 8400 values after it (here fewer, and an odd inner size).
    NodeCase("Softmax", 13).input({1, 16, 4, 33}, -8.0f, 8.0f).attr("axis", int64_t{1}).expect_matches_ref();
    NodeCase("Softmax", 13).input({3, 5, 7}, -8.0f, 8.0f).attr("axis", int64_t{0}).expect_matches_ref();
    NodeCase("LogSoftmax", 13).input({2, 6, 3, 5}, -8.0f, 8.0f).attr("axis", int64_t{-3}).expect_matches_ref();
}

TEST(CpuNormalization, matches_ref_for_batch_and_layer_norm) {
    NodeCase("BatchNormalization", 15)
        .input({2, 3, 5, 4})
        .random_constant({3})
        .random_constant({3})
        .random_constant({3})
        .random_constant({3}, 0.5f, 2.0f)
        .expect_matches_ref();
    NodeCase("LayerNormalization")
        .input({2, 3, 4})
        .random_constant({3, 4})
        .random_constant({3, 4})
        .attr("axis", int64_t{1})
        .expect_matches_ref();
    NodeCase("LayerNormalization").input({5, 8}).random_constant({8}).expect_matches_ref();
}

// ---- data movement ----

TEST(CpuData, matches_ref_for_copies_transpose_split_and_concat) {
    NodeCase("Reshape").input({2, 3, 4}).constant(Tensor::from_vector<int64_t>({2}, {4, 6})).expect_matches_ref();
    NodeCase("Flatten").input({2, 3, 4}).expect_matches_ref();
    NodeCase("Transpose").input({2, 3, 4, 5}).attr("perm", Ints{0, 2, 3, 1}).expect_matches_ref();
    NodeCase("Transpose").input({3, 5}).expect_matches_ref();
    NodeCase("Split", 13)
        .input({2, 7, 3})
        .constant(Tensor::from_vector<int64_t>({3}, {2, 4, 1}))
        .attr("axis", int64_t{1})
        .outputs(3)
        .expect_matches_ref();
    NodeCase("Concat").input({2, 3, 4}).input({2, 0, 4}).input({2, 5, 4}).attr("axis", int64_t{1}).expect_matches_ref();
}

TEST(CpuData, matches_ref_for_slices_with_steps_and_negative_positions) {
    auto ints = [](std::vector<int64_t> v) {
        return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
    };
    NodeCase("Slice", 13)
        .input({4, 9, 7})
        .constant(ints({1, -6}))
        .constant(ints({4, 100}))
        .constant(ints({0, 1}))
        .constant(ints({2, 2}))
        .expect_matches_ref();
    NodeCase("Slice", 13).input({2, 8}).constant(ints({0, 3})).constant(ints({2, 5})).expect_matches_ref();
    EXPECT_TRUE(NodeCase("Slice", 13)
                    .input({2, 8})
                    .constant(ints({-1}))
                    .constant(ints({-100}))
                    .constant(ints({1}))
                    .constant(ints({-1}))
                    .declined());
}

TEST(CpuData, matches_ref_for_constant_pads_and_crops) {
    auto ints = [](std::vector<int64_t> v) {
        return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
    };
    NodeCase("Pad", 13)
        .input({2, 3, 5})
        .constant(ints({0, 1, 2, 0, 2, 1}))
        .constant(Tensor::scalar(1.5f))
        .expect_matches_ref();
    NodeCase("Pad", 13).input({2, 3, 5}).constant(ints({0, -1, 2, 1, 0, -2})).expect_matches_ref();
    EXPECT_TRUE(NodeCase("Pad", 13)
                    .input({2, 3, 5})
                    .constant(ints({0, 1, 2, 0, 2, 1}))
                    .attr("mode", std::string("edge"))
                    .declined());
}

TEST(CpuReduce, matches_ref_for_each_reduction) {
    auto ints = [](std::vector<int64_t> v) {
        return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
    };
    for (const char* op : {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2"}) {
        NodeCase(op, 13).input({2, 3, 5}, 0.5f, 1.5f).constant(ints({-1})).expect_matches_ref();
        NodeCase(op, 13)
            .input({2, 3, 5}, 0.5f, 1.5f)
            .constant(ints({0, 2}))
            .attr("keepdims", int64_t{0})
            .expect_matches_ref();
        NodeCase(op, 13).input({2, 3, 5}, 0.5f, 1.5f).expect_matches_ref();
    }
}

TEST(CpuBinary, aligns_the_second_operand_at_axis_before_opset_7) {
    NodeCase("Add", 6)
        .input({2, 3, 4, 5})
        .input({3, 4})
        .attr("broadcast", int64_t{1})
        .attr("axis", int64_t{1})
        .expect_matches_ref();
}

// ---- resampling ----

TEST(CpuResize, matches_ref_where_onednn_samples_like_onnx) {
    const Tensor up = Tensor::from_vector<float>({4}, {1, 1, 2, 2});
    NodeCase("Resize", 13)
        .input({1, 3, 5, 4})
        .absent()
        .constant(up)
        .attr("mode", std::string("nearest"))
        .attr("coordinate_transformation_mode", std::string("asymmetric"))
        .attr("nearest_mode", std::string("floor"))
        .expect_matches_ref();
    NodeCase("Resize", 13).input({1, 3, 5, 4}).absent().constant(up).expect_matches_ref();
    NodeCase("Resize", 13)
        .input({2, 3, 5, 4})
        .absent()
        .constant(up)
        .attr("mode", std::string("linear"))
        .expect_matches_ref();
    NodeCase("Resize", 13)
        .input({1, 2, 8, 6})
        .absent()
        .constant(Tensor::from_vector<float>({4}, {1, 1, 0.5f, 0.5f}))
        .attr("mode", std::string("linear"))
        .expect_matches_ref();
    NodeCase("Upsample", 9)
        .input({1, 2, 3, 3})
        .constant(Tensor::from_vector<float>({4}, {1, 1, 3, 2}))
        .expect_matches_ref();
}

TEST(CpuResize, declines_sampling_onednn_does_not_match) {
    const Tensor up = Tensor::from_vector<float>({4}, {1, 1, 2, 2});
    EXPECT_TRUE(
        NodeCase("Resize", 13).input({1, 3, 5, 4}).absent().constant(up).attr("mode", std::string("cubic")).declined());
    EXPECT_TRUE(NodeCase("Resize", 13)
                    .input({1, 3, 5, 4})
                    .absent()
                    .constant(up)
                    .attr("mode", std::string("linear"))
                    .attr("coordinate_transformation_mode", std::string("align_corners"))
                    .declined());
    EXPECT_TRUE(NodeCase("Resize", 13).input({1, 3, 5, 4}).absent().input({4}).declined());
}

// ---- bf16 precision ----

// bfloat16 keeps 8 significant bits: products of [-1, 1] values summed over a few dozen terms stay within 5e-2.
TEST(CpuPrecision, bf16_convolutions_and_matrix_products_stay_close_to_fp32) {
    if (!cpu::cpu_has_bf16()) GTEST_SKIP() << "this CPU has no avx512_bf16";
    NodeCase("Conv")
        .input({1, 8, 9, 9})
        .random_constant({6, 8, 3, 3})
        .random_constant({6})
        .attr("pads", Ints{1, 1, 1, 1})
        .expect_matches_ref(5e-2, 0, "bf16");
    NodeCase("FusedConv", 1, "fovea")
        .input({1, 8, 9, 9})
        .random_constant({8, 8, 1, 1})
        .absent()
        .input({1, 8, 9, 9})
        .attr("activation", std::string("Relu"))
        .expect_matches_ref(5e-2, 0, "bf16");
    NodeCase("MatMul").input({3, 17}).random_constant({17, 5}).expect_matches_ref(5e-2, 0, "bf16");
    NodeCase("MatMul").input({2, 3, 17}).input({17, 5}).expect_matches_ref(5e-2, 0, "bf16");
    NodeCase("Gemm")
        .input({17, 3})
        .random_constant({5, 17})
        .random_constant({5})
        .attr("transA", int64_t{1})
        .attr("transB", int64_t{1})
        .expect_matches_ref(5e-2, 0, "bf16");
}

// ---- threads ----

// ---- the NHWC layout plan (layout.h), on whole graphs ----

// The model's first output on the cpu backend against the reference backend.
void expect_cpu_matches_ref(const std::string& model, const std::map<std::string, Tensor>& inputs) {
    auto expected = test::run_session(model, "ref", inputs);
    ASSERT_TRUE(expected.is_ok()) << expected.status().to_string();
    auto actual = test::run_session(model, "cpu", inputs);
    ASSERT_TRUE(actual.is_ok()) << actual.status().to_string();
    EXPECT_LT(test::relative_l2((*actual)[0], (*expected)[0]), 1e-5);
}

// A k x k convolution with a bias, padded to keep the size: in [N, cin, H, W] -> out [N, cout, H, W].
void add_conv(test::ModelBuilder& m, const std::string& in, const std::string& out, int64_t cin, int64_t cout,
              int64_t k) {
    m.weight(out + "_w", {cout, cin, k, k}, -0.3f, 0.3f);
    m.weight(out + "_b", {cout});
    test::set_attr(m.node("Conv", {in, out + "_w", out + "_b"}, {out}), "pads",
                   std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
}

// A C2f-style block (YOLOv8): a conv's channels split in two by Slices whose ends come from the conv's own Shape,
// one half convolved and added back, everything concatenated and mixed by a 1x1 conv; then a Split into uneven
// parts and a strided Slice over rows, both concatenated, then padded (and padded by nothing). Every image between
// the convs can stay NHWC.
std::string c2f_model() {
    test::ModelBuilder m;
    m.input("x", {"1", "8", "10", "12"});
    auto conv = [&](const std::string& in, const std::string& out, int64_t cin, int64_t cout, int64_t k) {
        add_conv(m, in, out, cin, cout, k);
    };
    conv("x", "c1", 8, 8, 3);
    m.node("Shape", {"c1"}, {"shape"});
    m.ints("one", {1});
    m.ints("zero", {0});
    m.ints("two", {2});
    m.ints("big", {1000});
    m.node("Gather", {"shape", "one"}, {"channels"});
    m.node("Div", {"channels", "two"}, {"half"});
    m.node("Slice", {"c1", "zero", "half", "one"}, {"a"});
    m.node("Slice", {"c1", "half", "big", "one"}, {"b"});
    conv("b", "c2", 4, 4, 3);
    m.node("Add", {"b", "c2"}, {"r"});
    test::set_attr(m.node("Concat", {"a", "b", "r"}, {"cat"}), "axis", int64_t{1});
    conv("cat", "c3", 12, 8, 1);
    m.ints("parts", {3, 5});
    auto& split = m.node("Split", {"c3", "parts"}, {"s0", "s1"});
    test::set_attr(split, "axis", int64_t{1});
    conv("s0", "c4", 3, 5, 3);
    test::set_attr(m.node("Concat", {"c4", "s1"}, {"cat2"}), "axis", int64_t{1});
    m.ints("row0", {1});
    m.ints("rowend", {10});
    m.ints("rowstep", {2});
    m.node("Slice", {"cat2", "row0", "rowend", "two", "rowstep"}, {"rows"});  // rows 1, 3, 5, 7, 9
    m.ints("pads", {0, 0, 1, 2, 0, 0, 0, 1});
    m.node("Pad", {"rows", "pads"}, {"padded"});
    m.ints("no_pads", {0, 0, 0, 0, 0, 0, 0, 0});  // as PyTorch exports before average pooling
    m.node("Pad", {"padded", "no_pads"}, {"same"});
    conv("same", "y", 10, 6, 1);
    m.output("y");
    return m.bytes();
}

// The names of the values the NHWC layout plan keeps channels-last in `model`, its shapes bound as a session binds
// them (Shape-derived values folded to constants).
std::set<std::string> kept_channels_last(const std::string& model) {
    auto graph = test::import_model(model);
    EXPECT_TRUE(graph);
    if (!graph) return {};
    const ops::Evaluator evaluate = [](const ir::Node& node, const std::vector<const Tensor*>& inputs,
                                       std::vector<Tensor>& outputs) { return ref::run_node(node, inputs, outputs); };
    const Status inferred = ops::infer_graph(*graph, &evaluate);
    EXPECT_TRUE(inferred.is_ok()) << inferred.to_string();
    std::set<std::string> names;
    for (const ir::Value* v : cpu::plan_nhwc(*graph, {})) names.insert(v->name);
    return names;
}

TEST(CpuLayout, keeps_slices_splits_and_their_concatenations_in_nhwc) {
    const std::set<std::string> kept = kept_channels_last(c2f_model());
    for (const char* name :
         {"c1", "a", "b", "c2", "r", "cat", "c3", "s0", "s1", "c4", "cat2", "rows", "padded", "same"})
        EXPECT_TRUE(kept.count(name)) << name << " is not kept in NHWC";
}

TEST(CpuLayout, slices_and_splits_in_nhwc_match_ref) {
    const std::string model = c2f_model();
    const std::map<std::string, Tensor> inputs = {{"x", random_tensor({1, 8, 10, 12}, -1.0f, 1.0f, 5)}};
    auto expected = test::run_session(model, "ref", inputs);
    ASSERT_TRUE(expected.is_ok()) << expected.status().to_string();
    for (int threads : {1, 2}) {
        SessionOptions options;
        options.backend = "cpu";
        options.threads = threads;
        auto session = Session::load_from_memory(test::as_bytes(model), options);
        ASSERT_TRUE(session.is_ok()) << session.status().to_string();
        EXPECT_EQ((*session)->nodes_per_backend().count("ref"), 0u);
        for (int run = 0; run < 2; ++run) {
            auto actual = (*session)->run(inputs);
            ASSERT_TRUE(actual.is_ok()) << actual.status().to_string();
            EXPECT_LT(test::relative_l2((*actual)[0], (*expected)[0]), 1e-5);
        }
    }
}

// DenseNet's layer: two convs concatenated, BatchNormalization + ReLU, a 1x1 conv. In fp32 the optimizer makes the
// middle one fovea.ConcatAffine; it stays channels-last between the convs and matches the reference backend.
TEST(CpuLayout, a_densenet_layer_runs_as_concat_affine_channels_last_and_matches_ref) {
    test::ModelBuilder m;
    m.input("x", {"2", "8", "6", "7"});
    auto conv = [&](const std::string& in, const std::string& out, int64_t cin, int64_t cout, int64_t k) {
        add_conv(m, in, out, cin, cout, k);
    };
    conv("x", "c1", 8, 8, 3);
    conv("c1", "c2", 8, 16, 3);
    test::set_attr(m.node("Concat", {"c1", "c2"}, {"cat"}), "axis", int64_t{1});
    m.weight("n_scale", {24}, 0.5f, 1.5f);
    m.weight("n_bias", {24});
    m.weight("n_mean", {24});
    m.weight("n_var", {24}, 0.5f, 1.5f);
    m.node("BatchNormalization", {"cat", "n_scale", "n_bias", "n_mean", "n_var"}, {"n"});
    m.node("Relu", {"n"}, {"r"});
    conv("r", "y", 24, 8, 1);
    m.output("y");
    const std::string model = m.bytes();

    auto graph = test::import_model(model);
    ASSERT_TRUE(graph);
    ASSERT_TRUE(ir::passes::optimize(*graph, "cpu").is_ok());
    const ops::Evaluator evaluate = [](const ir::Node& node, const std::vector<const Tensor*>& inputs,
                                       std::vector<Tensor>& outputs) { return ref::run_node(node, inputs, outputs); };
    ASSERT_TRUE(ops::infer_graph(*graph, &evaluate).is_ok());
    std::set<std::string> kept;
    for (const ir::Value* v : cpu::plan_nhwc(*graph, {})) kept.insert(v->name);
    for (const char* name : {"c1", "c2", "r"}) EXPECT_TRUE(kept.count(name)) << name << " is not kept in NHWC";

    const std::map<std::string, Tensor> inputs = {{"x", random_tensor({2, 8, 6, 7}, -1.0f, 1.0f, 9)}};
    auto expected = test::run_session(model, "ref", inputs);
    ASSERT_TRUE(expected.is_ok()) << expected.status().to_string();
    SessionOptions options;
    options.backend = "cpu";
    auto session = Session::load_from_memory(test::as_bytes(model), options);
    ASSERT_TRUE(session.is_ok()) << session.status().to_string();
    EXPECT_EQ((*session)->nodes_per_backend().count("ref"), 0u);
    int fused = 0;
    for (const auto& n : (*session)->graph().nodes()) fused += n->op_type == "ConcatAffine";
    EXPECT_EQ(fused, 1);
    auto actual = (*session)->run(inputs);
    ASSERT_TRUE(actual.is_ok()) << actual.status().to_string();
    EXPECT_LT(test::relative_l2((*actual)[0], (*expected)[0]), 1e-5);
}

// ShuffleNet's unit: two branches concatenated, the channels shuffled (Reshape to [N, 2, C/2, H, W], Transpose of the
// two channel dims, Reshape back), split in halves, one half convolved; all of it can stay channels-last.
std::string shuffle_model() {
    test::ModelBuilder m;
    m.input("x", {"1", "8", "6", "7"});
    auto conv = [&](const std::string& in, const std::string& out, int64_t cin, int64_t cout) {
        add_conv(m, in, out, cin, cout, 3);
    };
    conv("x", "c1", 8, 8);
    conv("x", "c2", 8, 8);
    test::set_attr(m.node("Concat", {"c1", "c2"}, {"cat"}), "axis", int64_t{1});
    m.ints("split_shape", {1, 2, 8, 6, 7});
    m.node("Reshape", {"cat", "split_shape"}, {"groups"});
    test::set_attr(m.node("Transpose", {"groups"}, {"shuffled"}), "perm", std::vector<int64_t>{0, 2, 1, 3, 4});
    m.ints("image_shape", {1, 16, 6, 7});
    m.node("Reshape", {"shuffled", "image_shape"}, {"mixed"});
    m.ints("halves", {8, 8});
    test::set_attr(m.node("Split", {"mixed", "halves"}, {"h0", "h1"}), "axis", int64_t{1});
    conv("h1", "c3", 8, 8);
    test::set_attr(m.node("Concat", {"h0", "c3"}, {"cat2"}), "axis", int64_t{1});
    conv("cat2", "y", 16, 4);
    m.output("y");
    return m.bytes();
}

TEST(CpuLayout, keeps_a_channel_shuffle_channels_last) {
    const std::set<std::string> kept = kept_channels_last(shuffle_model());
    for (const char* name : {"c1", "cat", "groups", "shuffled", "mixed", "h0", "h1", "c3", "cat2"})
        EXPECT_TRUE(kept.count(name)) << name << " is not kept channels-last";
}

TEST(CpuLayout, a_channel_shuffle_kept_channels_last_matches_ref) {
    const std::string model = shuffle_model();
    const std::map<std::string, Tensor> inputs = {{"x", random_tensor({1, 8, 6, 7}, -1.0f, 1.0f, 9)}};
    expect_cpu_matches_ref(model, inputs);
}

// A squeeze-excitation block: each image's channels scaled by its own [N, C, 1, 1] gate. The gate's bytes read the
// same in either layout, so the scaled images stay channels-last between the convolutions.
std::string se_model(int64_t batch) {
    test::ModelBuilder m;
    m.input("x", {std::to_string(batch), "8", "6", "7"});
    auto conv = [&](const std::string& in, const std::string& out, int64_t cin, int64_t cout, int64_t k) {
        add_conv(m, in, out, cin, cout, k);
    };
    conv("x", "c1", 8, 16, 3);
    m.node("GlobalAveragePool", {"c1"}, {"pooled"});
    conv("pooled", "squeezed", 16, 4, 1);
    m.node("Relu", {"squeezed"}, {"act"});
    conv("act", "excited", 4, 16, 1);
    m.node("Sigmoid", {"excited"}, {"gate"});
    m.node("Mul", {"c1", "gate"}, {"scaled"});
    m.node("Mul", {"gate", "scaled"}, {"scaled2"});  // the gate first: the operands swap
    conv("scaled2", "y", 16, 8, 3);
    m.output("y");
    return m.bytes();
}

TEST(CpuLayout, keeps_a_squeeze_excitation_channels_last_and_matches_ref) {
    for (const int64_t batch : {1, 2}) {
        SCOPED_TRACE("batch " + std::to_string(batch));
        const std::string model = se_model(batch);
        const std::set<std::string> kept = kept_channels_last(model);
        for (const char* name : {"c1", "scaled", "scaled2"})
            EXPECT_TRUE(kept.count(name)) << name << " is not kept channels-last";
        const std::map<std::string, Tensor> inputs = {{"x", random_tensor({batch, 8, 6, 7}, -1.0f, 1.0f, 13)}};
        expect_cpu_matches_ref(model, inputs);
    }
}

// ConvNeXt's block: a convolution's image permuted to [N, H, W, C] for per-pixel matrix products, then back and
// added to the block's input. Channels-last images and the permuted tensors hold the same bytes: no reorders.
std::string permuted_block_model() {
    test::ModelBuilder m;
    m.input("x", {"2", "8", "5", "6"});
    auto conv = [&](const std::string& in, const std::string& out) { add_conv(m, in, out, 8, 8, 3); };
    conv("x", "c1");
    test::set_attr(m.node("Transpose", {"c1"}, {"t1"}), "perm", std::vector<int64_t>{0, 2, 3, 1});
    m.weight("w", {8, 8}, -0.5f, 0.5f);
    m.node("MatMul", {"t1", "w"}, {"mm"});
    test::set_attr(m.node("Transpose", {"mm"}, {"t2"}), "perm", std::vector<int64_t>{0, 3, 1, 2});
    m.node("Add", {"t2", "c1"}, {"r"});
    conv("r", "y");
    m.output("y");
    return m.bytes();
}

TEST(CpuLayout, permutes_between_channels_last_images_and_nhwc_tensors_move_no_bytes_and_match_ref) {
    const std::string model = permuted_block_model();
    const std::set<std::string> kept = kept_channels_last(model);
    for (const char* name : {"c1", "t2", "r"}) EXPECT_TRUE(kept.count(name)) << name << " is not kept channels-last";
    EXPECT_FALSE(kept.count("t1"));  // the matrix product reads it plain
    const std::map<std::string, Tensor> inputs = {{"x", random_tensor({2, 8, 5, 6}, -1.0f, 1.0f, 17)}};
    expect_cpu_matches_ref(model, inputs);
}

TEST(CpuBackend, honours_a_thread_count_and_restores_the_callers) {
    const int before = omp_get_max_threads();
    NodeCase("Conv").input({1, 8, 16, 16}).random_constant({8, 8, 3, 3}).expect_matches_ref(1e-4, 1);
    EXPECT_EQ(omp_get_max_threads(), before);
}

}  // namespace
}  // namespace fovea
