// The stats feature's settings: every health threshold becomes a steward.*
// GUC when the library loads: the stats checks' ones from the table in
// core/stats_settings.cpp, and the audit and queue checks' ones
// (kFeatureSettings below), which their check functions read with
// current_setting(...)::numeric.
// The SQL side reads them with current_setting('steward.x', true) and falls
// back to the same defaults when the library is not loaded yet
// (extension/050_stats.sql, steward._stats_setting_defaults).
//
// They are string GUCs with a check hook, not integer or real ones: the hook
// accepts what steward._stats_setting() accepts (a number, for durations
// optionally with one of the units ms, s, min, h, d), refuses anything else
// with SQLSTATE 22023, a message naming the setting and a hint with the
// expected form (PostgreSQL's own integer parser gives no hint for "abc"),
// and stores the value as a plain number in the setting's base unit, so
// current_setting() always returns something ::numeric accepts and the
// error is the same with and without the library.
//
// Also steward.health_status(value, warning, critical): the classification
// rule shared by health() and every feature's _health_checks_<feature>().
#include "boundary/boundary.hpp"
#include "core/stats_settings.hpp"
#include "module.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <array>
#include <utility>

extern "C" {
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/numeric.h"
}

namespace steward::stats {
namespace {

constexpr double kIntMax = 2147483647.0;

// The other features' health checks' thresholds, which their
// _health_checks_<feature>() read with current_setting(...)::numeric
// (extension/030_audit.sql, 040_queue.sql), in name order. Negative values
// are taken as those functions always took them (-1: any value is beyond;
// sql/queue.sql forces its warnings so).
constexpr ThresholdSetting kFeatureSettings[] = {
    {"steward.audit_partitions_ahead_critical",
     "Days of audit log partitions ahead below which health() reports critical.",
     SettingKind::kCount, 1, -kIntMax - 1, kIntMax},
    {"steward.audit_partitions_ahead_warning",
     "Days of audit log partitions ahead below which health() reports a warning.",
     SettingKind::kCount, 2, -kIntMax - 1, kIntMax},
    {"steward.queue_dead_jobs_1d_critical",
     "Jobs of a queue that died in the last day above which health() reports critical.",
     SettingKind::kCount, 99, -kIntMax - 1, kIntMax},
    {"steward.queue_dead_jobs_1d_warning",
     "Jobs of a queue that died in the last day above which health() reports a warning.",
     SettingKind::kCount, 0, -kIntMax - 1, kIntMax},
    {"steward.queue_expired_leases_critical",
     "Running jobs of a queue with an expired lease above which health() reports critical.",
     SettingKind::kCount, 99, -kIntMax - 1, kIntMax},
    {"steward.queue_expired_leases_warning",
     "Running jobs of a queue with an expired lease above which health() reports a warning.",
     SettingKind::kCount, 0, -kIntMax - 1, kIntMax},
    {"steward.queue_oldest_ready_seconds_critical",
     "Age of a queue's oldest ready job above which health() reports critical.",
     SettingKind::kSeconds, 3600, -kIntMax - 1, kIntMax},
    {"steward.queue_oldest_ready_seconds_warning",
     "Age of a queue's oldest ready job above which health() reports a warning.",
     SettingKind::kSeconds, 300, -kIntMax - 1, kIntMax},
};

constexpr std::size_t kMaxSettings = 64;
constexpr std::size_t kNumberChars = 32;
// GUC storage and boot values, one slot per setting (PostgreSQL keeps
// pointers to these); g_slots maps a slot to its setting.
char *g_values[kMaxSettings];
char g_boot_values[kMaxSettings][kNumberChars];
const ThresholdSetting *g_slots[kMaxSettings];

// A number as the settings store it: in the base unit, no exponent for the
// values the ranges allow, "0" for -0.
void FormatNumber(double v, char (&out)[kNumberChars]) {
    if (v == 0) v = 0;
    snprintf(out, sizeof(out), "%.15g", v);  // pg_snprintf (port.h)
}

enum class Parse { kOk, kBadForm, kOutOfRange };

// text as steward._stats_setting() reads it: blanks around, a decimal
// number (sign, digits, optional fraction), for durations optionally blanks
// and one of the units ms, s, min, h, d; the value in the base unit.
Parse ParseValue(const ThresholdSetting &s, const char *text, double *out) {
    const char *p = text;
    while (std::isspace(static_cast<unsigned char>(*p))) ++p;
    const char *num = p;
    if (*p == '+' || *p == '-') ++p;
    if (!std::isdigit(static_cast<unsigned char>(*p))) return Parse::kBadForm;
    while (std::isdigit(static_cast<unsigned char>(*p))) ++p;
    if (*p == '.') {
        ++p;
        if (!std::isdigit(static_cast<unsigned char>(*p))) return Parse::kBadForm;
        while (std::isdigit(static_cast<unsigned char>(*p))) ++p;
    }
    const char *num_end = p;
    while (std::isspace(static_cast<unsigned char>(*p))) ++p;
    const char *unit = p;
    while (std::isalpha(static_cast<unsigned char>(*p))) ++p;
    const std::size_t unit_len = static_cast<std::size_t>(p - unit);
    while (std::isspace(static_cast<unsigned char>(*p))) ++p;
    if (*p != '\0') return Parse::kBadForm;
    char buf[64];
    const std::size_t num_len = static_cast<std::size_t>(num_end - num);
    if (num_len >= sizeof(buf)) return Parse::kOutOfRange;
    std::memcpy(buf, num, num_len);
    buf[num_len] = '\0';
    double v = std::strtod(buf, nullptr);
    if (unit_len > 0) {
        if (s.kind != SettingKind::kSeconds && s.kind != SettingKind::kMilliseconds)
            return Parse::kBadForm;
        static constexpr struct { const char *name; double ms; } kUnits[] = {
            {"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000}};
        double ms = 0;
        for (const auto &u : kUnits)
            if (std::strlen(u.name) == unit_len && std::strncmp(unit, u.name, unit_len) == 0) ms = u.ms;
        if (ms == 0) return Parse::kBadForm;
        v = s.kind == SettingKind::kSeconds ? v * ms / 1000 : v * ms;
    }
    *out = v;
    if (!(v >= s.min_value && v <= s.max_value)) return Parse::kOutOfRange;
    return Parse::kOk;
}

// The hint of both errors: what the setting takes (the same words as
// steward._stats_setting()).
void SetHint(const ThresholdSetting &s) {
    char lo[kNumberChars], hi[kNumberChars];
    FormatNumber(s.min_value, lo);
    FormatNumber(s.max_value, hi);
    switch (s.kind) {
        case SettingKind::kPercent:
            GUC_check_errhint("Use a percentage from %s to %s.", lo, hi);
            break;
        case SettingKind::kCount:
            GUC_check_errhint("Use a number from %s to %s.", lo, hi);
            break;
        case SettingKind::kSeconds:
            GUC_check_errhint("Use a number of seconds from %s to %s, or a number with one of the "
                              "units ms, s, min, h, d.", lo, hi);
            break;
        case SettingKind::kMilliseconds:
            GUC_check_errhint("Use a number of milliseconds from %s to %s, or a number with one of "
                              "the units ms, s, min, h, d.", lo, hi);
            break;
    }
}

// Check hook of slot i: validates, then replaces the value by its plain
// number in the base unit (PostgreSQL 15 keeps GUC strings in malloc()ed
// memory). Plain data only: no RAII object lives across a PostgreSQL call.
bool CheckSlot(std::size_t i, char **newval) {
    const ThresholdSetting &s = *g_slots[i];
    double v = 0;
    switch (ParseValue(s, *newval, &v)) {
        case Parse::kOk:
            break;
        case Parse::kBadForm:
            SetHint(s);
            return false;  // PostgreSQL: invalid value for parameter "...": "..."
        case Parse::kOutOfRange: {
            char lo[kNumberChars], hi[kNumberChars];
            FormatNumber(s.min_value, lo);
            FormatNumber(s.max_value, hi);
            const char *t = *newval;
            while (std::isspace(static_cast<unsigned char>(*t))) ++t;
            std::size_t len = std::strlen(t);
            while (len > 0 && std::isspace(static_cast<unsigned char>(t[len - 1]))) --len;
            GUC_check_errmsg("%.*s is outside the valid range for parameter \"%s\" (%s .. %s)",
                             static_cast<int>(len), t, s.name, lo, hi);
            SetHint(s);
            return false;
        }
    }
    char number[kNumberChars];
    FormatNumber(v, number);
    char *copy = static_cast<char *>(std::malloc(std::strlen(number) + 1));
    if (copy == nullptr) {
        GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
        GUC_check_errmsg("out of memory");
        return false;
    }
    std::strcpy(copy, number);
    std::free(*newval);
    *newval = copy;
    return true;
}

template <std::size_t I>
bool CheckHook(char **newval, void **, GucSource) {
    return CheckSlot(I, newval);
}

template <std::size_t... I>
constexpr std::array<GucStringCheckHook, sizeof...(I)> MakeHooks(std::index_sequence<I...>) {
    return {&CheckHook<I>...};
}
constexpr auto kHooks = MakeHooks(std::make_index_sequence<kMaxSettings>{});

// Define one GUC per threshold. Runs from _PG_init.
void DefineSettings() {
    std::size_t stats_count = 0;
    const ThresholdSetting *stats = ThresholdSettings(&stats_count);
    constexpr std::size_t feature_count = sizeof(kFeatureSettings) / sizeof(kFeatureSettings[0]);
    if (stats_count + feature_count > kMaxSettings) elog(ERROR, "pg_steward: too many stats settings");
    std::size_t n = 0;
    for (std::size_t i = 0; i < stats_count; ++i) g_slots[n++] = &stats[i];
    for (std::size_t i = 0; i < feature_count; ++i) g_slots[n++] = &kFeatureSettings[i];
    for (std::size_t i = 0; i < n; ++i) {
        const ThresholdSetting &s = *g_slots[i];
        FormatNumber(s.default_value, g_boot_values[i]);
        const char *form = s.kind == SettingKind::kPercent ? "A percentage."
                           : s.kind == SettingKind::kSeconds
                               ? "Seconds, or a number with one of the units ms, s, min, h, d."
                           : s.kind == SettingKind::kMilliseconds
                               ? "Milliseconds, or a number with one of the units ms, s, min, h, d."
                               : "A number.";
        DefineCustomStringVariable(s.name, s.description, form, &g_values[i], g_boot_values[i],
                                   PGC_USERSET, 0, kHooks[i], nullptr, nullptr);
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
