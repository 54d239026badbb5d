// The cuda backend's kernels against the reference backend, one node at a time (plus a few small graphs), in every
// precision: odd shapes, broadcasting either way, constant and runtime operands. Each case runs three times on the
// same engine: node by node, then captured into a CUDA graph, then replayed; all three must match.
// Tolerance: relative L2 error below 1e-3 for fp32/tf32, 1e-2 for fp16.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../passes/pass_test_util.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/ref/ref_backend.h"
#include "fovea/session.h"
#include "ir/graph.h"
#include "ops/infer_graph.h"
#include "ops/op.h"

namespace fovea {
namespace {

using Ints = std::vector<int64_t>;
using Floats = std::vector<float>;

#define SKIP_WITHOUT_CUDA()                                         \
    do {                                                            \
        if (Status usable = cuda::cuda_usable(); !usable.is_ok())   \
            GTEST_SKIP() << "no CUDA device: " << usable.message(); \
    } while (0)

Tensor random_tensor(const Shape& shape, float lo, float hi, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    Tensor t(DType::kFloat32, shape);
    for (float& v : t.span<float>()) v = dist(rng);
    return t;
}

double relative_l2(const Tensor& actual, const Tensor& expected) {
    double diff = 0, ref = 0;
    for (int64_t i = 0; i < expected.numel(); ++i) {
        const double a = actual.element_as_double(i), e = expected.element_as_double(i);
        diff += (a - e) * (a - e);
        ref += e * e;
    }
    return ref > 0 ? std::sqrt(diff / ref) : std::sqrt(diff);
}

double tolerance(const std::string& precision) {
    return precision == "fp16" ? 1e-2 : 1e-3;
}

// A small graph built node by node: runtime inputs hold random data, constants are initializers. `expect_matches_ref`
// runs it on the reference backend (node by node, as the oracle) and on a cuda engine.
class GraphCase {
  public:
    GraphCase& input(const Shape& shape, float lo = -1.0f, float hi = 1.0f) {
        ir::Value* v = graph_.add_value("in" + std::to_string(graph_.inputs.size()));
        v->dtype = DType::kFloat32;
        v->has_type = true;
        v->shape = shape;
        graph_.inputs.push_back(v);
        data_[v] = random_tensor(shape, lo, hi, static_cast<uint32_t>(7 + graph_.inputs.size()));
        last_ = v;
        return *this;
    }
    GraphCase& constant(Tensor t) {
        ir::Value* v = graph_.add_value("c" + std::to_string(++constants_));
        v->set_initializer(std::move(t));
        last_ = v;
        return *this;
    }
    GraphCase& random_constant(const Shape& shape, float lo = -1.0f, float hi = 1.0f) {
        return constant(random_tensor(shape, lo, hi, static_cast<uint32_t>(100 + constants_)));
    }
    ir::Value* last() const { return last_; }

    // Adds a node reading `inputs` (nullptr: omitted) with `outputs` outputs; returns it for attributes.
    ir::Node& node(const std::string& op, std::vector<ir::Value*> inputs, size_t outputs = 1, int opset = 17,
                   const std::string& domain = "") {
        ir::Node* n = graph_.add_node(op, "n" + std::to_string(graph_.nodes().size()));
        n->opset = opset;
        n->domain = domain;
        n->inputs = std::move(inputs);
        for (size_t i = 0; i < outputs; ++i) {
            ir::Value* v = graph_.add_value(n->name + "_y" + std::to_string(i));
            v->producer = n;
            n->outputs.push_back(v);
        }
        return *n;
    }
    // Marks every output of every node that nothing reads as a graph output, then infers shapes.
    void finish() {
        for (const auto& n : graph_.nodes())
            for (ir::Value* v : n->outputs)
                if (graph_.uses(v).empty()) graph_.outputs.push_back(v);
        for (const auto& n : graph_.nodes()) {
            const Status s = ops::infer_node(*n);
            ASSERT_TRUE(s.is_ok()) << s.to_string();
        }
    }

    std::vector<Tensor> reference() {
        std::map<const ir::Value*, Tensor> values = data_;
        for (const auto& n : graph_.nodes()) {
            std::vector<const Tensor*> args;
            for (const ir::Value* v : n->inputs)
                args.push_back(!v ? nullptr : v->constant ? &*v->constant : &values.at(v));
            std::vector<Tensor> outs;
            const Status s = ref::run_node(*n, args, outs);
            EXPECT_TRUE(s.is_ok()) << s.to_string();
            for (size_t i = 0; i < outs.size() && i < n->outputs.size(); ++i) values[n->outputs[i]] = outs[i];
        }
        std::vector<Tensor> out;
        for (const ir::Value* v : graph_.outputs) out.push_back(values.at(v));
        return out;
    }

    Result<std::unique_ptr<runtime::GraphEngine>> engine(const std::string& precision) {
        FOVEA_ASSIGN(auto backend, cuda::make_cuda_backend({.threads = 0, .precision = precision}));
        backend_ = std::move(backend);
        return backend_->compile_graph(graph_, std::vector<bool>(graph_.nodes().size(), true));
    }

    void expect_matches_ref(const std::string& precision, double tol = -1) {
        if (tol < 0) tol = tolerance(precision);
        finish();
        if (::testing::Test::HasFatalFailure()) return;
        const std::vector<Tensor> expected = reference();
        auto engine = this->engine(precision);
        ASSERT_TRUE(engine.is_ok()) << engine.status().to_string();
        std::vector<const Tensor*> inputs;
        for (const ir::Value* v : graph_.inputs) inputs.push_back(&data_.at(v));
        for (int run = 0; run < 3; ++run) {  // node by node, captured, replayed
            auto outputs = (*engine)->run(inputs);
            ASSERT_TRUE(outputs.is_ok()) << outputs.status().to_string();
            ASSERT_EQ(outputs->size(), expected.size());
            for (size_t i = 0; i < expected.size(); ++i) {
                ASSERT_EQ((*outputs)[i].shape(), expected[i].shape());
                const double err = relative_l2((*outputs)[i], expected[i]);
                EXPECT_LT(err, tol) << "output " << i << " " << shape_to_string(expected[i].shape()) << ", run " << run
                                    << " (" << precision << ")";
            }
        }
    }

    ir::Graph& graph() { return graph_; }

