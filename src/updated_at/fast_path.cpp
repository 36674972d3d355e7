// The updated_at fast path: stamp in the statement, not in a trigger.
//
// A BEFORE ROW trigger costs every row a re-fetch of the old row, a new heap
// tuple and a store back, whatever the function does (~14% of a narrow bulk
// UPDATE). For an UPDATE of a table that has an enabled steward trigger and
// whose statement does not assign the stamp column, the post-parse-analysis
// hook adds `column = now()` (coerced to the column's type, domain checked)
// to the statement's target list. The trigger's own rule is that an
// assignment made by the statement wins, so for that statement the trigger
// would do nothing: the ExecutorStart hook removes it from the executor's
// private copy of the trigger list of each result relation that assigns the
// column. Both halves are safe alone: the target-list entry gives the same
// value the trigger would, and a trigger is only dropped where it is a no-op.
//
// The column is deliberately not added to the statement's updatedCols: the
// trigger path needs no column UPDATE privilege on the stamp either, and
// UPDATE OF triggers on the stamp column do not fire in either path.
//
// Active in every session once the library is loaded (preloaded, or loaded
// by the first trigger call); `steward.updated_at_fast_path = off` disables.
#include "boundary/boundary.hpp"
#include "module.hpp"
#include "updated_at/updated_at.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "parser/parse_coerce.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/syscache.h"
}

