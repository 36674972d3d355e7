// The stats feature's thresholds and the classification rule (see header).
#define STEWARD_CORE_TRANSLATION_UNIT
#include "core/stats_settings.hpp"

namespace steward::stats {
namespace {

constexpr double kIntMax = 2147483647.0;

// Kept in name order; every name starts with "steward.".
constexpr ThresholdSetting kSettings[] = {
    {"steward.cache_hit_critical", "Cache hit percentage below which health() reports critical.",
     SettingKind::kPercent, 95, 0, 100},
    {"steward.cache_hit_warning", "Cache hit percentage below which health() reports a warning.",
     SettingKind::kPercent, 99, 0, 100},
    {"steward.connections_critical",
     "Share of max_connections in use above which health() reports critical.",
     SettingKind::kPercent, 95, 0, 100},
    {"steward.connections_warning",
     "Share of max_connections in use above which health() reports a warning.",
     SettingKind::kPercent, 80, 0, 100},
    {"steward.dead_tuples_critical",
     "Share of dead tuples in a table above which health() reports critical.",
     SettingKind::kPercent, 50, 0, 100},
    {"steward.dead_tuples_min_rows",
     "Tables with fewer live plus dead tuples are left out of the dead tuple check.",
     SettingKind::kCount, 1000, 0, kIntMax},
    {"steward.dead_tuples_warning",
     "Share of dead tuples in a table above which health() reports a warning.",
     SettingKind::kPercent, 20, 0, 100},
    {"steward.idle_in_transaction_critical",
     "Idle-in-transaction time above which health() reports critical.", SettingKind::kSeconds,
     600, 0, kIntMax},
    {"steward.idle_in_transaction_warning",
     "Idle-in-transaction time above which a session is listed and health() warns.",
     SettingKind::kSeconds, 60, 0, kIntMax},
    {"steward.lock_wait_critical", "Lock wait above which health() reports critical.",
     SettingKind::kSeconds, 300, 0, kIntMax},
    {"steward.lock_wait_warning", "Lock wait above which health() reports a warning.",
     SettingKind::kSeconds, 30, 0, kIntMax},
    {"steward.long_query_critical", "Query run time above which health() reports critical.",
     SettingKind::kSeconds, 300, 0, kIntMax},
    {"steward.long_query_warning",
     "Query run time above which a query is listed and health() warns.", SettingKind::kSeconds,
     60, 0, kIntMax},
    {"steward.long_transaction_critical",
     "Transaction age above which health() reports critical.", SettingKind::kSeconds, 1800, 0,
     kIntMax},
    {"steward.long_transaction_warning",
     "Transaction age above which a transaction is listed and health() warns.",
     SettingKind::kSeconds, 300, 0, kIntMax},
    {"steward.replication_lag_critical", "Replication lag above which health() reports critical.",
     SettingKind::kSeconds, 600, 0, kIntMax},
    {"steward.replication_lag_warning", "Replication lag above which health() reports a warning.",
     SettingKind::kSeconds, 60, 0, kIntMax},
    {"steward.sequence_critical",
     "Share of a sequence's range used above which health() reports critical.",
     SettingKind::kPercent, 98, 0, 100},
    {"steward.sequence_warning",
     "Share of a sequence's range used above which health() reports a warning.",
     SettingKind::kPercent, 90, 0, 100},
    {"steward.slow_query_min_calls",
     "Statements with fewer calls are left out of steward.slow_queries.", SettingKind::kCount,
     100, 0, kIntMax},
    {"steward.slow_query_min_mean",
     "Statements with a lower mean time are left out of steward.slow_queries.",
     SettingKind::kMilliseconds, 20, 0, kIntMax},
    {"steward.xid_age_critical", "Transaction ID age above which health() reports critical.",
     SettingKind::kCount, 1500000000, 0, kIntMax},
    {"steward.xid_age_warning", "Transaction ID age above which health() reports a warning.",
     SettingKind::kCount, 1000000000, 0, kIntMax},
};

}  // namespace

const ThresholdSetting *ThresholdSettings(std::size_t *count) noexcept {
    *count = sizeof(kSettings) / sizeof(kSettings[0]);
    return kSettings;
}

Status Classify(std::optional<double> value, std::optional<double> warning,
                std::optional<double> critical) noexcept {
    if (!value) return Status::kOk;
    const bool lower_is_worse = warning && critical && *warning > *critical;
    auto beyond = [&](const std::optional<double> &threshold) {
        if (!threshold) return false;
        return lower_is_worse ? *value < *threshold : *value > *threshold;
    };
    if (beyond(critical)) return Status::kCritical;
    if (beyond(warning)) return Status::kWarning;
    return Status::kOk;
}

bool IsUserSchemaName(std::string_view name) noexcept {
    if (name == "pg_catalog" || name == "information_schema") return false;
    for (std::string_view prefix : {"pg_toast", "pg_temp_"})
        if (name.substr(0, prefix.size()) == prefix) return false;  // pg_toast_temp_ too
    return true;
}

std::int64_t PercentHundredths(std::int64_t value, std::int64_t limit) noexcept {
    if (limit == 0 || value == 0 || (value < 0) != (limit < 0)) return 0;
    // |value| * 10000 fits in 128 bits; both magnitudes are positive here
    __int128 num = static_cast<__int128>(value) * 10000;
    __int128 den = limit;
    if (num < 0) num = -num;
    if (den < 0) den = -den;
    return static_cast<std::int64_t>((2 * num + den) / (2 * den));  // half away from zero
}

int CompareShares(std::int64_t part_a, std::int64_t total_a, std::int64_t part_b,
                  std::int64_t total_b) noexcept {
    const __int128 lhs = static_cast<__int128>(part_a) * total_b;
    const __int128 rhs = static_cast<__int128>(part_b) * total_a;
    return lhs < rhs ? -1 : (lhs > rhs ? 1 : 0);
}

const char *StatusName(Status s) noexcept {
    switch (s) {
        case Status::kWarning:
            return "warning";
        case Status::kCritical:
            return "critical";
        case Status::kOk:
            break;
    }
    return "ok";
}

}  // namespace steward::stats
