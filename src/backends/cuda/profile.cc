#include "backends/cuda/profile.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <numeric>

namespace fovea::cuda {

Result<float> measure_ms(cudaStream_t stream, const std::function<Status()>& run) {
    FOVEA_TRY(run());
    cudaEvent_t start = nullptr, end = nullptr;
    if (cudaEventCreate(&start) != cudaSuccess || cudaEventCreate(&end) != cudaSuccess) {
        if (start) cudaEventDestroy(start);
        return internal_error("measuring: creating an event failed");
    }
    float best = -1;
    Status status = Status::ok();
    for (int batch = 0; batch < 3 && status.is_ok(); ++batch) {
        cudaEventRecord(start, stream);
        for (int i = 0; i < 3 && status.is_ok(); ++i) status = run();
        cudaEventRecord(end, stream);
        float ms = 0;
        if (cudaEventSynchronize(end) == cudaSuccess && cudaEventElapsedTime(&ms, start, end) == cudaSuccess)
            best = best < 0 ? ms / 3 : std::min(best, ms / 3);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(end);
    FOVEA_TRY(status);
    if (best < 0) return internal_error("measuring: the device failed");
    return best;
}

bool StepProfiler::requested() {
    const char* env = std::getenv("FOVEA_CUDA_PROFILE");
    return env && *env && std::string(env) != "0";
}

StepProfiler::~StepProfiler() {
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
}

Status StepProfiler::init(std::vector<std::string> labels, std::vector<std::string> kinds) {
    labels_ = std::move(labels);
    kinds_ = std::move(kinds);
    total_ms_.assign(labels_.size(), 0.0);
    events_.resize(labels_.size() + 1, nullptr);
    for (cudaEvent_t& e : events_)
        if (cudaError_t err = cudaEventCreate(&e); err != cudaSuccess)
            return internal_error(std::string("profiler: creating an event: ") + cudaGetErrorString(err));
    return Status::ok();
}

Status StepProfiler::mark(size_t i, cudaStream_t stream) {
    if (i >= events_.size()) return Status::ok();
    if (cudaError_t err = cudaEventRecord(events_[i], stream); err != cudaSuccess)
        return internal_error(std::string("profiler: recording an event: ") + cudaGetErrorString(err));
    return Status::ok();
}

void StepProfiler::collect() {
    if (cudaEventSynchronize(events_.back()) != cudaSuccess) return;
    for (size_t i = 0; i < total_ms_.size(); ++i) {
        float ms = 0;
        if (cudaEventElapsedTime(&ms, events_[i], events_[i + 1]) == cudaSuccess) total_ms_[i] += ms;
    }
    ++runs_;
}

std::string StepProfiler::report(const std::string& title) const {
    if (runs_ == 0) return {};
    const double total = std::accumulate(total_ms_.begin(), total_ms_.end(), 0.0) / runs_;
    std::map<std::string, std::pair<double, int>> by_kind;
    for (size_t i = 0; i < total_ms_.size(); ++i) {
        auto& [ms, count] = by_kind[kinds_[i]];
        ms += total_ms_[i] / runs_;
        ++count;
    }
    std::vector<std::pair<std::string, std::pair<double, int>>> kinds(by_kind.begin(), by_kind.end());
    std::sort(kinds.begin(), kinds.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
    std::string out;
    char line[512];
    std::snprintf(line, sizeof line, "fovea cuda profile: %s: %.3f ms per run over %d runs, %zu launches\n",
                  title.c_str(), total, runs_, total_ms_.size());
    out += line;
    out += "| op | launches | ms per run | share |\n|---|---:|---:|---:|\n";
    for (const auto& [kind, v] : kinds) {
        std::snprintf(line, sizeof line, "| %s | %d | %.3f | %.1f%% |\n", kind.c_str(), v.second, v.first,
                      total > 0 ? 100.0 * v.first / total : 0.0);
        out += line;
    }
    std::vector<size_t> order(total_ms_.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return total_ms_[a] > total_ms_[b]; });
    out += "slowest launches:\n";
    for (size_t k = 0; k < std::min<size_t>(order.size(), 15); ++k) {
        std::snprintf(line, sizeof line, "  %.3f ms  %s\n", total_ms_[order[k]] / runs_, labels_[order[k]].c_str());
        out += line;
    }
    return out;
}

}  // namespace fovea::cuda
