// Catalog support of the audit trail, called from its SQL functions (not a
// hot path): the AFTER trigger on steward.audit_tables that drops every
// backend's cached options of a table and its partitions, and the copy of a
// partitioned table's audit trigger onto a partition.
//
// Plain data and direct PostgreSQL calls only.
#include "audit/audit.hpp"
#include "boundary/boundary.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
}

namespace steward::audit {
namespace {

// Relcache invalidation of relid and its partitions (the audit trigger's
// per-backend cache of a relation is dropped with its relcache entry).
void InvalidateTree(Oid relid) {
    if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid))) return;
    List *rels = find_all_inheritors(relid, NoLock, nullptr);
    ListCell *lc;
    foreach (lc, rels) {
        Oid oid = lfirst_oid(lc);
        if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(oid))) CacheInvalidateRelcacheByRelid(oid);
    }
}

void InvalidateTableOf(HeapTuple tuple, TupleDesc desc, int attno) {
    if (tuple == nullptr) return;
    bool isnull;
    Datum tbl = heap_getattr(tuple, attno, desc, &isnull);
    if (!isnull) InvalidateTree(DatumGetObjectId(tbl));
}

}  // namespace
}  // namespace steward::audit

using namespace steward::audit;

// AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW on steward.audit_tables.
STEWARD_FUNCTION(steward_audit_tables_changed) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("steward._audit_tables_changed() was not called by the trigger manager")));
    auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
    if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("steward._audit_tables_changed() must be fired AFTER ... FOR EACH ROW")));
    TupleDesc desc = RelationGetDescr(td->tg_relation);
    int attno = SPI_fnumber(desc, "tbl");
    if (attno <= 0) elog(ERROR, "steward.audit_tables has no column \"tbl\"");
    InvalidateTableOf(td->tg_trigtuple, desc, attno);
    if (TRIGGER_FIRED_BY_UPDATE(td->tg_event)) InvalidateTableOf(td->tg_newtuple, desc, attno);
    return PointerGetDatum(nullptr);
}

// steward._audit_clone_trigger(parent_trigger oid, part regclass): create on
// part a copy of the audit trigger parent_trigger of part's parent, as
// PostgreSQL clones row triggers onto partitions (CloneRowTriggersToPartition):
// same name, kind, transition tables and enabled state, tgparentid set.
STEWARD_FUNCTION(steward_audit_clone_trigger) {
    Oid parent_trigger = PG_GETARG_OID(0);
    Oid part = PG_GETARG_OID(1);
    Relation tgrel = table_open(TriggerRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ,
                ObjectIdGetDatum(parent_trigger));
    SysScanDesc scan = systable_beginscan(tgrel, TriggerOidIndexId, true, nullptr, 1, &key);
    HeapTuple tuple = systable_getnext(scan);
    if (!HeapTupleIsValid(tuple))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("trigger with OID %u does not exist", parent_trigger)));
    auto *trigger = reinterpret_cast<Form_pg_trigger>(GETSTRUCT(tuple));
    Oid audit_trigger = LookupFuncName(list_make2(makeString(pstrdup("steward")),
                                                  makeString(pstrdup("audit_trigger"))),
                                       0, nullptr, false);
    if (trigger->tgfoid != audit_trigger || TRIGGER_FOR_ROW(trigger->tgtype))
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("trigger \"%s\" is not an audit trigger", NameStr(trigger->tgname))));
    if (!has_superclass(part) || get_partition_parent(part, false) != trigger->tgrelid)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("\"%s\" is not a partition of the trigger's table",
                               get_rel_name(part))));

    CreateTrigStmt *stmt = makeNode(CreateTrigStmt);
    stmt->trigname = pstrdup(NameStr(trigger->tgname));
    stmt->relation = nullptr;
    stmt->funcname = list_make2(makeString(pstrdup("steward")), makeString(pstrdup("audit_trigger")));
    stmt->args = NIL;
    stmt->row = false;
    stmt->timing = static_cast<int16>(trigger->tgtype & TRIGGER_TYPE_TIMING_MASK);
    stmt->events = static_cast<int16>(trigger->tgtype & TRIGGER_TYPE_EVENT_MASK);
    stmt->columns = NIL;
    stmt->whenClause = nullptr;
    stmt->transitionRels = NIL;
    for (AttrNumber attno : {Anum_pg_trigger_tgoldtable, Anum_pg_trigger_tgnewtable}) {
        bool isnull;
        Datum name = heap_getattr(tuple, attno, RelationGetDescr(tgrel), &isnull);
        if (isnull) continue;
        TriggerTransition *tt = makeNode(TriggerTransition);
        tt->name = pstrdup(NameStr(*DatumGetName(name)));
        tt->isNew = attno == Anum_pg_trigger_tgnewtable;
        tt->isTable = true;
        stmt->transitionRels = lappend(stmt->transitionRels, tt);
    }
    stmt->isconstraint = false;
    stmt->deferrable = false;
    stmt->initdeferred = false;
    stmt->constrrel = nullptr;
    char enabled = trigger->tgenabled;
    systable_endscan(scan);
    table_close(tgrel, AccessShareLock);
    CreateTriggerFiringOn(stmt, nullptr, part, InvalidOid, InvalidOid, InvalidOid, audit_trigger,
                          parent_trigger, nullptr, false, true, enabled);
    PG_RETURN_VOID();
}
