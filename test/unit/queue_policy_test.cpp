#include "core/queue_policy.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace steward::queue;

constexpr int64_t kSec = 1000000;

TEST(QueueBackoff, DoublesFromBaseWithoutJitter) {
    EXPECT_EQ(BackoffMicros(1, 10 * kSec, 3600 * kSec, 0.0, 0.5), 10 * kSec);
    EXPECT_EQ(BackoffMicros(2, 10 * kSec, 3600 * kSec, 0.0, 0.5), 20 * kSec);
    EXPECT_EQ(BackoffMicros(4, 10 * kSec, 3600 * kSec, 0.0, 0.5), 80 * kSec);
}

TEST(QueueBackoff, CappedAndNoOverflowForHugeAttempts) {
    EXPECT_EQ(BackoffMicros(30, 10 * kSec, 3600 * kSec, 0.0, 0.5), 3600 * kSec);
    EXPECT_EQ(BackoffMicros(1000000, INT64_MAX / 2, INT64_MAX / 2, 0.0, 0.0), INT64_MAX / 2);
}

TEST(QueueBackoff, JitterStaysWithinBandAndCap) {
    // jitter 0.25 around 40 s: [30 s, 50 s)
    EXPECT_EQ(BackoffMicros(3, 10 * kSec, 3600 * kSec, 0.25, 0.0), 30 * kSec);
    EXPECT_EQ(BackoffMicros(3, 10 * kSec, 3600 * kSec, 0.25, 0.5), 40 * kSec);
    int64_t top = BackoffMicros(3, 10 * kSec, 3600 * kSec, 0.25, 0.999999);
    EXPECT_LT(top, 50 * kSec);
    EXPECT_GT(top, 49 * kSec);
    // at the cap, jitter never goes above it
    EXPECT_LE(BackoffMicros(50, 10 * kSec, 60 * kSec, 1.0, 0.99), 60 * kSec);
    // full jitter may go down to zero, never below
    EXPECT_EQ(BackoffMicros(1, 10 * kSec, 60 * kSec, 1.0, 0.0), 0);
}

TEST(QueueBackoff, BadInputsAreClamped) {
    EXPECT_EQ(BackoffMicros(0, 10 * kSec, 60 * kSec, 0.0, 0.0), 10 * kSec);
    EXPECT_EQ(BackoffMicros(-5, -1, 60 * kSec, 0.0, 0.0), 0);
    EXPECT_EQ(BackoffMicros(2, 10 * kSec, 60 * kSec, std::nan(""), 0.3), 20 * kSec);
    EXPECT_EQ(BackoffMicros(1, 10 * kSec, 60 * kSec, 0.5, 7.0), BackoffMicros(1, 10 * kSec, 60 * kSec, 0.5, 0.999999999));
}

namespace {
QueueOptions Good() { return {5, 300 * kSec, 10 * kSec, 3600 * kSec, 0.2, 7 * 24 * 3600 * kSec}; }
}  // namespace

TEST(QueueOptions, AcceptsDefaults) {
    std::string field = "x";
    EXPECT_EQ(ValidateQueueOptions(Good(), &field), "");
    EXPECT_EQ(field, "");
}

TEST(QueueOptions, RejectsEachBadField) {
    std::string field;
    auto o = Good();
    o.max_attempts = 0;
    EXPECT_EQ(ValidateQueueOptions(o, &field), "max_attempts must be between 1 and 1000");
    EXPECT_EQ(field, "max_attempts");
    o = Good(); o.max_attempts = 1001;
    EXPECT_NE(ValidateQueueOptions(o, &field), "");
    o = Good(); o.lease_micros = 0;
    EXPECT_EQ(ValidateQueueOptions(o, &field), "lease must be positive");
    o = Good(); o.lease_micros = 8LL * 24 * 3600 * kSec;
    EXPECT_EQ(ValidateQueueOptions(o, &field), "lease must not exceed 7 days");
    o = Good(); o.backoff_base_micros = -1;
    EXPECT_EQ(ValidateQueueOptions(o, &field), "backoff_base must not be negative");
    o = Good(); o.backoff_max_micros = kSec;
    EXPECT_EQ(ValidateQueueOptions(o, &field), "backoff_max must not be less than backoff_base");
    o = Good(); o.backoff_jitter = 1.5;
    EXPECT_EQ(ValidateQueueOptions(o, &field), "backoff_jitter must be between 0 and 1");
    o = Good(); o.backoff_jitter = std::nan("");
    EXPECT_NE(ValidateQueueOptions(o, &field), "");
    EXPECT_EQ(field, "backoff_jitter");
    o = Good(); o.retention_micros = -1;
    EXPECT_EQ(ValidateQueueOptions(o, &field), "retention must not be negative");
}

TEST(QueueName, Rules) {
    EXPECT_EQ(ValidateQueueName("emails"), "");
    EXPECT_EQ(ValidateQueueName("billing.v2-retry_x"), "");
    EXPECT_EQ(ValidateQueueName(""), "queue name must not be empty");
    EXPECT_EQ(ValidateQueueName(std::string(49, 'a')), "queue name must be at most 48 characters long");
    EXPECT_EQ(ValidateQueueName(std::string(48, 'a')), "");
    EXPECT_EQ(ValidateQueueName("_x"), "queue name must start with a letter or digit");
    EXPECT_NE(ValidateQueueName("a b"), "");
    EXPECT_NE(ValidateQueueName("a\"b"), "");
}
