// Each pass on tiny models: what it rewrites, what it must leave alone, and that outputs stay equal to the
// unoptimized model on the reference backend.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "backends/ref/ref_backend.h"
#include "ir/passes/passes.h"
#include "ops/infer_graph.h"
#include "ops/op.h"
#include "pass_test_util.h"

namespace fovea::test {
namespace {

using Counts = std::map<std::string, int>;

// Imports the model and runs one pass, leaving the graph sorted and verified.
std::unique_ptr<ir::Graph> after_pass(const std::string& bytes, Status (*pass)(ir::Graph&)) {
    auto g = import_model(bytes);
    if (!g) return nullptr;
    EXPECT_TRUE(pass(*g).is_ok());
    EXPECT_TRUE(g->sort().is_ok());
    const Status verified = g->verify();
    EXPECT_TRUE(verified.is_ok()) << verified.to_string();
    return g;
}

// The shape of node input `i`, a constant.
Shape shape_of_constant(const ir::Node& n, size_t i) {
    const ir::Value* v = n.input(i);
    return v && v->constant ? v->constant->shape() : Shape{};
}

const ir::Node* find_op(const ir::Graph& g, const std::string& op_type) {
    for (const auto& n : g.nodes())
        if (n->op_type == op_type) return n.get();
    return nullptr;
}

// x [1, 3, 7, 9] -> Conv (4 filters 3x3, padding 1, a bias if asked) -> c [1, 4, 7, 9].
void conv_3x3(ModelBuilder& m, const std::string& x = "x", const std::string& c = "c", bool bias = true) {
    std::vector<std::string> inputs = {x, c + "_w"};
    m.weight(c + "_w", {4, 3, 3, 3});
    if (bias) {
        m.weight(c + "_b", {4});
        inputs.push_back(c + "_b");
    }
    set_attr(m.node("Conv", inputs, {c}), "pads", std::vector<int64_t>{1, 1, 1, 1});
}

const std::map<std::string, Tensor> kConvInput = {{"x", random_tensor({1, 3, 7, 9})}};

TEST(EliminateDeadNodes, RemovesNodesWhoseOutputsReachNoGraphOutput) {
    ModelBuilder m;
    m.input("x", {"2", "3"});
    m.node("Relu", {"x"}, {"y"});
    m.node("Sigmoid", {"x"}, {"s"});
    m.node("Tanh", {"s"}, {"t"});
    m.output("y");
    auto g = after_pass(m.bytes(), ir::passes::eliminate_dead_nodes);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"Relu", 1}}));
    expect_same_outputs(m.bytes(), *g, {{"x", random_tensor({2, 3})}});
}

TEST(RemoveIdentity, ReadersReadPastIdentityAndInferenceDropout) {
    ModelBuilder m;
    m.input("x", {"2", "3"});
    m.node("Relu", {"x"}, {"a"});
    m.node("Identity", {"a"}, {"b"});
    m.node("Dropout", {"b"}, {"c"});
    m.node("Sigmoid", {"c"}, {"y"});
    m.output("y");
    auto g = after_pass(m.bytes(), ir::passes::remove_identity);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->to_text(),
              "graph test\n"
              "  input x: float32[2,3]\n"
              "  a: float32[2,3] = Relu(x)\n"
              "  y: float32[2,3] = Sigmoid(a)\n"
              "  output y: float32[2,3]\n");
    expect_same_outputs(m.bytes(), *g, {{"x", random_tensor({2, 3})}});
}

TEST(RemoveIdentity, GraphOutputKeepsItsNameWhenTheProducerWritesItDirectly) {
    ModelBuilder m;
    m.input("x", {"2", "3"});
    m.node("Relu", {"x"}, {"a"});
    m.node("Identity", {"a"}, {"y"});
    m.output("y");
    auto g = after_pass(m.bytes(), ir::passes::remove_identity);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->to_text(),
              "graph test\n"
              "  input x: float32[2,3]\n"
              "  y: float32[2,3] = Relu(x)\n"
              "  output y: float32[2,3]\n");
    expect_same_outputs(m.bytes(), *g, {{"x", random_tensor({2, 3})}});
}

TEST(RemoveIdentity, KeepsCopiesOfGraphInputsSharedValuesAndReadMasks) {
    ModelBuilder m;
    m.input("x", {"2", "3"});
    m.node("Identity", {"x"}, {"y1"});  // a graph input copied to an output
    m.node("Relu", {"x"}, {"a"});
    m.node("Identity", {"a"}, {"y2"});  // 'a' is read by Sigmoid too: Relu cannot be renamed
    m.node("Sigmoid", {"a"}, {"y3"});
    m.node("Dropout", {"x"}, {"d", "mask"});  // the mask is an output
    for (const char* y : {"y1", "y2", "y3", "d", "mask"}) m.output(y);
    auto g = after_pass(m.bytes(), ir::passes::remove_identity);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"Dropout", 1}, {"Identity", 2}, {"Relu", 1}, {"Sigmoid", 1}}));
    expect_same_outputs(m.bytes(), *g, {{"x", random_tensor({2, 3})}});
}

// BatchNormalization over `channels` with random constant parameters (variance positive).
void batchnorm(ModelBuilder& m, const std::string& in, const std::string& out, int64_t channels) {
    m.weight(out + "_scale", {channels}, 0.5f, 1.5f);
    m.weight(out + "_bias", {channels});
    m.weight(out + "_mean", {channels});
    m.weight(out + "_var", {channels}, 0.5f, 1.5f);
    auto& bn = m.node("BatchNormalization", {in, out + "_scale", out + "_bias", out + "_mean", out + "_var"}, {out});
    set_attr(bn, "epsilon", 1e-3f);
}

TEST(FoldBatchnorm, FoldsIntoConvWithAndWithoutBias) {
    ModelBuilder m;
    m.input("x", {"1", "3", "7", "9"});
    conv_3x3(m, "x", "c1", true);
    conv_3x3(m, "x", "c2", false);
    batchnorm(m, "c1", "y1", 4);
    batchnorm(m, "c2", "y2", 4);
    m.output("y1");
    m.output("y2");
    auto g = after_pass(m.bytes(), ir::passes::fold_batchnorm);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"Conv", 2}}));
    expect_same_outputs(m.bytes(), *g, kConvInput);
}

TEST(FoldBatchnorm, FoldsIntoGroupedStridedConvTranspose) {
    ModelBuilder m;
    m.input("x", {"1", "4", "5", "6"});
    m.weight("w", {4, 3, 3, 3});  // 2 groups of 2 input channels, 3 outputs each
    m.weight("b", {6});
    auto& deconv = m.node("ConvTranspose", {"x", "w", "b"}, {"z"});
    set_attr(deconv, "group", int64_t{2});
    set_attr(deconv, "strides", std::vector<int64_t>{2, 2});
    batchnorm(m, "z", "y", 6);
    m.output("y");
    auto g = after_pass(m.bytes(), ir::passes::fold_batchnorm);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"ConvTranspose", 1}}));
    expect_same_outputs(m.bytes(), *g, {{"x", random_tensor({1, 4, 5, 6})}});
}

TEST(FoldBatchnorm, FoldsIntoGemmWithTransposedBOrWithoutC) {
    ModelBuilder m;
    m.input("x", {"5", "8"});
    m.weight("bt", {6, 8});
    m.weight("c", {6});
    auto& g1 = m.node("Gemm", {"x", "bt", "c"}, {"z1"});
    set_attr(g1, "transB", int64_t{1});
    set_attr(g1, "alpha", 0.7f);
    set_attr(g1, "beta", 0.3f);
    m.weight("b", {8, 6});
    m.node("Gemm", {"x", "b"}, {"z2"});
    batchnorm(m, "z1", "y1", 6);
    batchnorm(m, "z2", "y2", 6);
    m.output("y1");
    m.output("y2");
    auto g = after_pass(m.bytes(), ir::passes::fold_batchnorm);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"Gemm", 2}}));
    expect_same_outputs(m.bytes(), *g, {{"x", random_tensor({5, 8})}});
}

