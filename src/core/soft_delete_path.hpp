// Which path a DELETE on a table takes: the statement rewrite (real row
// counts and RETURNING) or the BEFORE DELETE trigger. Pure decision over
// facts the caller reads from the relation, so it is unit-tested alone
// (test/unit/soft_delete_path_test.cpp). The rule: rewrite only where the
// rewrite marks exactly the rows the trigger would.
#pragma once
#include "core/pure.hpp"

#include <cstddef>

namespace steward::soft_delete {

// One BEFORE ROW DELETE trigger that fires now, in firing (name) order.
struct DeleteTriggerFacts {
    bool ours;       // calls steward._soft_delete_trigger()
    int nargs;       // its argument count
    bool has_when;   // has a WHEN clause
};

struct TableFacts {
    bool table_or_partitioned;         // relkind r or p
    bool plain_inheritance_children;   // a non-partitioned parent scanned with its children
    bool row_security_in_force;        // RLS applies to the current user
    const DeleteTriggerFacts *triggers;
    std::size_t trigger_count;
    // The soft-delete column named by our trigger's argument:
    bool column_found;
    bool column_is_timestamptz;        // exactly timestamptz (no domain)
    bool column_generated;
};

enum class DeletePath {
    kRewrite,
    kNotEnabled,          // no firing steward_soft_delete trigger: a plain DELETE
    kNotATable,
    kInheritance,
    kRowSecurity,
    kEarlierTrigger,      // another BEFORE DELETE row trigger fires before ours
    kUnusualTrigger,      // ours with a WHEN clause or a wrong argument count
    kColumn,              // missing, not timestamptz, or generated: the trigger reports it
};

DeletePath ChooseDeletePath(const TableFacts &facts) noexcept;

// Short reason for a path (for docs/tests), never null.
const char *DeletePathName(DeletePath path) noexcept;

}  // namespace steward::soft_delete
