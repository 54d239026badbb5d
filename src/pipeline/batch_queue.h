// BatchQueue: the bounded meeting point of many streams and one model. Each stream may have at most `depth` jobs
// waiting (a newer frame pushes out that stream's oldest: latest-frame semantics); the model takes batches that
// leave when full or `max_delay` after their first job arrived, whichever comes first.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

namespace fovea::pipeline {

// Job needs: `int stream`, `int inputs() const` (batch slots it takes), `Clock::time_point enqueued`.
template <typename Job>
class BatchQueue {
  public:
    using Clock = std::chrono::steady_clock;

    explicit BatchQueue(int depth_per_stream) : depth_(depth_per_stream) {}

    // Queues `job`; returns the job it pushed out to stay within the stream's depth, if any. With `wait` (sources
    // that are not live, such as files read as fast as possible) it waits for room instead of dropping.
    std::optional<Job> push(Job job, bool wait = false) {
        std::optional<Job> dropped;
        {
            std::unique_lock lock(mu_);
            if (wait) cv_.wait(lock, [&] { return closed_ || waiting_of(job.stream) < depth_; });
            if (closed_) return job;
            int waiting = 0;
            auto oldest = jobs_.end();
            for (auto it = jobs_.begin(); it != jobs_.end(); ++it) {
                if (it->stream != job.stream) continue;
                if (waiting++ == 0) oldest = it;
            }
            if (waiting >= depth_) {
                dropped = std::move(*oldest);
                jobs_.erase(oldest);
            }
            job.enqueued = Clock::now();
            jobs_.push_back(std::move(job));
        }
        cv_.notify_all();
        return dropped;
    }

    // Waits for a batch: the oldest jobs up to `max_inputs` batch slots (at least one job), released once full or
    // `max_delay` after the first of them was queued. Empty only after close() with nothing left.
    std::vector<Job> next_batch(int max_inputs, std::chrono::microseconds max_delay) {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return closed_ || !jobs_.empty(); });
        if (jobs_.empty()) return {};
        const Clock::time_point deadline = jobs_.front().enqueued + max_delay;
        cv_.wait_until(lock, deadline, [&] { return closed_ || queued_inputs() >= max_inputs; });
        std::vector<Job> batch;
        int taken = 0;
        while (!jobs_.empty()) {
            const int n = jobs_.front().inputs();
            if (!batch.empty() && taken + n > max_inputs) break;
            taken += n;
            batch.push_back(std::move(jobs_.front()));
            jobs_.pop_front();
        }
        cv_.notify_all();  // blocked pushers may have room now
        return batch;
    }

    // Wakes every waiter; later pushes are refused (returned as dropped) and next_batch drains what is left.
    void close() {
        {
            std::lock_guard lock(mu_);
            closed_ = true;
        }
        cv_.notify_all();
    }

    // Removes a stream's waiting jobs (the stream is going away); returns how many.
    int discard_stream(int stream) {
        std::lock_guard lock(mu_);
        const auto before = jobs_.size();
        std::erase_if(jobs_, [&](const Job& j) { return j.stream == stream; });
        cv_.notify_all();
        return static_cast<int>(before - jobs_.size());
    }

    size_t size() const {
        std::lock_guard lock(mu_);
        return jobs_.size();
    }

  private:
    int waiting_of(int stream) const {
        int n = 0;
        for (const Job& j : jobs_) n += j.stream == stream ? 1 : 0;
        return n;
    }
    int queued_inputs() const {
        int n = 0;
        for (const Job& j : jobs_) n += j.inputs();
        return n;
    }

    const int depth_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> jobs_;
    bool closed_ = false;
};

}  // namespace fovea::pipeline