TEST(FoldBatchnorm, LeavesNormsOfSharedOutputsOrVariableStatistics) {
    ModelBuilder m;
    m.input("x", {"1", "3", "7", "9"});
    m.input("mean", {"4"});
    conv_3x3(m, "x", "c1");
    batchnorm(m, "c1", "y1", 4);
    m.node("Relu", {"c1"}, {"r"});  // c1 has another reader
    conv_3x3(m, "x", "c2");
    m.weight("s", {4}, 0.5f, 1.5f);
    m.weight("v", {4}, 0.5f, 1.5f);
    m.node("BatchNormalization", {"c2", "s", "s", "mean", "v"}, {"y2"});  // the mean is a runtime input
    for (const char* y : {"y1", "r", "y2"}) m.output(y);
    auto g = after_pass(m.bytes(), ir::passes::fold_batchnorm);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"BatchNormalization", 2}, {"Conv", 2}, {"Relu", 1}}));
}

TEST(FoldAffine, ScalarAndPerChannelMapsAfterConvAndGemmFold) {
    ModelBuilder m;
    m.input("x", {"1", "3", "7", "9"});
    m.input("v", {"5", "8"});
    conv_3x3(m, "x", "c", false);
    m.constant("s", {}, {1.7f});
    m.weight("t", {4, 1, 1});
    m.weight("u", {1, 4, 1, 1});
    m.weight("d", {4, 1, 1}, 0.5f, 1.5f);
    m.node("Mul", {"s", "c"}, {"a1"});  // constant first
    m.node("Add", {"a1", "t"}, {"a2"});
    m.node("Sub", {"u", "a2"}, {"a3"});  // u - x: scale -1
    m.node("Div", {"a3", "d"}, {"y"});
    m.weight("b", {8, 6});
    m.node("Gemm", {"v", "b"}, {"g"});
    m.weight("k", {6});
    m.node("Mul", {"g", "k"}, {"g1"});
    m.node("Add", {"g1", "s"}, {"z"});
    m.output("y");
    m.output("z");
    auto g = after_pass(m.bytes(), ir::passes::fold_affine);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"Conv", 1}, {"Gemm", 1}}));
    expect_same_outputs(m.bytes(), *g, {{"x", random_tensor({1, 3, 7, 9})}, {"v", random_tensor({5, 8})}});
}

TEST(FoldAffineIntoConv, MapsBeforeAnUnpaddedConvFoldIntoItsInputChannels) {
    ModelBuilder m;
    m.input("x", {"1", "4", "6", "5"});
    m.input("r", {"1", "4", "6", "5"});
    m.node("Relu", {"r"}, {"h"});
    m.constant("s", {}, {0.6f});
    m.weight("t", {1, 4, 1, 1});
    m.node("Mul", {"x", "s"}, {"a"});
    m.node("Add", {"a", "t"}, {"p"});
    m.weight("w1", {6, 4, 1, 1});
    m.weight("b1", {6});
    auto& fused = m.node("FusedConv", {"p", "w1", "b1"}, {"y1"});  // 1x1, with an epilogue
    fused.set_domain("fovea");
    set_attr(fused, "activation", std::string("Relu"));
    m.node("Sub", {"h", "t"}, {"q"});
    m.weight("w2", {8, 2, 2, 3});  // 2 groups, 2x3 kernel, stride 2, no padding
    auto& grouped = m.node("Conv", {"q", "w2"}, {"y2"});
    set_attr(grouped, "group", int64_t{2});
    set_attr(grouped, "strides", std::vector<int64_t>{2, 2});
    m.output("y1");
    m.output("y2");
    auto g = after_pass(m.bytes(), ir::passes::fold_affine_into_conv);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"Conv", 1}, {"FusedConv", 1}, {"Relu", 1}}));
    expect_same_outputs(m.bytes(), *g, {{"x", random_tensor({1, 4, 6, 5})}, {"r", random_tensor({1, 4, 6, 5})}});
}

Status both_affine_folds(ir::Graph& g) {
    FOVEA_TRY(ir::passes::fold_affine(g));
    return ir::passes::fold_affine_into_conv(g);
}

TEST(FoldAffine, LeavesMapsThatAreNotPerChannelOrWouldReadPaddingOrSharedOutputs) {
    ModelBuilder m;
    m.input("x", {"1", "3", "7", "9"});
    m.input("one", {"1", "1", "7", "9"});
    conv_3x3(m, "x", "c1");
    m.weight("sp", {1, 1, 7, 9});
    m.node("Mul", {"c1", "sp"}, {"y1"});  // varies over space
    conv_3x3(m, "x", "c2");
    m.constant("s", {}, {2.0f});
    m.node("Mul", {"c2", "s"}, {"y2m"});  // c2 has another reader
    m.node("Relu", {"c2"}, {"y2"});
    m.node("Mul", {"x", "s"}, {"xs"});
    conv_3x3(m, "xs", "c3");             // padded conv reads the map of x
    m.node("Div", {"s", "c3"}, {"y3"});  // s / conv: not affine
    m.weight("t", {1, 3, 1, 1});
    m.node("Add", {"one", "t"}, {"o3"});  // one channel broadcast to three
    m.weight("w4", {2, 3, 1, 1});
    m.node("Conv", {"o3", "w4"}, {"y4"});
    for (const char* y : {"y1", "y2", "y2m", "y3", "y4"}) m.output(y);
    auto g = after_pass(m.bytes(), both_affine_folds);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"Add", 1}, {"Conv", 4}, {"Div", 1}, {"Mul", 3}, {"Relu", 1}}));
}

TEST(BatchnormToConv, NormFollowedByAnActivationBecomesADepthwiseConv) {
    // DenseNet's pre-activation: features concatenated, normalized, then Relu; no conv before the norm to fold into.
    ModelBuilder m;
    m.input("x", {"batch", "3", "7", "9"});
    m.input("z", {"batch", "2", "7", "9"});
    set_attr(m.node("Concat", {"x", "z"}, {"cat"}), "axis", int64_t{1});
    batchnorm(m, "cat", "n", 5);
    m.node("Relu", {"n"}, {"y"});
    m.output("y");
    auto g = after_pass(m.bytes(), ir::passes::batchnorm_to_conv);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"Concat", 1}, {"Conv", 1}, {"Relu", 1}}));
    const ir::Node* conv = find_op(*g, "Conv");
    ASSERT_TRUE(conv);
    EXPECT_EQ(conv->attr_int("group", 1), 5);
    EXPECT_EQ(shape_of_constant(*conv, 1), (Shape{5, 1, 1, 1}));
    const std::map<std::string, Tensor> inputs = {{"x", random_tensor({2, 3, 7, 9})},
                                                  {"z", random_tensor({2, 2, 7, 9}, 2)}};
    expect_same_outputs(m.bytes(), *g, inputs);
    // The whole pipeline then fuses the Relu: one FusedConv where the norm and the activation were.
    auto optimized = import_model(m.bytes());
    ASSERT_TRUE(optimized);
    ASSERT_TRUE(ir::passes::optimize(*optimized).is_ok());
    EXPECT_EQ(op_counts(*optimized), (Counts{{"Concat", 1}, {"FusedConv", 1}}));
    expect_same_outputs(m.bytes(), *optimized, inputs);
}

