// Soft delete: shared declarations of the BEFORE DELETE trigger (trigger.cpp)
// and the statement rewrite that turns a DELETE into the equivalent UPDATE
// (rewrite.cpp). docs/soft_delete.md describes the behaviour.
#pragma once
#include "boundary/postgres.hpp"

extern "C" {
#include "commands/trigger.h"
#include "utils/rel.h"
}

namespace steward::soft_delete {

// The trigger every soft-delete-enabled table carries (contract with audit:
// its first argument is the soft-delete column).
inline constexpr const char *kTriggerName = "steward_soft_delete";

// Oid of steward._soft_delete_trigger() in this database, or InvalidOid when
// the extension is not installed. Cached; reset by syscache invalidation.
Oid TriggerFunctionOid();

// True when a DELETE must really remove rows: steward.hard_delete is on,
// steward.hard_delete() or purge is running its DELETE
// (steward._soft_delete_execute_hard), or the DELETE is a referential action
// (ON DELETE CASCADE of a really deleted parent), which must never be
// softened or the child would point at a row that no longer exists.
bool HardDeleteRequested();

// Would trigger t fire now, given its enabled state and session_replication_role?
bool TriggerFiresNow(const Trigger *t);

}  // namespace steward::soft_delete
