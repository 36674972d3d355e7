// Soft delete by statement rewrite: correct row counts and RETURNING.
//
// A BEFORE DELETE trigger that marks the row and returns NULL makes the
// client see `DELETE 0` and an empty RETURNING, which breaks ORMs that check
// affected-row counts. So when the library is loaded in the session, the
// planner hook turns `DELETE FROM t WHERE q` on a soft-delete-enabled table
// into `UPDATE t SET col = now() WHERE q AND col IS NULL` (RETURNING kept: it
// returns the rows as marked), after the rewriter (views, rules, row
// security are already expanded, so a DELETE through a view over t is
// rewritten too). The ExecutorRun hook then reports the statement as
// `DELETE n`. Rows marked are exactly those the trigger would mark: the
// trigger also skips rows deleted (in the statement's snapshot too, see
// trigger.cpp), and the rewrite is only done where
// the trigger would be the first BEFORE DELETE row trigger to fire (otherwise
// the statement is left to the trigger).
//
// Privileges: a soft delete is an UPDATE of the column, in both paths, so it
// needs DELETE on the table and UPDATE on the column. Row security: tables
// where it applies are always left to the trigger, whose UPDATE meets the
// UPDATE policies (the rewritten statement would only meet the DELETE ones),
// so such a table behaves the same preloaded or not.
#include "boundary/boundary.hpp"
#include "module.hpp"
#include "core/soft_delete_path.hpp"
#include "soft_delete/soft_delete.hpp"

extern "C" {
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/plancache.h"
#include "utils/rls.h"
#include "utils/syscache.h"
}