TEST(BatchnormToConv, LeavesNormsWithoutAnActivationOrWithVariableStatistics) {
    ModelBuilder m;
    m.input("x", {"1", "4", "5", "5"});
    m.input("mean", {"4"});
    batchnorm(m, "x", "n1", 4);  // no activation after it: nothing to gain
    m.weight("s", {4}, 0.5f, 1.5f);
    m.weight("v", {4}, 0.5f, 1.5f);
    m.node("BatchNormalization", {"x", "s", "s", "mean", "v"}, {"n2"});  // the mean is a runtime input
    m.node("Relu", {"n2"}, {"y2"});
    m.output("n1");
    m.output("y2");
    auto g = after_pass(m.bytes(), ir::passes::batchnorm_to_conv);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"BatchNormalization", 2}, {"Relu", 1}}));
}

// One activation pattern after the conv output "c", ending in "y".
struct ActivationCase {
    std::string name;
    std::string activation;  // the FusedConv activation it becomes
    std::vector<float> params;
    std::function<void(ModelBuilder&)> add;
};

void PrintTo(const ActivationCase& c, std::ostream* os) {
    *os << c.name;
}

std::vector<ActivationCase> activation_cases() {
    const float sqrt2 = std::sqrt(2.0f);
    auto scalar = [](ModelBuilder& m, const std::string& name, float v) { m.constant(name, {}, {v}); };
    auto gelu_head = [=](ModelBuilder& m, bool divide) {
        scalar(m, "k", divide ? sqrt2 : 1 / sqrt2);
        scalar(m, "one", 1.0f);
        scalar(m, "half", 0.5f);
        m.node(divide ? "Div" : "Mul", {"c", "k"}, {"d"});
        m.node("Erf", {"d"}, {"e"});
        m.node("Add", {"one", "e"}, {"t"});
    };
    // g = Clip(c + 3, 0, 6), the constant added second or first; "six" is left for the rest of the pattern.
    auto relu6_gate = [=](ModelBuilder& m, bool c_first) {
        scalar(m, "three", 3.0f);
        scalar(m, "zero", 0.0f);
        scalar(m, "six", 6.0f);
        m.node("Add", c_first ? std::vector<std::string>{"c", "three"} : std::vector<std::string>{"three", "c"}, {"t"});
        m.node("Clip", {"t", "zero", "six"}, {"g"});
    };
    return {
        {"Relu", "Relu", {}, [](ModelBuilder& m) { m.node("Relu", {"c"}, {"y"}); }},
        {"ClipBoth",
         "Clip",
         {-0.3f, 0.4f},
         [=](ModelBuilder& m) {
             scalar(m, "lo", -0.3f);
             scalar(m, "hi", 0.4f);
             m.node("Clip", {"c", "lo", "hi"}, {"y"});
         }},
        {"ClipMaxOnly",
         "Clip",
         {-INFINITY, 0.4f},
         [=](ModelBuilder& m) {
             scalar(m, "hi", 0.4f);
             m.node("Clip", {"c", "", "hi"}, {"y"});
         }},
        {"LeakyRelu",
         "LeakyRelu",
         {0.2f},
         [](ModelBuilder& m) { set_attr(m.node("LeakyRelu", {"c"}, {"y"}), "alpha", 0.2f); }},
        {"Sigmoid", "Sigmoid", {}, [](ModelBuilder& m) { m.node("Sigmoid", {"c"}, {"y"}); }},
        {"Tanh", "Tanh", {}, [](ModelBuilder& m) { m.node("Tanh", {"c"}, {"y"}); }},
        {"HardSwish", "HardSwish", {}, [](ModelBuilder& m) { m.node("HardSwish", {"c"}, {"y"}); }},
        {"HardSigmoid",
         "HardSigmoid",
         {0.3f, 0.4f},
         [](ModelBuilder& m) {
             auto& n = m.node("HardSigmoid", {"c"}, {"y"});
             set_attr(n, "alpha", 0.3f);
             set_attr(n, "beta", 0.4f);
         }},
        {"SiLU",
         "SiLU",
         {},
         [](ModelBuilder& m) {
             m.node("Sigmoid", {"c"}, {"s"});
             m.node("Mul", {"c", "s"}, {"y"});
         }},
        {"SiLUGateFirst",
         "SiLU",
         {},
         [](ModelBuilder& m) {
             m.node("Sigmoid", {"c"}, {"s"});
             m.node("Mul", {"s", "c"}, {"y"});
         }},
        {"XTimesHardSigmoid",
         "HardSwish",
         {},
         [](ModelBuilder& m) {
             auto& h = m.node("HardSigmoid", {"c"}, {"h"});
             set_attr(h, "alpha", 1.0f / 6);
             m.node("Mul", {"c", "h"}, {"y"});
         }},
        {"HardSwishDecomposed",
         "HardSwish",
         {},
         [=](ModelBuilder& m) {
             relu6_gate(m, true);
             m.node("Mul", {"c", "g"}, {"p"});
             m.node("Div", {"p", "six"}, {"y"});
         }},
        {"HardSwishGateTimesSixth",
         "HardSwish",
         {},
         [=](ModelBuilder& m) {
             relu6_gate(m, false);
             scalar(m, "sixth", 1.0f / 6);
             m.node("Mul", {"g", "sixth"}, {"h"});
             m.node("Mul", {"h", "c"}, {"y"});
         }},
        {"GeluProductThenHalf",
         "Gelu",
         {},
         [=](ModelBuilder& m) {
             gelu_head(m, true);
             m.node("Mul", {"c", "t"}, {"p"});
             m.node("Mul", {"p", "half"}, {"y"});
         }},
        {"GeluHalfFirst",
         "Gelu",
         {},
         [=](ModelBuilder& m) {
             gelu_head(m, false);
             m.node("Mul", {"c", "half"}, {"h"});
             m.node("Mul", {"h", "t"}, {"y"});
         }},
        {"GeluHalvedSum",
         "Gelu",
         {},
         [=](ModelBuilder& m) {
             gelu_head(m, true);
             m.node("Mul", {"half", "t"}, {"u"});
             m.node("Mul", {"c", "u"}, {"y"});
         }},
    };
}

class FuseActivation : public testing::TestWithParam<ActivationCase> {};

TEST_P(FuseActivation, ConvAndActivationBecomeOneFusedConv) {
    ModelBuilder m(14);
    m.input("x", {"1", "3", "7", "9"});
    conv_3x3(m);
    GetParam().add(m);
    m.output("y");
    auto g = after_pass(m.bytes(), ir::passes::fuse_activation);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"FusedConv", 1}}));
    const ir::Node* fused = find_op(*g, "FusedConv");
    ASSERT_TRUE(fused);
    EXPECT_EQ(fused->domain, ops::kFoveaDomain);
    EXPECT_EQ(fused->attr_string("activation", "?"), GetParam().activation);
    EXPECT_EQ(fused->attr_floats("activation_params"), GetParam().params);
    EXPECT_EQ(fused->outputs[0]->name, "y");
    expect_same_outputs(m.bytes(), *g, kConvInput);
}

INSTANTIATE_TEST_SUITE_P(Patterns, FuseActivation, testing::ValuesIn(activation_cases()),
                         [](const auto& info) { return info.param.name; });

