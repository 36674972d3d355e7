// Health thresholds of the stats feature: the one table of steward.* settings
// (name, unit, default, bounds) that src/stats/settings.cpp turns into GUCs,
// and the rule that classifies a value against a warning and a critical
// threshold. Pure C++ (unit-tested in test/unit/stats_settings_test.cpp).
//
// extension/050_stats.sql repeats the defaults (steward._stats_setting_defaults)
// so the SQL side works before the library is loaded; sql/stats.sql checks
// that both lists agree.
#pragma once
#include "core/pure.hpp"

#include <cstddef>
#include <optional>

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

}  // namespace steward::stats
