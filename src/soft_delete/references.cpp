// Soft delete and foreign keys: the referential checks of a soft delete run
// at the end of the statement, after every cascade, as a real DELETE's do.
//
// A real DELETE checks ON DELETE RESTRICT / NO ACTION references in AFTER
// triggers at the end of the statement, and the actions of ON DELETE CASCADE
// queue their own triggers into the same statement (SPI without
// fire_triggers). A soft delete does the same with three pieces:
//
//  * the trigger path marks a row, and the cascade marks children, with an
//    UPDATE whose AFTER triggers join the current statement
//    (steward._soft_delete_cascade_update(), and trigger.cpp), so every
//    cascade of a statement runs while that statement fires its AFTER
//    triggers, whatever the path;
//  * steward._soft_delete_cascade() (PL/pgSQL, AFTER UPDATE row trigger of
//    referenced tables) hands each RESTRICT / NO ACTION check to
//    steward._soft_delete_defer_check(), which keeps it;
//  * the ExecutorFinish hook runs the kept checks once the statement has
//    fired all its AFTER triggers, i.e. after all cascades: one call of
//    steward._soft_delete_check_references() per foreign key.
//
// So a "diamond" (a child reached by a cascade and referenced NO ACTION by
// another cascaded child) and a self-referencing tree deleted in one
// statement succeed or fail as a real DELETE does, independent of constraint
// names and of the path. Checks outside any statement end (a cascade fired
// by a trigger queue we do not wrap) run at once. The cascade trigger's WHEN
// clause calls steward._soft_delete_load(), which loads the library while
// the statement still runs, so its end is always wrapped here.
//
// Hot path rules (boundary.hpp): plain data only; PostgreSQL called
// directly; the state is restored by PG_TRY and the transaction callbacks.
#include "boundary/boundary.hpp"
#include "module.hpp"
#include "soft_delete/soft_delete.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
}

namespace steward::soft_delete {
namespace {

// One RESTRICT / NO ACTION check kept for the end of a statement.
struct PendingCheck {
    Oid constraint;             // the foreign key
    int depth;                  // ExecutorFinish nesting level that ends it
    SubTransactionId subxact;   // forgotten when this subtransaction aborts
    char *parent;               // the parent row as jsonb text
};

ExecutorFinish_hook_type g_prev_finish = nullptr;
int g_finish_depth = 0;   // ExecutorFinish calls running inside our hook
List *g_pending = NIL;    // PendingCheck *, in TopTransactionContext

void FreeCheck(PendingCheck *check) {
    pfree(check->parent);
    pfree(check);
}

// Drop the checks of statements at `depth` or deeper (they failed).
void Forget(int depth) {
    ListCell *lc;
    foreach (lc, g_pending) {
        auto *check = static_cast<PendingCheck *>(lfirst(lc));
        if (check->depth >= depth) {
            FreeCheck(check);
            g_pending = foreach_delete_current(g_pending, lc);
        }
    }
}

// Run (and drop) the checks kept for statements at `depth` or deeper, one
// call per foreign key, in the order the keys were first met.
void RunChecks(int depth) {
    List *mine = NIL;
    ListCell *lc;
    foreach (lc, g_pending) {
        auto *check = static_cast<PendingCheck *>(lfirst(lc));
        if (check->depth >= depth) {
            mine = lappend(mine, check);
            g_pending = foreach_delete_current(g_pending, lc);
        }
    }
    if (mine == NIL) return;
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    Oid types[2] = {OIDOID, TEXTOID};
    SPIPlanPtr plan = SPI_prepare(
        "SELECT steward._soft_delete_check_references($1, $2::pg_catalog.jsonb)", 2, types);
    if (plan == nullptr)
        elog(ERROR, "could not prepare the soft delete reference check: %s",
             SPI_result_code_string(SPI_result));
    StringInfoData rows;
    initStringInfo(&rows);
    foreach (lc, mine) {
        auto *first = static_cast<PendingCheck *>(lfirst(lc));
        if (!OidIsValid(first->constraint)) continue;  // already part of an earlier call
        Oid constraint = first->constraint;
        resetStringInfo(&rows);
        appendStringInfoChar(&rows, '[');
        for (ListCell *rc = lc; rc != nullptr; rc = lnext(mine, rc)) {
            auto *check = static_cast<PendingCheck *>(lfirst(rc));
            if (check->constraint != constraint) continue;
            if (rows.len > 1) appendStringInfoChar(&rows, ',');
            appendStringInfoString(&rows, check->parent);
            check->constraint = InvalidOid;
        }
        appendStringInfoChar(&rows, ']');
        Datum values[2] = {ObjectIdGetDatum(constraint), CStringGetTextDatum(rows.data)};
        int rc = SPI_execute_plan(plan, values, nullptr, false, 0);
        if (rc != SPI_OK_SELECT)
            elog(ERROR, "soft delete reference check failed: %s", SPI_result_code_string(rc));
    }
    SPI_finish();
    foreach (lc, mine) FreeCheck(static_cast<PendingCheck *>(lfirst(lc)));
    list_free(mine);
}

void ExecutorFinish(QueryDesc *qd) {
    // A statement run without firing its AFTER triggers (SPI with
    // fire_triggers = false: the trigger path's mark of each row, the
    // cascade's UPDATEs) calls none here: nothing to wait for, so nothing
    // to wrap (it saves the per-row cost of PG_TRY on the trigger path).
    if (qd->estate != nullptr && (qd->estate->es_top_eflags & EXEC_FLAG_SKIP_TRIGGERS) != 0) {
        if (g_prev_finish)
            g_prev_finish(qd);
        else
            standard_ExecutorFinish(qd);
        return;
    }
    int depth = ++g_finish_depth;
    PG_TRY();
    {
        if (g_prev_finish)
            g_prev_finish(qd);
        else
            standard_ExecutorFinish(qd);
        if (g_pending != NIL) RunChecks(depth);  // every AFTER trigger has fired
    }
    PG_CATCH();
    {
        g_finish_depth = depth - 1;
        Forget(depth);
        PG_RE_THROW();
    }
    PG_END_TRY();
    g_finish_depth = depth - 1;
}

void OnXact(XactEvent event, void *) {
    switch (event) {
        case XACT_EVENT_COMMIT:
        case XACT_EVENT_PARALLEL_COMMIT:
        case XACT_EVENT_ABORT:
        case XACT_EVENT_PARALLEL_ABORT:
        case XACT_EVENT_PREPARE:
            g_pending = NIL;  // TopTransactionContext goes away
            g_finish_depth = 0;
            break;
        default:
            break;
    }
}

void OnSubXact(SubXactEvent event, SubTransactionId mine, SubTransactionId parent, void *) {
    if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB) return;
    ListCell *lc;
    foreach (lc, g_pending) {
        auto *check = static_cast<PendingCheck *>(lfirst(lc));
        if (check->subxact != mine) continue;
        if (event == SUBXACT_EVENT_COMMIT_SUB) {
            check->subxact = parent;
        } else {  // its marks are rolled back
            FreeCheck(check);
            g_pending = foreach_delete_current(g_pending, lc);
        }
    }
}

void Init() {
    g_prev_finish = ExecutorFinish_hook;
    ExecutorFinish_hook = ExecutorFinish;
    RegisterXactCallback(OnXact, nullptr);
    RegisterSubXactCallback(OnSubXact, nullptr);
}

}  // namespace