// A Linear layer over [2, 4, 8] rows (MatMul, then its bias Add) with each activation: one FusedMatMul.
TEST_P(FuseActivation, LinearLayerAndActivationBecomeOneFusedMatMul) {
    ModelBuilder m(14);
    m.input("x", {"2", "4", "8"});
    m.weight("w", {8, 6});
    m.weight("b", {6});
    m.node("MatMul", {"x", "w"}, {"mm"});
    m.node("Add", {"mm", "b"}, {"c"});
    GetParam().add(m);
    m.output("y");
    auto g = after_pass(m.bytes(), ir::passes::fuse_linear);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"FusedMatMul", 1}}));
    const ir::Node* fused = find_op(*g, "FusedMatMul");
    ASSERT_TRUE(fused);
    EXPECT_EQ(fused->domain, ops::kFoveaDomain);
    EXPECT_EQ(fused->attr_string("activation", "?"), GetParam().activation);
    EXPECT_EQ(fused->attr_floats("activation_params"), GetParam().params);
    EXPECT_EQ(shape_of_constant(*fused, 2), (Shape{6}));
    EXPECT_EQ(fused->outputs[0]->name, "y");
    expect_same_outputs(m.bytes(), *g, {{"x", random_tensor({2, 4, 8})}});
}

// The activation patterns again, on a graph input that another node (Tanh) reads too: the patterns of several nodes
// become one node, single activation ops stay as they are.
TEST_P(FuseActivation, StandalonePatternBecomesOneNode) {
    const std::map<std::string, std::pair<std::string, std::string>> made = {
        {"SiLU", {"SiLU", "fovea"}}, {"HardSwish", {"HardSwish", ""}}, {"Gelu", {"Gelu", "fovea"}}};
    ModelBuilder m(14);
    m.input("c", {"2", "3", "5"});
    m.node("Tanh", {"c"}, {"other"});
    GetParam().add(m);
    m.output("y");
    m.output("other");
    auto before = import_model(m.bytes());
    auto g = after_pass(m.bytes(), ir::passes::fuse_activation_patterns);
    ASSERT_TRUE(g && before);
    const bool pattern = before->nodes().size() > 2;  // more nodes than Tanh and one activation op
    if (pattern) {
        const auto& [op, domain] = made.at(GetParam().activation);
        EXPECT_EQ(op_counts(*g), (Counts{{op, 1}, {"Tanh", 1}}));
        const ir::Node* fused = find_op(*g, op);
        ASSERT_TRUE(fused);
        EXPECT_EQ(fused->domain, domain);
        EXPECT_EQ(fused->inputs, std::vector<ir::Value*>{g->find_value("c")});
        EXPECT_EQ(fused->outputs[0]->name, "y");
    } else {
        EXPECT_EQ(op_counts(*g), op_counts(*before));
    }
    expect_same_outputs(m.bytes(), *g, {{"c", random_tensor({2, 3, 5})}});
}

// A Gemm with its activation (B transposed, C a [1, N] row), a MatMul with only an activation, one with only a
// bias written first in the Add ([1, 1, N]): each one FusedMatMul.
TEST(FuseLinear, GemmWithActivationAndMatMulWithBiasOrActivationFuse) {
    ModelBuilder m;
    m.input("x", {"5", "8"});
    m.input("x3", {"3", "5", "8"});
    m.weight("bt", {6, 8});
    m.weight("c", {1, 6});
    set_attr(m.node("Gemm", {"x", "bt", "c"}, {"g"}), "transB", int64_t{1});
    m.node("Relu", {"g"}, {"y1"});
    m.weight("w", {8, 6});
    m.node("MatMul", {"x", "w"}, {"z"});
    m.node("Sigmoid", {"z"}, {"y2"});
    m.weight("b3", {1, 1, 6});
    m.node("MatMul", {"x3", "w"}, {"z3"});
    m.node("Add", {"b3", "z3"}, {"y3"});
    for (const char* y : {"y1", "y2", "y3"}) m.output(y);
    auto g = after_pass(m.bytes(), ir::passes::fuse_linear);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"FusedMatMul", 3}}));
    int transposed = 0, biased = 0;
    for (const auto& n : g->nodes()) {
        transposed += n->attr_int("transB", 0) != 0;
        biased += n->input(2) != nullptr;
    }
    EXPECT_EQ(transposed, 1);
    EXPECT_EQ(biased, 2);
    expect_same_outputs(m.bytes(), *g, {{"x", random_tensor({5, 8})}, {"x3", random_tensor({3, 5, 8})}});
}

// Products whose epilogue would change what they compute, or that read B per batch, stay as they are: a bias that
// broadcasts over the rows too, a runtime bias, a MatMul read twice, batched B, a Gemm with alpha or no activation.
TEST(FuseLinear, LeavesWhatFusedMatMulCannotCompute) {
    ModelBuilder m;
    m.input("x", {"5", "8"});
    m.input("r", {"6"});
    m.input("x3", {"3", "5", "8"});
    m.weight("w", {8, 6});
    m.weight("full", {5, 6});
    m.node("MatMul", {"x", "w"}, {"z1"});
    m.node("Add", {"z1", "full"}, {"y1"});
    m.node("MatMul", {"x", "w"}, {"z2"});
    m.node("Add", {"z2", "r"}, {"y2"});
    m.node("MatMul", {"x", "w"}, {"z3"});
    m.node("Relu", {"z3"}, {"y3"});
    m.weight("w3", {3, 8, 6});
    m.node("MatMul", {"x3", "w3"}, {"z4"});
    m.node("Relu", {"z4"}, {"y4"});
    m.weight("c", {6});
    set_attr(m.node("Gemm", {"x", "w", "c"}, {"g5"}), "alpha", 0.5f);
    m.node("Relu", {"g5"}, {"y5"});
    m.node("Gemm", {"x", "w", "c"}, {"y6"});
    for (const char* y : {"y1", "y2", "z3", "y3", "y4", "y5", "y6"}) m.output(y);
    auto g = after_pass(m.bytes(), ir::passes::fuse_linear);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"Add", 2}, {"Gemm", 2}, {"MatMul", 4}, {"Relu", 3}}));
}

// DenseNet's layer: Concat(x, conv(x)), then BatchNormalization + ReLU, then a conv. For the cpu backend in fp32 the
// concatenation and the norm become one ConcatAffine; a concatenation read twice, a norm without an activation (left a
// BatchNormalization) and other backends keep theirs.
TEST(FuseConcatAffine, DenseNetLayerForTheCpuBackend) {
    ModelBuilder m;
    m.input("x", {"2", "3", "7", "9"});
    conv_3x3(m, "x", "c");
    set_attr(m.node("Concat", {"x", "c"}, {"cat"}), "axis", int64_t{1});
    batchnorm(m, "cat", "n", 7);
    m.node("Relu", {"n"}, {"r"});
    m.weight("w", {5, 7, 1, 1});
    m.node("Conv", {"r", "w"}, {"y"});
    m.output("y");
    const std::map<std::string, Tensor> input = {{"x", random_tensor({2, 3, 7, 9})}};
    for (const char* backend : {"cpu", "cuda"}) {
        auto g = import_model(m.bytes());
        ASSERT_TRUE(g);
        ASSERT_TRUE(ir::passes::optimize(*g, backend).is_ok());
        if (std::string(backend) == "cpu")
            EXPECT_EQ(op_counts(*g), (Counts{{"ConcatAffine", 1}, {"Conv", 2}}));
        else
            EXPECT_EQ(op_counts(*g), (Counts{{"Concat", 1}, {"Conv", 2}, {"FusedConv", 1}}));
        expect_same_outputs(m.bytes(), *g, input);
    }
    ModelBuilder kept;
    kept.input("x", {"2", "3", "7", "9"});
    conv_3x3(kept, "x", "c");
    set_attr(kept.node("Concat", {"x", "c"}, {"cat"}), "axis", int64_t{1});
    batchnorm(kept, "cat", "n", 7);
    kept.node("Relu", {"n"}, {"y1"});
    kept.node("Sigmoid", {"cat"}, {"y2"});  // the concatenation is read twice
    set_attr(kept.node("Concat", {"x", "c"}, {"cat2"}), "axis", int64_t{1});
    batchnorm(kept, "cat2", "y3", 7);  // no activation: stays a BatchNormalization
    for (const char* y : {"y1", "y2", "y3"}) kept.output(y);
    auto g = import_model(kept.bytes());
    ASSERT_TRUE(g);
    ASSERT_TRUE(ir::passes::optimize(*g, "cpu").is_ok());
    EXPECT_EQ(op_counts(*g),
              (Counts{{"BatchNormalization", 1}, {"Concat", 2}, {"Conv", 1}, {"FusedConv", 1}, {"Sigmoid", 1}}));
    expect_same_outputs(kept.bytes(), *g, input);
}

