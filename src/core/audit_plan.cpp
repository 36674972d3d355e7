#define STEWARD_CORE_TRANSLATION_UNIT
#include "core/audit_plan.hpp"

#include <cstdio>

namespace steward::audit_plan {

int64_t DayOf(int64_t usecs) noexcept {
    int64_t q = usecs / kUsecsPerDay;
    if (usecs % kUsecsPerDay != 0 && usecs < 0) --q;
    return q;
}

// Howard Hinnant's days-to-civil algorithm, shifted from 1970 to 2000.
CivilDate DateOfDay(int64_t day) noexcept {
    int64_t z = day + 10957 + 719468;  // 10957 days from 1970-01-01 to 2000-01-01
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    CivilDate d;
    d.day = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
    d.month = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
    d.year = yoe + era * 400 + (d.month <= 2 ? 1 : 0);
    return d;
}

bool PartitionName(int64_t day, char *buf, size_t size) noexcept {
    CivilDate d = DateOfDay(day);
    if (d.year < 1000 || d.year > 9999) return false;
    int n = std::snprintf(buf, size, "audit_records_p%04lld%02u%02u",
                          static_cast<long long>(d.year), d.month, d.day);
    return n > 0 && static_cast<size_t>(n) < size;
}

int MergePositions(const int16_t *a, int na, const int16_t *b, int nb, int16_t *out) noexcept {
    int i = 0, j = 0, n = 0;
    while (i < na || j < nb) {
        int16_t v;
        if (j >= nb || (i < na && a[i] < b[j]))
            v = a[i++];
        else if (i >= na || b[j] < a[i])
            v = b[j++];
        else {
            v = a[i++];
            ++j;
        }
        out[n++] = v;
    }
    return n;
}

}  // namespace steward::audit_plan