STEWARD_MODULE_INIT(soft_delete_references, Init);

}  // namespace steward::soft_delete

using namespace steward::soft_delete;

// steward._soft_delete_defer_check(constraint oid, parent text) -> boolean:
// keep the RESTRICT / NO ACTION check of foreign key `constraint` for the
// soft-deleted row `parent` (jsonb text) until the current statement has
// fired all its AFTER triggers. False when no statement end is wrapped here
// (the caller then checks at once).
STEWARD_FUNCTION(steward_soft_delete_defer_check) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || g_finish_depth == 0) PG_RETURN_BOOL(false);
    MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
    auto *check = static_cast<PendingCheck *>(palloc(sizeof(PendingCheck)));
    check->constraint = PG_GETARG_OID(0);
    check->depth = g_finish_depth;
    check->subxact = GetCurrentSubTransactionId();
    check->parent = text_to_cstring(PG_GETARG_TEXT_PP(1));
    g_pending = lappend(g_pending, check);
    MemoryContextSwitchTo(old);
    PG_RETURN_BOOL(true);
}

// steward._soft_delete_cascade_update(sql text, parent anyelement) -> bigint:
// run the cascade's UPDATE of children (sql, $1 = the parent row) so that
// its AFTER triggers, the children's cascades and checks included, join the
// current statement (as PostgreSQL runs referential actions). Returns the
// rows marked.
STEWARD_FUNCTION(steward_soft_delete_cascade_update) {
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("cascade statement must not be null")));
    char *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
    Oid type = get_fn_expr_argtype(fcinfo->flinfo, 1);
    if (!OidIsValid(type)) elog(ERROR, "steward._soft_delete_cascade_update: unknown row type");
    Datum value = PG_GETARG_DATUM(1);
    char null = PG_ARGISNULL(1) ? 'n' : ' ';
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    SPIPlanPtr plan = SPI_prepare(sql, 1, &type);
    if (plan == nullptr)
        elog(ERROR, "could not prepare the soft delete cascade: %s",
             SPI_result_code_string(SPI_result));
    // checked before it runs: exactly one UPDATE
    List *sources = SPI_plan_get_plan_sources(plan);
    if (list_length(sources) != 1 ||
        static_cast<CachedPlanSource *>(linitial(sources))->commandTag != CMDTAG_UPDATE)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("cascade statement must be one UPDATE")));
    // Its AFTER triggers join the current query's: called outside any (a
    // plain SELECT of this internal function) PostgreSQL refuses with an
    // internal error, reported here for what it is.
    int rc = 0;
    MemoryContext cxt = CurrentMemoryContext;
    PG_TRY();
    { rc = SPI_execute_snapshot(plan, &value, &null, InvalidSnapshot, InvalidSnapshot, false, false, 0); }
    PG_CATCH();
    {
        MemoryContextSwitchTo(cxt);
        ErrorData *error = CopyErrorData();
        if (error->sqlerrcode != ERRCODE_INTERNAL_ERROR || strstr(error->message, "outside of query") == nullptr)
            PG_RE_THROW();
        FlushErrorState();
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("steward._soft_delete_cascade_update() can only run inside a data-modifying statement"),
                        errdetail("It is called by the soft delete cascade trigger.")));
    }
    PG_END_TRY();
    if (rc != SPI_OK_UPDATE)
        elog(ERROR, "soft delete cascade failed: %s", SPI_result_code_string(rc));
    uint64 marked = SPI_processed;
    SPI_finish();
    PG_RETURN_INT64(static_cast<int64>(marked));
}

// steward._soft_delete_load() -> true. In the WHEN clause of the cascade
// trigger: evaluating it loads the library while the UPDATE still runs, so
// the statement's end is wrapped by the hook above even in a session that
// had not loaded pg_steward yet. Immutable: folded once per statement.
STEWARD_FUNCTION(steward_soft_delete_load) { PG_RETURN_BOOL(true); }