TEST(FuseActivationPatterns, LeavesPatternsWithSharedInsidesOrOtherConstants) {
    ModelBuilder m;
    m.input("x", {"2", "3"});
    m.node("Sigmoid", {"x"}, {"s"});  // the gate is an output too
    m.node("Mul", {"x", "s"}, {"y1"});
    m.constant("k", {}, {1.5f});  // no sqrt(2)
    m.constant("one", {}, {1.0f});
    m.constant("half", {}, {0.5f});
    m.node("Div", {"x", "k"}, {"d"});
    m.node("Erf", {"d"}, {"e"});
    m.node("Add", {"e", "one"}, {"t"});
    m.node("Mul", {"x", "t"}, {"p"});
    m.node("Mul", {"p", "half"}, {"y2"});
    for (const char* y : {"s", "y1", "y2"}) m.output(y);
    auto g = after_pass(m.bytes(), ir::passes::fuse_activation_patterns);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"Add", 1}, {"Div", 1}, {"Erf", 1}, {"Mul", 3}, {"Sigmoid", 1}}));
}

TEST(FuseActivationPatterns, ConvTakesItsActivationFirstInThePipeline) {
    ModelBuilder m(14);
    m.input("x", {"1", "3", "7", "9"});
    conv_3x3(m);
    m.node("Sigmoid", {"c"}, {"s"});
    m.node("Mul", {"c", "s"}, {"y"});
    m.output("y");
    auto g = import_model(m.bytes());
    ASSERT_TRUE(g);
    ASSERT_TRUE(ir::passes::optimize(*g).is_ok());
    EXPECT_EQ(op_counts(*g), (Counts{{"FusedConv", 1}}));
    expect_same_outputs(m.bytes(), *g, kConvInput);
}

// A decomposed LayerNorm of x (read by "x_other" too) ending in "y", as one exporter writes it.
struct LayerNormCase {
    std::string name;
    std::vector<std::string> x_dims;  // run at [2, 5, 8]
    bool affine;                      // whether y is scaled and shifted
    std::function<void(ModelBuilder&)> add;
};

void PrintTo(const LayerNormCase& c, std::ostream* os) {
    *os << c.name;
}

// mean, d = x - mean, then the variance from `square` (writing "sq" from "d"), eps 1e-5 and d / std in "n".
void layer_norm_core(ModelBuilder& m, const std::function<void(ModelBuilder&)>& square, bool eps_first = false) {
    m.constant("eps", {}, {1e-5f});
    set_attr(m.node("ReduceMean", {"x"}, {"mean"}), "axes", std::vector<int64_t>{-1});
    m.node("Sub", {"x", "mean"}, {"d"});
    square(m);
    set_attr(m.node("ReduceMean", {"sq"}, {"var"}), "axes", std::vector<int64_t>{-1});
    m.node("Add", eps_first ? std::vector<std::string>{"eps", "var"} : std::vector<std::string>{"var", "eps"}, {"ve"});
    m.node("Sqrt", {"ve"}, {"std"});
    m.node("Div", {"d", "std"}, {"n"});
}

void pow_square(ModelBuilder& m) {
    m.constant("two", {}, {2.0f});
    m.node("Pow", {"d", "two"}, {"sq"});
}

void mul_square(ModelBuilder& m) {
    m.node("Mul", {"d", "d"}, {"sq"});
}

std::vector<LayerNormCase> layer_norm_cases() {
    auto affine = [](const Shape& gamma, bool gamma_first) {
        return [=](ModelBuilder& m) {
            m.weight("gamma", gamma, 0.5f, 1.5f);
            m.weight("beta", {8});
            m.node("Mul", gamma_first ? std::vector<std::string>{"gamma", "n"} : std::vector<std::string>{"n", "gamma"},
                   {"g"});
            m.node("Add", {"g", "beta"}, {"y"});
        };
    };
    return {
        {"TorchPowWithAffine",
         {"2", "5", "8"},
         true,
         [=](ModelBuilder& m) {
             layer_norm_core(m, pow_square);
             affine({8}, false)(m);
         }},
        {"MulSquareGammaFirstEpsFirst",
         {"2", "5", "8"},
         true,
         [=](ModelBuilder& m) {
             layer_norm_core(m, mul_square, true);
             affine({1, 1, 8}, true)(m);
         }},
        {"ScalarGamma",
         {"2", "5", "8"},
         true,
         [=](ModelBuilder& m) {
             layer_norm_core(m, pow_square);
             affine({}, false)(m);
         }},
        {"NoAffine",
         {"2", "5", "8"},
         false,
         [=](ModelBuilder& m) {
             layer_norm_core(m, pow_square);
             m.node("Relu", {"n"}, {"y"});
         }},
        // PaddleOCR: the last dim is known only at run time; gamma's size tells it.
        {"UnknownLastDimFromGamma",
         {"n", "t", "?"},
         true,
         [=](ModelBuilder& m) {
             layer_norm_core(m, pow_square);
             affine({8}, false)(m);
         }},
    };
}

class FuseLayernorm : public testing::TestWithParam<LayerNormCase> {};

TEST_P(FuseLayernorm, DecomposedLayerNormBecomesOneLayerNormalization) {
    ModelBuilder m;
    m.input("x", GetParam().x_dims);
    GetParam().add(m);
    m.node("Tanh", {"x"}, {"x_other"});
    m.output("y");
    m.output("x_other");
    auto g = after_pass(m.bytes(), ir::passes::fuse_layernorm);
    ASSERT_TRUE(g);
    Counts expected = {{"LayerNormalization", 1}, {"Tanh", 1}};
    if (!GetParam().affine) expected["Relu"] = 1;
    EXPECT_EQ(op_counts(*g), expected);
    const ir::Node* ln = find_op(*g, "LayerNormalization");
    ASSERT_TRUE(ln);
    EXPECT_EQ(ln->domain, "");
    EXPECT_EQ(ln->opset, 17);
    EXPECT_EQ(ln->attr_int("axis", 0), -1);
    EXPECT_FLOAT_EQ(ln->attr_float("epsilon", 0), 1e-5f);
    EXPECT_EQ(ln->inputs.size(), GetParam().affine ? 3u : 2u);
    EXPECT_EQ(ln->inputs[1]->constant->shape(), (Shape{8}));
    EXPECT_EQ(ln->outputs[0]->name, GetParam().affine ? "y" : "n");
    expect_same_outputs(m.bytes(), *g, {{"x", random_tensor({2, 5, 8})}});
}

