// bf16 precision on the CPU backend: which convolutions and matrix products the policy keeps in fp32
// (backends/cpu/precision.h), on small graphs, and bf16 sessions against fp32 ones.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "../passes/pass_test_util.h"
#include "backends/cpu/dnnl_kernel.h"
#include "backends/cpu/precision.h"
#include "fovea/session.h"
#include "ir/passes/passes.h"
#include "ops/infer_graph.h"

namespace fovea {
namespace {

using Ints = std::vector<int64_t>;

// A small image model with one node of each kind: a first convolution (+Relu) on the image, a depthwise and a
// pointwise convolution, then two outputs: a classifier (pooling, Flatten, Gemm) and a detector-like head (1x1 conv,
// Sigmoid, Reshape to a shape computed by Shape from the pointwise conv's output, as exported YOLO heads do).
std::string tiny_model() {
    test::ModelBuilder m;
    m.input("x", {"1", "3", "16", "16"});
    m.weight("c0_w", {16, 3, 3, 3}, -0.5f, 0.5f);
    m.weight("c0_b", {16});
    auto& c0 = m.node("Conv", {"x", "c0_w", "c0_b"}, {"c0"});
    test::set_attr(c0, "pads", Ints{1, 1, 1, 1});
    m.node("Relu", {"c0"}, {"r0"});
    m.weight("dw_w", {16, 1, 3, 3}, -0.5f, 0.5f);
    auto& dw = m.node("Conv", {"r0", "dw_w"}, {"dw"});
    test::set_attr(dw, "pads", Ints{1, 1, 1, 1});
    test::set_attr(dw, "group", int64_t{16});
    m.weight("pw_w", {32, 16, 1, 1}, -0.4f, 0.4f);
    m.node("Conv", {"dw", "pw_w"}, {"pw"});
    m.node("Relu", {"pw"}, {"r1"});
    m.weight("mid_w", {32, 32, 3, 3}, -0.2f, 0.2f);
    test::set_attr(m.node("Conv", {"r1", "mid_w"}, {"mid"}), "pads", Ints{1, 1, 1, 1});
    m.node("GlobalAveragePool", {"mid"}, {"pool"});
    m.node("Flatten", {"pool"}, {"flat"});
    m.weight("fc_w", {10, 32}, -0.3f, 0.3f);
    m.weight("fc_b", {10});
    test::set_attr(m.node("Gemm", {"flat", "fc_w", "fc_b"}, {"logits"}), "transB", int64_t{1});
    m.weight("head_w", {8, 32, 1, 1}, -0.3f, 0.3f);
    m.node("Conv", {"mid", "head_w"}, {"head"});
    m.node("Sigmoid", {"head"}, {"scores"});
    m.node("Shape", {"r1"}, {"shape"});  // only the batch dim of r1's shape: no value flows from pw
    m.ints("zero", {0});
    m.node("Gather", {"shape", "zero"}, {"batch"});
    m.ints("rest", {8, 256});
    test::set_attr(m.node("Concat", {"batch", "rest"}, {"boxes_shape"}), "axis", int64_t{0});
    m.node("Reshape", {"scores", "boxes_shape"}, {"boxes"});
    m.output("logits");
    m.output("boxes");
    return m.bytes();
}

// The plan as {first output name: reason name}.
std::map<std::string, std::string> plan_by_name(const ir::Graph& graph) {
    std::map<std::string, std::string> named;
    for (const auto& [node, reason] : cpu::plan_fp32_nodes(graph))
        named[node->outputs[0]->name] = std::string(cpu::fp32_reason_name(reason));
    return named;
}

TEST(CpuPrecisionPlan, keeps_first_output_and_depthwise_layers_in_fp32) {
    auto graph = test::import_model(tiny_model());
    ASSERT_TRUE(graph);
    ASSERT_TRUE(ops::infer_graph(*graph, nullptr).is_ok());
    const std::map<std::string, std::string> expected{{"c0", "reads a graph input"},
                                                      {"dw", "depthwise"},
                                                      {"logits", "feeds a graph output"},
                                                      {"head", "feeds a graph output"}};
    EXPECT_EQ(plan_by_name(*graph), expected);  // pw and mid run in bf16
}

TEST(CpuPrecisionPlan, sees_the_same_layers_after_the_optimizer_fuses_them) {
    auto graph = test::import_model(tiny_model());
    ASSERT_TRUE(graph);
    ASSERT_TRUE(ir::passes::optimize(*graph).is_ok());
    ASSERT_TRUE(ops::infer_graph(*graph, nullptr).is_ok());
    int fused = 0;
    for (const auto& n : graph->nodes()) fused += n->op_type == "FusedConv";
    EXPECT_EQ(fused, 3);  // c0 and pw take their Relu, head its Sigmoid
    // The fused nodes are named after their activation's output.
    const std::map<std::string, std::string> expected{{"r0", "reads a graph input"},
                                                      {"dw", "depthwise"},
                                                      {"logits", "feeds a graph output"},
                                                      {"scores", "feeds a graph output"}};
    EXPECT_EQ(plan_by_name(*graph), expected);
    int matrix = 0;
    for (const auto& n : graph->nodes()) matrix += cpu::is_matrix_node(*n);
    EXPECT_EQ(matrix, 6);
}

TEST(CpuPrecisionPlan, a_chain_of_matrix_products_keeps_only_its_ends) {
    test::ModelBuilder m;
    m.input("x", {"4", "8"});
    std::string in = "x";
    for (int i = 0; i < 4; ++i) {
        const std::string w = "w" + std::to_string(i), y = "y" + std::to_string(i);
        m.weight(w, {8, 8});
        m.node("MatMul", {in, w}, {y});
        in = y;
    }
    m.output(in);
    auto graph = test::import_model(m.bytes());
    ASSERT_TRUE(graph);
    const std::map<std::string, std::string> expected{{"y0", "reads a graph input"}, {"y3", "feeds a graph output"}};
    EXPECT_EQ(plan_by_name(*graph), expected);
}

// `model` run once on the cpu backend at `precision`: its outputs, or none (the failure reported) when it cannot run.
std::vector<Tensor> run_cpu(const std::string& model, const std::map<std::string, Tensor>& inputs,
                            const std::string& precision) {
    SessionOptions options;
    options.backend = "cpu";
    options.precision = precision;
    auto session = Session::load_from_memory(test::as_bytes(model), options);
    EXPECT_TRUE(session.is_ok()) << session.status().to_string();
    if (!session.is_ok()) return {};
    auto out = (*session)->run(inputs);
    EXPECT_TRUE(out.is_ok()) << out.status().to_string();
    return out.is_ok() ? std::move(out).value() : std::vector<Tensor>{};
}

// Sessions of the tiny model at both precisions: bf16 rounds pw's and mid's operands only, so the outputs differ
// from fp32 a little (bf16 did run) and stay within 1e-2 (relative L2).
TEST(CpuPrecision, bf16_session_stays_close_to_fp32) {
    if (!cpu::cpu_has_bf16()) GTEST_SKIP() << "this CPU has no avx512_bf16";
    const std::string model = tiny_model();
    const std::map<std::string, Tensor> inputs{{"x", test::random_tensor({1, 3, 16, 16}, 3)}};
    const std::vector<Tensor> fp32 = run_cpu(model, inputs, "fp32"), bf16 = run_cpu(model, inputs, "bf16");
    ASSERT_EQ(fp32.size(), 2u);
    ASSERT_EQ(bf16.size(), 2u);
    for (size_t i = 0; i < fp32.size(); ++i) {
        const double rel = test::relative_l2(bf16[i], fp32[i]);
        EXPECT_GT(rel, 0.0) << "output " << i << ": bf16 changed nothing";
        EXPECT_LT(rel, 1e-2) << "output " << i;
    }
}

// A lone convolution reads the input and feeds the output: bf16 precision keeps it in fp32, bit for bit.
TEST(CpuPrecision, a_lone_convolution_stays_fp32) {
    if (!cpu::cpu_has_bf16()) GTEST_SKIP() << "this CPU has no avx512_bf16";
    test::ModelBuilder m;
    m.input("x", {"1", "8", "9", "9"});
    m.weight("w", {6, 8, 3, 3});
    m.node("Conv", {"x", "w"}, {"y"});
    m.output("y");
    const std::string model = m.bytes();
    const std::map<std::string, Tensor> inputs{{"x", test::random_tensor({1, 8, 9, 9}, 5)}};
    const std::vector<Tensor> fp32 = run_cpu(model, inputs, "fp32"), bf16 = run_cpu(model, inputs, "bf16");
    ASSERT_EQ(fp32.size(), 1u);
    ASSERT_EQ(bf16.size(), 1u);
    EXPECT_EQ(test::relative_l2(bf16[0], fp32[0]), 0.0);
}

// x -> c0 -> c1 -> dw -> c3 -> head, all convolutions, 32 channels at 12x12; c3 also feeds a Relu, then c4.
std::string conv_chain_model() {
    test::ModelBuilder m;
    m.input("x", {"1", "3", "12", "12"});
    auto conv = [&](const std::string& in, const std::string& out, int64_t k, int64_t c, int64_t group = 1) {
        m.weight(out + "_w", {k, c / group, 3, 3}, -0.3f, 0.3f);
        auto& n = m.node("Conv", {in, out + "_w"}, {out});
        test::set_attr(n, "pads", Ints{1, 1, 1, 1});
        if (group > 1) test::set_attr(n, "group", group);
    };
    conv("x", "c0", 32, 3);
    conv("c0", "c1", 32, 32);
    conv("c1", "dw", 32, 32, 32);
    conv("dw", "c3", 32, 32);
    conv("c3", "head", 8, 32);
    m.node("Relu", {"c3"}, {"r3"});
    conv("r3", "c4", 8, 32);
    m.output("head");
    m.output("c4");
    return m.bytes();
}

TEST(CpuPrecisionPlan, stores_activations_in_bf16_only_between_bf16_convolutions) {
    auto graph = test::import_model(conv_chain_model());
    ASSERT_TRUE(graph);
    ASSERT_TRUE(ops::infer_graph(*graph, nullptr).is_ok());
    const auto fp32 = cpu::plan_fp32_nodes(*graph);
    const cpu::Bf16Storage plan = cpu::plan_bf16_values(*graph, fp32, [](const ir::Value&) { return true; });
    std::set<std::string> values, nodes;
    for (const ir::Value* v : plan.values) values.insert(v->name);
    for (const ir::Node* n : plan.fp32_nodes) nodes.insert(n->outputs[0]->name);
    // c0 computes in fp32 (it reads the image); c3's output also goes to a Relu; head and c4 feed outputs.
    EXPECT_EQ(values, (std::set<std::string>{"c1", "dw"}));
    // The depthwise convolution reads c1 in bf16, so it computes in bf16 too.
    EXPECT_EQ(nodes, (std::set<std::string>{"c0", "head", "c4"}));
    // Values the backend does not keep to itself (nhwc false) stay fp32, and then so does the depthwise layer.
    const cpu::Bf16Storage none = cpu::plan_bf16_values(*graph, fp32, [](const ir::Value&) { return false; });
    EXPECT_TRUE(none.values.empty());
    EXPECT_EQ(none.fp32_nodes.size(), fp32.size());
}

// The chain's bf16 session (c1 and dw stored in bf16) against fp32: close, and not equal.
TEST(CpuPrecision, bf16_storage_between_convolutions_stays_close_to_fp32) {
    if (!cpu::cpu_has_bf16()) GTEST_SKIP() << "this CPU has no avx512_bf16";
    const std::string model = conv_chain_model();
    const std::map<std::string, Tensor> inputs{{"x", test::random_tensor({1, 3, 12, 12}, 5)}};
    const std::vector<Tensor> fp32 = run_cpu(model, inputs, "fp32"), bf16 = run_cpu(model, inputs, "bf16");
    ASSERT_EQ(fp32.size(), 2u);
    ASSERT_EQ(bf16.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
        const double rel = test::relative_l2(bf16[i], fp32[i]);
        EXPECT_GT(rel, 0.0) << "output " << i;
        EXPECT_LT(rel, 2e-2) << "output " << i;
    }
}

// x -> c0 -> c1 -> c2; Concat(c1 or c0, c2) -> c3; Add(c3, cat) -> MaxPool -> c4 -> head; 16 channels at 8x8.
std::string mixed_chain_model(bool concat_reads_c0) {
    test::ModelBuilder m;
    m.input("x", {"1", "3", "8", "8"});
    auto conv = [&](const std::string& in, const std::string& out, int64_t k, int64_t c) {
        m.weight(out + "_w", {k, c, 3, 3}, -0.3f, 0.3f);
        test::set_attr(m.node("Conv", {in, out + "_w"}, {out}), "pads", Ints{1, 1, 1, 1});
    };
    conv("x", "c0", 16, 3);
    conv("c0", "c1", 16, 16);
    conv("c1", "c2", 16, 16);
    test::set_attr(m.node("Concat", {concat_reads_c0 ? "c0" : "c1", "c2"}, {"cat"}), "axis", int64_t{1});
    conv("cat", "c3", 32, 32);
    m.node("Add", {"c3", "cat"}, {"sum"});
    auto& pool = m.node("MaxPool", {"sum"}, {"pool"});
    test::set_attr(pool, "kernel_shape", Ints{3, 3});
    test::set_attr(pool, "pads", Ints{1, 1, 1, 1});
    conv("pool", "c4", 16, 32);
    conv("c4", "head", 8, 16);
    m.output("head");
    return m.bytes();
}

TEST(CpuPrecisionPlan, pools_concats_and_adds_carry_bf16_with_all_their_images_or_none) {
    for (const bool concat_reads_c0 : {false, true}) {
        auto graph = test::import_model(mixed_chain_model(concat_reads_c0));
        ASSERT_TRUE(graph);
        ASSERT_TRUE(ops::infer_graph(*graph, nullptr).is_ok());
        const cpu::Bf16Storage plan =
            cpu::plan_bf16_values(*graph, cpu::plan_fp32_nodes(*graph), [](const ir::Value&) { return true; });
        std::set<std::string> values;
        for (const ir::Value* v : plan.values) values.insert(v->name);
        // c0 computes in fp32 (it reads the image): a Concat of it keeps its images in fp32, and so the Add and the
        // MaxPool after it keep theirs.
        const std::set<std::string> expected = concat_reads_c0
                                                   ? std::set<std::string>{"c1"}
                                                   : std::set<std::string>{"c1", "c2", "cat", "c3", "sum", "pool"};
        EXPECT_EQ(values, expected) << (concat_reads_c0 ? "Concat(c0, c2)" : "Concat(c1, c2)");
    }
}

TEST(CpuPrecision, bf16_storage_through_pools_concats_and_adds_stays_close_to_fp32) {
    if (!cpu::cpu_has_bf16()) GTEST_SKIP() << "this CPU has no avx512_bf16";
    const std::string model = mixed_chain_model(false);
    const std::map<std::string, Tensor> inputs{{"x", test::random_tensor({1, 3, 8, 8}, 7)}};
    const std::vector<Tensor> fp32 = run_cpu(model, inputs, "fp32"), bf16 = run_cpu(model, inputs, "bf16");
    ASSERT_EQ(fp32.size(), 1u);
    ASSERT_EQ(bf16.size(), 1u);
    const double rel = test::relative_l2(bf16[0], fp32[0]);
    EXPECT_GT(rel, 0.0);
    EXPECT_LT(rel, 2e-2);
}

// A squeeze-excitation block between convolutions: x -> c0 -> c1 -> a; GlobalAveragePool(a) -> g -> 1x1 convs f, s;
// Mul(a, s) -> m -> c2 -> head; 16 channels at 8x8 (batch `n`).
std::string squeeze_excitation_model(int64_t n) {
    test::ModelBuilder m;
    m.input("x", {std::to_string(n), "3", "8", "8"});
    auto conv = [&](const std::string& in, const std::string& out, int64_t k, int64_t c, int64_t size) {
        m.weight(out + "_w", {k, c, size, size}, -0.3f, 0.3f);
        auto& node = m.node("Conv", {in, out + "_w"}, {out});
        if (size == 3) test::set_attr(node, "pads", Ints{1, 1, 1, 1});
    };
    conv("x", "c0", 16, 3, 3);
    conv("c0", "c1", 16, 16, 3);
    conv("c1", "a", 16, 16, 3);
    m.node("GlobalAveragePool", {"a"}, {"g"});
    conv("g", "f", 4, 16, 1);
    conv("f", "s", 16, 4, 1);
    m.node("Mul", {"a", "s"}, {"m"});
    conv("m", "c2", 16, 16, 3);
    conv("c2", "head", 8, 16, 3);
    m.output("head");
    return m.bytes();
}

TEST(CpuPrecisionPlan, squeeze_excitation_pools_and_scales_in_bf16) {
    auto graph = test::import_model(squeeze_excitation_model(1));
    ASSERT_TRUE(graph);
    ASSERT_TRUE(ops::infer_graph(*graph, nullptr).is_ok());
    // Even where the backend keeps no value to itself in NHWC, the [N, C, 1, 1] ones read the same in any layout.
    const auto fp32 = cpu::plan_fp32_nodes(*graph);
    for (const bool nhwc : {true, false}) {
        const cpu::Bf16Storage plan = cpu::plan_bf16_values(*graph, fp32, [&](const ir::Value&) { return nhwc; });
        std::set<std::string> values;
        for (const ir::Value* v : plan.values) values.insert(v->name);
        // c0 computes in fp32 (it reads the image), c2 feeds the fp32 head; everything between is bf16.
        const std::set<std::string> expected =
            nhwc ? std::set<std::string>{"c1", "a", "g", "f", "s", "m"} : std::set<std::string>{"f"};
        EXPECT_EQ(values, expected) << (nhwc ? "images in NHWC" : "no NHWC images");
    }
}

TEST(CpuPrecision, bf16_squeeze_excitation_stays_close_to_fp32) {
    if (!cpu::cpu_has_bf16()) GTEST_SKIP() << "this CPU has no avx512_bf16";
    for (const int64_t n : {1, 3}) {  // batch 3: one scale per image and channel
        const std::string model = squeeze_excitation_model(n);
        const std::map<std::string, Tensor> inputs{{"x", test::random_tensor({n, 3, 8, 8}, 9)}};
        const std::vector<Tensor> fp32 = run_cpu(model, inputs, "fp32"), bf16 = run_cpu(model, inputs, "bf16");
        ASSERT_EQ(fp32.size(), 1u);
        ASSERT_EQ(bf16.size(), 1u);
        const double rel = test::relative_l2(bf16[0], fp32[0]);
        EXPECT_GT(rel, 0.0) << "batch " << n;
        EXPECT_LT(rel, 2e-2) << "batch " << n;
    }
}

}  // namespace
}  // namespace fovea
