// Pure logic of the audit trail (no PostgreSQL): which UTC day a transaction
// timestamp falls on and the name of that day's log partition, and which
// column positions an UPDATE's row images hold. Used by the trigger's hot
// path, so everything works on caller-provided plain buffers.
#pragma once
#include "core/pure.hpp"

#include <cstddef>
#include <cstdint>

namespace steward::audit_plan {

inline constexpr int64_t kUsecsPerDay = 86400LL * 1000000LL;

// Days since 2000-01-01 (PostgreSQL's epoch) of a timestamp in microseconds
// since that epoch, rounded towards minus infinity (UTC days).
int64_t DayOf(int64_t usecs_since_2000) noexcept;

struct CivilDate {
    int64_t year;
    unsigned month;  // 1..12
    unsigned day;    // 1..31
};

// The calendar date of a day number (days since 2000-01-01).
CivilDate DateOfDay(int64_t day) noexcept;

// "audit_records_pYYYYMMDD" for a day number into buf (NUL-terminated);
// returns false when buf is too small or the year has not 4 digits.
bool PartitionName(int64_t day, char *buf, size_t size) noexcept;

// Merge two ascending lists of distinct positions into out (ascending,
// without duplicates); returns the count. out must hold na + nb entries.
int MergePositions(const int16_t *a, int na, const int16_t *b, int nb, int16_t *out) noexcept;

// Longest accepted value of steward.actor, in bytes.
inline constexpr size_t kMaxActorBytes = 256;

}  // namespace steward::audit_plan
