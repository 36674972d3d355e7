// Health thresholds of the stats feature: the one table of steward.* settings
// (name, unit, default, bounds) that src/stats/settings.cpp turns into GUCs,
// the rule that classifies a value against a warning and a critical
// threshold, and the arithmetic and schema rule of the catalog scans
// (src/stats/catalog_scan.cpp). Pure C++ (unit-tested in
// test/unit/stats_settings_test.cpp).
//
// extension/050_stats.sql repeats the defaults (steward._stats_setting_defaults)
// so the SQL side works before the library is loaded; sql/stats.sql checks
// that both lists agree.
#pragma once
#include "core/pure.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace steward::stats {

enum class SettingKind { kPercent, kSeconds, kMilliseconds, kCount };

struct ThresholdSetting {
    const char *name;         // full GUC name, "steward.<...>"
    const char *description;  // short_desc of the GUC
    SettingKind kind;
    double default_value;     // in the base unit of kind
    double min_value;
    double max_value;
};

// Every threshold setting, in name order.
const ThresholdSetting *ThresholdSettings(std::size_t *count) noexcept;

enum class Status { kOk = 0, kWarning = 1, kCritical = 2 };

// The status of `value` against two thresholds. A value beyond a threshold
// (strictly) reaches its level. Direction: higher is worse, unless both
// thresholds are given and warning > critical (a rate such as the cache hit
// percentage, where lower is worse). A missing value is ok; a missing
// threshold is never reached.
Status Classify(std::optional<double> value, std::optional<double> warning,
                std::optional<double> critical) noexcept;

const char *StatusName(Status s) noexcept;

// The schemas the stats views report on: all but pg_catalog,
// information_schema and the TOAST and temporary schemas (pg_toast*,
// pg_temp_*, pg_toast_temp_*). The same rule as steward._is_user_schema().
bool IsUserSchemaName(std::string_view name) noexcept;

// round(100 * value / limit, 2) in hundredths of a percent (9500 = 95.00%),
// rounded half away from zero, computed exactly; 0 when limit is 0 or value
// is 0 or of the other sign (a sequence that has not reached the side of its
// limit). The percent_used of steward.sequence_health.
std::int64_t PercentHundredths(std::int64_t value, std::int64_t limit) noexcept;

// Compares the shares part_a / total_a and part_b / total_b exactly
// (totals > 0, 0 <= part <= total): negative, zero or positive.
int CompareShares(std::int64_t part_a, std::int64_t total_a, std::int64_t part_b,
                  std::int64_t total_b) noexcept;

}  // namespace steward::stats
