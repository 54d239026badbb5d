#include "backends/cuda/views.h"

namespace fovea::cuda {

std::vector<int64_t> stored_strides(const Shape& shape, bool nhwc) {
    std::vector<int64_t> strides(shape.size());
    if (nhwc && shape.size() == 4) {
        const int64_t c = shape[1], h = shape[2], w = shape[3];
        return {h * w * c, 1, w * c, c};
    }
    int64_t stride = 1;
    for (size_t i = shape.size(); i-- > 0;) {
        strides[i] = stride;
        stride *= shape[i];
    }
    return strides;
}

std::optional<std::vector<int64_t>> reshape_strides(const Shape& from, const std::vector<int64_t>& strides,
                                                    const Shape& to) {
    if (from.empty() || shape_numel(from) == 0 || shape_numel(from) != shape_numel(to)) return std::nullopt;
    std::vector<int64_t> out(to.size(), 0);
    // Walk `from` from its last dim in runs whose dims are contiguous among themselves (the run's elements lie at
    // multiples of its innermost stride); each run must be exactly covered by consecutive dims of `to`.
    auto next = static_cast<int64_t>(to.size()) - 1;  // the last dim of `to` not yet given a stride
    int64_t base = strides.back(), run_numel = 1;
    for (auto d = static_cast<int64_t>(from.size()) - 1; d >= 0; --d) {
        run_numel *= from[static_cast<size_t>(d)];
        const bool run_ends = d == 0 || (from[static_cast<size_t>(d - 1)] != 1 &&
                                         strides[static_cast<size_t>(d - 1)] != run_numel * base);
        if (!run_ends) continue;
        int64_t covered = 1;
        while (next >= 0 && (covered < run_numel || to[static_cast<size_t>(next)] == 1)) {
            out[static_cast<size_t>(next)] = covered * base;
            covered *= to[static_cast<size_t>(next)];
            --next;
        }
        if (covered != run_numel) return std::nullopt;
        if (d > 0) {
            base = strides[static_cast<size_t>(d - 1)];
            run_numel = 1;
        }
    }
    if (next != -1) return std::nullopt;
    return out;
}

std::optional<int64_t> row_pitch(const Shape& shape, const std::vector<int64_t>& strides, size_t axis) {
    if (axis >= shape.size() || strides.size() != shape.size()) return std::nullopt;
    int64_t expect = 1;  // the contiguous block: each dim's stride the product of the dims after it
    for (size_t d = shape.size(); d-- > axis;) {
        if (shape[d] != 1 && strides[d] != expect) return std::nullopt;
        expect *= shape[d];
    }
    std::optional<int64_t> pitch;  // the rows: dims before `axis`, size-1 dims aside, merge into one stride
    int64_t row_span = 1;          // rows seen so far, innermost first
    for (size_t d = axis; d-- > 0;) {
        if (shape[d] == 1) continue;
        if (!pitch) {
            pitch = strides[d];
        } else if (strides[d] != *pitch * row_span) {
            return std::nullopt;
        }
        row_span *= shape[d];
    }
    return pitch.value_or(0);
}

}  // namespace fovea::cuda