INSTANTIATE_TEST_SUITE_P(Patterns, FuseLayernorm, testing::ValuesIn(layer_norm_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(FuseLayernormSafety, LeavesOtherAxesSharedInsidesRuntimeEpsilonAndUnknownSizes) {
    auto count_after = [](const std::function<void(ModelBuilder&)>& add, const std::vector<std::string>& dims,
                          const std::vector<std::string>& outputs) {
        ModelBuilder m;
        m.input("x", dims);
        add(m);
        for (const auto& y : outputs) m.output(y);
        auto g = after_pass(m.bytes(), ir::passes::fuse_layernorm);
        return g ? op_counts(*g).count("LayerNormalization") : -1;
    };
    const std::vector<std::string> dims = {"2", "5", "8"};
    // Reduced over axis 1 (the mean; the variance stays over the last).
    EXPECT_EQ(count_after(
                  [](ModelBuilder& m) {
                      m.constant("eps", {}, {1e-5f});
                      set_attr(m.node("ReduceMean", {"x"}, {"mean"}), "axes", std::vector<int64_t>{1});
                      m.node("Sub", {"x", "mean"}, {"d"});
                      pow_square(m);
                      set_attr(m.node("ReduceMean", {"sq"}, {"var"}), "axes", std::vector<int64_t>{-1});
                      m.node("Add", {"var", "eps"}, {"ve"});
                      m.node("Sqrt", {"ve"}, {"std"});
                      m.node("Div", {"d", "std"}, {"n"});
                  },
                  dims, {"n"}),
              0u);
    // The centered x is an output too.
    EXPECT_EQ(count_after([](ModelBuilder& m) { layer_norm_core(m, pow_square); }, dims, {"n", "d"}), 0u);
    // The variance is read elsewhere.
    EXPECT_EQ(count_after(
                  [](ModelBuilder& m) {
                      layer_norm_core(m, pow_square);
                      m.node("Relu", {"var"}, {"r"});
                  },
                  dims, {"n", "r"}),
              0u);
    // Epsilon known only at run time.
    EXPECT_EQ(count_after(
                  [](ModelBuilder& m) {
                      m.input("e", {});
                      set_attr(m.node("ReduceMean", {"x"}, {"mean"}), "axes", std::vector<int64_t>{-1});
                      m.node("Sub", {"x", "mean"}, {"d"});
                      pow_square(m);
                      set_attr(m.node("ReduceMean", {"sq"}, {"var"}), "axes", std::vector<int64_t>{-1});
                      m.node("Add", {"var", "e"}, {"ve"});
                      m.node("Sqrt", {"ve"}, {"std"});
                      m.node("Div", {"d", "std"}, {"n"});
                  },
                  dims, {"n"}),
              0u);
    // An unknown last dim and no scale or bias to tell it.
    EXPECT_EQ(count_after([](ModelBuilder& m) { layer_norm_core(m, pow_square); }, {"2", "5", "?"}, {"n"}), 0u);
}

TEST(FuseLayernormSafety, GammaOverMoreThanTheLastDimStaysAMul) {
    ModelBuilder m;
    m.input("x", {"2", "5", "8"});
    layer_norm_core(m, pow_square);
    m.weight("gamma", {5, 8});
    m.node("Mul", {"n", "gamma"}, {"y"});
    m.output("y");
    auto g = after_pass(m.bytes(), ir::passes::fuse_layernorm);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"LayerNormalization", 1}, {"Mul", 1}}));
    expect_same_outputs(m.bytes(), *g, {{"x", random_tensor({2, 5, 8})}});
}

// x [2, 3, 4, 5] through `build`, ending in "y" (read by a Relu, so that a vanished pair leaves a node).
std::unique_ptr<ir::Graph> layout_after_pass(const std::function<void(ModelBuilder&)>& build, std::string* bytes,
                                             const std::vector<std::string>& extra_outputs = {}) {
    ModelBuilder m;
    m.input("x", {"2", "3", "4", "5"});
    build(m);
    m.node("Relu", {"y"}, {"out"});
    m.output("out");
    for (const auto& o : extra_outputs) m.output(o);
    *bytes = m.bytes();
    return after_pass(*bytes, ir::passes::cancel_transpose_reshape);
}

const std::map<std::string, Tensor> kLayoutInput = {{"x", random_tensor({2, 3, 4, 5})}};

TEST(CancelTransposeReshape, InverseTransposesVanish) {
    std::string bytes;
    auto g = layout_after_pass(
        [](ModelBuilder& m) {
            set_attr(m.node("Transpose", {"x"}, {"t"}), "perm", std::vector<int64_t>{0, 2, 3, 1});
            set_attr(m.node("Transpose", {"t"}, {"y"}), "perm", std::vector<int64_t>{0, 3, 1, 2});
        },
        &bytes);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->to_text(),
              "graph test\n"
              "  input x: float32[2,3,4,5]\n"
              "  out: float32[2,3,4,5] = Relu(x)\n"
              "  output out: float32[2,3,4,5]\n");
    expect_same_outputs(bytes, *g, kLayoutInput);
}

TEST(CancelTransposeReshape, TransposeChainsComposeAndSharedFirstsStay) {
    std::string bytes;
    auto g = layout_after_pass(
        [](ModelBuilder& m) {
            set_attr(m.node("Transpose", {"x"}, {"t1"}), "perm", std::vector<int64_t>{0, 2, 3, 1});
            m.node("Transpose", {"t1"}, {"t2"});  // the default perm reverses the dims
            set_attr(m.node("Transpose", {"t2"}, {"y"}), "perm", std::vector<int64_t>{1, 0, 3, 2});
        },
        &bytes, {"t1"});
    ASSERT_TRUE(g);
    // t1 is an output and stays; t2 and y become one Transpose of x.
    EXPECT_EQ(op_counts(*g), (Counts{{"Relu", 1}, {"Transpose", 2}}));
    const ir::Value* y = g->find_value("y");
    ASSERT_TRUE(y && y->producer);
    EXPECT_EQ(y->producer->inputs[0]->name, "x");
    // y[i] = t2[p3[i]] = t1[reverse[p3[i]]] = x[p1[reverse[p3[i]]]].
    EXPECT_EQ(y->producer->attr_ints("perm"), (std::vector<int64_t>{3, 1, 0, 2}));
    expect_same_outputs(bytes, *g, kLayoutInput);
}

TEST(CancelTransposeReshape, ReshapeOfReshapeReadsTheFirstInput) {
    std::string bytes;
    auto g = layout_after_pass(
        [](ModelBuilder& m) {
            m.ints("s1", {6, 20});
            m.ints("s2", {2, -1, 5});
            m.node("Reshape", {"x", "s1"}, {"r"});
            m.node("Reshape", {"r", "s2"}, {"y"});
        },
        &bytes);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"Relu", 1}, {"Reshape", 1}}));
    EXPECT_EQ(g->find_value("y")->producer->inputs[0]->name, "x");
    expect_same_outputs(bytes, *g, kLayoutInput);
}

TEST(CancelTransposeReshape, SqueezeUnsqueezePairsOverTheSameAxesVanish) {
    std::string bytes;
    auto g = layout_after_pass(
        [](ModelBuilder& m) {
            m.ints("a1", {1});
            m.ints("a2", {-4});  // axis 1 of the rank-5 tensor, written negative
            m.ints("a0", {0});
            m.node("Unsqueeze", {"x", "a1"}, {"u"});
            m.node("Squeeze", {"u", "a2"}, {"s"});
            m.node("Unsqueeze", {"s", "a0"}, {"u0"});
            m.node("Squeeze", {"u0", "a0"}, {"y"});
        },
        &bytes);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"Relu", 1}}));
    expect_same_outputs(bytes, *g, kLayoutInput);
}