namespace steward::soft_delete {
namespace {

bool g_rewrite_enabled = true;
bool g_hard_delete = false;
// steward._soft_delete_execute_hard() runs its DELETE: hard delete in force
// for it (and whatever it fires), without touching the setting.
bool g_hard_internal = false;
int g_internal_plans = 0;  // DELETEs planned while g_hard_internal

// The rewrite is decided when a statement is planned, so a cached plan made
// with hard delete off must not run while it is on, and the other way
// round. Rather than resetting the whole plan cache at every switch, note
// which kind of plan was made since the last reset, and reset only when a
// plan of the other kind may be cached.
bool g_soft_plans = false;  // a DELETE was rewritten
bool g_hard_plans = false;  // a DELETE was planned while steward.hard_delete was on

void ResetPlans() {
    ResetPlanCache();
    g_soft_plans = false;
    g_hard_plans = false;
}
planner_hook_type g_prev_planner = nullptr;
ExecutorRun_hook_type g_prev_executor_run = nullptr;

bool g_oid_valid = false;
Oid g_trigger_oid = InvalidOid;

void InvalidateOid(Datum, int, uint32) { g_oid_valid = false; }

// The soft-delete column of rel when a DELETE of it may be rewritten, else
// InvalidAttrNumber (the trigger, if any, then handles the statement). The
// decision itself is pure: core/soft_delete_path.cpp.
AttrNumber RewritableColumn(Relation rel, bool inh) {
    TriggerDesc *td = rel->trigdesc;
    if (td == nullptr || !td->trig_delete_before_row) return InvalidAttrNumber;
    Oid fn = TriggerFunctionOid();
    if (!OidIsValid(fn)) return InvalidAttrNumber;
    auto *triggers = static_cast<DeleteTriggerFacts *>(
        palloc(sizeof(DeleteTriggerFacts) * static_cast<size_t>(td->numtriggers)));
    size_t count = 0;
    const Trigger *ours = nullptr;
    for (int i = 0; i < td->numtriggers; ++i) {
        const Trigger *t = &td->triggers[i];
        if (!TRIGGER_FOR_ROW(t->tgtype) || !TRIGGER_FOR_BEFORE(t->tgtype) ||
            !TRIGGER_FOR_DELETE(t->tgtype) || !TriggerFiresNow(t))
            continue;
        bool is_ours = t->tgfoid == fn;
        if (is_ours && ours == nullptr) ours = t;
        triggers[count++] = DeleteTriggerFacts{is_ours, t->tgnargs, t->tgqual != nullptr};
    }
    char kind = rel->rd_rel->relkind;
    TableFacts facts{};
    facts.table_or_partitioned = kind == RELKIND_RELATION || kind == RELKIND_PARTITIONED_TABLE;
    facts.plain_inheritance_children = kind == RELKIND_RELATION && inh && rel->rd_rel->relhassubclass;
    facts.triggers = triggers;
    facts.trigger_count = count;
    AttrNumber attnum = InvalidAttrNumber;
    if (ours != nullptr && ours->tgnargs >= 1) {
        facts.row_security_in_force =
            check_enable_rls(RelationGetRelid(rel), InvalidOid, true) == RLS_ENABLED;
        TupleDesc desc = RelationGetDescr(rel);
        for (int i = 0; i < desc->natts; ++i) {
            Form_pg_attribute a = TupleDescAttr(desc, i);
            if (!a->attisdropped && strcmp(NameStr(a->attname), ours->tgargs[0]) == 0) {
                facts.column_found = true;
                facts.column_is_timestamptz = a->atttypid == TIMESTAMPTZOID;
                facts.column_generated = a->attgenerated != '\0';
                attnum = a->attnum;
                break;
            }
        }
    }
    DeletePath path = ChooseDeletePath(facts);
    pfree(triggers);
    return path == DeletePath::kRewrite ? attnum : InvalidAttrNumber;
}

// A partition may carry its own earlier BEFORE DELETE trigger or have the
// cloned steward trigger disabled: the trigger path would then do something
// else for its rows, so the statement is rewritten only when every partition
// takes the rewrite with the same column. Locks the partitions as the DELETE
// would (RowExclusiveLock).
bool EveryPartitionRewritable(Oid parent, const char *column) {
    List *members = find_all_inheritors(parent, RowExclusiveLock, nullptr);
    bool ok = true;
    ListCell *lc;
    foreach (lc, members) {
        Oid child = lfirst_oid(lc);
        if (child == parent) continue;
        Relation part = table_open(child, NoLock);
        if (part->rd_rel->relkind != RELKIND_PARTITIONED_TABLE) {
            AttrNumber a = RewritableColumn(part, false);
            ok = a != InvalidAttrNumber &&
                 strcmp(NameStr(TupleDescAttr(RelationGetDescr(part), a - 1)->attname), column) == 0;
        }
        table_close(part, NoLock);
        if (!ok) break;
    }
    list_free(members);
    return ok;
}

// DELETE -> UPDATE SET col = now() WHERE ... AND col IS NULL, in place.
void RewriteDelete(Query *query) {
    if (query->resultRelation <= 0 || query->targetList != NIL) return;
    RangeTblEntry *rte = rt_fetch(query->resultRelation, query->rtable);
    if (rte->rtekind != RTE_RELATION) return;
    Relation rel = table_open(rte->relid, NoLock);  // locked by the rewriter
    AttrNumber attnum = RewritableColumn(rel, rte->inh);
    char *attname = attnum != InvalidAttrNumber
                        ? pstrdup(NameStr(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attname))
                        : nullptr;
    bool partitioned = rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE;
    table_close(rel, NoLock);
    if (attnum == InvalidAttrNumber) return;
    if (partitioned && rte->inh && !EveryPartitionRewritable(rte->relid, attname)) return;

    Node *now = reinterpret_cast<Node *>(
        makeFuncExpr(F_NOW, TIMESTAMPTZOID, NIL, InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL));
    query->targetList =
        list_make1(makeTargetEntry(reinterpret_cast<Expr *>(now), attnum, attname, false));
    NullTest *live = makeNode(NullTest);
    live->arg = reinterpret_cast<Expr *>(
        makeVar(query->resultRelation, attnum, TIMESTAMPTZOID, -1, InvalidOid, 0));
    live->nulltesttype = IS_NULL;
    live->argisrow = false;
    live->location = -1;
    FromExpr *jt = query->jointree;
    jt->quals = jt->quals == nullptr
                    ? reinterpret_cast<Node *>(live)
                    : reinterpret_cast<Node *>(make_and_qual(jt->quals, reinterpret_cast<Node *>(live)));
    // ACL_DELETE stays: it also marks the statement for ExecutorRun below.
    rte->requiredPerms |= ACL_UPDATE;
    rte->updatedCols = bms_add_member(rte->updatedCols, attnum - FirstLowInvalidHeapAttributeNumber);
    query->commandType = CMD_UPDATE;
    g_soft_plans = true;
}

// Rewrite the statement's DELETE and its data-modifying WITH queries.
void RewriteDeletes(Query *query) {
    ListCell *lc;
    foreach (lc, query->cteList) {
        auto *cte = static_cast<CommonTableExpr *>(lfirst(lc));
        if (cte->ctequery != nullptr && IsA(cte->ctequery, Query))
            RewriteDeletes(reinterpret_cast<Query *>(cte->ctequery));
    }
    if (query->commandType == CMD_DELETE) RewriteDelete(query);
}

// Does the statement delete (itself or in a WITH query)?
bool HasDelete(const Query *query) {
    if (query->commandType == CMD_DELETE) return true;
    ListCell *lc;
    foreach (lc, query->cteList) {
        auto *cte = static_cast<CommonTableExpr *>(lfirst(lc));
        if (cte->ctequery != nullptr && IsA(cte->ctequery, Query) &&
            HasDelete(reinterpret_cast<Query *>(cte->ctequery)))
            return true;
    }
    return false;
}

PlannedStmt *Planner(Query *parse, const char *query_string, int cursor_options,
                     ParamListInfo bound_params) {
    if (InNoForceRLSOperation()) {
        // a referential action: never rewritten, whatever the settings
    } else if (g_hard_delete || g_hard_internal) {
        if (HasDelete(parse)) {
            if (g_hard_internal)
                ++g_internal_plans;
            else
                g_hard_plans = true;
        }
    } else if (g_rewrite_enabled) {
        RewriteDeletes(parse);
    }
    if (g_prev_planner) return g_prev_planner(parse, query_string, cursor_options, bound_params);
    return standard_planner(parse, query_string, cursor_options, bound_params);
}

// A rewritten soft delete: an UPDATE whose target needs DELETE privilege
// (a real UPDATE never does; MERGE is CMD_MERGE).
bool IsRewrittenDelete(const QueryDesc *qd) {
    const PlannedStmt *ps = qd->plannedstmt;
    if (ps == nullptr || ps->commandType != CMD_UPDATE || ps->planTree == nullptr ||
        !IsA(ps->planTree, ModifyTable))
        return false;
    auto *mt = reinterpret_cast<const ModifyTable *>(ps->planTree);
    if (mt->nominalRelation <= 0) return false;
    const RangeTblEntry *rte = rt_fetch(mt->nominalRelation, ps->rtable);
    return (rte->requiredPerms & ACL_DELETE) != 0;
}

// Report a rewritten soft delete as `DELETE n` (the tag is built from the
// operation right after ExecutorRun).
void ExecutorRun(QueryDesc *qd, ScanDirection direction, uint64 count, bool execute_once) {
    if (g_prev_executor_run)
        g_prev_executor_run(qd, direction, count, execute_once);
    else
        standard_ExecutorRun(qd, direction, count, execute_once);
    if (qd->operation == CMD_UPDATE && IsRewrittenDelete(qd)) qd->operation = CMD_DELETE;
}

// steward.hard_delete may be switched on only inside a session (SET [LOCAL],
// set_config(), steward.hard_delete()): a value from postgresql.conf, ALTER
// ROLE/DATABASE SET or connection options would bypass soft delete for every
// statement without anyone asking for it.
bool CheckHardDelete(bool *newval, void **, GucSource source) {
    if (*newval && source != PGC_S_SESSION) {
        GUC_check_errdetail("steward.hard_delete can only be switched on inside a session.");
        GUC_check_errhint("Use steward.hard_delete() or steward.hard_delete_where().");
        return false;
    }
    return true;
}

// The rewrite is decided when a statement is planned; a cached plan made
// under another value must not be reused (PostgreSQL resets the plan cache
// for session_replication_role): switching hard delete on drops the plans
// if a rewritten one may be cached, switching it off if a DELETE was
// planned meanwhile.
void AssignHardDelete(bool newval, void *) {
    if (newval != g_hard_delete && (newval ? g_soft_plans : g_hard_plans)) ResetPlans();
}
void AssignRewrite(bool newval, void *) {
    if (newval != g_rewrite_enabled) ResetPlans();
}

int g_summary_exact_limit = 10000;

void Init() {
    DefineCustomBoolVariable(
        "steward.soft_delete_rewrite",
        "Rewrites DELETE on soft-delete-enabled tables into an UPDATE of the column.",
        "Gives correct row counts and RETURNING; off leaves every DELETE to the trigger "
        "(same rows marked, the client sees DELETE 0).",
        &g_rewrite_enabled, true, PGC_USERSET, 0, nullptr, AssignRewrite, nullptr);
    DefineCustomBoolVariable(
        "steward.hard_delete",
        "Makes DELETE really remove rows of soft-delete-enabled tables.",
        "Only inside a session (SET LOCAL); prefer steward.hard_delete() and "
        "steward.purge_deleted(), which delete for real without it.",
        &g_hard_delete, false, PGC_USERSET, GUC_NOT_IN_SAMPLE, CheckHardDelete, AssignHardDelete,
        nullptr);
    // Read by steward.soft_delete_summary with current_setting(); defined
    // here so that SET works and shows its default.
    DefineCustomIntVariable(
        "steward.soft_delete_summary_exact_limit",
        "Tables estimated above this many rows are not counted in full by steward.soft_delete_summary.",
        nullptr, &g_summary_exact_limit, 10000, 0, INT_MAX, PGC_USERSET, 0, nullptr, nullptr,
        nullptr);
    CacheRegisterSyscacheCallback(PROCOID, InvalidateOid, 0);
    CacheRegisterSyscacheCallback(NAMESPACEOID, InvalidateOid, 0);
    g_prev_planner = planner_hook;
    planner_hook = Planner;
    g_prev_executor_run = ExecutorRun_hook;
    ExecutorRun_hook = ExecutorRun;
    // Loaded in the middle of a session: statements prepared before were
    // planned without the rewrite; plan them again on their next use.
    if (!process_shared_preload_libraries_in_progress) ResetPlans();
}

}  // namespace

Oid TriggerFunctionOid() {
    if (!g_oid_valid) {
        g_trigger_oid = InvalidOid;
        if (OidIsValid(get_namespace_oid("steward", true))) {
            List *name = list_make2(makeString(pstrdup("steward")),
                                    makeString(pstrdup("_soft_delete_trigger")));
            g_trigger_oid = LookupFuncName(name, 0, nullptr, true);
            list_free_deep(name);
        }
        g_oid_valid = true;
    }
    return g_trigger_oid;
}

bool HardDeleteRequested() { return g_hard_delete || g_hard_internal || InNoForceRLSOperation(); }

bool TriggerFiresNow(const Trigger *t) {
    switch (t->tgenabled) {
        case TRIGGER_FIRES_ALWAYS:
            return true;
        case TRIGGER_FIRES_ON_ORIGIN:
            return SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA;
        case TRIGGER_FIRES_ON_REPLICA:
            return SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA;
        default:
            return false;
    }
}

STEWARD_MODULE_INIT(soft_delete, Init);

}  // namespace steward::soft_delete

