// Histogram: latencies in fixed log-spaced buckets (about 2% wide), so memory stays constant however long a run is.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <mutex>

namespace fovea::pipeline {

class Histogram {
  public:
    // Values in microseconds from 1 us to about 1000 s; `at_s`, when given, is when the value was seen (seconds into
    // the run), kept for the maximum: a stall shows when it happened, not only how long it was.
    void add(double us, double at_s = -1) {
        std::lock_guard lock(mu_);
        ++buckets_[bucket(us)];
        ++count_;
        sum_ += us;
        if (us > max_) max_ = us, max_at_s_ = at_s;
    }
    double max_at_s() const {  // -1 when not known
        std::lock_guard lock(mu_);
        return max_at_s_;
    }
    int64_t count() const {
        std::lock_guard lock(mu_);
        return count_;
    }
    double mean() const {
        std::lock_guard lock(mu_);
        return count_ ? sum_ / static_cast<double>(count_) : 0.0;
    }
    double max() const {
        std::lock_guard lock(mu_);
        return max_;
    }
    // The value below which a fraction q of the samples lie (upper edge of its bucket, capped by the max seen).
    double quantile(double q) const {
        std::lock_guard lock(mu_);
        if (count_ == 0) return 0.0;
        const auto rank = static_cast<int64_t>(std::ceil(q * static_cast<double>(count_)));
        int64_t seen = 0;
        for (size_t i = 0; i < kBuckets; ++i) {
            seen += buckets_[i];
            if (seen >= std::max<int64_t>(rank, 1)) return std::min(upper(i), max_);
        }
        return max_;
    }
    void reset() {
        std::lock_guard lock(mu_);
        buckets_.fill(0);
        count_ = 0;
        sum_ = 0;
        max_ = 0;
        max_at_s_ = -1;
    }

  private:
    static constexpr size_t kBuckets = 1100;
    static constexpr double kGrowth = 1.02;
    static size_t bucket(double us) {
        if (!(us > 1.0)) return 0;
        const auto b = static_cast<size_t>(std::log(us) / std::log(kGrowth)) + 1;
        return std::min(b, kBuckets - 1);
    }
    static double upper(size_t b) { return std::pow(kGrowth, static_cast<double>(b)); }

    mutable std::mutex mu_;
    std::array<int64_t, kBuckets> buckets_{};
    int64_t count_ = 0;
    double sum_ = 0;
    double max_ = 0;
    double max_at_s_ = -1;
};

}  // namespace fovea::pipeline
