#include <algorithm>
#include <utility>

#include "ops/op.h"

namespace fovea::ops {

namespace {
struct Entry {
    std::string_view name;
    InferFn infer;
};
constexpr Entry kOps[] = {
#define FOVEA_OP(name) {#name, &infer_##name},
#include "ops/ops.def"
#undef FOVEA_OP
};
}  // namespace

InferFn find_infer(std::string_view op_type) {
    for (const Entry& e : kOps)
        if (e.name == op_type) return e.infer;
    return nullptr;
}

const std::vector<std::string_view>& all_op_types() {
    static const std::vector<std::string_view> names = [] {
        std::vector<std::string_view> v;
        for (const Entry& e : kOps) v.push_back(e.name);
        return v;
    }();
    return names;
}

bool TensorInfo::shape_known() const {
    return shape && std::all_of(shape->begin(), shape->end(), [](int64_t d) { return d >= 0; });
}

void InferContext::set_output(size_t i, DType dtype, std::optional<Shape> shape) {
    if (outputs.size() <= i) outputs.resize(i + 1);
    outputs[i].present = true;
    outputs[i].dtype = dtype;
    outputs[i].shape = std::move(shape);
}

Status InferContext::fail(const std::string& reason) const {
    return invalid_argument(node.describe() + ": " + reason);
}

Status InferContext::fail_unsupported(const std::string& reason) const {
    return unsupported(node.describe() + ": " + reason);
}

Status InferContext::expect_inputs(size_t min, size_t max) const {
    if (inputs.size() < min || inputs.size() > max)
        return fail("expects " + std::to_string(min) + (min == max ? "" : " to " + std::to_string(max)) +
                    " inputs, got " + std::to_string(inputs.size()));
    for (size_t i = 0; i < min; ++i)
        if (!inputs[i].present) return fail("required input " + std::to_string(i) + " is missing");
    return Status::ok();
}

Result<int64_t> normalize_axis(int64_t axis, int64_t rank) {
    if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
        return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
    return axis < 0 ? axis + rank : axis;
}

Result<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
    const size_t rank = std::max(a.size(), b.size());
    Shape out(rank);
    for (size_t i = 0; i < rank; ++i) {
        const int64_t da = i + a.size() >= rank ? a[i + a.size() - rank] : 1;
        const int64_t db = i + b.size() >= rank ? b[i + b.size() - rank] : 1;
        if (da == db || db == 1) {
            out[i] = da;
        } else if (da == 1) {
            out[i] = db;
        } else if (da < 0 || db < 0) {
            out[i] = da < 0 ? db : da;  // the unknown side must be 1 or equal to the known one
        } else {
            return invalid_argument("shapes " + shape_to_string(a) + " and " + shape_to_string(b) +
                                    " cannot be broadcast");
        }
    }
    return out;
}

}  // namespace fovea::ops