// steward.soft_delete_mode(): 'rewrite' when this session's DELETEs on
// enabled tables are rewritten (correct counts and RETURNING), 'trigger' when
// steward.soft_delete_rewrite is off. Calling it loads the library, which is
// what installs the rewrite in a session that did not preload it.
STEWARD_FUNCTION(steward_soft_delete_mode) {
    PG_RETURN_TEXT_P(cstring_to_text(steward::soft_delete::g_rewrite_enabled ? "rewrite" : "trigger"));
}

// steward._soft_delete_preloaded(): is the library preloaded into every
// session (shared_preload_libraries, or session_preload_libraries for this
// session)? If not, the first soft DELETE of a session reports 0 rows
// (enable_soft_delete() says so). Reads the settings without the privilege
// check SHOW applies to them.
STEWARD_FUNCTION(steward_soft_delete_preloaded) {
    if (steward::LoadedAtStartup()) PG_RETURN_BOOL(true);
    const char *session = GetConfigOption("session_preload_libraries", true, false);
    PG_RETURN_BOOL(session != nullptr && strstr(session, "pg_steward") != nullptr);
}

// steward._soft_delete_hard_delete_on(): is hard delete in force (the
// setting, or steward.hard_delete() running)? Read by the TRUNCATE guard. Calling it loads the library, so a value that only
// configuration gave the setting (ALTER ROLE/DATABASE SET, postgresql.conf,
// connection options: accepted as a placeholder while the library was not
// loaded) has been refused by then and reads as off.
STEWARD_FUNCTION(steward_soft_delete_hard_delete_on) {
    PG_RETURN_BOOL(steward::soft_delete::g_hard_delete || steward::soft_delete::g_hard_internal);
}

