// The stats feature's settings: every health threshold becomes a steward.*
// GUC (from the table in core/stats_settings.cpp) when the library loads, so
// SET and postgresql.conf validate values and units. The SQL side reads them
// with current_setting('steward.x', true) and falls back to the same
// defaults when the library is not loaded yet (extension/050_stats.sql).
//
// Also steward.health_status(value, warning, critical): the classification
// rule shared by health() and every feature's _health_checks_<feature>().
#include "boundary/boundary.hpp"
#include "core/stats_settings.hpp"
#include "module.hpp"

extern "C" {
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/numeric.h"
}

namespace steward::stats {
namespace {

constexpr std::size_t kMaxSettings = 64;
// GUC storage, one slot per table row (PostgreSQL keeps pointers to these).
double g_real_values[kMaxSettings];
int g_int_values[kMaxSettings];

// Define one GUC per threshold. Runs from _PG_init.
void DefineSettings() {
    std::size_t count = 0;
    const ThresholdSetting *settings = ThresholdSettings(&count);
    if (count > kMaxSettings) elog(ERROR, "pg_steward: too many stats settings");
    for (std::size_t i = 0; i < count; ++i) {
        const ThresholdSetting &s = settings[i];
        if (s.kind == SettingKind::kPercent) {
            DefineCustomRealVariable(s.name, s.description, "A percentage from 0 to 100.",
                                     &g_real_values[i], s.default_value, s.min_value,
                                     s.max_value, PGC_USERSET, 0, nullptr, nullptr, nullptr);
            continue;
        }
        int flags = 0;
        if (s.kind == SettingKind::kSeconds) flags = GUC_UNIT_S;
        if (s.kind == SettingKind::kMilliseconds) flags = GUC_UNIT_MS;
        DefineCustomIntVariable(s.name, s.description, nullptr, &g_int_values[i],
                                static_cast<int>(s.default_value), static_cast<int>(s.min_value),
                                static_cast<int>(s.max_value), PGC_USERSET, flags, nullptr,
                                nullptr, nullptr);
    }
}

// A numeric argument as an optional double; NULL and NaN are "absent".
std::optional<double> OptionalArg(FunctionCallInfo fcinfo, int n) {
    if (PG_ARGISNULL(n)) return std::nullopt;
    Numeric num = PG_GETARG_NUMERIC(n);
    if (numeric_is_nan(num)) return std::nullopt;
    return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(num)));
}

}  // namespace

STEWARD_MODULE_INIT(stats, DefineSettings);

}  // namespace steward::stats

// steward.health_status(value numeric, warning numeric, critical numeric)
// RETURNS text: 'ok', 'warning' or 'critical' (see stats::Classify).
STEWARD_FUNCTION(steward_health_status) {
    using namespace steward::stats;
    const Status s = Classify(OptionalArg(fcinfo, 0), OptionalArg(fcinfo, 1), OptionalArg(fcinfo, 2));
    PG_RETURN_TEXT_P(cstring_to_text(StatusName(s)));
}
