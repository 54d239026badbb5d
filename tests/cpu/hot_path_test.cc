// After the first run at a shape, a run allocates no buffer of its own: activations live in the session's arena,
// graph outputs reuse last run's buffers once the caller has let go of them. Every tensor fovea makes comes from the
// aligned operator new (Tensor's storage), so this binary counts those, and plain ones, of 4 KiB or more while a
// flag is set. (oneDNN's primitives get their scratchpad from the session; what they malloc themselves is not
// counted here.)
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "../passes/pass_test_util.h"
#include "fovea/session.h"

namespace {

std::atomic<bool> counting{false};
std::atomic<int64_t> large_allocations{0};
constexpr size_t kLarge = 4096;

void* allocate(size_t bytes, size_t alignment) {
    if (counting.load(std::memory_order_relaxed) && bytes >= kLarge) ++large_allocations;
    const size_t rounded = (bytes + alignment - 1) / alignment * alignment;
    void* p = alignment > alignof(std::max_align_t) ? std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded)
                                                    : std::malloc(bytes == 0 ? 1 : bytes);
    if (!p) throw std::bad_alloc();
    return p;
}

}  // namespace

void* operator new(size_t bytes) {
    return allocate(bytes, alignof(std::max_align_t));
}
void* operator new[](size_t bytes) {
    return allocate(bytes, alignof(std::max_align_t));
}
void* operator new(size_t bytes, std::align_val_t alignment) {
    return allocate(bytes, static_cast<size_t>(alignment));
}
void* operator new[](size_t bytes, std::align_val_t alignment) {
    return allocate(bytes, static_cast<size_t>(alignment));
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, size_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, size_t, std::align_val_t) noexcept {
    std::free(p);
}

namespace fovea {
namespace {

// A small CNN with what the kernels treat apart: a conv with its ReLU, a residual Add, a concatenation, pooling and
// a Linear layer (FusedMatMul after the optimizer) as the graph output.
std::string small_cnn() {
    test::ModelBuilder m;
    m.input("x", {"N", "8", "20", "24"});
    auto conv = [&](const std::string& in, const std::string& out, int64_t cin, int64_t cout) {
        m.weight(out + "_w", {cout, cin, 3, 3}, -0.3f, 0.3f);
        m.weight(out + "_b", {cout});
        test::set_attr(m.node("Conv", {in, out + "_w", out + "_b"}, {out}), "pads", std::vector<int64_t>{1, 1, 1, 1});
    };
    conv("x", "c1", 8, 16);
    m.node("Relu", {"c1"}, {"r1"});
    conv("r1", "c2", 16, 16);
    m.node("Add", {"c2", "r1"}, {"s"});
    test::set_attr(m.node("Concat", {"s", "x"}, {"cat"}), "axis", int64_t{1});
    m.node("GlobalAveragePool", {"cat"}, {"g"});
    test::set_attr(m.node("Flatten", {"g"}, {"f"}), "axis", int64_t{1});
    m.weight("fc_w", {24, 10});
    m.weight("fc_b", {10});
    m.node("MatMul", {"f", "fc_w"}, {"mm"});
    m.node("Add", {"mm", "fc_b"}, {"fc"});
    m.node("Relu", {"fc"}, {"y"});
    m.output("y");
    // A large output too, so that reusing graph outputs' buffers is part of what is checked.
    m.output("cat");
    return m.bytes();
}

// Large allocations made by `runs` runs of `session` on `x` (each result dropped at once, so the next run may reuse
// its buffers).
int64_t allocations_in_runs(Session& session, const Tensor& x, int runs) {
    large_allocations = 0;
    counting = true;
    for (int run = 0; run < runs; ++run) {
        auto out = session.run({{"x", x}});
        EXPECT_TRUE(out.is_ok()) << out.status().to_string();
    }
    counting = false;
    return large_allocations.load();
}

TEST(CpuHotPath, runs_after_the_first_at_a_shape_allocate_no_buffers) {
    const std::string model = small_cnn();
    SessionOptions options;
    options.backend = "cpu";
    auto session = Session::load_from_memory(test::as_bytes(model), options);
    ASSERT_TRUE(session.is_ok()) << session.status().to_string();
    EXPECT_EQ((*session)->nodes_per_backend().count("ref"), 0u);
    for (const int64_t batch : {2, 3}) {
        SCOPED_TRACE(batch);
        const Tensor x = test::random_tensor({batch, 8, 20, 24});
        // The first run at a shape binds it: a new arena and new output buffers (so the counting sees them).
        EXPECT_GT(allocations_in_runs(**session, x, 1), 0);
        EXPECT_EQ(allocations_in_runs(**session, x, 5), 0) << "buffers of 4 KiB or more allocated in 5 warm runs";
    }
}

}  // namespace
}  // namespace fovea