// steward._soft_delete_execute_hard(sql text, key jsonb, oids oid[], tids tid[]) -> bigint:
// run one DELETE (sql, parameters $1..$3) with hard delete in force, for
// steward.hard_delete(), hard_delete_where() and purge, without switching
// steward.hard_delete (whose every switch may reset the plan cache). The
// plan cache is reset before only when a rewritten plan may be cached (it
// could run inside, e.g. from a trigger), and after only when statements
// other than this one-shot DELETE were planned inside: purge batches in a
// loop reset it at most once.
STEWARD_FUNCTION(steward_soft_delete_execute_hard) {
    using namespace steward::soft_delete;
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("hard delete statement must not be null")));
    char *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
    Oid types[3] = {JSONBOID, OIDARRAYOID, TIDARRAYOID};
    Datum values[3];
    char nulls[3];
    for (int i = 0; i < 3; ++i) {
        values[i] = PG_ARGISNULL(i + 1) ? static_cast<Datum>(0) : PG_GETARG_DATUM(i + 1);
        nulls[i] = PG_ARGISNULL(i + 1) ? 'n' : ' ';
    }
    if (g_soft_plans) ResetPlans();
    bool outer_internal = g_hard_internal;
    int outer_plans = g_internal_plans;
    g_hard_internal = true;
    g_internal_plans = 0;
    uint64 deleted = 0;
    PG_TRY();
    {
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
        SPIPlanPtr plan = SPI_prepare(sql, 3, types);
        if (plan == nullptr)
            elog(ERROR, "could not prepare the hard delete: %s", SPI_result_code_string(SPI_result));
        // a condition like "true; DELETE FROM other" must not run a second
        // statement with hard delete in force
        List *sources = SPI_plan_get_plan_sources(plan);
        if (list_length(sources) != 1)
            ereport(ERROR, (errcode(ERRCODE_SYNTAX_ERROR),
                            errmsg("hard delete condition must not contain more than one statement")));
        // and that one a DELETE, checked before it runs with hard delete in force
        if (static_cast<CachedPlanSource *>(linitial(sources))->commandTag != CMDTAG_DELETE)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("hard delete statement must be one DELETE")));
        int rc = SPI_execute_plan(plan, values, nulls, false, 0);
        if (rc != SPI_OK_DELETE)
            elog(ERROR, "hard delete did not run a DELETE: %s", SPI_result_code_string(rc));
        deleted = SPI_processed;
        SPI_finish();
    }
    PG_FINALLY();
    {
        bool nested = g_internal_plans > 1;
        g_hard_internal = outer_internal;
        g_internal_plans = outer_plans;
        if (nested) ResetPlans();
    }
    PG_END_TRY();
    PG_RETURN_INT64(static_cast<int64>(deleted));
}
