#include <gtest/gtest.h>

#include "ir/graph.h"

namespace fovea::ir {
namespace {

// x -> Relu -> a -> Add(a, x) -> y, with the nodes added out of order.
std::unique_ptr<Graph> small_graph() {
    auto g = std::make_unique<Graph>();
    g->name = "g";
    Value* x = g->add_value("x");
    x->has_type = true;
    x->shape = Shape{-1, 3};
    x->dim_params = {"batch", ""};
    g->inputs.push_back(x);
    Value* a = g->add_value("a");
    Value* y = g->add_value("y");
    Node* add = g->add_node("Add", "add");
    add->inputs = {a, x};
    add->outputs = {y};
    y->producer = add;
    Node* relu = g->add_node("Relu", "relu");
    relu->inputs = {x};
    relu->outputs = {a};
    a->producer = relu;
    g->outputs.push_back(y);
    return g;
}

TEST(Graph, SortPutsProducersFirstAndVerifies) {
    auto g = small_graph();
    EXPECT_FALSE(g->verify().is_ok());  // Add reads 'a' before Relu defines it
    ASSERT_TRUE(g->sort().is_ok());
    EXPECT_EQ(g->nodes()[0]->name, "relu");
    EXPECT_TRUE(g->verify().is_ok());
}

TEST(Graph, SortDetectsCycles) {
    auto g = small_graph();
    Node* relu = g->nodes()[1].get();
    relu->inputs = {g->find_value("y")};  // y = Add(Relu(y), x)
    const Status s = g->sort();
    EXPECT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("cycle"), std::string::npos);
}

TEST(Graph, PrinterShowsTypesSymbolicDimsAndAttributes) {
    auto g = small_graph();
    ASSERT_TRUE(g->sort().is_ok());
    g->nodes()[1]->attrs["alpha"] = 0.5f;
    g->nodes()[1]->attrs["axes"] = std::vector<int64_t>{0, 1};
    EXPECT_EQ(g->to_text(),
              "graph g\n"
              "  input x: float32[batch,3]\n"
              "  a: ? = Relu(x)\n"
              "  y: ? = Add(a, x) {alpha=0.5, axes=[0,1]}\n"
              "  output y: ?\n");
}

TEST(Node, AttributesFallBackToDefaults) {
    Node n;
    n.op_type = "Conv";
    n.name = "c";
    n.opset = 11;
    n.attrs["group"] = int64_t{2};
    EXPECT_EQ(n.attr_int("group", 1), 2);
    EXPECT_EQ(n.attr_int("missing", 7), 7);
    EXPECT_EQ(n.attr_string("auto_pad", "NOTSET"), "NOTSET");
    EXPECT_EQ(n.attr_ints("pads", {0, 0}), (std::vector<int64_t>{0, 0}));
    EXPECT_EQ(n.describe(), "node 'c' (Conv, opset 11)");
}

}  // namespace
}  // namespace fovea::ir
