// The optimizer on real models (~/.cache/fovea/models/zoo, made by scripts/make-zoo.sh, and PP-OCR's recognizer in
// ~/.cache/fovea/models/ppocr): node counts drop, and a Session on backend "cpu" (which optimizes) matches backend
// "ref" (which does not) at batch 1.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "ir/passes/passes.h"
#include "pass_test_util.h"

namespace fovea::test {
namespace {

namespace fs = std::filesystem;

// A model under ~/.cache/fovea/models, and the input shape to run it at (empty: its own, at batch 1).
struct ZooModel {
    std::string name;
    std::string file;
    Shape input_shape;
};

class ZooPasses : public testing::TestWithParam<ZooModel> {};

TEST_P(ZooPasses, NodeCountsDropAndCpuMatchesRefAtBatchOne) {
    const char* home = std::getenv("HOME");
    const fs::path path = fs::path(home ? home : "") / ".cache/fovea/models" / GetParam().file;
    if (!fs::exists(path)) GTEST_SKIP() << path << " is missing (scripts/make-zoo.sh makes it)";
    auto graph = onnx::import_file(path.string());
    ASSERT_TRUE(graph.is_ok()) << graph.status().to_string();
    const auto before = static_cast<int>((*graph)->nodes().size());
    auto reports = ir::passes::optimize(**graph);
    ASSERT_TRUE(reports.is_ok()) << reports.status().to_string();
    std::printf("%s\n", GetParam().name.c_str());
    for (const auto& r : *reports) std::printf("  %-24s %4d -> %4d\n", r.name.c_str(), r.nodes_before, r.nodes_after);
    EXPECT_LT(reports->back().nodes_after, before);

    std::map<std::string, Tensor> inputs;
    for (const ir::Value* in : (*graph)->inputs) {
        Shape shape = *in->shape;
        shape[0] = 1;
        if (!GetParam().input_shape.empty()) shape = GetParam().input_shape;
        inputs[in->name] = random_tensor(shape);
    }
    SessionOptions ref_options, cpu_options;
    cpu_options.backend = "cpu";
    auto ref = Session::load(path.string(), ref_options);
    auto cpu = Session::load(path.string(), cpu_options);
    ASSERT_TRUE(ref.is_ok()) << ref.status().to_string();
    ASSERT_TRUE(cpu.is_ok()) << cpu.status().to_string();
    auto expected = (*ref)->run(inputs);
    auto actual = (*cpu)->run(inputs);
    ASSERT_TRUE(expected.is_ok()) << expected.status().to_string();
    ASSERT_TRUE(actual.is_ok()) << actual.status().to_string();
    std::printf("  backend cpu runs:");
    for (const auto& [backend, count] : (*cpu)->nodes_per_backend()) std::printf(" %s %d", backend.c_str(), count);
    std::printf("\n");
    for (size_t i = 0; i < expected->size(); ++i)
        EXPECT_LT(relative_l2((*actual)[i], (*expected)[i]), 1e-4) << "output " << (*cpu)->outputs()[i].name;
}

INSTANTIATE_TEST_SUITE_P(Models, ZooPasses,
                         testing::Values(ZooModel{"resnet50", "zoo/resnet50.onnx", {}},
                                         ZooModel{"efficientnet_b0", "zoo/efficientnet_b0.onnx", {}},
                                         ZooModel{"yolov5s_style", "zoo/yolov5s_style.onnx", {}},
                                         ZooModel{"convnext_tiny", "zoo/convnext_tiny.onnx", {}},
                                         ZooModel{"ppocr_rec", "ppocr/rec.onnx", {1, 3, 48, 320}}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace fovea::test
