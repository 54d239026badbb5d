#include <gtest/gtest.h>

#include "ir/graph.h"
#include "runtime/memory_plan.h"

namespace fovea::runtime {
namespace {

// A chain x -> n0 -> v0 -> n1 -> v1 -> ... -> y, every value float32[1, 256] (1 KiB), plus a skip edge v0 -> last.
struct Chain {
    ir::Graph graph;
    std::vector<ir::Value*> values;
};

std::unique_ptr<Chain> chain(int length, bool skip_edge) {
    auto c = std::make_unique<Chain>();
    ir::Value* prev = c->graph.add_value("x");
    prev->shape = Shape{1, 256};
    c->graph.inputs.push_back(prev);
    for (int i = 0; i < length; ++i) {
        ir::Value* out = c->graph.add_value(i + 1 == length ? "y" : "v" + std::to_string(i));
        out->shape = Shape{1, 256};
        ir::Node* n = c->graph.add_node(skip_edge && i + 1 == length ? "Add" : "Relu", "n" + std::to_string(i));
        n->inputs = {prev};
        if (skip_edge && i + 1 == length) n->inputs.push_back(c->values.front());
        n->outputs = {out};
        out->producer = n;
        c->values.push_back(out);
        prev = out;
    }
    c->graph.outputs.push_back(prev);
    return c;
}

bool overlap(size_t a, size_t b, size_t bytes) {
    return a < b + bytes && b < a + bytes;
}

TEST(MemoryPlan, ChainReusesTwoBuffersAndLeavesGraphOutputsUnplanned) {
    auto c = chain(8, false);
    const MemoryPlan plan = plan_memory(c->graph, std::vector<bool>(8, true));
    EXPECT_EQ(plan.offsets.size(), 7u);  // v0..v6; y is a graph output
    EXPECT_EQ(plan.offsets.count(c->values.back()), 0u);
    EXPECT_EQ(plan.arena_bytes, 2 * 1024u);  // a value and its consumer's output are live together, no more
    EXPECT_EQ(plan.unplanned_bytes, 7 * 1024u);
    for (size_t i = 0; i + 1 < 7; ++i)  // neighbours are live at the same node: they must not share bytes
        EXPECT_FALSE(overlap(plan.offsets.at(c->values[i]), plan.offsets.at(c->values[i + 1]), 1024));
}

TEST(MemoryPlan, ALongLivedValueKeepsItsBytesUntilItsLastUse) {
    auto c = chain(6, true);  // v0 is read again by the last node
    const MemoryPlan plan = plan_memory(c->graph, std::vector<bool>(6, true));
    const size_t v0 = plan.offsets.at(c->values[0]);
    for (size_t i = 1; i < 5; ++i) EXPECT_FALSE(overlap(v0, plan.offsets.at(c->values[i]), 1024)) << i;
    EXPECT_EQ(plan.arena_bytes, 3 * 1024u);
}

TEST(MemoryPlan, NodesThatDoNotRunGetNoBuffers) {
    auto c = chain(4, false);
    std::vector<bool> run = {false, true, true, true};
    const MemoryPlan plan = plan_memory(c->graph, run);
    EXPECT_EQ(plan.offsets.count(c->values[0]), 0u);
    EXPECT_EQ(plan.offsets.size(), 2u);
}

// Every node may work in place on its first input: a chain then needs one buffer, which the values pass along.
TEST(MemoryPlan, InPlaceOutputsTakeOverTheInputTheyOverwrite) {
    auto c = chain(8, false);
    PlanOptions options;
    for (size_t i = 1; i < 7; ++i) options.in_place[c->values[i]] = c->values[i - 1];
    const MemoryPlan plan = plan_memory(c->graph, std::vector<bool>(8, true), options);
    EXPECT_EQ(plan.arena_bytes, 1024u);
    for (size_t i = 1; i < 7; ++i) EXPECT_EQ(plan.offsets.at(c->values[i]), plan.offsets.at(c->values[0])) << i;
    EXPECT_EQ(plan.unplanned_bytes, 7 * 1024u);
}

// An input read again later must survive the node: its output gets bytes of its own.
TEST(MemoryPlan, AnInputStillReadLaterIsNotOverwritten) {
    auto c = chain(6, true);  // v0 is read again by the last node
    PlanOptions options;
    options.in_place[c->values[1]] = c->values[0];  // v0 -> v1 in place would lose v0
    options.in_place[c->values[2]] = c->values[1];  // v1 dies at n2: fine
    const MemoryPlan plan = plan_memory(c->graph, std::vector<bool>(6, true), options);
    EXPECT_FALSE(overlap(plan.offsets.at(c->values[0]), plan.offsets.at(c->values[1]), 1024));
    EXPECT_EQ(plan.offsets.at(c->values[2]), plan.offsets.at(c->values[1]));
    for (size_t i = 1; i < 5; ++i)
        EXPECT_FALSE(overlap(plan.offsets.at(c->values[0]), plan.offsets.at(c->values[i]), 1024)) << i;
}

// A value a device reads at a later node's place (an elementwise chain run at its last node) lives until there.
TEST(MemoryPlan, AValueReadLaterThanItsReadersKeepsItsBytes) {
    auto c = chain(6, false);
    PlanOptions options;
    options.read_at[c->values[0]] = 4;  // v0's reader is n1; the device reads it again at n4
    const MemoryPlan plan = plan_memory(c->graph, std::vector<bool>(6, true), options);
    for (size_t i = 1; i < 5; ++i)
        EXPECT_FALSE(overlap(plan.offsets.at(c->values[0]), plan.offsets.at(c->values[i]), 1024)) << i;
    const MemoryPlan plain = plan_memory(c->graph, std::vector<bool>(6, true));
    EXPECT_EQ(plain.offsets.at(c->values[0]), plain.offsets.at(c->values[2]));  // without it, v2 takes v0's bytes
}

}  // namespace
}  // namespace fovea::runtime