  private:
    ir::Graph graph_;
    std::map<const ir::Value*, Tensor> data_;
    ir::Value* last_ = nullptr;
    int constants_ = 0;
    std::unique_ptr<runtime::Backend> backend_;
};

// One node whose inputs are built by `make` (which returns the input values in order).
class Precisions : public ::testing::TestWithParam<std::string> {};

std::string precision_name(const ::testing::TestParamInfo<std::string>& p) {
    return p.param;
}

#define PRECISION_TEST(Suite, name)                                                                  \
    class Suite : public Precisions {};                                                              \
    INSTANTIATE_TEST_SUITE_P(All, Suite, ::testing::Values("fp32", "tf32", "fp16"), precision_name); \
    TEST_P(Suite, name)

// ---- convolutions and matrix products ----

PRECISION_TEST(CudaConv, matches_ref_with_odd_shapes_strides_groups_and_dilations) {
    SKIP_WITHOUT_CUDA();
    {
        GraphCase g;
        ir::Value* x = g.input({2, 5, 13, 11}).last();
        ir::Value* w = g.random_constant({7, 5, 3, 3}).last();
        ir::Value* b = g.random_constant({7}).last();
        g.node("Conv", {x, w, b}).attrs = {{"pads", Ints{1, 1, 1, 1}}, {"strides", Ints{2, 2}}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;
        ir::Value* x = g.input({1, 6, 17, 9}).last();
        ir::Value* w = g.random_constant({6, 1, 3, 3}).last();
        g.node("Conv", {x, w}).attrs = {{"pads", Ints{2, 2, 2, 2}}, {"dilations", Ints{2, 2}}, {"group", int64_t{6}}};
        g.expect_matches_ref(GetParam());
    }
    {
        // Channel counts that are no tensor-core multiple between convolutions (tf32, fp16): the first writes its 7
        // channels through a padded buffer, the second reads them (NHWC) into padded rows and writes 3, which the
        // third reads padded again.
        GraphCase g;
        ir::Value* x = g.input({2, 3, 12, 10}).last();
        ir::Value* w1 = g.random_constant({7, 3, 3, 3}).last();
        ir::Value* b1 = g.random_constant({7}).last();
        ir::Node& first = g.node("Conv", {x, w1, b1});
        first.attrs = {{"pads", Ints{1, 1, 1, 1}}};
        ir::Value* w2 = g.random_constant({3, 7, 1, 1}).last();
        ir::Value* c = g.node("Conv", {first.outputs[0], w2}).outputs[0];
        ir::Value* w3 = g.random_constant({9, 3, 3, 3}).last();
        ir::Node& third = g.node("Conv", {c, w3});
        third.attrs = {{"pads", Ints{1, 1, 1, 1}}};
        ir::Value* r = third.outputs[0];
        g.node("Relu", {r});
        g.expect_matches_ref(GetParam());
    }
    // Stride-2 convolutions over a few channels with wide filters (stems: 7x7 pad 3 as ResNet's; 5x5 with an even
    // and an odd pad) run over 2x2 pixel blocks in tf32 and fp16; with a fused ReLU and a residual too.
    for (const auto& [channels, kernel, pad] : {std::tuple{3, 7, 3}, {4, 5, 2}, {2, 5, 1}}) {
        SCOPED_TRACE(std::to_string(kernel) + "x" + std::to_string(kernel) + " pad " + std::to_string(pad));
        GraphCase g;
        ir::Value* x = g.input({2, channels, 23, 18}).last();
        ir::Value* w = g.random_constant({16, channels, kernel, kernel}).last();
        ir::Value* b = g.random_constant({16}).last();
        const int64_t p = pad;
        g.node("Conv", {x, w, b}).attrs = {{"pads", Ints{p, p, p, p}}, {"strides", Ints{2, 2}}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;
        ir::Value* x = g.input({2, 3, 32, 32}).last();
        ir::Value* w = g.random_constant({16, 3, 7, 7}).last();
        ir::Value* b = g.random_constant({16}).last();
        ir::Value* residual = g.input({2, 16, 16, 16}).last();
        g.node("FusedConv", {x, w, b, residual}, 1, 1, "fovea").attrs = {{"pads", Ints{3, 3, 3, 3}},
                                                                         {"strides", Ints{2, 2}},
                                                                         {"activation", std::string("Relu")},
                                                                         {"activation_params", Floats{}}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // 1-D
        ir::Value* x = g.input({3, 4, 29}).last();
        ir::Value* w = g.random_constant({5, 4, 5}).last();
        g.node("Conv", {x, w}).attrs = {{"pads", Ints{2, 2}}};
        g.expect_matches_ref(GetParam());
    }
}

// Depthwise convolutions in NHWC (fp16, tf32), through fovea's kernel and through cuDNN's, each forced: 3x3 and 5x5,
// strides 1 and 2, dilation, a bias, ReLU6 or SiLU and a residual; channel counts that take 16-byte vectors (16, 24)
// and one that does not (6: cuDNN either way).
PRECISION_TEST(CudaDepthwise, matches_ref_through_either_kernel) {
    SKIP_WITHOUT_CUDA();
    struct Case {
        int64_t channels, kernel, stride, dilation;
        const char* activation;
        bool residual;
    };
    const Case cases[] = {{16, 3, 1, 1, "Clip", false},
                          {24, 5, 2, 1, "SiLU", false},
                          {16, 3, 1, 2, "", true},
                          {6, 3, 2, 1, "Clip", false}};
    for (const char* choice : {"fovea", "cudnn"}) {
        ::setenv("FOVEA_CUDA_DEPTHWISE", choice, 1);
        for (const Case& c : cases) {
            GraphCase g;
            ir::Value* x = g.input({2, 5, 15, 13}).last();
            ir::Value* w0 = g.random_constant({c.channels, 5, 1, 1}).last();
            ir::Value* y0 = g.node("Conv", {x, w0}).outputs[0];  // an NHWC producer, as in a network
            ir::Value* w = g.random_constant({c.channels, 1, c.kernel, c.kernel}).last();
            ir::Value* b = g.random_constant({c.channels}).last();
            const int64_t pad = c.dilation * (c.kernel / 2);
            const int64_t out_h = (15 + 2 * pad - c.dilation * (c.kernel - 1) - 1) / c.stride + 1;
            const int64_t out_w = (13 + 2 * pad - c.dilation * (c.kernel - 1) - 1) / c.stride + 1;
            std::vector<ir::Value*> inputs = {y0, w, b};
            if (c.residual) inputs.push_back(g.input({2, c.channels, out_h, out_w}).last());
            const std::string activation = c.activation;
            g.node("FusedConv", inputs, 1, 1, "fovea").attrs = {
                {"pads", Ints{pad, pad, pad, pad}},
                {"strides", Ints{c.stride, c.stride}},
                {"dilations", Ints{c.dilation, c.dilation}},
                {"group", c.channels},
                {"activation", activation},
                {"activation_params", activation == "Clip" ? Floats{0.f, 6.f} : Floats{}}};
            SCOPED_TRACE(std::string(choice) + " channels " + std::to_string(c.channels) + " kernel " +
                         std::to_string(c.kernel) + " stride " + std::to_string(c.stride));
            g.expect_matches_ref(GetParam());
        }
    }
    ::unsetenv("FOVEA_CUDA_DEPTHWISE");
}

class CudaFusedConv : public ::testing::TestWithParam<std::tuple<std::string, bool, std::string>> {};

TEST_P(CudaFusedConv, matches_ref) {
    SKIP_WITHOUT_CUDA();
    const auto& [activation, residual, precision] = GetParam();
    Floats params;
    if (activation == "Clip") params = {-0.5f, 0.7f};
    if (activation == "LeakyRelu") params = {0.1f};
    if (activation == "HardSigmoid") params = {0.3f, 0.4f};
    GraphCase g;
    ir::Value* x = g.input({2, 5, 13, 11}).last();
    ir::Value* w = g.random_constant({7, 5, 3, 3}).last();
    ir::Value* b = g.random_constant({7}).last();
    std::vector<ir::Value*> inputs = {x, w, b};
    if (residual) inputs.push_back(g.input({2, 7, 13, 11}).last());
    g.node("FusedConv", inputs, 1, 1, "fovea").attrs = {
        {"pads", Ints{1, 1, 1, 1}}, {"activation", activation}, {"activation_params", params}};
    g.expect_matches_ref(precision);
}

INSTANTIATE_TEST_SUITE_P(Epilogues, CudaFusedConv,
                         ::testing::Combine(::testing::Values("", "Relu", "Clip", "LeakyRelu", "Sigmoid", "SiLU",
                                                              "HardSwish", "HardSigmoid", "Tanh", "Gelu"),
                                            ::testing::Bool(), ::testing::Values("fp32", "fp16")),
                         [](const ::testing::TestParamInfo<std::tuple<std::string, bool, std::string>>& p) {
                             const std::string name = std::get<0>(p.param).empty() ? "None" : std::get<0>(p.param);
                             return name + (std::get<1>(p.param) ? "_residual_" : "_") + std::get<2>(p.param);
                         });

// The cuDNN graph-API path itself, which a build takes only where it measures faster: forced here, so that a build
// fails where cuDNN has no engine for it. The epilogues it fuses, and others (ReLU6, a general Clip, HardSwish,
// LeakyRelu) that run after it in place; with and without a residual, fp16 NHWC with channels tensor cores take.
TEST(CudaGraphConv, matches_ref_when_forced) {
    SKIP_WITHOUT_CUDA();
    ::setenv("FOVEA_CUDA_GRAPH_CONV", "force", 1);
    ::setenv("FOVEA_ENGINE_CACHE", "0", 1);  // a cached choice would skip the path
    struct Case {
        const char* activation;
        Floats params;
        bool residual;
    };
    const Case cases[] = {{"", {}, false},          {"Relu", {}, true},          {"Sigmoid", {}, false},
                          {"SiLU", {}, true},       {"Clip", {0.f, 6.f}, false}, {"Clip", {-0.5f, 0.7f}, true},
                          {"HardSwish", {}, false}, {"LeakyRelu", {0.1f}, true}};
    for (const Case& c : cases) {
        GraphCase g;
        ir::Value* x = g.input({2, 8, 13, 11}).last();
        ir::Value* w = g.random_constant({16, 8, 3, 3}).last();
        ir::Value* b = g.random_constant({16}).last();
        std::vector<ir::Value*> inputs = {x, w, b};
        if (c.residual) inputs.push_back(g.input({2, 16, 13, 11}).last());
        g.node("FusedConv", inputs, 1, 1, "fovea").attrs = {
            {"pads", Ints{1, 1, 1, 1}}, {"activation", std::string(c.activation)}, {"activation_params", c.params}};
        SCOPED_TRACE(std::string("activation '") + c.activation + "'" + (c.residual ? " with a residual" : ""));
        g.expect_matches_ref("fp16");
    }
    ::unsetenv("FOVEA_CUDA_GRAPH_CONV");
    ::unsetenv("FOVEA_ENGINE_CACHE");
}

PRECISION_TEST(CudaConvTranspose, matches_ref_with_strides_pads_groups_dilations_and_output_padding) {
    SKIP_WITHOUT_CUDA();
    {
        GraphCase g;  // PP-OCR det's upsampling head: kernel 2, stride 2, no pads (cuDNN writes y directly)
        ir::Value* x = g.input({2, 6, 9, 11}).last();
        ir::Value* w = g.random_constant({6, 5, 2, 2}).last();
        ir::Value* b = g.random_constant({5}).last();
        g.node("ConvTranspose", {x, w, b}).attrs = {{"strides", Ints{2, 2}}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // symmetric pads with output_padding: the scatter placed in a larger, zero-extended y
        ir::Value* x = g.input({2, 4, 7, 6}).last();
        ir::Value* w = g.random_constant({4, 3, 3, 3}).last();
        ir::Value* b = g.random_constant({3}).last();
        g.node("ConvTranspose", {x, w, b}).attrs = {
            {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}, {"output_padding", Ints{1, 0}}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // groups and dilations, symmetric pads
        ir::Value* x = g.input({1, 4, 5, 7}).last();
        ir::Value* w = g.random_constant({4, 3, 3, 3}).last();
        g.node("ConvTranspose", {x, w}).attrs = {
            {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}, {"dilations", Ints{2, 2}}, {"group", int64_t{2}}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // depthwise, asymmetric pads, non-square kernel and strides
        ir::Value* x = g.input({2, 3, 6, 5}).last();
        ir::Value* w = g.random_constant({3, 1, 3, 2}).last();
        ir::Value* b = g.random_constant({3}).last();
        g.node("ConvTranspose", {x, w, b}).attrs = {
            {"strides", Ints{3, 2}}, {"pads", Ints{0, 1, 2, 0}}, {"group", int64_t{3}}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // output_shape beyond the natural size: negative end pads, zeros plus bias at the end
        ir::Value* x = g.input({1, 3, 5, 5}).last();
        ir::Value* w = g.random_constant({3, 2, 3, 3}).last();
        ir::Value* b = g.random_constant({2}).last();
        g.node("ConvTranspose", {x, w, b}).attrs = {{"strides", Ints{2, 2}}, {"output_shape", Ints{12, 13}}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // SAME_LOWER: y = in * stride, the odd total crop taken more at the start
        ir::Value* x = g.input({1, 3, 5, 6}).last();
        ir::Value* w = g.random_constant({3, 2, 3, 3}).last();
        g.node("ConvTranspose", {x, w}).attrs = {{"strides", Ints{2, 2}}, {"auto_pad", std::string("SAME_LOWER")}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // 1-D, asymmetric pads
        ir::Value* x = g.input({2, 3, 10}).last();
        ir::Value* w = g.random_constant({3, 4, 3}).last();
        ir::Value* b = g.random_constant({4}).last();
        g.node("ConvTranspose", {x, w, b}).attrs = {{"strides", Ints{2}}, {"pads", Ints{1, 0}}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // after a Conv, whose output fp16 stores NHWC: ConvTranspose reads it converted to NCHW
        ir::Value* x = g.input({1, 5, 12, 10}).last();
        ir::Value* cw = g.random_constant({8, 5, 3, 3}).last();
        ir::Node& conv = g.node("Conv", {x, cw});
        conv.attrs = {{"pads", Ints{1, 1, 1, 1}}};
        ir::Value* w = g.random_constant({8, 4, 2, 2}).last();
        ir::Value* b = g.random_constant({4}).last();
        ir::Node& up = g.node("ConvTranspose", {conv.outputs[0], w, b});
        up.attrs = {{"strides", Ints{2, 2}}};
        g.node("Sigmoid", {up.outputs[0]});
        g.expect_matches_ref(GetParam());
    }
}

PRECISION_TEST(CudaGemm, matches_ref_with_transposes_alpha_beta_and_broadcast_bias) {
    SKIP_WITHOUT_CUDA();
    {
        GraphCase g;
        ir::Value* a = g.input({3, 17}).last();
        ir::Value* b = g.random_constant({13, 17}).last();
        ir::Value* c = g.random_constant({13}).last();
        g.node("Gemm", {a, b, c}).attrs = {{"transB", int64_t{1}}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;
        ir::Value* a = g.input({19, 3}).last();
        ir::Value* b = g.input({19, 5}).last();
        ir::Value* c = g.random_constant({3, 1}).last();
        g.node("Gemm", {a, b, c}).attrs = {{"transA", int64_t{1}}, {"alpha", 0.5f}, {"beta", 2.0f}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // a runtime row of C: cuBLASLt's bias epilogue
        ir::Value* a = g.input({37, 29}).last();
        ir::Value* b = g.random_constant({29, 53}).last();
        ir::Value* c = g.input({1, 53}).last();
        g.node("Gemm", {a, b, c});
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // C of Y's shape: cuBLASLt's C, scaled by beta; constant, then runtime
        ir::Value* a = g.input({37, 29}).last();
        ir::Value* b = g.random_constant({53, 29}).last();
        ir::Value* c = g.random_constant({37, 53}).last();
        ir::Node& first = g.node("Gemm", {a, b, c});
        first.attrs = {{"transB", int64_t{1}}, {"alpha", 2.0f}, {"beta", 0.5f}};
        ir::Value* b2 = g.random_constant({53, 16}).last();
        ir::Value* c2 = g.input({37, 16}).last();
        g.node("Gemm", {first.outputs[0], b2, c2}).attrs = {{"beta", -1.5f}};
        g.expect_matches_ref(GetParam());
    }
}

PRECISION_TEST(CudaMatMul, matches_ref_for_folded_and_batched_products) {
    SKIP_WITHOUT_CUDA();
    {
        GraphCase g;
        ir::Value* a = g.input({2, 3, 5, 7}).last();
        ir::Value* b = g.random_constant({7, 4}).last();
        g.node("MatMul", {a, b});
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;
        ir::Value* a = g.input({3, 5, 7}).last();
        ir::Value* b = g.input({3, 7, 2}).last();
        g.node("MatMul", {a, b});
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // odd sizes: batches that start off any vector alignment
        ir::Value* a = g.input({2, 3, 37, 29}).last();
        ir::Value* b = g.input({2, 3, 29, 53}).last();
        g.node("MatMul", {a, b});
        g.expect_matches_ref(GetParam());
    }
}

// fovea.FusedMatMul through cuBLASLt: its bias and ReLU epilogues, the other activations in the kernel after it. A of
// rank 2, 3 and 4, B constant or runtime, transposed or not, odd M, N and K, with and without a bias.
class CudaFusedMatMul : public ::testing::TestWithParam<std::tuple<std::string, bool, std::string>> {};

TEST_P(CudaFusedMatMul, matches_ref) {
    SKIP_WITHOUT_CUDA();
    const auto& [activation, bias, precision] = GetParam();
    const Floats params = activation == "Clip" ? Floats{0.f, 6.f} : Floats{};
    struct Case {
        Shape a;
        int64_t n;
        bool trans_b, runtime_b;
    };
    const Case cases[] = {{{37, 29}, 53, false, false},
                          {{2, 7, 5, 48}, 40, true, false},
                          {{3, 37, 29}, 53, true, true},
                          {{37, 29}, 53, false, true}};
    for (const Case& c : cases) {
        SCOPED_TRACE("A " + shape_to_string(c.a) + ", N " + std::to_string(c.n) + (c.trans_b ? ", transB" : "") +
                     (c.runtime_b ? ", runtime B" : ""));
        GraphCase g;
        ir::Value* a = g.input(c.a, -2.f, 2.f).last();
        const int64_t k = c.a.back();
        const Shape bs = c.trans_b ? Shape{c.n, k} : Shape{k, c.n};
        ir::Value* b = c.runtime_b ? g.input(bs).last() : g.random_constant(bs).last();
        std::vector<ir::Value*> inputs = {a, b};
        if (bias) inputs.push_back(c.runtime_b ? g.input({c.n}).last() : g.random_constant({c.n}).last());
        g.node("FusedMatMul", inputs, 1, 1, std::string(ops::kFoveaDomain)).attrs = {
            {"transB", int64_t{c.trans_b}}, {"activation", activation}, {"activation_params", params}};
        g.expect_matches_ref(precision);
    }
}

INSTANTIATE_TEST_SUITE_P(Epilogues, CudaFusedMatMul,
                         ::testing::Combine(::testing::Values("", "Relu", "Gelu", "HardSwish", "SiLU", "Clip"),
                                            ::testing::Bool(), ::testing::Values("fp32", "tf32", "fp16")),
                         [](const ::testing::TestParamInfo<std::tuple<std::string, bool, std::string>>& p) {
                             const std::string name = std::get<0>(p.param).empty() ? "None" : std::get<0>(p.param);
                             return name + (std::get<1>(p.param) ? "_bias_" : "_") + std::get<2>(p.param);
                         });

// The fallbacks where cuBLASLt offers no algorithm, forced: its product without the epilogue, then cuBLAS's own; the
// epilogue in fovea's kernel after either. Bias, ReLU and GELU; a Gemm's C of Y's shape; a batched MatMul.
PRECISION_TEST(CudaMatMulFallbacks, match_ref_when_forced) {
    SKIP_WITHOUT_CUDA();
    for (const char* forced : {"unfused", "cublas"}) {
        SCOPED_TRACE(forced);
        ::setenv("FOVEA_CUDA_GEMM", forced, 1);
        for (const char* activation : {"", "Relu", "Gelu"}) {
            GraphCase g;
            ir::Value* a = g.input({2, 7, 5, 48}).last();
            ir::Value* b = g.random_constant({40, 48}).last();
            ir::Value* bias = g.random_constant({40}).last();
            g.node("FusedMatMul", {a, b, bias}, 1, 1, std::string(ops::kFoveaDomain)).attrs = {
                {"transB", int64_t{1}}, {"activation", std::string(activation)}, {"activation_params", Floats{}}};
            g.expect_matches_ref(GetParam());
        }
        {
            GraphCase g;
            ir::Value* a = g.input({37, 29}).last();
            ir::Value* b = g.random_constant({29, 53}).last();
            ir::Value* c = g.input({37, 53}).last();
            g.node("Gemm", {a, b, c}).attrs = {{"alpha", 2.0f}, {"beta", 0.5f}};
            g.expect_matches_ref(GetParam());
        }
        {
            GraphCase g;
            ir::Value* a = g.input({2, 3, 37, 29}).last();
            ir::Value* b = g.input({2, 3, 29, 53}).last();
            g.node("MatMul", {a, b});
            g.expect_matches_ref(GetParam());
        }
    }
    ::unsetenv("FOVEA_CUDA_GEMM");
}

// A FusedMatMul over the last dim of a convolution's output, which fp16 stores NHWC: it reads the NCHW bytes.
PRECISION_TEST(CudaFusedMatMulLayout, reads_a_convolutions_output_in_nchw) {
    SKIP_WITHOUT_CUDA();
    GraphCase g;
    ir::Value* x = g.input({2, 5, 9, 12}).last();
    ir::Value* w = g.random_constant({8, 5, 3, 3}).last();
    ir::Node& conv = g.node("Conv", {x, w});
    conv.attrs = {{"pads", Ints{1, 1, 1, 1}}};
    ir::Value* b = g.random_constant({12, 24}).last();
    ir::Value* bias = g.random_constant({24}).last();
    g.node("FusedMatMul", {conv.outputs[0], b, bias}, 1, 1, std::string(ops::kFoveaDomain)).attrs = {
        {"transB", int64_t{0}}, {"activation", std::string("Relu")}, {"activation_params", Floats{}}};
    g.expect_matches_ref(GetParam());
}

// ---- elementwise ----

PRECISION_TEST(CudaBinary, matches_ref_broadcasting_either_operand) {
    SKIP_WITHOUT_CUDA();
    for (const char* op : {"Add", "Sub", "Mul", "Div", "Max", "Min"}) {
        for (int form = 0; form < 4; ++form) {
            GraphCase g;
            const Shape big = {2, 3, 5, 7};
            const Shape small = form == 0 ? Shape{3, 1, 7} : form == 1 ? Shape{2, 3, 1, 1} : Shape{1};
            ir::Value* a = g.input(big, 0.5f, 2.0f).last();
            ir::Value* b = form == 3 ? g.random_constant(big, 0.5f, 2.0f).last() : g.input(small, 0.5f, 2.0f).last();
            if (form == 1)
                g.node(op, {b, a});  // the broadcast operand first
            else
                g.node(op, {a, b});
            SCOPED_TRACE(std::string(op) + " form " + std::to_string(form));
            g.expect_matches_ref(GetParam());
        }
    }
}

// Elementwise chains (one kernel for several nodes): broadcast operands on either side, a scalar power, unary
// maps; an intermediate that is also a graph output and a square of the running value break the chain; under fp16
// a chain between convolutions runs in NHWC with an NCHW operand converted.
PRECISION_TEST(CudaChain, matches_ref_across_steps_breaks_and_layouts) {
    SKIP_WITHOUT_CUDA();
    {
        GraphCase g;
        ir::Value* x = g.input({2, 3, 5, 7}).last();
        ir::Value* scale = g.random_constant({3, 1, 1}).last();
        ir::Value* r = g.input({2, 3, 5, 7}).last();
        ir::Value* half = g.constant(Tensor::scalar(0.5f)).last();
        ir::Value* two = g.constant(Tensor::scalar(2.0f)).last();
        ir::Value* d = g.input({7}, 0.5f, 2.0f).last();
        ir::Value* v = g.node("Mul", {scale, x}).outputs[0];
        v = g.node("Add", {v, r}).outputs[0];
        v = g.node("Sigmoid", {v}).outputs[0];
        v = g.node("Sub", {half, v}).outputs[0];
        v = g.node("Pow", {v, two}).outputs[0];
        v = g.node("Div", {v, d}).outputs[0];
        g.node("LeakyRelu", {v}).attrs = {{"alpha", 0.1f}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;
        ir::Value* a = g.input({4, 9}).last();
        ir::Value* b = g.input({1, 9}).last();
        ir::Value* v = g.node("Mul", {a, a}).outputs[0];
        ir::Value* kept = g.node("Add", {v, b}).outputs[0];
        g.graph().outputs.push_back(kept);  // read by Tanh and by the caller: the chain ends here
        v = g.node("Tanh", {kept}).outputs[0];
        v = g.node("Mul", {v, v}).outputs[0];  // the running value twice: a new chain starts
        g.node("Relu", {v});
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;
        ir::Value* x = g.input({2, 8, 6, 6}).last();
        ir::Value* w1 = g.random_constant({16, 8, 3, 3}, -0.3f, 0.3f).last();
        ir::Value* scale = g.random_constant({1, 16, 1, 1}).last();
        ir::Value* r = g.input({2, 16, 6, 6}).last();
        ir::Value* w2 = g.random_constant({8, 16, 1, 1}, -0.3f, 0.3f).last();
        g.node("Conv", {x, w1}).attrs = {{"pads", Ints{1, 1, 1, 1}}};
        ir::Value* v = g.node("Mul", {g.graph().nodes().back()->outputs[0], scale}).outputs[0];
        v = g.node("Add", {r, v}).outputs[0];
        v = g.node("HardSwish", {v}).outputs[0];
        g.node("Conv", {v, w2});
        g.expect_matches_ref(GetParam());
    }
}

PRECISION_TEST(CudaPow, matches_ref_for_pow_with_scalar_and_tensor_exponents) {
    SKIP_WITHOUT_CUDA();
    {
        GraphCase g;
        ir::Value* a = g.input({3, 5, 11}, 0.1f, 2.0f).last();
        ir::Value* e = g.constant(Tensor::scalar(2.0f)).last();
        g.node("Pow", {a, e});
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;
        ir::Value* a = g.input({3, 5, 11}, 0.1f, 2.0f).last();
        ir::Value* e = g.input({5, 1}, -1.0f, 2.0f).last();
        g.node("Pow", {a, e});
        g.expect_matches_ref(GetParam());
    }
}

PRECISION_TEST(CudaUnary, matches_ref_for_each_op) {
    SKIP_WITHOUT_CUDA();
    for (const char* op : {"Abs", "Ceil", "Elu", "Erf", "Exp", "Floor", "HardSigmoid", "HardSwish", "LeakyRelu", "Neg",
                           "Relu", "Sigmoid", "Softplus", "Tanh"}) {
        GraphCase g;
        ir::Value* x = g.input({3, 7, 13}, -3.0f, 3.0f).last();
        g.node(op, {x});
        SCOPED_TRACE(op);
        g.expect_matches_ref(GetParam());
    }
    for (const char* op : {"Log", "Sqrt", "Reciprocal"}) {
        GraphCase g;
        ir::Value* x = g.input({3, 7, 13}, 0.5f, 3.0f).last();
        g.node(op, {x});
        SCOPED_TRACE(op);
        g.expect_matches_ref(GetParam());
    }
    for (const char* op : {"SiLU", "Gelu"}) {
        GraphCase g;
        ir::Value* x = g.input({3, 7, 13}, -3.0f, 3.0f).last();
        g.node(op, {x}, 1, 1, "fovea");
        SCOPED_TRACE(op);
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;
        ir::Value* x = g.input({3, 7, 13}, -3.0f, 3.0f).last();
        ir::Value* lo = g.constant(Tensor::scalar(-0.5f)).last();
        ir::Value* hi = g.constant(Tensor::scalar(6.0f)).last();
        g.node("Clip", {x, lo, hi});
        g.expect_matches_ref(GetParam());
    }
}

PRECISION_TEST(CudaSoftmax, matches_ref_on_last_and_inner_axes_and_opset_11_coercion) {
    SKIP_WITHOUT_CUDA();
    struct Case {
        Shape shape;
        int64_t axis;
        int opset;
        const char* op;
    };
    for (const Case& c : {Case{{3, 1000}, -1, 13, "Softmax"}, Case{{2, 16, 4, 37}, 1, 13, "Softmax"},
                          Case{{2, 3, 5, 7}, 1, 11, "Softmax"}, Case{{5, 33}, -1, 13, "LogSoftmax"}}) {
        GraphCase g;
        ir::Value* x = g.input(c.shape, -4.0f, 4.0f).last();
        g.node(c.op, {x}, 1, c.opset).attrs = {{"axis", c.axis}};
        g.expect_matches_ref(GetParam());
    }
}

PRECISION_TEST(CudaPRelu, matches_ref_with_per_channel_scalar_and_trailing_slopes) {
    SKIP_WITHOUT_CUDA();
    for (const Shape& slope_shape : {Shape{6, 1, 1}, Shape{1}, Shape{7}}) {
        GraphCase g;  // after a convolution: NHWC under fp16
        ir::Value* x = g.input({2, 3, 5, 7}).last();
        ir::Value* w = g.random_constant({6, 3, 3, 3}).last();
        ir::Node& conv = g.node("Conv", {x, w});
        conv.attrs = {{"pads", Ints{1, 1, 1, 1}}};
        ir::Value* slope = g.random_constant(slope_shape, 0.05f, 0.5f).last();
        g.node("PRelu", {conv.outputs[0], slope});
        SCOPED_TRACE(shape_to_string(slope_shape));
        g.expect_matches_ref(GetParam());
    }
}

// Cast between the stored types: float32 through float16 and back, int64 and bool to float, float to int32 (fp32
// and tf32 only: float16 rounding moves values across integer boundaries).
PRECISION_TEST(CudaCast, matches_ref_between_float_integer_and_bool_types) {
    SKIP_WITHOUT_CUDA();
    constexpr int64_t kFloat = 1, kInt32 = 6, kBool = 9, kFloat16 = 10;
    GraphCase g;
    ir::Value* x = g.input({2, 3, 4}, -3.0f, 3.0f).last();
    ir::Node& half = g.node("Cast", {x});
    half.attrs = {{"to", kFloat16}};
    g.node("Cast", {half.outputs[0]}).attrs = {{"to", kFloat}};
    ir::Value* ints = g.constant(Tensor::from_vector<int64_t>({4}, {-2, 0, 5, 7000})).last();
    ir::Node& as_float = g.node("Cast", {ints});
    as_float.attrs = {{"to", kFloat}};
    g.node("Add", {x, as_float.outputs[0]});
    ir::Node& flags = g.node("Cast", {g.node("Relu", {x}).outputs[0]});
    flags.attrs = {{"to", kBool}};
    g.node("Cast", {flags.outputs[0]}).attrs = {{"to", kFloat}};
    if (GetParam() != "fp16") g.node("Cast", {x}).attrs = {{"to", kInt32}};
    g.expect_matches_ref(GetParam());
}

// Comparisons, logic and Where, broadcasting. The compared values are integers (a small random part, floored away),
// so that float16 storage cannot move them across each other.
PRECISION_TEST(CudaCompareWhere, matches_ref_with_broadcasting) {
    SKIP_WITHOUT_CUDA();
    GraphCase g;
    ir::Value* x = g.input({2, 3, 4}, 0.1f, 0.4f).last();
    std::vector<float> offsets(24);
    for (size_t i = 0; i < offsets.size(); ++i) offsets[i] = static_cast<float>(static_cast<int>(i * 7 % 9) - 4);
    ir::Value* offs = g.constant(Tensor::from_vector<float>({2, 3, 4}, offsets)).last();
    ir::Value* k = g.node("Floor", {g.node("Add", {x, offs}).outputs[0]}).outputs[0];
    ir::Value* zero = g.constant(Tensor::from_vector<float>({1}, {0.0f})).last();
    ir::Value* row = g.constant(Tensor::from_vector<float>({4}, {-2.0f, 0.0f, 1.0f, 3.0f})).last();
    ir::Value* positive = g.node("Greater", {k, zero}).outputs[0];
    ir::Value* on_row = g.node("Equal", {k, row}).outputs[0];
    g.node("LessOrEqual", {row, k});
    g.node("GreaterOrEqual", {k, row});
    g.node("Less", {k, zero});
    ir::Value* either = g.node("Or", {positive, on_row}).outputs[0];
    ir::Value* both = g.node("And", {positive, g.node("Not", {on_row}).outputs[0]}).outputs[0];
    g.node("Where", {either, x, zero});
    g.node("Where", {both, k, x});
    g.expect_matches_ref(GetParam());
}

PRECISION_TEST(CudaInstanceNorm, matches_ref_per_image_and_channel) {
    SKIP_WITHOUT_CUDA();
    {
        GraphCase g;  // after a convolution (NHWC under fp16), short rows: a warp per (image, channel)
        ir::Value* x = g.input({2, 3, 9, 7}).last();
        ir::Value* w = g.random_constant({5, 3, 3, 3}).last();
        ir::Node& conv = g.node("Conv", {x, w});
        conv.attrs = {{"pads", Ints{1, 1, 1, 1}}};
        ir::Value* scale = g.random_constant({5}, 0.5f, 1.5f).last();
        ir::Value* bias = g.random_constant({5}).last();
        g.node("InstanceNormalization", {conv.outputs[0], scale, bias}).attrs = {{"epsilon", 1e-3f}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // 3-D, long rows far from zero: a block per row, the variance must not cancel
        ir::Value* x = g.input({2, 3, 2051}, 5.0f, 7.0f).last();
        ir::Value* scale = g.random_constant({3}, 0.5f, 1.5f).last();
        ir::Value* bias = g.random_constant({3}).last();
        g.node("InstanceNormalization", {x, scale, bias});
        g.expect_matches_ref(GetParam());
    }
}

// Indices of the extremes: a small random part on top of distinct integers, so that float16 rounding cannot tie
// two candidates; fp32 also on plain random data.
PRECISION_TEST(CudaArgReduce, matches_ref_on_every_axis_and_tie_rule) {
    SKIP_WITHOUT_CUDA();
    Tensor ranks(DType::kFloat32, {3, 7, 5});
    std::vector<float> order(105);
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<float>((i * 37) % 105);
    std::copy(order.begin(), order.end(), ranks.span<float>().begin());
    GraphCase g;
    ir::Value* x = g.input({3, 7, 5}, -0.25f, 0.25f).last();
    ir::Value* c = g.constant(ranks).last();
    ir::Value* sum = g.node("Add", {x, c}).outputs[0];
    g.node("ArgMax", {sum}).attrs = {{"axis", int64_t{1}}};
    g.node("ArgMin", {sum}).attrs = {
        {"axis", int64_t{-1}}, {"keepdims", int64_t{0}}, {"select_last_index", int64_t{1}}};
    g.node("ArgMax", {sum}).attrs = {{"axis", int64_t{0}}, {"keepdims", int64_t{0}}};
    if (GetParam() != "fp16") g.node("ArgMin", {x}).attrs = {{"axis", int64_t{1}}};
    g.expect_matches_ref(GetParam());
}

PRECISION_TEST(CudaDepthSpace, matches_ref_in_both_modes_and_back) {
    SKIP_WITHOUT_CUDA();
    for (const char* mode : {"DCR", "CRD"}) {
        GraphCase g;  // a sub-pixel upsampler: convolution, DepthToSpace, convolution (NHWC around it under fp16)
        ir::Value* x = g.input({2, 3, 5, 7}).last();
        ir::Value* w = g.random_constant({12, 3, 3, 3}).last();
        ir::Node& conv = g.node("Conv", {x, w});
        conv.attrs = {{"pads", Ints{1, 1, 1, 1}}};
        ir::Node& d2s = g.node("DepthToSpace", {conv.outputs[0]});
        d2s.attrs = {{"blocksize", int64_t{2}}, {"mode", std::string(mode)}};
        ir::Value* w2 = g.random_constant({4, 3, 3, 3}).last();
        g.node("Conv", {d2s.outputs[0], w2}).attrs = {{"pads", Ints{1, 1, 1, 1}}};
        SCOPED_TRACE(mode);
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;
        ir::Value* x = g.input({2, 3, 6, 9}).last();
        g.node("SpaceToDepth", {x}).attrs = {{"blocksize", int64_t{3}}};
        g.expect_matches_ref(GetParam());
    }
}

PRECISION_TEST(CudaLayerNorm, matches_ref_over_last_and_earlier_axes_with_and_without_bias) {
    SKIP_WITHOUT_CUDA();
    {
        GraphCase g;  // last axis, odd width: a warp per row
        ir::Value* x = g.input({3, 7, 13}, -2.0f, 3.0f).last();
        ir::Value* scale = g.random_constant({13}, 0.5f, 1.5f).last();
        ir::Value* bias = g.random_constant({13}).last();
        g.node("LayerNormalization", {x, scale, bias}).attrs = {{"axis", int64_t{-1}}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // an earlier axis: the trailing [5, 7, 9] normalized together, no bias
        ir::Value* x = g.input({2, 5, 7, 9}).last();
        ir::Value* scale = g.random_constant({5, 7, 9}, 0.5f, 1.5f).last();
        g.node("LayerNormalization", {x, scale}).attrs = {{"axis", int64_t{1}}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // scale and bias that broadcast to the normalized [7, 9]; epsilon given
        ir::Value* x = g.input({2, 5, 7, 9}).last();
        ir::Value* scale = g.random_constant({1, 9}, 0.5f, 1.5f).last();
        ir::Value* bias = g.random_constant({9}).last();
        g.node("LayerNormalization", {x, scale, bias}).attrs = {{"axis", int64_t{-2}}, {"epsilon", 1e-3f}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // rows longer than a warp handles (a block per row), far from zero: the variance must not cancel
        ir::Value* x = g.input({3, 2051}, 5.0f, 7.0f).last();
        ir::Value* scale = g.random_constant({2051}, 0.5f, 1.5f).last();
        ir::Value* bias = g.random_constant({2051}).last();
        g.node("LayerNormalization", {x, scale, bias});
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // runtime scale and bias
        ir::Value* x = g.input({4, 33}).last();
        ir::Value* scale = g.input({33}, 0.5f, 1.5f).last();
        ir::Value* bias = g.input({33}).last();
        g.node("LayerNormalization", {x, scale, bias});
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // the Mean and InvStdDev outputs
        ir::Value* x = g.input({6, 40}, -1.0f, 3.0f).last();
        ir::Value* scale = g.random_constant({40}, 0.5f, 1.5f).last();
        g.node("LayerNormalization", {x, scale}, 3);
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // after a Conv (NHWC under fp16), over the channels and pixels of each image
        ir::Value* x = g.input({2, 5, 6, 7}).last();
        ir::Value* cw = g.random_constant({6, 5, 1, 1}).last();
        ir::Value* c = g.node("Conv", {x, cw}).outputs[0];
        ir::Value* scale = g.random_constant({6, 6, 7}, 0.5f, 1.5f).last();
        ir::Value* bias = g.random_constant({6, 6, 7}).last();
        g.node("LayerNormalization", {c, scale, bias}).attrs = {{"axis", int64_t{1}}};
        g.expect_matches_ref(GetParam());
    }
}

// ---- pooling and reductions ----

PRECISION_TEST(CudaPool, matches_ref_with_pads_strides_ceil_mode_and_counting) {
    SKIP_WITHOUT_CUDA();
    {
        GraphCase g;
        ir::Value* x = g.input({2, 3, 13, 11}).last();
        g.node("MaxPool", {x}).attrs = {
            {"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;
        ir::Value* x = g.input({2, 3, 20, 20}).last();
        g.node("MaxPool", {x}).attrs = {{"kernel_shape", Ints{5, 5}}, {"pads", Ints{2, 2, 2, 2}}};
        g.expect_matches_ref(GetParam());
    }
    for (int64_t include : {0, 1}) {
        GraphCase g;
        ir::Value* x = g.input({2, 3, 13, 11}).last();
        g.node("AveragePool", {x}).attrs = {{"kernel_shape", Ints{3, 2}},
                                            {"strides", Ints{2, 2}},
                                            {"pads", Ints{1, 0, 1, 1}},
                                            {"count_include_pad", include}};
        g.expect_matches_ref(GetParam());
    }
    for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
        GraphCase g;
        ir::Value* x = g.input({2, 5, 7, 9}).last();
        g.node(op, {x});
        g.expect_matches_ref(GetParam());
    }
}

PRECISION_TEST(CudaReduce, matches_ref_over_adjacent_axes) {
    SKIP_WITHOUT_CUDA();
    for (const char* op : {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"}) {
        for (const Ints& axes : {Ints{2, 3}, Ints{1}, Ints{-1}}) {
            GraphCase g;
            ir::Value* x = g.input({2, 5, 7, 9}).last();
            ir::Value* a = g.constant(Tensor::from_vector<int64_t>({static_cast<int64_t>(axes.size())}, axes)).last();
            g.node(op, {x, a}, 1, 18).attrs = {{"keepdims", int64_t{1}}};
            SCOPED_TRACE(op);
            g.expect_matches_ref(GetParam());
        }
    }
}

// ---- data movement ----

PRECISION_TEST(CudaData, matches_ref_for_concat_split_transpose_and_gather) {
    SKIP_WITHOUT_CUDA();
    for (int64_t axis : {1, 2, -1}) {
        GraphCase g;
        ir::Value* a = g.input({2, 3, 5, 7}).last();
        ir::Value* b = g.input({2, 3, 5, 7}).last();
        ir::Value* c = g.random_constant({2, 3, 5, 7}).last();
        g.node("Concat", {a, b, c}).attrs = {{"axis", axis}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;
        ir::Value* x = g.input({2, 9, 5, 7}).last();
        ir::Value* split = g.constant(Tensor::from_vector<int64_t>({3}, {2, 3, 4})).last();
        g.node("Split", {x, split}, 3).attrs = {{"axis", int64_t{1}}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;
        ir::Value* x = g.input({2, 3, 85, 5, 7}).last();
        g.node("Transpose", {x}).attrs = {{"perm", Ints{0, 1, 3, 4, 2}}};
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;
        ir::Value* x = g.input({4, 9, 5}).last();
        ir::Value* idx = g.constant(Tensor::from_vector<int64_t>({2, 2}, {0, -1, 3, 2})).last();
        g.node("Gather", {x, idx}).attrs = {{"axis", int64_t{1}}};
        g.expect_matches_ref(GetParam());
    }
}

PRECISION_TEST(CudaSlice, matches_ref_for_slices_with_steps_and_negative_positions) {
    SKIP_WITHOUT_CUDA();
    GraphCase g;
    ir::Value* x = g.input({2, 13, 9, 8}).last();
    auto ints = [&](Ints v) {
        return g.constant(Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v)).last();
    };
    ir::Value* starts = ints({1, -2, 0});
    ir::Value* ends = ints({12, 0, 8});
    ir::Value* axes = ints({1, 2, 3});
    ir::Value* steps = ints({3, -2, 1});
    g.node("Slice", {x, starts, ends, axes, steps});
    g.expect_matches_ref(GetParam());
}

PRECISION_TEST(CudaPad, matches_ref_for_pads_in_each_mode) {
    SKIP_WITHOUT_CUDA();
    for (const char* mode : {"constant", "edge", "reflect"}) {
        GraphCase g;
        ir::Value* x = g.input({2, 3, 6, 7}).last();
        ir::Value* pads = g.constant(Tensor::from_vector<int64_t>({8}, {0, 1, 2, 3, 0, 0, 1, 2})).last();
        ir::Value* value = g.constant(Tensor::scalar(0.25f)).last();
        g.node("Pad", {x, pads, std::string(mode) == "constant" ? value : nullptr}).attrs = {
            {"mode", std::string(mode)}};
        SCOPED_TRACE(mode);
        g.expect_matches_ref(GetParam());
    }
}

PRECISION_TEST(CudaResize, matches_ref_for_nearest_and_linear) {
    SKIP_WITHOUT_CUDA();
    struct Case {
        const char* mode;
        const char* coord;
        const char* nearest;
        bool sizes;
    };
    for (const Case& c :
         {Case{"nearest", "asymmetric", "floor", false}, Case{"nearest", "half_pixel", "round_prefer_floor", true},
          Case{"linear", "half_pixel", "", false}, Case{"linear", "align_corners", "", true},
          Case{"linear", "pytorch_half_pixel", "", true}}) {
        GraphCase g;
        ir::Value* x = g.input({2, 3, 7, 9}).last();
        ir::Value* scales = c.sizes ? nullptr : g.constant(Tensor::from_vector<float>({4}, {1, 1, 2, 2})).last();
        ir::Value* sizes = c.sizes ? g.constant(Tensor::from_vector<int64_t>({4}, {2, 3, 11, 5})).last() : nullptr;
        ir::Node& n = g.node("Resize", {x, nullptr, scales, sizes}, 1, 13);
        n.attrs = {{"mode", std::string(c.mode)}, {"coordinate_transformation_mode", std::string(c.coord)}};
        if (*c.nearest) n.attrs["nearest_mode"] = std::string(c.nearest);
        SCOPED_TRACE(std::string(c.mode) + " " + c.coord);
        g.expect_matches_ref(GetParam());
    }
    // After a convolution (NHWC in fp16): nearest copies whole pixels, 16 channels in wide elements, 3 in narrow ones.
    for (const int64_t channels : {16, 3}) {
        GraphCase g;
        ir::Value* x = g.input({2, 4, 5, 6}).last();
        ir::Value* w = g.random_constant({channels, 4, 1, 1}, -0.5f, 0.5f).last();
        ir::Value* v = g.node("Conv", {x, w}).outputs[0];
        ir::Value* scales = g.constant(Tensor::from_vector<float>({4}, {1, 1, 2, 2})).last();
        ir::Node& n = g.node("Resize", {v, nullptr, scales}, 1, 13);
        n.attrs = {{"mode", std::string("nearest")},
                   {"coordinate_transformation_mode", std::string("asymmetric")},
                   {"nearest_mode", std::string("floor")}};
        g.node("Relu", {n.outputs[0]});
        SCOPED_TRACE("nhwc nearest, " + std::to_string(channels) + " channels");
        g.expect_matches_ref(GetParam());
    }
}

// ---- graphs ----

PRECISION_TEST(CudaGraph, aliases_reshapes_and_copies_those_that_are_outputs) {
    SKIP_WITHOUT_CUDA();
    GraphCase g;
    ir::Value* x = g.input({2, 3, 4, 5}).last();
    ir::Value* shape = g.constant(Tensor::from_vector<int64_t>({2}, {6, 20})).last();
    ir::Value* r = g.node("Relu", {x}).outputs[0];
    ir::Value* flat = g.node("Reshape", {r, shape}).outputs[0];
    ir::Value* s = g.node("Sigmoid", {flat}).outputs[0];
    g.node("Flatten", {s}).attrs = {{"axis", int64_t{1}}};
    g.node("Tanh", {flat});  // the alias is read after the Sigmoid too: the planner must keep r alive
    g.expect_matches_ref(GetParam());
}

// A YOLOv5 detect head, two scales: each 1x1 convolution's output (NHWC in fp16) is reshaped to [N, 3, K, H, W],
// transposed to [N, 3, H, W, K], squashed, split into xy, wh and scores, decoded and joined, then the scales are
// joined. The Reshape, Transpose and Split become strided views read by the Sigmoid, the decode chains and the Concat
// (engine.cc, plan_views), which own no buffer then; FOVEA_CUDA_VIEWS=0 writes them all, for comparison.
PRECISION_TEST(CudaViews, a_detect_head_reads_through_reshape_transpose_and_split) {
    SKIP_WITHOUT_CUDA();
    auto make = [](GraphCase& g) {
        const int64_t n = 2, k = 7, c = 8;
        std::vector<ir::Value*> scales;
        for (const auto& [h, w] : {std::pair<int64_t, int64_t>{4, 5}, {2, 3}}) {
            ir::Value* x = g.input({n, c, h, w}).last();
            ir::Value* wt = g.random_constant({3 * k, c, 1, 1}, -0.5f, 0.5f).last();
            ir::Value* bias = g.random_constant({3 * k}).last();
            ir::Value* v = g.node("Conv", {x, wt, bias}).outputs[0];
            ir::Value* shape5 = g.constant(Tensor::from_vector<int64_t>({5}, {n, 3, k, h, w})).last();
            v = g.node("Reshape", {v, shape5}).outputs[0];
            ir::Node& t = g.node("Transpose", {v});
            t.attrs = {{"perm", Ints{0, 1, 3, 4, 2}}};
            v = g.node("Sigmoid", {t.outputs[0]}).outputs[0];
            ir::Value* sizes = g.constant(Tensor::from_vector<int64_t>({3}, {2, 2, 3})).last();
            ir::Node& split = g.node("Split", {v, sizes}, 3);
            split.attrs = {{"axis", int64_t{4}}};
            ir::Value* two = g.constant(Tensor::scalar(2.0f)).last();
            ir::Value* half = g.constant(Tensor::scalar(0.5f)).last();
            ir::Value* grid = g.random_constant({1, 3, h, w, 2}, 0.0f, 8.0f).last();
            ir::Value* stride = g.constant(Tensor::scalar(8.0f)).last();
            ir::Value* anchors = g.random_constant({1, 3, 1, 1, 2}, 10.0f, 60.0f).last();
            ir::Value* xy = g.node("Mul", {split.outputs[0], two}).outputs[0];
            xy = g.node("Sub", {xy, half}).outputs[0];
            xy = g.node("Add", {xy, grid}).outputs[0];
            xy = g.node("Mul", {xy, stride}).outputs[0];
            ir::Value* wh = g.node("Mul", {split.outputs[1], two}).outputs[0];
            wh = g.node("Pow", {wh, two}).outputs[0];
            wh = g.node("Mul", {wh, anchors}).outputs[0];
            ir::Node& joined = g.node("Concat", {xy, wh, split.outputs[2]});
            joined.attrs = {{"axis", int64_t{4}}};
            ir::Value* shape3 = g.constant(Tensor::from_vector<int64_t>({3}, {n, 3 * h * w, k})).last();
            scales.push_back(g.node("Reshape", {joined.outputs[0], shape3}).outputs[0]);
        }
        g.node("Concat", scales).attrs = {{"axis", int64_t{1}}};
    };
    GraphCase with_views;
    make(with_views);
    with_views.expect_matches_ref(GetParam());
    auto viewed = with_views.engine(GetParam());
    ASSERT_TRUE(viewed.is_ok()) << viewed.status().to_string();

    ::setenv("FOVEA_CUDA_VIEWS", "0", 1);
    GraphCase written;
    make(written);
    written.expect_matches_ref(GetParam());
    auto copied = written.engine(GetParam());
    ::unsetenv("FOVEA_CUDA_VIEWS");
    ASSERT_TRUE(copied.is_ok()) << copied.status().to_string();
    // The sum of the planned buffers (before reuse) lacks the views' bytes: their values own none.
    EXPECT_LT((*viewed)->unplanned_bytes(), (*copied)->unplanned_bytes());
}

// The head's views one at a time: a transpose read by a lone map, a transpose read by a binary chain's operand, a
// split read by chains and by a concat, a split of a transpose.
PRECISION_TEST(CudaViewParts, each_kind_of_view_matches_ref) {
    SKIP_WITHOUT_CUDA();
    {
        SCOPED_TRACE("transpose -> sigmoid");
        GraphCase g;
        ir::Value* x = g.input({2, 3, 4, 5}).last();
        ir::Node& t = g.node("Transpose", {g.node("Relu", {x}).outputs[0]});
        t.attrs = {{"perm", Ints{0, 2, 3, 1}}};
        g.node("Sigmoid", {t.outputs[0]});
        g.expect_matches_ref(GetParam());
    }
    {
        SCOPED_TRACE("transpose as an operand");
        GraphCase g;
        ir::Value* x = g.input({2, 3, 4, 5}).last();
        ir::Value* y = g.input({2, 4, 5, 3}).last();
        ir::Node& t = g.node("Transpose", {g.node("Relu", {x}).outputs[0]});
        t.attrs = {{"perm", Ints{0, 2, 3, 1}}};
        ir::Value* v = g.node("Mul", {y, t.outputs[0]}).outputs[0];
        g.node("Tanh", {v});
        g.expect_matches_ref(GetParam());
    }
    {
        SCOPED_TRACE("split -> chains, concat");
        GraphCase g;
        ir::Value* x = g.input({2, 3, 7}).last();
        ir::Value* s = g.node("Sigmoid", {x}).outputs[0];
        ir::Value* sizes = g.constant(Tensor::from_vector<int64_t>({3}, {2, 2, 3})).last();
        ir::Node& split = g.node("Split", {s, sizes}, 3);
        split.attrs = {{"axis", int64_t{2}}};
        ir::Value* two = g.constant(Tensor::scalar(2.0f)).last();
        ir::Value* a = g.node("Mul", {split.outputs[0], two}).outputs[0];
        a = g.node("Add", {a, two}).outputs[0];
        ir::Value* b = g.node("Neg", {split.outputs[1]}).outputs[0];
        g.node("Concat", {a, b, split.outputs[2]}).attrs = {{"axis", int64_t{2}}};
        g.expect_matches_ref(GetParam());
    }
    {
        SCOPED_TRACE("split -> concat");
        GraphCase g;
        ir::Value* x = g.input({2, 3, 7}).last();
        ir::Value* s = g.node("Sigmoid", {x}).outputs[0];
        ir::Value* sizes = g.constant(Tensor::from_vector<int64_t>({2}, {3, 4})).last();
        ir::Node& split = g.node("Split", {s, sizes}, 2);
        split.attrs = {{"axis", int64_t{2}}};
        g.node("Concat", {split.outputs[1], split.outputs[0]}).attrs = {{"axis", int64_t{2}}};
        g.expect_matches_ref(GetParam());
    }
    {
        SCOPED_TRACE("transpose -> split -> maps");
        GraphCase g;
        ir::Value* x = g.input({2, 3, 4, 5}).last();
        ir::Node& t = g.node("Transpose", {g.node("Relu", {x}).outputs[0]});
        t.attrs = {{"perm", Ints{0, 2, 3, 1}}};
        ir::Value* sizes = g.constant(Tensor::from_vector<int64_t>({2}, {1, 2})).last();
        ir::Node& split = g.node("Split", {t.outputs[0], sizes}, 2);
        split.attrs = {{"axis", int64_t{3}}};
        g.node("Exp", {split.outputs[0]});
        g.node("Neg", {split.outputs[1]});
        g.expect_matches_ref(GetParam());
    }
}

// Views a reader cannot take are written after all: a Transpose also read by Softmax, a Split piece also read by a
// reduction, a reshape of an NHWC value that no stride can express (it merges channels with rows).
PRECISION_TEST(CudaViewFallback, copies_where_a_reader_needs_the_bytes) {
    SKIP_WITHOUT_CUDA();
    GraphCase g;
    ir::Value* x = g.input({2, 6, 4, 5}).last();
    ir::Value* wt = g.random_constant({6, 6, 1, 1}, -0.5f, 0.5f).last();
    ir::Value* conv = g.node("Conv", {x, wt}).outputs[0];
    ir::Node& t = g.node("Transpose", {conv});
    t.attrs = {{"perm", Ints{0, 2, 3, 1}}};
    g.node("Sigmoid", {t.outputs[0]});
    g.node("Softmax", {t.outputs[0]}).attrs = {{"axis", int64_t{-1}}};
    ir::Value* sizes = g.constant(Tensor::from_vector<int64_t>({2}, {2, 4})).last();
    ir::Node& split = g.node("Split", {g.node("Relu", {conv}).outputs[0], sizes}, 2);
    split.attrs = {{"axis", int64_t{1}}};
    g.node("Tanh", {split.outputs[0]});
    ir::Value* axes = g.constant(Tensor::from_vector<int64_t>({1}, {1})).last();
    g.node("ReduceSum", {split.outputs[1], axes});
    g.node("Exp", {split.outputs[1]});
    ir::Value* merged = g.constant(Tensor::from_vector<int64_t>({3}, {2, 24, 5})).last();
    ir::Value* r = g.node("Reshape", {conv, merged}).outputs[0];
    g.node("Neg", {r});
    g.expect_matches_ref(GetParam());
}

// EfficientNet's squeeze-excitation block after a convolution (NHWC in fp16/tf32): global pooling over long columns
// (split across blocks), the two 1x1 convolutions of 1x1 maps (warp-per-output kernel, one with a residual), and
// the broadcast Mul of [N, C, H, W] by [N, C, 1, 1] (vector kernel for C = 24, scalar for C = 7).
PRECISION_TEST(CudaSqueezeExcitation, matches_ref_in_every_layout) {
    SKIP_WITHOUT_CUDA();
    for (const int64_t c : {24, 7}) {
        GraphCase g;
        ir::Value* x = g.input({2, 5, 40, 36}).last();
        ir::Value* w = g.random_constant({c, 5, 3, 3}).last();
        ir::Node& conv = g.node("Conv", {x, w});
        conv.attrs = {{"pads", Ints{1, 1, 1, 1}}};
        ir::Value* y = conv.outputs[0];
        ir::Value* pooled = g.node("GlobalAveragePool", {y}).outputs[0];
        ir::Value* w1 = g.random_constant({6, c, 1, 1}).last();
        ir::Value* b1 = g.random_constant({6}).last();
        ir::Node& fc1 = g.node("FusedConv", {pooled, w1, b1}, 1, 1, "fovea");
        fc1.attrs = {{"activation", std::string("SiLU")}};
        ir::Value* w2 = g.random_constant({c, 6, 1, 1}).last();
        ir::Value* b2 = g.random_constant({c}).last();
        ir::Node& fc2 = g.node("FusedConv", {fc1.outputs[0], w2, b2, pooled}, 1, 1, "fovea");  // + residual
        fc2.attrs = {{"activation", std::string("Sigmoid")}};
        g.node("Mul", {y, fc2.outputs[0]});
        SCOPED_TRACE("channels " + std::to_string(c));
        g.expect_matches_ref(GetParam());
    }
    {
        GraphCase g;  // a reduction over a long middle axis of a graph input
        ir::Value* x = g.input({2, 300, 4, 5}).last();
        ir::Value* a = g.constant(Tensor::from_vector<int64_t>({1}, {1})).last();
        g.node("ReduceMean", {x, a}, 1, 18).attrs = {{"keepdims", int64_t{1}}};
        g.expect_matches_ref(GetParam());
    }
}

// Ops without a cuda kernel run on the host between device steps: LpNormalization between two convolutions (NHWC
// around it in fp16, float16 storage converted on the host), Einsum reading a graph input and an integer Add after a
// device Cast, writing float and int64 graph outputs. Three runs: node by node, captured into a CUDA graph (with host
// nodes), replayed.
PRECISION_TEST(CudaHostSteps, run_between_device_steps) {
    SKIP_WITHOUT_CUDA();
    GraphCase g;
    ir::Value* x = g.input({2, 6, 10, 9}).last();
    ir::Value* w1 = g.random_constant({8, 6, 3, 3}).last();
    ir::Node& conv1 = g.node("Conv", {x, w1});
    conv1.attrs = {{"pads", Ints{1, 1, 1, 1}}};
    ir::Value* scale = g.random_constant({8, 1, 1}, 0.5f, 1.5f).last();
    ir::Value* bias = g.random_constant({8, 1, 1}).last();
    ir::Value* normed = g.node("Mul", {conv1.outputs[0], scale}).outputs[0];
    normed = g.node("LpNormalization", {g.node("Add", {normed, bias}).outputs[0]}).outputs[0];
    ir::Value* act = g.node("Sigmoid", {normed}).outputs[0];
    ir::Value* w2 = g.random_constant({4, 8, 1, 1}).last();
    g.node("Conv", {act, w2});
    g.node("Einsum", {x}).attrs = {{"equation", std::string("nchw->nwhc")}};
    ir::Value* ten = g.constant(Tensor::scalar(10.0f)).last();
    ir::Node& ints = g.node("Cast", {g.node("Mul", {x, ten}).outputs[0]});
    ints.attrs = {{"to", int64_t{7}}};  // int64
    g.node("Add", {ints.outputs[0], ints.outputs[0]});
    g.expect_matches_ref(GetParam());
}

// TopK in one block per column (ties to the lower index, as ref's stable sort) and GatherElements on every axis.
// TopK's inputs are constants with exact float16 values, some tied, so every precision orders them alike.
PRECISION_TEST(CudaTopKGatherElements, match_ref) {
    SKIP_WITHOUT_CUDA();
    auto spaced = [](const Shape& shape, uint32_t seed) {  // multiples of 1/8 in [-8, 8), shuffled, with repeats
        Tensor t(DType::kFloat32, shape);
        std::mt19937 rng(seed);
        std::uniform_int_distribution<int> pick(-64, 63);
        for (float& v : t.span<float>()) v = static_cast<float>(pick(rng)) / 8.0f;
        return t;
    };
    struct Case {
        Shape shape;
        int64_t axis, k, largest;
    };
    for (const Case& c :
         {Case{{3, 37, 2}, 1, 5, 1}, Case{{4, 300}, -1, 17, 0}, Case{{2, 6}, 1, 6, 1}, Case{{2, 3, 2000}, 2, 100, 1}}) {
        GraphCase g;
        ir::Value* x = g.constant(spaced(c.shape, 5)).last();
        ir::Value* k = g.constant(Tensor::from_vector<int64_t>({1}, {c.k})).last();
        ir::Node& topk = g.node("TopK", {x, k}, 2);
        topk.attrs = {{"axis", c.axis}, {"largest", c.largest}};
        g.node("Neg", {topk.outputs[0]});  // the values read by a device kernel too
        SCOPED_TRACE("TopK " + shape_to_string(c.shape) + " k " + std::to_string(c.k));
        g.expect_matches_ref(GetParam());
    }
    for (const int64_t axis : {0, 1, 2}) {
        GraphCase g;
        ir::Value* x = g.input({3, 5, 4}).last();
        Shape is{3, 5, 4};
        is[static_cast<size_t>(axis)] = 2;
        std::vector<int64_t> idx(static_cast<size_t>(shape_numel(is)));
        for (size_t i = 0; i < idx.size(); ++i)  // in [-len, len): negatives count from the end
            idx[i] = static_cast<int64_t>((i * 7) % 6) - 3;
        ir::Value* index = g.constant(Tensor::from_vector<int64_t>(is, idx)).last();
        g.node("GatherElements", {g.node("Relu", {x}).outputs[0], index}).attrs = {{"axis", axis}};
        SCOPED_TRACE("GatherElements axis " + std::to_string(axis));
        g.expect_matches_ref(GetParam());
    }
}

TEST(CudaEngine, names_the_node_and_op_it_cannot_run_without_host_fallback) {
    SKIP_WITHOUT_CUDA();
    GraphCase g;
    ir::Value* x = g.input({2, 9}).last();
    g.node("Einsum", {x}).attrs = {{"equation", std::string("ij->ji")}};
    g.finish();
    setenv("FOVEA_CUDA_HOST", "0", 1);
    auto engine = g.engine("fp32");
    unsetenv("FOVEA_CUDA_HOST");
    ASSERT_FALSE(engine.is_ok());
    EXPECT_NE(engine.status().message().find("Einsum"), std::string::npos) << engine.status().to_string();
    EXPECT_NE(engine.status().message().find("'n0'"), std::string::npos) << engine.status().to_string();
}

// A shape only the data decides (NonZero's) leaves the engine nothing to plan: the session runs such a model on the
// host, node by node, reports where, and gets ref's results.
TEST(CudaSession, runs_a_model_with_a_data_dependent_shape_on_the_host) {
    SKIP_WITHOUT_CUDA();
    test::ModelBuilder m;
    m.input("x", {"3", "4"});
    m.node("Relu", {"x"}, {"r"});
    m.node("NonZero", {"r"}, {"idx"});
    m.output("idx");
    const std::string model = m.bytes();
    const std::map<std::string, Tensor> inputs = {{"x", random_tensor({3, 4}, -1, 1, 5)}};
    SessionOptions options;
    options.backend = "ref";
    auto ref = Session::load_from_memory(test::as_bytes(model), options);
    ASSERT_TRUE(ref.is_ok()) << ref.status().to_string();
    options.backend = "cuda";
    auto cuda = Session::load_from_memory(test::as_bytes(model), options);
    ASSERT_TRUE(cuda.is_ok()) << cuda.status().to_string();
    auto expected = (*ref)->run(inputs);
    auto actual = (*cuda)->run(inputs);
    ASSERT_TRUE(expected.is_ok()) << expected.status().to_string();
    ASSERT_TRUE(actual.is_ok()) << actual.status().to_string();
    ASSERT_EQ((*actual)[0].shape(), (*expected)[0].shape());
    EXPECT_EQ(relative_l2((*actual)[0], (*expected)[0]), 0);
    EXPECT_EQ((*cuda)->nodes_per_backend().at("ref"), 2);
}

TEST(CudaBackend, is_listed_exactly_when_usable) {
    const bool listed = [] {
        for (const std::string& b : available_backends())
            if (b == "cuda") return true;
        return false;
    }();
    EXPECT_EQ(listed, cuda::cuda_usable().is_ok()) << cuda::cuda_usable().message();
}

}  // namespace
}  // namespace fovea