namespace steward::updated_at {
namespace {

bool g_fast_path_enabled = true;
post_parse_analyze_hook_type g_prev_post_parse_analyze = nullptr;
ExecutorStart_hook_type g_prev_executor_start = nullptr;

bool g_oid_valid = false;
Oid g_trigger_oid = InvalidOid;

void InvalidateOid(Datum, int, uint32) { g_oid_valid = false; }

// Would `trigger` (ours) fire as a plain BEFORE ROW UPDATE trigger now?
bool IsPlainStampTrigger(const Trigger *t, Oid fn) {
    if (t->tgfoid != fn || t->tgnargs > 1 || t->tgqual != nullptr || t->tgnattr > 0)
        return false;
    if (!TRIGGER_FOR_ROW(t->tgtype) || !TRIGGER_FOR_BEFORE(t->tgtype) ||
        !TRIGGER_FOR_UPDATE(t->tgtype))
        return false;
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

AttrNumber StampColumn(const Trigger *t, TupleDesc desc) {
    const char *column = t->tgnargs == 1 ? t->tgargs[0] : kDefaultColumn;
    for (int i = 0; i < desc->natts; ++i) {
        Form_pg_attribute a = TupleDescAttr(desc, i);
        if (!a->attisdropped && strcmp(NameStr(a->attname), column) == 0)
            return a->attnum;
    }
    return InvalidAttrNumber;
}

// A column the trigger accepts (exists, stamp type, not generated); the
// trigger itself reports every other case, so those are never optimised away.
bool IsValidStampColumn(TupleDesc desc, AttrNumber attnum) {
    if (attnum == InvalidAttrNumber) return false;
    Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
    Oid base;
    int32 base_typmod;
    return IsStampType(att->atttypid, &base, &base_typmod) && !att->attgenerated;
}

void AddStampAssignment(ParseState *pstate, Query *query) {
    Relation rel = pstate->p_target_relation;
    if (rel == nullptr || rel->trigdesc == nullptr || !rel->trigdesc->trig_update_before_row)
        return;
    // Only a table without children (or UPDATE ONLY): the assignment would
    // reach every child, while each child fires (or lacks, or has disabled)
    // its own trigger. Partitioned tables and inheritance parents keep the
    // trigger path, which asks each partition.
    if (rel->rd_rel->relkind != RELKIND_RELATION) return;
    if (rel->rd_rel->relhassubclass && rt_fetch(query->resultRelation, query->rtable)->inh) return;
    TupleDesc desc = RelationGetDescr(rel);
    if (desc->constr != nullptr && desc->constr->has_generated_stored) return;
    Oid fn = TriggerFunctionOid();
    if (!OidIsValid(fn)) return;
    const Trigger *ours = nullptr;
    for (int i = 0; i < rel->trigdesc->numtriggers; ++i) {
        const Trigger *t = &rel->trigdesc->triggers[i];
        if (t->tgfoid != fn) continue;
        if (ours != nullptr || !IsPlainStampTrigger(t, fn)) return;  // unusual: leave to triggers
        ours = t;
    }
    if (ours == nullptr) return;
    AttrNumber attnum = StampColumn(ours, desc);
    if (!IsValidStampColumn(desc, attnum)) return;  // the trigger will report it
    Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
    ListCell *lc;
    foreach (lc, query->targetList) {
        auto *te = static_cast<TargetEntry *>(lfirst(lc));
        if (!te->resjunk && te->resno == attnum) return;  // assigned by the statement
    }
    Node *now = reinterpret_cast<Node *>(
        makeFuncExpr(F_NOW, TIMESTAMPTZOID, NIL, InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL));
    Node *value = coerce_to_target_type(pstate, now, TIMESTAMPTZOID, att->atttypid,
                                        att->atttypmod, COERCION_ASSIGNMENT,
                                        COERCE_IMPLICIT_CAST, -1);
    if (value == nullptr) return;
    query->targetList = lappend(
        query->targetList, makeTargetEntry(reinterpret_cast<Expr *>(value), attnum,
                                           pstrdup(NameStr(att->attname)), false));
}

void PostParseAnalyze(ParseState *pstate, Query *query, JumbleState *jstate) {
    if (g_prev_post_parse_analyze) g_prev_post_parse_analyze(pstate, query, jstate);
    if (!g_fast_path_enabled) return;
    // EXPLAIN [ANALYZE] UPDATE: the UPDATE was analyzed with the same pstate.
    if (query->commandType == CMD_UTILITY && query->utilityStmt != nullptr &&
        IsA(query->utilityStmt, ExplainStmt)) {
        Node *inner = reinterpret_cast<ExplainStmt *>(query->utilityStmt)->query;
        if (inner == nullptr || !IsA(inner, Query)) return;
        query = reinterpret_cast<Query *>(inner);
    }
    if (query->commandType == CMD_UPDATE && query->resultRelation > 0)
        AddStampAssignment(pstate, query);
}

// Rebuild a TriggerDesc's summary flags after triggers were removed.
void RecomputeFlags(TriggerDesc *td) {
    bool *first = &td->trig_insert_before_row;
    bool *last = &td->trig_delete_old_table;
    for (bool *f = first; f <= last; ++f) *f = false;
    for (int i = 0; i < td->numtriggers; ++i) {
        const Trigger *t = &td->triggers[i];
        int16 type = t->tgtype;
        auto set = [type](int16 event, bool &row_before, bool &row_after, bool &row_instead,
                          bool &stmt_before, bool &stmt_after) {
            if (!(type & event)) return;
            if (TRIGGER_FOR_ROW(type)) {
                if (TRIGGER_FOR_BEFORE(type)) row_before = true;
                else if (TRIGGER_FOR_INSTEAD(type)) row_instead = true;
                else row_after = true;
            } else {
                if (TRIGGER_FOR_BEFORE(type)) stmt_before = true;
                else stmt_after = true;
            }
        };
        set(TRIGGER_TYPE_INSERT, td->trig_insert_before_row, td->trig_insert_after_row,
            td->trig_insert_instead_row, td->trig_insert_before_statement,
            td->trig_insert_after_statement);
        set(TRIGGER_TYPE_UPDATE, td->trig_update_before_row, td->trig_update_after_row,
            td->trig_update_instead_row, td->trig_update_before_statement,
            td->trig_update_after_statement);
        set(TRIGGER_TYPE_DELETE, td->trig_delete_before_row, td->trig_delete_after_row,
            td->trig_delete_instead_row, td->trig_delete_before_statement,
            td->trig_delete_after_statement);
        if (type & TRIGGER_TYPE_TRUNCATE) {
            if (TRIGGER_FOR_BEFORE(type)) td->trig_truncate_before_statement = true;
            else td->trig_truncate_after_statement = true;
        }
        if (t->tgnewtable && (type & TRIGGER_TYPE_INSERT)) td->trig_insert_new_table = true;
        if (t->tgoldtable && (type & TRIGGER_TYPE_UPDATE)) td->trig_update_old_table = true;
        if (t->tgnewtable && (type & TRIGGER_TYPE_UPDATE)) td->trig_update_new_table = true;
        if (t->tgoldtable && (type & TRIGGER_TYPE_DELETE)) td->trig_delete_old_table = true;
    }
}

// Drop our trigger from result relations whose statement assigns the column.
void StripRedundantTriggers(ModifyTableState *mt) {
    auto *plan = reinterpret_cast<ModifyTable *>(mt->ps.plan);
    Oid fn = InvalidOid;
    for (int r = 0; r < mt->mt_nrels; ++r) {
        ResultRelInfo *rri = &mt->resultRelInfo[r];
        TriggerDesc *td = rri->ri_TrigDesc;
        if (td == nullptr || !td->trig_update_before_row) continue;
        if (fn == InvalidOid && !OidIsValid(fn = TriggerFunctionOid())) return;
        List *colnos = static_cast<List *>(list_nth(plan->updateColnosLists, r));
        TupleDesc desc = RelationGetDescr(rri->ri_RelationDesc);
        int kept = 0;
        for (int i = 0; i < td->numtriggers; ++i) {
            Trigger *t = &td->triggers[i];
            if (!(IsPlainStampTrigger(t, fn) && IsValidStampColumn(desc, StampColumn(t, desc)) &&
                  list_member_int(colnos, StampColumn(t, desc))))
                td->triggers[kept++] = *t;  // keep: it has work to do, or an error to report
        }
        if (kept != td->numtriggers) {
            td->numtriggers = kept;
            RecomputeFlags(td);
        }
    }
}

void ExecutorStart(QueryDesc *query_desc, int eflags) {
    if (g_prev_executor_start)
        g_prev_executor_start(query_desc, eflags);
    else
        standard_ExecutorStart(query_desc, eflags);
    if (!g_fast_path_enabled || query_desc->operation != CMD_UPDATE) return;
    PlanState *top = query_desc->planstate;
    if (top != nullptr && IsA(top, ModifyTableState)) {
        auto *mt = reinterpret_cast<ModifyTableState *>(top);
        if (mt->operation == CMD_UPDATE && mt->ps.plan != nullptr &&
            reinterpret_cast<ModifyTable *>(mt->ps.plan)->updateColnosLists != NIL)
            StripRedundantTriggers(mt);
    }
}

void Init() {
    DefineCustomBoolVariable(
        "steward.updated_at_fast_path",
        "Stamps updated_at columns in the UPDATE statement instead of in the trigger.",
        "Same result as the trigger; off only to compare or to debug.", &g_fast_path_enabled,
        true, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    CacheRegisterSyscacheCallback(PROCOID, InvalidateOid, 0);
    CacheRegisterSyscacheCallback(NAMESPACEOID, InvalidateOid, 0);
    g_prev_post_parse_analyze = post_parse_analyze_hook;
    post_parse_analyze_hook = PostParseAnalyze;
    g_prev_executor_start = ExecutorStart_hook;
    ExecutorStart_hook = ExecutorStart;
}

}  // namespace

Oid TriggerFunctionOid() {
    if (!g_oid_valid) {
        g_trigger_oid = InvalidOid;
        Oid ns = get_namespace_oid("steward", true);
        if (OidIsValid(ns)) {
            List *name = list_make2(makeString(pstrdup("steward")),
                                    makeString(pstrdup("set_updated_at")));
            g_trigger_oid = LookupFuncName(name, 0, nullptr, true);
            list_free_deep(name);
        }
        g_oid_valid = true;
    }
    return g_trigger_oid;
}

STEWARD_MODULE_INIT(updated_at, Init);

}  // namespace steward::updated_at
