// Helpers for the optimizer tests: small ONNX models built in code, the optimized graph run node by node on the
// reference kernels, and the relative L2 error against the unoptimized model on backend "ref".
#pragma once

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cctype>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "backends/ref/ref_backend.h"
#include "fovea/session.h"
#include "ir/graph.h"
#include "ir/stats.h"
#include "onnx/importer.h"

namespace fovea::test {

namespace pb = ::onnx;

// Builds a float model: inputs with named ("batch"), unnamed ("?") or fixed dims, random initializers, nodes.
class ModelBuilder {
  public:
    explicit ModelBuilder(int opset = 13) {
        model_.set_ir_version(8);
        model_.add_opset_import()->set_version(opset);
        model_.mutable_graph()->set_name("test");
    }

    void input(const std::string& name, const std::vector<std::string>& dims) {
        auto* in = graph().add_input();
        in->set_name(name);
        auto* tt = in->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(pb::TensorProto::FLOAT);
        auto* shape = tt->mutable_shape();
        for (const auto& d : dims) {
            auto* dim = shape->add_dim();
            if (d == "?") continue;
            if (std::isdigit(static_cast<unsigned char>(d[0])))
                dim->set_dim_value(std::stoll(d));
            else
                dim->set_dim_param(d);
        }
    }

    void constant(const std::string& name, const Shape& shape, const std::vector<float>& values) {
        auto* t = graph().add_initializer();
        t->set_name(name);
        t->set_data_type(pb::TensorProto::FLOAT);
        for (int64_t d : shape) t->add_dims(d);
        for (float v : values) t->add_float_data(v);
    }

    // A 1-D int64 initializer (shapes, axes).
    void ints(const std::string& name, const std::vector<int64_t>& values) {
        auto* t = graph().add_initializer();
        t->set_name(name);
        t->set_data_type(pb::TensorProto::INT64);
        t->add_dims(static_cast<int64_t>(values.size()));
        for (int64_t v : values) t->add_int64_data(v);
    }

    // An initializer of uniform random values in [lo, hi), from the builder's fixed-seed generator.
    void weight(const std::string& name, const Shape& shape, float lo = -1.0f, float hi = 1.0f) {
        std::uniform_real_distribution<float> dist(lo, hi);
        std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
        for (float& v : values) v = dist(rng_);
        constant(name, shape, values);
    }

    pb::NodeProto& node(const std::string& op, const std::vector<std::string>& ins,
                        const std::vector<std::string>& outs) {
        auto* n = graph().add_node();
        n->set_op_type(op);
        n->set_name(op + "_" + std::to_string(graph().node_size()));
        for (const auto& i : ins) n->add_input(i);
        for (const auto& o : outs) n->add_output(o);
        return *n;
    }

    void output(const std::string& name) { graph().add_output()->set_name(name); }

    std::string bytes() const { return model_.SerializeAsString(); }

  private:
    pb::GraphProto& graph() { return *model_.mutable_graph(); }

    pb::ModelProto model_;
    std::mt19937 rng_{7};
};

inline void set_attr(pb::NodeProto& n, const std::string& name, int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(pb::AttributeProto::INT);
    a->set_i(v);
}
inline void set_attr(pb::NodeProto& n, const std::string& name, float v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(pb::AttributeProto::FLOAT);
    a->set_f(v);
}
inline void set_attr(pb::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(pb::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
}

inline void set_attr(pb::NodeProto& n, const std::string& name, const std::string& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(pb::AttributeProto::STRING);
    a->set_s(v);
}

inline std::span<const std::byte> as_bytes(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

inline std::unique_ptr<ir::Graph> import_model(const std::string& bytes) {
    auto g = onnx::import_bytes(as_bytes(bytes), ".", "test.onnx");
    EXPECT_TRUE(g.is_ok()) << g.status().to_string();
    return g.is_ok() ? std::move(g).value() : nullptr;
}

inline std::map<std::string, int> op_counts(const ir::Graph& g) {
    return ir::compute_stats(g).op_counts;
}

// Uniform random values in [-1, 1) with a fixed seed.
inline Tensor random_tensor(const Shape& shape, unsigned seed = 1) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    Tensor t(DType::kFloat32, shape);
    for (float& v : t.span<float>()) v = dist(rng);
    return t;
}

// Runs `graph` as it stands (optimized or not) with the reference kernels, one node after the other.
inline Result<std::vector<Tensor>> run_on_ref(const ir::Graph& graph, const std::map<std::string, Tensor>& inputs) {
    std::map<const ir::Value*, Tensor> values;
    for (const ir::Value* in : graph.inputs) values[in] = inputs.at(in->name);
    for (const auto& n : graph.nodes()) {
        std::vector<const Tensor*> args;
        for (const ir::Value* v : n->inputs) args.push_back(!v ? nullptr : v->constant ? &*v->constant : &values.at(v));
        std::vector<Tensor> outs;
        FOVEA_TRY(ref::run_node(*n, args, outs));
        for (size_t i = 0; i < n->outputs.size(); ++i)
            if (n->outputs[i]) values[n->outputs[i]] = std::move(outs[i]);
    }
    std::vector<Tensor> results;
    for (const ir::Value* out : graph.outputs) results.push_back(out->constant ? *out->constant : values.at(out));
    return results;
}

// The model's outputs on a Session of `backend`.
inline Result<std::vector<Tensor>> run_session(const std::string& bytes, const std::string& backend,
                                               const std::map<std::string, Tensor>& inputs) {
    SessionOptions options;
    options.backend = backend;
    FOVEA_ASSIGN(auto session, Session::load_from_memory(as_bytes(bytes), options));
    return session->run(inputs);
}

// ||a - b|| / ||b|| for tensors of one dtype and shape (infinite otherwise).
inline double relative_l2(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape() || a.dtype() != b.dtype()) return INFINITY;
    double diff = 0, norm = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
        const double x = a.element_as_double(i), y = b.element_as_double(i);
        diff += (x - y) * (x - y);
        norm += y * y;
    }
    return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
}

// Every output of `optimized` (run on the reference kernels) within `tolerance` of the unoptimized model on "ref".
inline void expect_same_outputs(const std::string& bytes, const ir::Graph& optimized,
                                const std::map<std::string, Tensor>& inputs, double tolerance = 1e-5) {
    auto expected = run_session(bytes, "ref", inputs);
    ASSERT_TRUE(expected.is_ok()) << expected.status().to_string();
    auto actual = run_on_ref(optimized, inputs);
    ASSERT_TRUE(actual.is_ok()) << actual.status().to_string();
    ASSERT_EQ(actual->size(), expected->size());
    for (size_t i = 0; i < actual->size(); ++i)
        EXPECT_LT(relative_l2((*actual)[i], (*expected)[i]), tolerance) << "output " << optimized.outputs[i]->name;
}

}  // namespace fovea::test
