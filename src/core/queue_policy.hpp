// Pure queue policy: retry backoff with jitter and validation of queue
// options. No PostgreSQL headers (unit-tested in test/unit/queue_policy_test.cpp).
#pragma once
#include "core/pure.hpp"

#include <cstdint>
#include <string>

namespace steward::queue {

// Limits shared by the SQL side's messages and the checks below.
inline constexpr int kMaxAttemptsLimit = 1000;
inline constexpr int kMaxJobsLimit = 1000;
inline constexpr int64_t kMicrosPerSecond = 1000000;
inline constexpr int64_t kMaxLeaseMicros = 7LL * 24 * 3600 * kMicrosPerSecond;  // 7 days
inline constexpr int64_t kMaxBackoffMicros = 30LL * 24 * 3600 * kMicrosPerSecond;
inline constexpr int64_t kMaxRetentionMicros = 3650LL * 24 * 3600 * kMicrosPerSecond;

// Delay before attempt `attempt` + 1, after `attempt` failed runs (>= 1):
// base * 2^(attempt-1), capped at cap, then spread by +-jitter (a fraction in
// [0, 1]) using `unit` (a uniform random number in [0, 1), passed in so the
// function stays deterministic and testable). Never negative, never above cap.
int64_t BackoffMicros(int attempt, int64_t base_micros, int64_t cap_micros, double jitter,
                      double unit) noexcept;

// Options of a queue, as create_queue receives them (intervals in microseconds;
// an interval with months or days is converted by the caller).
struct QueueOptions {
    int max_attempts;
    int64_t lease_micros;
    int64_t backoff_base_micros;
    int64_t backoff_max_micros;
    double backoff_jitter;
    int64_t retention_micros;
};

// The first problem with the options, or an empty string when they are valid.
// `field` is set to the offending option's name.
std::string ValidateQueueOptions(const QueueOptions &options, std::string *field);

// Queue names become part of a LISTEN channel ("steward_queue_<name>", at
// most 63 bytes): 1-48 characters from [A-Za-z0-9_.-], starting with a letter
// or digit. Returns an empty string when valid, else the reason.
std::string ValidateQueueName(const std::string &name);

}  // namespace steward::queue
