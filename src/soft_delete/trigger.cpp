// steward._soft_delete_trigger(column): the BEFORE DELETE row trigger every
// soft-delete-enabled table carries (named steward_soft_delete).
//
// It is the path that always works, preloaded or not: the row is marked by
// `UPDATE ONLY rel SET column = now() WHERE ctid = $1` (so UPDATE triggers,
// updated_at and the audit trail see a soft delete as the UPDATE it is; ONLY
// and the trigger's own relation make the ctid unique, also under
// inheritance), and the trigger returns NULL so the row stays. The UPDATE's
// AFTER triggers fire with the DELETE's, at the end of the statement. The client then sees `DELETE 0`
// and an empty RETURNING for that row; when the library is loaded the
// statement is rewritten before it gets here (rewrite.cpp) and the trigger
// never fires for it. An already deleted row keeps its first timestamp, and
// so does a row the statement's snapshot sees deleted (a concurrent restore
// wins), as in the rewrite.
//
// Hot path: plain data only, PostgreSQL called directly (see boundary.hpp).
// The prepared UPDATE is kept per relation, validated by the relation's
// current name, so a rename never makes it hit another table.
#include "boundary/boundary.hpp"
#include "soft_delete/soft_delete.hpp"

extern "C" {
#include "access/stratnum.h"
#include "catalog/pg_operator.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
}

namespace steward::soft_delete {
namespace {

// One prepared "mark this row" statement per relation and column.
struct PlanEntry {
    Oid relid;  // hash key
    AttrNumber attnum;
    // quoted schema.table the plan was made for: each name at most
    // NAMEDATALEN - 1 bytes, every byte a quote at worst (doubled), plus
    // the enclosing quotes, the dot and the terminator
    char label[2 * (2 * (NAMEDATALEN - 1) + 2) + 2];
    SPIPlanPtr plan;
};

HTAB *g_plans = nullptr;

[[noreturn]] void ProtocolError(const char *what) {
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("steward._soft_delete_trigger() %s", what),
                    errhint("Install it with steward.enable_soft_delete(), which creates a "
                            "BEFORE DELETE ... FOR EACH ROW trigger.")));
    pg_unreachable();
}

// The column's attribute number; a clear error when it is missing or of a
// type a soft delete cannot stamp.
AttrNumber SoftDeleteColumn(Relation rel, const Trigger *trigger) {
    if (trigger->tgnargs != 1)
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("steward._soft_delete_trigger() takes exactly one argument"),
                        errdetail("Trigger \"%s\" on table \"%s\" passes %d arguments.",
                                  trigger->tgname, RelationGetRelationName(rel),
                                  trigger->tgnargs),
                        errhint("Pass the name of the soft-delete column.")));
    const char *column = trigger->tgargs[0];
    int attnum = SPI_fnumber(RelationGetDescr(rel), column);
    if (attnum <= 0)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                        errmsg("column \"%s\" of relation \"%s\" does not exist", column,
                               RelationGetRelationName(rel)),
                        errdetail("Trigger \"%s\" marks deleted rows in this column.",
                                  trigger->tgname)));
    Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
    if (getBaseType(att->atttypid) != TIMESTAMPTZOID)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("column \"%s\" of relation \"%s\" must be of type timestamptz",
                               column, RelationGetRelationName(rel)),
                        errdetail("The column is of type %s.", format_type_be(att->atttypid))));
    return static_cast<AttrNumber>(attnum);
}