TEST(CancelTransposeReshape, LeavesPairsThatDoNotCancelOrWouldRenameOutputs) {
    std::string bytes;
    auto g = layout_after_pass(
        [](ModelBuilder& m) {
            m.ints("a01", {0, 1});
            m.ints("a1", {1});
            m.node("Unsqueeze", {"x", "a01"}, {"u"});
            m.node("Squeeze", {"u", "a1"}, {"s"});  // fewer axes: no inverse
            m.ints("s1", {6, 20});
            m.ints("s2", {0, 4, 5});  // 0 copies a dim of the first reshape
            m.node("Reshape", {"x", "s1"}, {"r"});
            m.node("Reshape", {"r", "s2"}, {"r2"});
            set_attr(m.node("Transpose", {"x"}, {"t"}), "perm", std::vector<int64_t>{0, 2, 3, 1});
            set_attr(m.node("Transpose", {"t"}, {"t2"}), "perm", std::vector<int64_t>{0, 3, 1, 2});  // an output
            m.node("Relu", {"x"}, {"y"});
        },
        &bytes, {"s", "r2", "t2"});
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g), (Counts{{"Relu", 2}, {"Reshape", 2}, {"Squeeze", 1}, {"Transpose", 2}, {"Unsqueeze", 1}}));
}

TEST(FuseActivationSafety, LeavesConvsWhoseOutputIsReadElsewhereOrNotAnActivation) {
    ModelBuilder m(14);
    m.input("x", {"1", "3", "7", "9"});
    m.input("bound", {});
    conv_3x3(m, "x", "c1");  // also a graph output
    m.node("Relu", {"c1"}, {"y1"});
    conv_3x3(m, "x", "c2");  // x * HardSigmoid(x) with ONNX's default alpha is no HardSwish
    m.node("HardSigmoid", {"c2"}, {"h"});
    m.node("Mul", {"c2", "h"}, {"y2"});
    conv_3x3(m, "x", "c3");  // a bound known only at run time
    m.node("Clip", {"c3", "bound"}, {"y3"});
    conv_3x3(m, "x", "c4");  // two activations read it
    m.node("Relu", {"c4"}, {"y4"});
    m.node("Tanh", {"c4"}, {"y5"});
    for (const char* y : {"c1", "y1", "y2", "y3", "y4", "y5"}) m.output(y);
    auto g = after_pass(m.bytes(), ir::passes::fuse_activation);
    ASSERT_TRUE(g);
    EXPECT_EQ(op_counts(*g),
              (Counts{{"Clip", 1}, {"Conv", 4}, {"HardSigmoid", 1}, {"Mul", 1}, {"Relu", 2}, {"Tanh", 1}}));
}

// y = Relu(Conv(x) + r), x [batch, 4, 7, 9] and the residual r of dims `r_dims`.
std::string residual_model(const std::vector<std::string>& r_dims) {
    ModelBuilder m;
    m.input("x", {"batch", "4", "7", "9"});
    m.input("r", r_dims);
    m.weight("w", {4, 4, 3, 3});
    auto& conv = m.node("Conv", {"x", "w"}, {"c"});
    set_attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
    m.node("Add", {"c", "r"}, {"s"});
    m.node("Relu", {"s"}, {"y"});
    m.output("y");
    return m.bytes();
}

TEST(FuseResidualAdd, ConvAddReluBecomesOneFusedConvWithSum) {
    const std::string bytes = residual_model({"batch", "4", "7", "9"});
    auto g = import_model(bytes);
    ASSERT_TRUE(g);
    auto reports = ir::passes::optimize(*g);
    ASSERT_TRUE(reports.is_ok()) << reports.status().to_string();
    EXPECT_EQ(g->to_text(),
              "graph test\n"
              "  input x: float32[batch,4,7,9]\n"
              "  input r: float32[batch,4,7,9]\n"
              "  y: float32[?,4,7,9] = FusedConv(x, w, _, r) {activation=\"Relu\", activation_params=[], "
              "pads=[1,1,1,1]}\n"
              "  output y: float32[?,4,7,9]\n");
    expect_same_outputs(bytes, *g, {{"x", random_tensor({2, 4, 7, 9}, 1)}, {"r", random_tensor({2, 4, 7, 9}, 2)}});
}

TEST(FuseResidualAdd, LeavesResidualsThatMayBroadcast) {
    // A broadcast residual, and batch dims that need not be equal (another name, or none).
    for (const auto& dims :
         std::vector<std::vector<std::string>>{{"1", "4", "1", "1"}, {"n", "4", "7", "9"}, {"?", "4", "7", "9"}}) {
        auto g = after_pass(residual_model(dims), ir::passes::fuse_residual_add);
        ASSERT_TRUE(g);
        EXPECT_EQ(op_counts(*g), (Counts{{"Add", 1}, {"Conv", 1}, {"Relu", 1}})) << dims[0];
    }
}

TEST(FuseResidualAdd, SumComesAfterNoActivation) {
    ModelBuilder m;
    m.input("x", {"1", "3", "7", "9"});
    m.input("r", {"1", "4", "7", "9"});
    conv_3x3(m);
    m.node("Relu", {"c"}, {"a"});
    m.node("Add", {"r", "a"}, {"y"});
    m.output("y");
    auto g = import_model(m.bytes());
    ASSERT_TRUE(g);
    ASSERT_TRUE(ir::passes::optimize(*g).is_ok());
    EXPECT_EQ(op_counts(*g), (Counts{{"Add", 1}, {"FusedConv", 1}}));
    expect_same_outputs(m.bytes(), *g, {{"x", random_tensor({1, 3, 7, 9}, 1)}, {"r", random_tensor({1, 4, 7, 9}, 2)}});
}

// Constant folding happens when a session binds the input shapes (ops::infer_graph with an evaluator), not in the
// shape-independent pipeline: a Shape-derived subgraph (PyTorch's flatten as Shape -> Gather -> Unsqueeze -> Concat
// -> Reshape) and arithmetic on constants fold to constants once the batch is known; the nodes left to run are the
// Reshape and the Mul that read the image. Before binding (dynamic batch) nothing folds.
TEST(ConstantFolding, ShapeSubgraphsAndConstantArithmeticFoldOnceShapesAreBound) {
    ModelBuilder m;
    m.input("x", {"N", "3", "4", "5"});
    m.node("Shape", {"x"}, {"shape"});
    m.ints("zero", {0});
    m.ints("minus_one", {-1});
    m.node("Gather", {"shape", "zero"}, {"batch"});
    set_attr(m.node("Concat", {"batch", "minus_one"}, {"target"}), "axis", int64_t{0});
    m.node("Reshape", {"x", "target"}, {"flat"});
    m.constant("a", {1}, {1.5f});
    m.constant("b", {1}, {2.0f});
    m.node("Add", {"a", "b"}, {"ab"});
    m.node("Mul", {"flat", "ab"}, {"y"});
    m.output("y");
    auto runs = [](const ir::Graph& g) {
        std::vector<std::string> ops;
        for (const auto& n : g.nodes())
            if (!ir::passes::is_folded(*n)) ops.push_back(n->op_type);
        return ops;
    };
    const ops::Evaluator evaluate = [](const ir::Node& node, const std::vector<const Tensor*>& inputs,
                                       std::vector<Tensor>& outputs) { return ref::run_node(node, inputs, outputs); };
    auto dynamic = import_model(m.bytes());
    ASSERT_TRUE(dynamic);
    ASSERT_TRUE(ops::infer_graph(*dynamic, &evaluate).is_ok());
    EXPECT_EQ(runs(*dynamic), (std::vector<std::string>{"Shape", "Gather", "Concat", "Reshape", "Mul"}));
    auto bound = import_model(m.bytes());
    ASSERT_TRUE(bound);
    bound->inputs[0]->shape = Shape{2, 3, 4, 5};
    ASSERT_TRUE(ops::infer_graph(*bound, &evaluate).is_ok());
    EXPECT_EQ(runs(*bound), (std::vector<std::string>{"Reshape", "Mul"}));
    const ir::Value* target = bound->find_value("target");
    ASSERT_TRUE(target && target->constant);
    EXPECT_EQ(target->constant->element_as_double(0), 2);
    EXPECT_EQ(target->constant->element_as_double(1), -1);
    const ir::Value* ab = bound->find_value("ab");
    ASSERT_TRUE(ab && ab->constant);
    EXPECT_EQ(ab->constant->element_as_double(0), 3.5);
    // And the bound model computes what the model does, on every backend.
    const std::map<std::string, Tensor> input = {{"x", random_tensor({2, 3, 4, 5})}};
    auto expected = run_session(m.bytes(), "ref", input);
    ASSERT_TRUE(expected.is_ok()) << expected.status().to_string();
    auto actual = run_session(m.bytes(), "cpu", input);
    ASSERT_TRUE(actual.is_ok()) << actual.status().to_string();
    EXPECT_EQ((*actual)[0].shape(), (Shape{2, 60}));
    EXPECT_LT(relative_l2((*actual)[0], (*expected)[0]), 1e-6);
}

