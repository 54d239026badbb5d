#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "fovea/session.h"
#include "ir/graph.h"
#include "onnx/importer.h"

namespace fovea {
namespace {

namespace pb = ::onnx;

std::string tmp_dir(const std::string& name) {
    const std::string dir = std::string(FOVEA_TEST_TMP) + "/" + name;
    std::filesystem::create_directories(dir);
    return dir;
}

void add_input(pb::GraphProto& g, const std::string& name, const std::vector<std::string>& dims) {
    auto* in = g.add_input();
    in->set_name(name);
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(pb::TensorProto::FLOAT);
    auto* shape = tt->mutable_shape();
    for (const auto& d : dims) {
        auto* dim = shape->add_dim();
        if (d == "?") continue;  // unnamed dynamic dim
        if (std::isdigit(static_cast<unsigned char>(d[0])))
            dim->set_dim_value(std::stoll(d));
        else
            dim->set_dim_param(d);
    }
}

pb::NodeProto* add_node(pb::GraphProto& g, const std::string& op, std::vector<std::string> ins,
                        std::vector<std::string> outs) {
    auto* n = g.add_node();
    n->set_op_type(op);
    n->set_name(op + "_node");
    for (auto& i : ins) n->add_input(i);
    for (auto& o : outs) n->add_output(o);
    return n;
}

// y = Relu(x + c): x is [batch, ?, 4], c a [4] initializer.
pb::ModelProto relu_add_model(int opset = 13) {
    pb::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(opset);
    auto* g = m.mutable_graph();
    g->set_name("relu_add");
    add_input(*g, "x", {"batch", "?", "4"});
    auto* c = g->add_initializer();
    c->set_name("c");
    c->set_data_type(pb::TensorProto::FLOAT);
    c->add_dims(4);
    for (float v : {1.0f, -2.0f, 3.0f, -4.0f}) c->add_float_data(v);
    add_node(*g, "Add", {"x", "c"}, {"s"});
    add_node(*g, "Relu", {"s"}, {"y"});
    g->add_output()->set_name("y");
    return m;
}

Result<std::unique_ptr<ir::Graph>> import(const pb::ModelProto& m) {
    const std::string bytes = m.SerializeAsString();
    return onnx::import_bytes(std::as_bytes(std::span(bytes.data(), bytes.size())), ".", "test.onnx");
}

TEST(Importer, KeepsNamedAndUnnamedDynamicDimsAndInfersTypes) {
    auto g = import(relu_add_model());
    ASSERT_TRUE(g.is_ok()) << g.status().to_string();
    EXPECT_EQ((*g)->to_text(),
              "graph relu_add\n"
              "  input x: float32[batch,?,4]\n"
              "  s: float32[?,?,4] = Add(x, c)\n"
              "  y: float32[?,?,4] = Relu(s)\n"
              "  output y: float32[?,?,4]\n");
}

TEST(Importer, SessionBindsDynamicDimsAndRuns) {
    const std::string bytes = relu_add_model().SerializeAsString();
    SessionOptions options;
    options.input_shapes["x"] = {2, 3, 4};
    auto s = Session::load_from_memory(std::as_bytes(std::span(bytes.data(), bytes.size())), options);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    EXPECT_EQ((*s)->inputs()[0].dim_params[0], "batch");
    std::vector<float> x(24);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 5) - 2.0f;
    auto out = (*s)->run({{"x", Tensor::from_vector<float>({2, 3, 4}, x)}});
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    const float c[] = {1, -2, 3, -4};
    for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ((*out)[0].data<float>()[i], std::max(0.0f, x[i] + c[i % 4]));
    // Another batch size rebinds.
    auto out1 = (*s)->run({{"x", Tensor::from_vector<float>({1, 1, 4}, {5, 5, 5, 5})}});
    ASSERT_TRUE(out1.is_ok()) << out1.status().to_string();
    EXPECT_EQ((*out1)[0].shape(), (Shape{1, 1, 4}));
    // A shape that contradicts a fixed dim is refused with the input named.
    auto bad = (*s)->run({{"x", Tensor(DType::kFloat32, {1, 1, 5})}});
    ASSERT_FALSE(bad.is_ok());
    EXPECT_NE(bad.status().message().find("input 'x'"), std::string::npos) << bad.status().message();
}

// Graph outputs own their buffers, reused from run to run once the caller has let go of them (a fresh allocation of
// a large output costs page faults every run), and never while the caller still holds them: results stay intact.
TEST(Importer, OutputBuffersAreReusedOnlyWhenTheCallerLetGo) {
    const std::string bytes = relu_add_model().SerializeAsString();
    for (const std::string backend : {"ref", "cpu"}) {
        SessionOptions options;
        options.backend = backend;
        auto s = Session::load_from_memory(std::as_bytes(std::span(bytes.data(), bytes.size())), options);
        ASSERT_TRUE(s.is_ok()) << backend << ": " << s.status().to_string();
        const auto run = [&](float v) {
            auto out = (*s)->run({{"x", Tensor::from_vector<float>({1, 1, 4}, {v, v, v, v})}});
            EXPECT_TRUE(out.is_ok()) << out.status().to_string();
            return out.is_ok() ? (*out)[0] : Tensor();
        };
        const float c[] = {1, -2, 3, -4};
        Tensor first = run(5);
        const void* first_bytes = first.raw_data();
        Tensor held = run(6);  // `first` is still held: a new buffer
        EXPECT_NE(held.raw_data(), first_bytes) << backend;
        for (int i = 0; i < 4; ++i) EXPECT_EQ(first.data<float>()[i], std::max(0.0f, 5 + c[i])) << backend;
        const void* held_bytes = held.raw_data();
        held = Tensor();  // let go: the next run writes into the same bytes
        Tensor again = run(7);
        // The reference kernels allocate their own outputs; the cpu backend writes into the session's.
        if (backend == "cpu") {
            EXPECT_EQ(again.raw_data(), held_bytes);
        }
        for (int i = 0; i < 4; ++i) EXPECT_EQ(again.data<float>()[i], std::max(0.0f, 7 + c[i])) << backend;
    }
}

TEST(Importer, UnknownOpNamesOpNodeAndOpset) {
    auto m = relu_add_model(11);
    m.mutable_graph()->mutable_node(1)->set_op_type("FancyRelu");
    auto g = import(m);
    ASSERT_FALSE(g.is_ok());
    EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(g.status().message().find("node 'Relu_node' (FancyRelu, opset 11): operator is not supported"),
              std::string::npos)
        << g.status().message();
}

TEST(Importer, AttributesOutsideTheOpSchemaAreRefused) {
    auto m = relu_add_model(13);
    auto* a = m.mutable_graph()->mutable_node(1)->add_attribute();
    a->set_name("alhpa");
    a->set_type(::onnx::AttributeProto::FLOAT);
    a->set_f(0.1f);
    auto g = import(m);
    ASSERT_FALSE(g.is_ok());
    EXPECT_NE(
        g.status().message().find("node 'Relu_node' (Relu, opset 13): attribute 'alhpa' is not defined for Relu-"),
        std::string::npos)
        << g.status().message();
}

TEST(Importer, MalformedFilesAreErrorsNotCrashes) {
    const std::string good = relu_add_model().SerializeAsString();
    std::mt19937 rng(7);
    std::vector<std::string> bad = {"", "garbage that is not protobuf \xff\xfe", good.substr(0, good.size() / 2),
                                    good.substr(0, good.size() - 3)};
    std::string random(4096, '\0');
    for (char& ch : random) ch = static_cast<char>(rng());
    bad.push_back(random);
    for (size_t cut = 1; cut < good.size(); cut += 7) bad.push_back(good.substr(0, cut));
    for (const std::string& b : bad) {
        auto g = onnx::import_bytes(std::as_bytes(std::span(b.data(), b.size())), ".", "bad.onnx");
        ASSERT_FALSE(g.is_ok()) << "accepted " << b.size() << " bytes";
        EXPECT_EQ(g.status().message().rfind("bad.onnx", 0), 0u) << g.status().message();
    }
}

TEST(Importer, ReadsExternalDataAndRefusesPathsOutsideTheModelFolder) {
    const std::string dir = tmp_dir("external");
    const float values[] = {1.0f, -2.0f, 3.0f, -4.0f};
    {
        std::ofstream f(dir + "/weights.bin", std::ios::binary);
        f.write("PAD!", 4);
        f.write(reinterpret_cast<const char*>(values), sizeof values);
    }
    auto m = relu_add_model();
    auto* c = m.mutable_graph()->mutable_initializer(0);
    c->clear_float_data();
    c->set_data_location(pb::TensorProto::EXTERNAL);
    auto add_kv = [&](const char* k, const char* v) {
        auto* e = c->add_external_data();
        e->set_key(k);
        e->set_value(v);
    };
    add_kv("location", "weights.bin");
    add_kv("offset", "4");
    add_kv("length", "16");
    {
        std::ofstream f(dir + "/model.onnx", std::ios::binary);
        f << m.SerializeAsString();
    }
    auto g = onnx::import_file(dir + "/model.onnx");
    ASSERT_TRUE(g.is_ok()) << g.status().to_string();
    const Tensor& t = *(*g)->find_value("c")->constant;
    EXPECT_EQ(t.data<float>()[2], 3.0f);

    c->mutable_external_data(0)->set_value("../escape.bin");
    auto escaped = import(m);
    ASSERT_FALSE(escaped.is_ok());
    EXPECT_NE(escaped.status().message().find("relative path inside"), std::string::npos);
}

TEST(Importer, ConstantNodesBecomeInitializersAndLegacyAttributesBecomeInputs) {
    pb::ModelProto m;
    m.set_ir_version(4);
    m.add_opset_import()->set_version(9);
    auto* g = m.mutable_graph();
    g->set_name("legacy");
    add_input(*g, "x", {"1", "6"});
    auto* k = add_node(*g, "Constant", {}, {"k"});
    auto* a = k->add_attribute();
    a->set_name("value");
    a->set_type(pb::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(pb::TensorProto::FLOAT);
    a->mutable_t()->add_float_data(2.0f);
    add_node(*g, "Mul", {"x", "k"}, {"m"});
    auto* slice = add_node(*g, "Slice", {"m"}, {"y"});
    for (auto [key, v] : {std::pair{"starts", 1}, {"ends", 4}, {"axes", 1}}) {
        auto* at = slice->add_attribute();
        at->set_name(key);
        at->set_type(pb::AttributeProto::INTS);
        at->add_ints(v);
    }
    g->add_output()->set_name("y");
    auto graph = import(m);
    ASSERT_TRUE(graph.is_ok()) << graph.status().to_string();
    EXPECT_EQ((*graph)->nodes().size(), 2u);
    EXPECT_EQ((*graph)->nodes()[1]->inputs.size(), 4u);
    EXPECT_TRUE((*graph)->find_value("k")->is_initializer);
    EXPECT_EQ((*graph)->outputs[0]->shape, (Shape{1, 3}));
}

TEST(Importer, OpsetsOutsideTheSupportedRangeAreRefused) {
    auto g = import(relu_add_model(19));
    ASSERT_FALSE(g.is_ok());
    EXPECT_NE(g.status().message().find("opset 19"), std::string::npos) << g.status().message();
}

}  // namespace
}  // namespace fovea