// The prepared UPDATE for rel, (re)made when missing or when the relation
// was renamed since. Runs inside an SPI connection.
SPIPlanPtr MarkPlan(Relation rel, AttrNumber attnum) {
    if (g_plans == nullptr) {
        HASHCTL ctl;
        std::memset(&ctl, 0, sizeof ctl);
        ctl.keysize = sizeof(Oid);
        ctl.entrysize = sizeof(PlanEntry);
        g_plans = hash_create("steward soft delete plans", 32, &ctl, HASH_ELEM | HASH_BLOBS);
    }
    Oid relid = RelationGetRelid(rel);
    char label[sizeof(PlanEntry::label)];
    int length = snprintf(label, sizeof label, "%s.%s",
                          quote_identifier(get_namespace_name(RelationGetNamespace(rel))),
                          quote_identifier(RelationGetRelationName(rel)));
    if (length < 0 || static_cast<size_t>(length) >= sizeof label)
        elog(ERROR, "relation name of \"%s\" too long", RelationGetRelationName(rel));
    bool found;
    auto *entry = static_cast<PlanEntry *>(hash_search(g_plans, &relid, HASH_ENTER, &found));
    if (found && entry->plan != nullptr && entry->attnum == attnum &&
        strcmp(entry->label, label) == 0)
        return entry->plan;
    if (found && entry->plan != nullptr) SPI_freeplan(entry->plan);
    entry->plan = nullptr;
    const char *column =
        quote_identifier(NameStr(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attname));
    char *sql = psprintf(
        "UPDATE ONLY %s SET %s = pg_catalog.now() WHERE ctid OPERATOR(pg_catalog.=) $1", label,
        column);
    Oid argtype = TIDOID;
    SPIPlanPtr plan = SPI_prepare(sql, 1, &argtype);
    if (plan == nullptr)
        elog(ERROR, "could not prepare the soft delete of \"%s\": %s", label,
             SPI_result_code_string(SPI_result));
    SPI_keepplan(plan);
    entry->plan = plan;
    entry->attnum = attnum;
    strlcpy(entry->label, label, sizeof entry->label);
    return plan;
}

// The row we were handed was made by a transaction our statement's snapshot
// does not see (we waited for it and got its version). The rewrite path
// tests "not deleted" against the snapshot's version too, so do the same:
// true when the version the snapshot sees, found by primary key, is already
// deleted (a concurrent restore must then win, as it does there). Rare
// path: plain SPI, no cached plan. Without a primary key: false.
bool DeletedInStatementSnapshot(Relation rel, HeapTuple row, AttrNumber attnum) {
    Snapshot snapshot = GetActiveSnapshot();
    TransactionId xmin = HeapTupleHeaderGetXmin(row->t_data);
    if (snapshot == nullptr || !IsMVCCSnapshot(snapshot) || !TransactionIdIsNormal(xmin) ||
        TransactionIdIsCurrentTransactionId(xmin) || !XidInMVCCSnapshot(xmin, snapshot))
        return false;
    Oid pk = RelationGetPrimaryKeyIndex(rel);
    if (!OidIsValid(pk)) return false;
    Relation index = index_open(pk, AccessShareLock);
    int nkeys = index->rd_index->indnkeyatts;
    TupleDesc desc = RelationGetDescr(rel);
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfo(&sql, "SELECT %s IS NOT NULL FROM ONLY %s.%s WHERE ",
                     quote_identifier(NameStr(TupleDescAttr(desc, attnum - 1)->attname)),
                     quote_identifier(get_namespace_name(RelationGetNamespace(rel))),
                     quote_identifier(RelationGetRelationName(rel)));
    Oid *types = static_cast<Oid *>(palloc(sizeof(Oid) * nkeys));
    Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * nkeys));
    char *nulls = static_cast<char *>(palloc(nkeys));
    for (int i = 0; i < nkeys; ++i) {
        AttrNumber key = index->rd_index->indkey.values[i];
        Form_pg_attribute att = TupleDescAttr(desc, key - 1);
        bool isnull;
        values[i] = heap_getattr(row, key, desc, &isnull);
        nulls[i] = isnull ? 'n' : ' ';
        types[i] = att->atttypid;
        // The key's own equality operator (from the index's operator family),
        // qualified with its schema: a type like citext has no = in pg_catalog.
        Oid eq = get_opfamily_member(index->rd_opfamily[i], index->rd_opcintype[i],
                                     index->rd_opcintype[i], BTEqualStrategyNumber);
        HeapTuple optup = OidIsValid(eq) ? SearchSysCache1(OPEROID, ObjectIdGetDatum(eq)) : nullptr;
        if (optup == nullptr || !HeapTupleIsValid(optup))
            elog(ERROR, "no equality operator for key column \"%s\"", NameStr(att->attname));
        auto *op = reinterpret_cast<Form_pg_operator>(GETSTRUCT(optup));
        appendStringInfo(&sql, "%s%s OPERATOR(%s.%s) $%d", i > 0 ? " AND " : "",
                         quote_identifier(NameStr(att->attname)),
                         quote_identifier(get_namespace_name(op->oprnamespace)), NameStr(op->oprname),
                         i + 1);
        ReleaseSysCache(optup);
    }
    index_close(index, AccessShareLock);
    SPIPlanPtr plan = SPI_prepare(sql.data, nkeys, types);
    if (plan == nullptr)
        elog(ERROR, "could not prepare the snapshot check of \"%s\": %s",
             RelationGetRelationName(rel), SPI_result_code_string(SPI_result));
    int rc = SPI_execute_snapshot(plan, values, nulls, snapshot, InvalidSnapshot, true, false, 1);
    bool deleted = false;
    if (rc == SPI_OK_SELECT && SPI_processed == 1) {
        bool isnull;
        Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
        deleted = !isnull && DatumGetBool(d);
    }
    SPI_freeplan(plan);
    return deleted;
}

}  // namespace
}  // namespace steward::soft_delete

