#define STEWARD_CORE_TRANSLATION_UNIT 1
#include "core/queue_policy.hpp"

#include <algorithm>
#include <cmath>

namespace steward::queue {

int64_t BackoffMicros(int attempt, int64_t base_micros, int64_t cap_micros, double jitter,
                      double unit) noexcept {
    if (base_micros < 0) base_micros = 0;
    if (cap_micros < 0) cap_micros = 0;
    if (attempt < 1) attempt = 1;
    // Doubling stops once it passes the cap: no overflow for any attempt.
    int64_t delay = base_micros;
    for (int i = 1; i < attempt && delay < cap_micros; ++i) delay = delay > cap_micros / 2 ? cap_micros : delay * 2;
    delay = std::min(delay, cap_micros);
    if (!(jitter > 0.0)) return delay;  // also catches NaN
    jitter = std::min(jitter, 1.0);
    if (!(unit >= 0.0)) unit = 0.0;
    if (unit >= 1.0) unit = 0.999999999;
    // Spread uniformly over [delay * (1 - jitter), delay * (1 + jitter)).
    double spread = static_cast<double>(delay) * jitter * (2.0 * unit - 1.0);
    double jittered = static_cast<double>(delay) + spread;
    jittered = std::clamp(jittered, 0.0, static_cast<double>(cap_micros));
    return static_cast<int64_t>(std::llround(jittered));
}

std::string ValidateQueueOptions(const QueueOptions &o, std::string *field) {
    auto bad = [&](const char *name, const char *why) {
        *field = name;
        return std::string(name) + " " + why;
    };
    if (o.max_attempts < 1 || o.max_attempts > kMaxAttemptsLimit)
        return bad("max_attempts", "must be between 1 and 1000");
    if (o.lease_micros <= 0) return bad("lease", "must be positive");
    if (o.lease_micros > kMaxLeaseMicros) return bad("lease", "must not exceed 7 days");
    if (o.backoff_base_micros < 0) return bad("backoff_base", "must not be negative");
    if (o.backoff_max_micros < o.backoff_base_micros)
        return bad("backoff_max", "must not be less than backoff_base");
    if (o.backoff_max_micros > kMaxBackoffMicros)
        return bad("backoff_max", "must not exceed 30 days");
    if (!(o.backoff_jitter >= 0.0 && o.backoff_jitter <= 1.0))
        return bad("backoff_jitter", "must be between 0 and 1");
    if (o.retention_micros < 0) return bad("retention", "must not be negative");
    if (o.retention_micros > kMaxRetentionMicros)
        return bad("retention", "must not exceed 3650 days");
    field->clear();
    return {};
}

std::string ValidateQueueName(const std::string &name) {
    if (name.empty()) return "queue name must not be empty";
    if (name.size() > 48) return "queue name must be at most 48 characters long";
    auto alnum = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    };
    if (!alnum(name[0])) return "queue name must start with a letter or digit";
    for (char c : name)
        if (!alnum(c) && c != '_' && c != '.' && c != '-')
            return "queue name may contain only letters, digits, \"_\", \".\" and \"-\"";
    return {};
}

}  // namespace steward::queue