TEST(ConstantFolding, OneNodeFoldsOnlyWhenItsInputsAreKnownAndItsOutputIsSmall) {
    ModelBuilder m;
    m.input("x", {"N", "4"});
    m.node("Shape", {"x"}, {"shape"});
    m.node("Relu", {"x"}, {"relu"});
    m.constant("big", {2049, 2048}, std::vector<float>(2049 * 2048, 1.0f));
    m.node("Neg", {"big"}, {"neg"});  // 4.2M elements: above the folding limit
    m.output("shape");
    m.output("relu");
    m.output("neg");
    auto graph = import_model(m.bytes());
    ASSERT_TRUE(graph);
    int evaluated = 0;
    const ir::passes::NodeEvaluator evaluate = [&](const ir::Node& node, const std::vector<const Tensor*>& inputs,
                                                   std::vector<Tensor>& outputs) {
        ++evaluated;
        return ref::run_node(node, inputs, outputs);
    };
    const auto fold = [&](const char* op) {
        for (const auto& n : graph->nodes())
            if (n->op_type == op) {
                EXPECT_TRUE(ops::infer_node(*n).is_ok());
                auto folded = ir::passes::fold_constant_node(*n, evaluate);
                EXPECT_TRUE(folded.is_ok());
                return folded.is_ok() && *folded && ir::passes::is_folded(*n);
            }
        return false;
    };
    EXPECT_FALSE(fold("Shape"));  // N is not bound
    EXPECT_FALSE(fold("Relu"));
    EXPECT_FALSE(fold("Neg"));
    EXPECT_EQ(evaluated, 0);
    graph->inputs[0]->shape = Shape{3, 4};
    EXPECT_TRUE(fold("Shape"));  // from the shape alone, no evaluation
    EXPECT_EQ(evaluated, 0);
    EXPECT_FALSE(fold("Relu"));  // its input's contents are still unknown
    const ir::Value* shape = graph->find_value("shape");
    ASSERT_TRUE(shape && shape->constant);
    EXPECT_EQ(shape->constant->element_as_double(0), 3);
    EXPECT_EQ(shape->constant->element_as_double(1), 4);
}

TEST(Optimize, ReportsEachPassInOrderAndKeepsOutputNames) {
    ModelBuilder m;
    m.input("x", {"1", "3", "7", "9"});
    conv_3x3(m);
    batchnorm(m, "c", "n", 4);
    m.node("Identity", {"n"}, {"i"});
    m.node("Add", {"i", "i"}, {"s"});  // reads the conv output twice: no residual
    m.node("Relu", {"s"}, {"y"});
    m.node("Tanh", {"x"}, {"unused"});
    m.output("y");
    auto g = import_model(m.bytes());
    ASSERT_TRUE(g);
    auto reports = ir::passes::optimize(*g);
    ASSERT_TRUE(reports.is_ok()) << reports.status().to_string();
    std::vector<std::string> names;
    for (const auto& r : *reports)
        names.push_back(r.name + " " + std::to_string(r.nodes_before) + "->" + std::to_string(r.nodes_after));
    EXPECT_EQ(names, (std::vector<std::string>{"eliminate_dead_nodes 6->5", "remove_identity 5->4",
                                               "cancel_transpose_reshape 4->4", "fold_batchnorm 4->3",
                                               "fold_affine 3->3", "batchnorm_to_conv 3->3", "fuse_residual_add 3->3",
                                               "fuse_activation 3->3", "fuse_linear 3->3", "fuse_layernorm 3->3",
                                               "fuse_activation_patterns 3->3", "fold_affine_into_conv 3->3"}));
    ASSERT_EQ(g->outputs.size(), 1u);
    EXPECT_EQ(g->outputs[0]->name, "y");
    // The folded weights replace the originals, which are dropped.
    EXPECT_FALSE(g->find_value("c_w"));
    EXPECT_TRUE(g->find_value("c_w_bn_folded"));
    expect_same_outputs(m.bytes(), *g, kConvInput);
}

// PP-LCNet's block as Paddle exports it: conv, an affine pair, HardSwish written out, another affine pair, a 1x1
// conv. The pipeline leaves two convolutions: the HardSwish fused into the first (its divide by 6 not taken by the
// affine folds first), the pairs folded into the weights around it.
TEST(Optimize, PaddleAffineBlocksAroundADecomposedHardSwishLeaveTwoConvs) {
    ModelBuilder m(13);
    m.input("x", {"1", "3", "7", "9"});
    conv_3x3(m);
    m.constant("s1", {1}, {0.8f});
    m.constant("t1", {1}, {0.3f});
    m.constant("three", {}, {3.0f});
    m.constant("zero", {}, {0.0f});
    m.constant("six", {}, {6.0f});
    m.constant("s2", {1}, {1.3f});
    m.constant("t2", {1}, {-0.2f});
    m.node("Mul", {"s1", "c"}, {"a1"});
    m.node("Add", {"a1", "t1"}, {"a"});
    m.node("Add", {"a", "three"}, {"p3"});
    m.node("Clip", {"p3", "zero", "six"}, {"g"});
    m.node("Mul", {"a", "g"}, {"p"});
    m.node("Div", {"p", "six"}, {"h"});
    m.node("Mul", {"s2", "h"}, {"b1"});
    m.node("Add", {"b1", "t2"}, {"b"});
    m.weight("w", {5, 4, 1, 1});
    m.node("Conv", {"b", "w"}, {"y"});
    m.output("y");
    auto g = import_model(m.bytes());
    ASSERT_TRUE(g);
    ASSERT_TRUE(ir::passes::optimize(*g).is_ok());
    EXPECT_EQ(op_counts(*g), (Counts{{"Conv", 1}, {"FusedConv", 1}}));
    const ir::Node* fused = find_op(*g, "FusedConv");
    ASSERT_TRUE(fused);
    EXPECT_EQ(fused->attr_string("activation", ""), "HardSwish");
    expect_same_outputs(m.bytes(), *g, kConvInput);
}

}  // namespace
}  // namespace fovea::test