using namespace steward::soft_delete;

STEWARD_FUNCTION(steward_soft_delete_trigger) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR,
                (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                 errmsg("steward._soft_delete_trigger() was not called by the trigger manager"),
                 errhint("Call steward.enable_soft_delete() to install it.")));
    auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
    TriggerEvent event = td->tg_event;
    if (!TRIGGER_FIRED_FOR_ROW(event)) ProtocolError("must be fired FOR EACH ROW");
    if (!TRIGGER_FIRED_BEFORE(event)) ProtocolError("must be fired BEFORE the event");
    if (!TRIGGER_FIRED_BY_DELETE(event)) ProtocolError("must be fired for DELETE");

    Relation rel = td->tg_relation;
    HeapTuple old_row = td->tg_trigtuple;
    if (HardDeleteRequested()) return PointerGetDatum(old_row);

    // Column number, per statement (fn_extra lives as long as the query).
    auto *cached = static_cast<Oid *>(fcinfo->flinfo->fn_extra);
    AttrNumber attnum;
    if (cached != nullptr && cached[0] == RelationGetRelid(rel)) {
        attnum = static_cast<AttrNumber>(cached[1]);
    } else {
        attnum = SoftDeleteColumn(rel, td->tg_trigger);
        cached = static_cast<Oid *>(MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, 2 * sizeof(Oid)));
        cached[0] = RelationGetRelid(rel);
        cached[1] = static_cast<Oid>(attnum);
        fcinfo->flinfo->fn_extra = cached;
    }

    bool isnull;
    (void)heap_getattr(old_row, attnum, RelationGetDescr(rel), &isnull);
    if (!isnull) return PointerGetDatum(nullptr);  // already deleted: keep the first mark

    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    if (DeletedInStatementSnapshot(rel, old_row, attnum)) {
        SPI_finish();
        return PointerGetDatum(nullptr);  // deleted as far as this statement knows
    }
    SPIPlanPtr plan = MarkPlan(rel, attnum);
    Datum tid = PointerGetDatum(&old_row->t_self);
    // fire_triggers = false: the UPDATE's AFTER triggers (the cascade and
    // its reference checks among them) join the DELETE's, fired when the
    // whole statement is done, as in the rewrite path (references.cpp).
    int rc = SPI_execute_snapshot(plan, &tid, nullptr, InvalidSnapshot, InvalidSnapshot, false,
                                  false, 0);
    if (rc != SPI_OK_UPDATE)
        elog(ERROR, "soft delete of a row of \"%s\" failed: %s", RelationGetRelationName(rel),
             SPI_result_code_string(rc));
    SPI_finish();
    return PointerGetDatum(nullptr);  // the row stays, marked
}
