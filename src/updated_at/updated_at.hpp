// updated_at maintenance: shared declarations of the trigger (trigger.cpp)
// and the preload fast path (fast_path.cpp).
#pragma once
#include "boundary/postgres.hpp"

extern "C" {
#include "utils/rel.h"
}

namespace steward::updated_at {

// Default column name when the trigger has no argument.
inline constexpr const char *kDefaultColumn = "updated_at";

// Oid of steward.set_updated_at() in this database, or InvalidOid when the
// extension is not installed. Cached; reset by syscache invalidation.
Oid TriggerFunctionOid();

// The transaction timestamp coerced to the column's type (timestamp or
// timestamptz, typmod applied, domain checked).
Datum StampFor(Oid column_type, int32 column_typmod, void **domain_cache, MemoryContext cxt);

// True if typid is timestamptz, timestamp, or a domain over one of them;
// base_type/base_typmod receive the resolved base type.
bool IsStampType(Oid typid, Oid *base_type, int32 *base_typmod);

}  // namespace steward::updated_at
