#include <gtest/gtest.h>

#include <thread>

#include "pipeline/batch_queue.h"
#include "pipeline/histogram.h"

namespace fovea::pipeline {
namespace {

using namespace std::chrono_literals;

struct Job {
    int stream = 0;
    int id = 0;
    int slots = 1;
    std::chrono::steady_clock::time_point enqueued{};
    int inputs() const { return slots; }
};

TEST(BatchQueue, FlushesAFullBatchWithoutWaiting) {
    BatchQueue<Job> q(4);
    for (int i = 0; i < 4; ++i) q.push({i, i});
    const auto t0 = std::chrono::steady_clock::now();
    auto batch = q.next_batch(4, 10s);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    ASSERT_EQ(batch.size(), 4u);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(batch[static_cast<size_t>(i)].id, i);  // oldest first
}

TEST(BatchQueue, FlushesPartialBatchAfterMaxDelay) {
    BatchQueue<Job> q(4);
    q.push({0, 1});
    q.push({1, 2});
    const auto t0 = std::chrono::steady_clock::now();
    auto batch = q.next_batch(8, 50ms);
    const auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(batch.size(), 2u);
    EXPECT_GE(waited, 45ms);
    EXPECT_LT(waited, 2s);
}

TEST(BatchQueue, LateArrivalsJoinTheBatchBeforeItsDeadline) {
    BatchQueue<Job> q(4);
    q.push({0, 1});
    std::thread producer([&] {
        std::this_thread::sleep_for(20ms);
        q.push({1, 2});
        q.push({2, 3});
    });
    auto batch = q.next_batch(3, 2s);  // full at 3: leaves as soon as the third arrives
    producer.join();
    EXPECT_EQ(batch.size(), 3u);
}

TEST(BatchQueue, DropsTheOldestFrameOfAStreamBeyondItsDepth) {
    BatchQueue<Job> q(2);
    EXPECT_FALSE(q.push({0, 1}));
    EXPECT_FALSE(q.push({0, 2}));
    EXPECT_FALSE(q.push({1, 10}));  // another stream has its own budget
    auto dropped = q.push({0, 3});
    ASSERT_TRUE(dropped);
    EXPECT_EQ(dropped->id, 1);
    auto batch = q.next_batch(16, 0ms);
    ASSERT_EQ(batch.size(), 3u);  // arrival order kept
    EXPECT_EQ(batch[0].id, 2);
    EXPECT_EQ(batch[1].id, 10);
    EXPECT_EQ(batch[2].id, 3);
}

TEST(BatchQueue, BlockingPushWaitsForRoomInsteadOfDropping) {
    BatchQueue<Job> q(1);
    EXPECT_FALSE(q.push({0, 1}));
    std::thread consumer([&] {
        std::this_thread::sleep_for(30ms);
        EXPECT_EQ(q.next_batch(1, 0ms)[0].id, 1);
    });
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(q.push({0, 2}, /*wait=*/true));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 25ms);
    consumer.join();
    EXPECT_EQ(q.next_batch(1, 0ms)[0].id, 2);
}

TEST(BatchQueue, CountsBatchSlotsNotJobs) {
    BatchQueue<Job> q(4);
    q.push({0, 1, 3});
    q.push({1, 2, 3});
    auto batch = q.next_batch(4, 0ms);  // 3 + 3 > 4: the second job waits for the next batch
    ASSERT_EQ(batch.size(), 1u);
    auto big = BatchQueue<Job>(1);
    big.push({0, 1, 9});
    EXPECT_EQ(big.next_batch(4, 0ms).size(), 1u);  // a job larger than a batch still goes alone
}

TEST(BatchQueue, CloseWakesWaitersAndDrains) {
    BatchQueue<Job> q(2);
    std::thread closer([&] {
        std::this_thread::sleep_for(20ms);
        q.close();
    });
    EXPECT_TRUE(q.next_batch(4, 10s).empty());
    closer.join();
    EXPECT_TRUE(q.push({0, 1}));  // refused after close
}

TEST(Histogram, QuantilesWithinTheBucketWidth) {
    Histogram h;
    for (int i = 1; i <= 10000; ++i) h.add(i);
    EXPECT_EQ(h.count(), 10000);
    EXPECT_NEAR(h.quantile(0.5), 5000, 5000 * 0.021);
    EXPECT_NEAR(h.quantile(0.99), 9900, 9900 * 0.021);
    EXPECT_DOUBLE_EQ(h.max(), 10000);
    EXPECT_NEAR(h.mean(), 5000.5, 1e-6);
}

TEST(Histogram, RemembersWhenTheMaximumWasSeen) {
    Histogram h;
    EXPECT_EQ(h.max_at_s(), -1);
    h.add(5, 0.5);
    h.add(900, 2.25);  // the stall
    h.add(7, 3.0);
    EXPECT_DOUBLE_EQ(h.max(), 900);
    EXPECT_DOUBLE_EQ(h.max_at_s(), 2.25);
    h.reset();
    EXPECT_EQ(h.max_at_s(), -1);
}

}  // namespace
}  // namespace fovea::pipeline
