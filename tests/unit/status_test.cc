#include <gtest/gtest.h>

#include "fovea/status.h"

namespace fovea {
namespace {

Result<int> half_of(int x) {
    if (x % 2) return invalid_argument(std::to_string(x) + " is odd");
    return x / 2;
}

Status quarter_of(int x, int& out) {
    FOVEA_ASSIGN(int h, half_of(x));
    FOVEA_ASSIGN(out, half_of(h));
    return Status::ok();
}

TEST(Status, AssignPropagatesTheFirstError) {
    int out = 0;
    EXPECT_TRUE(quarter_of(8, out).is_ok());
    EXPECT_EQ(out, 2);
    const Status s = quarter_of(6, out);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "3 is odd");
}

TEST(Status, ContextIsPrefixedOutermostFirst) {
    const Status s = unsupported("op Foo").with_context("node 'n1'").with_context("model.onnx");
    EXPECT_EQ(s.message(), "model.onnx: node 'n1': op Foo");
    EXPECT_EQ(s.to_string(), "unsupported: model.onnx: node 'n1': op Foo");
    EXPECT_TRUE(Status::ok().with_context("x").is_ok());
}

}  // namespace
}  // namespace fovea
