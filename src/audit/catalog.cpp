// Catalog support of the audit trail, called from its SQL functions (not a
// hot path): the AFTER trigger on steward.audit_tables that drops every
// backend's cached options of a table and its partitions, the copy of a
// partitioned table's audit trigger onto a partition, and the read of a
// table's options and latest version for the trigger's cache.
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
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
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

namespace steward::audit {
namespace {

// Attribute number of column `name` of rel (which the extension created).
AttrNumber Column(Relation rel, const char *name) {
    TupleDesc desc = RelationGetDescr(rel);
    for (int a = 0; a < desc->natts; ++a) {
        Form_pg_attribute att = TupleDescAttr(desc, a);
        if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0) return att->attnum;
    }
    elog(ERROR, "pg_steward: column \"%s\" of \"%s\" is missing", name, RelationGetRelationName(rel));
    pg_unreachable();
}

Oid AccessMethodOf(Oid relid) {
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tuple)) return InvalidOid;
    Oid am = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relam;
    ReleaseSysCache(tuple);
    return am;
}

// The valid ascending btree index of rel on exactly `first` (and `second`
// unless 0), or InvalidOid.
Oid IndexOn(Relation rel, AttrNumber first, AttrNumber second) {
    List *indexes = RelationGetIndexList(rel);
    ListCell *lc;
    foreach (lc, indexes) {
        Oid index_oid = lfirst_oid(lc);
        HeapTuple tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index_oid));
        if (!HeapTupleIsValid(tuple)) continue;
        auto *index = reinterpret_cast<Form_pg_index>(GETSTRUCT(tuple));
        int want = second != 0 ? 2 : 1;
        bool match = index->indnkeyatts == want && index->indkey.values[0] == first &&
                     (second == 0 || index->indkey.values[1] == second) && index->indisvalid &&
                     heap_attisnull(tuple, Anum_pg_index_indpred, nullptr) &&
                     heap_attisnull(tuple, Anum_pg_index_indexprs, nullptr) &&
                     AccessMethodOf(index_oid) == BTREE_AM_OID;
        if (match) {
            bool isnull;
            Datum options = SysCacheGetAttr(INDEXRELID, tuple, Anum_pg_index_indoption, &isnull);
            auto *vector = reinterpret_cast<int2vector *>(DatumGetPointer(options));
            for (int k = 0; k < want && !isnull; ++k) match = match && (vector->values[k] & INDOPTION_DESC) == 0;
        }
        ReleaseSysCache(tuple);
        if (match) return index_oid;
    }
    return InvalidOid;
}

// Where a column of the result comes from.
struct Source {
    int position;
    const char *column;
};

Relation OpenOwnTable(const char *name) {
    Oid nsp = get_namespace_oid("steward", false);
    Oid relid = get_relname_relid(name, nsp);
    if (!OidIsValid(relid)) elog(ERROR, "pg_steward: table steward.%s is missing", name);
    return table_open(relid, AccessShareLock);
}

// Column `attno` of tuple, copied (varlena values detoasted) into the
// current memory context; an oid-based array (regtype[]) as oid[].
Datum Copied(HeapTuple tuple, Relation rel, AttrNumber attno, bool *isnull) {
    Datum value = heap_getattr(tuple, attno, RelationGetDescr(rel), isnull);
    if (*isnull) return 0;
    Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attno - 1);
    if (att->attbyval) return value;
    if (att->attlen != -1) return datumCopy(value, false, att->attlen);
    auto *copy = reinterpret_cast<struct varlena *>(PG_DETOAST_DATUM_COPY(value));
    if (att->atttypid == REGTYPEARRAYOID) {
        ArrayType *array = reinterpret_cast<ArrayType *>(copy);
        ARR_ELEMTYPE(array) = OIDOID;  // same storage
    }
    return PointerGetDatum(copy);
}

}  // namespace

bool ReadCurrentVersion(Oid relid, Datum *values, bool *nulls) {
    for (int i = 0; i < kCurrentVersionColumns; ++i) nulls[i] = true;
    Snapshot snapshot = GetActiveSnapshot();
    Relation tables = OpenOwnTable("audit_tables");
    AttrNumber t_tbl = Column(tables, "tbl");
    Oid tables_index = IndexOn(tables, t_tbl, 0);
    if (!OidIsValid(tables_index)) {  // (not as the extension made it: the SQL path decides)
        table_close(tables, NoLock);
        return false;
    }
    ScanKeyData key;
    ScanKeyInit(&key, t_tbl, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));  // heap attnos
    SysScanDesc scan = systable_beginscan(tables, tables_index, true, snapshot, 1, &key);
    HeapTuple row = systable_getnext(scan);
    bool found = HeapTupleIsValid(row);
    bool enabled = false;
    int32 table_id = 0;
    if (found) {
        bool isnull;
        Datum on = heap_getattr(row, Column(tables, "enabled"), RelationGetDescr(tables), &isnull);
        enabled = !isnull && DatumGetBool(on);
        Datum id = heap_getattr(row, Column(tables, "table_id"), RelationGetDescr(tables), &isnull);
        table_id = isnull ? 0 : DatumGetInt32(id);
        for (const Source &f : {Source{0, "table_id"}, Source{2, "full_row"}, Source{3, "log_noop"},
                                Source{4, "log_statement"}, Source{9, "excluded"}, Source{10, "redacted"}})
            values[f.position] = Copied(row, tables, Column(tables, f.column), &nulls[f.position]);
    }
    systable_endscan(scan);
    table_close(tables, NoLock);  // (the lock is kept to the end of the transaction, as a query's)
    if (!found || !enabled) return false;

    Relation versions = OpenOwnTable("audit_versions");
    AttrNumber v_table = Column(versions, "table_id");
    Oid versions_index = IndexOn(versions, v_table, Column(versions, "version_id"));
    if (!OidIsValid(versions_index)) {
        table_close(versions, NoLock);
        return false;
    }
    ScanKeyInit(&key, v_table, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(table_id));
    Relation index = index_open(versions_index, AccessShareLock);
    SysScanDesc vscan = systable_beginscan_ordered(versions, index, snapshot, 1, &key);
    HeapTuple version = systable_getnext_ordered(vscan, BackwardScanDirection);  // the latest
    bool have_version = HeapTupleIsValid(version);
    if (have_version) {
        for (const Source &f : {Source{1, "version_id"}, Source{5, "attnums"}, Source{6, "storage"},
                                Source{7, "redacted"}, Source{8, "key_positions"}, Source{11, "relid"},
                                Source{12, "schema_name"}, Source{13, "table_name"}, Source{14, "columns"},
                                Source{15, "types"}})
            values[f.position] = Copied(version, versions, Column(versions, f.column), &nulls[f.position]);
    }
    systable_endscan_ordered(vscan);
    index_close(index, NoLock);
    table_close(versions, NoLock);
    return have_version;
}

}  // namespace steward::audit
