// steward._soft_delete_live_parent(fk_name ...): soft delete and new
// references. A foreign key only asks that the referenced row exists, and a
// soft-deleted row still does; this AFTER INSERT OR UPDATE row trigger (no
// column list: it skips an UPDATE that keeps the key; named steward_soft_delete_parent, or
// steward_soft_delete_parent_tree on a partitioned table and its partitions'
// clones, on every table with a foreign key to a soft-delete-enabled table, kept by
// steward._soft_delete_sync_references()) refuses a new or changed reference
// to a deleted row with the foreign key's own error (23503). Its arguments
// name the foreign keys to check.
//
// A foreign key that cannot be deferred has been checked when this trigger
// fires (its RI_ConstraintTrigger_* sorts first): the parent row exists and
// is locked FOR KEY SHARE, so a probe of the parent's unique index with the
// latest snapshot says whether it is soft-deleted. Otherwise (deferrable, a
// partitioned parent, a key compared through an implicit cast) one prepared
// statement per foreign key, as PostgreSQL's own check:
//   SELECT x.<col> IS NOT NULL FROM [ONLY] <parent> x
//    WHERE x.<key1> OPERATOR(<eq1>) $1 ... FOR KEY SHARE OF x
// run as the parent's owner. No row: the reference is missing, which the
// foreign key itself reports; true: the row is soft-deleted. FOR KEY SHARE
// conflicts with the FOR UPDATE lock the soft delete's cascade trigger takes
// on each parent it deletes, so a concurrent soft delete either commits
// first (and this check sees it) or sees this row when it checks its
// children (docs/soft_delete.md, Concurrency).
//
// Hot path: plain data only, PostgreSQL called directly (boundary.hpp).
// Plans are cached per trigger (a changed set of foreign keys is a new
// trigger) and dropped when the referencing or the referenced relation
// changes.
#include "boundary/boundary.hpp"
#include "soft_delete/soft_delete.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_trigger.h"
#include "parser/parse_coerce.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/rls.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
}

namespace steward::soft_delete {
namespace {

constexpr int kMaxChecks = 32;  // foreign keys per trigger

// One foreign key of the firing relation to check.
struct Check {
    bool active;                  // false: nothing to check (parent not enabled, or column gone)
    int nkeys;
    AttrNumber attnums[INDEX_MAX_KEYS];  // referencing columns, in the firing relation
    Oid parent;
    Oid parent_owner;
    char *constraint_name;        // in g_cxt
    // A foreign key that cannot be deferred is checked by PostgreSQL before
    // this trigger (RI_ConstraintTrigger_* sorts first), which leaves the
    // parent row locked FOR KEY SHARE: then a probe of the key's unique
    // index of the parent, reading with the latest snapshot, is enough.
    // Otherwise (deferrable, or a partitioned parent) the prepared SELECT
    // ... FOR KEY SHARE.
    bool probe;
    Oid index;                    // the parent's unique index the foreign key uses
    AttrNumber deleted_attnum;    // the soft-delete column in the parent
    int key_of_column[INDEX_MAX_KEYS];  // index column i: key k
    StrategyNumber strategy[INDEX_MAX_KEYS];
    Oid subtype[INDEX_MAX_KEYS];
    Oid proc[INDEX_MAX_KEYS];
    Oid collation[INDEX_MAX_KEYS];
    SPIPlanPtr plan;
};

struct TriggerChecks {
    Oid trigger_oid;  // hash key
    Oid relid;        // the firing relation
    bool valid;
    bool building;    // set while the checks are built (still set: the build failed)
    int nchecks;
    Check checks[kMaxChecks];
};

HTAB *g_checks = nullptr;
MemoryContext g_cxt = nullptr;

void Forget(TriggerChecks *tc) {
    for (int i = 0; i < tc->nchecks; ++i)
        if (tc->checks[i].plan != nullptr) SPI_freeplan(tc->checks[i].plan);
    tc->nchecks = 0;
    tc->valid = false;
}

void InvalidateChecks(Datum, Oid relid) {
    if (g_checks == nullptr) return;
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, g_checks);
    TriggerChecks *tc;
    while ((tc = static_cast<TriggerChecks *>(hash_seq_search(&status))) != nullptr) {
        bool hit = relid == InvalidOid || tc->relid == relid;
        for (int i = 0; i < tc->nchecks && !hit; ++i) hit = tc->checks[i].parent == relid;
        if (hit) tc->valid = false;  // plans freed at the next use (not inside the callback)
    }
}

// The soft-delete column of enabled table relid, or nullptr.
char *SoftDeleteColumn(Oid relid) {
    Oid argtypes[1] = {REGCLASSOID};
    Datum args[1] = {ObjectIdGetDatum(relid)};
    int rc = SPI_execute_with_args("SELECT column_name::text FROM steward.soft_delete_tables WHERE table_name = $1",
                                   1, argtypes, args, nullptr, true, 1);
    if (rc != SPI_OK_SELECT || SPI_processed != 1) return nullptr;
    bool isnull;
    Datum v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    return isnull ? nullptr : TextDatumGetCString(v);
}

// The table of trigger tgoid's root trigger: a trigger cloned onto a
// partition names the foreign keys of the partitioned table it was made on
// (a partition's clone of a foreign key may carry another name).
Oid RootTriggerRelation(Oid tgoid) {
    Relation tgrel = table_open(TriggerRelationId, AccessShareLock);
    Oid relid = InvalidOid;
    for (int depth = 0; depth < 64 && OidIsValid(tgoid); ++depth) {
        ScanKeyData key;
        ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(tgoid));
        SysScanDesc scan = systable_beginscan(tgrel, TriggerOidIndexId, true, nullptr, 1, &key);
        HeapTuple tuple = systable_getnext(scan);
        if (HeapTupleIsValid(tuple)) {
            auto *tg = reinterpret_cast<Form_pg_trigger>(GETSTRUCT(tuple));
            relid = tg->tgrelid;
            tgoid = tg->tgparentid;
        } else {
            tgoid = InvalidOid;
        }
        systable_endscan(scan);
    }
    table_close(tgrel, AccessShareLock);
    return relid;
}

// The foreign key named `name` of table relid, copied, or nullptr.
HeapTuple FindForeignKey(Oid relid, const char *name) {
    Oid conoid = get_relation_constraint_oid(relid, name, true);
    if (!OidIsValid(conoid)) return nullptr;
    HeapTuple tuple = SearchSysCacheCopy1(CONSTROID, ObjectIdGetDatum(conoid));
    if (HeapTupleIsValid(tuple) && reinterpret_cast<Form_pg_constraint>(GETSTRUCT(tuple))->contype == CONSTRAINT_FOREIGN)
        return tuple;
    return nullptr;
}

Oid RelationOwner(Oid relid) {
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tuple)) elog(ERROR, "cache lookup failed for relation %u", relid);
    Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relowner;
    ReleaseSysCache(tuple);
    return owner;
}

// Scan keys of the parent's unique index `index` for the foreign key's
// referenced columns pk (the foreign key's own equality operators, as the
// index's operator family knows them); false when they do not map.
bool SetUpProbe(Oid index, int nkeys, const AttrNumber *pk, const Oid *eqop, const Oid *value_types,
                Check *check) {
    if (!OidIsValid(index)) return false;
    Relation irel = index_open(index, AccessShareLock);
    bool ok = irel->rd_rel->relam == BTREE_AM_OID && IndexRelationGetNumberOfKeyAttributes(irel) == nkeys;
    for (int i = 0; i < nkeys && ok; ++i) {
        int k = 0;
        while (k < nkeys && pk[k] != irel->rd_index->indkey.values[i]) ++k;
        if (k == nkeys) {
            ok = false;
            break;
        }
        int strategy;
        Oid lefttype, righttype;
        get_op_opfamily_properties(eqop[k], irel->rd_opfamily[i], false, &strategy, &lefttype, &righttype);
        // the values are the child's: a key compared through an implicit
        // cast (int4 into numeric) takes the prepared statement, which casts
        ok = strategy == BTEqualStrategyNumber &&
             (value_types[k] == righttype || IsBinaryCoercible(value_types[k], righttype));
        check->key_of_column[i] = k;
        check->strategy[i] = static_cast<StrategyNumber>(strategy);
        check->subtype[i] = righttype;
        check->proc[i] = get_opcode(eqop[k]);
        check->collation[i] = irel->rd_indcollation[i];
    }
    index_close(irel, AccessShareLock);
    check->index = index;
    return ok;
}

// Is the parent row the key values point at soft-deleted? Through its
// unique index, with the latest snapshot (a soft delete that committed while
// the foreign key's check waited for the row's lock counts).
bool ProbeDeleted(const Check &check, const Datum *values) {
    Relation heap = table_open(check.parent, AccessShareLock);
    Relation index = index_open(check.index, AccessShareLock);
    ScanKeyData keys[INDEX_MAX_KEYS];
    for (int i = 0; i < check.nkeys; ++i)
        ScanKeyEntryInitialize(&keys[i], 0, static_cast<AttrNumber>(i + 1), check.strategy[i], check.subtype[i],
                               check.collation[i], check.proc[i], values[check.key_of_column[i]]);
    Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
    IndexScanDesc scan = index_beginscan(heap, index, snapshot, check.nkeys, 0);
    index_rescan(scan, keys, check.nkeys, nullptr, 0);
    TupleTableSlot *slot = table_slot_create(heap, nullptr);
    bool deleted = false;
    if (index_getnext_slot(scan, ForwardScanDirection, slot)) deleted = !slot_attisnull(slot, check.deleted_attnum);
    ExecDropSingleTupleTableSlot(slot);
    index_endscan(scan);
    UnregisterSnapshot(snapshot);
    index_close(index, NoLock);
    table_close(heap, NoLock);
    return deleted;
}

// Build the check of foreign key `name` for the firing relation rel.
void BuildCheck(Relation rel, Oid defined_on, const char *name, Check *check) {
    memset(check, 0, sizeof *check);
    check->constraint_name = MemoryContextStrdup(g_cxt, name);
    HeapTuple tuple = FindForeignKey(defined_on, name);
    if (tuple == nullptr) return;  // dropped meanwhile: nothing to check
    auto *con = reinterpret_cast<Form_pg_constraint>(GETSTRUCT(tuple));
    Oid parent = con->confrelid;
    check->parent = parent;  // (so that the parent's invalidation reaches an inactive check too)
    char *column = SoftDeleteColumn(parent);
    if (column == nullptr) return;  // the parent is not (or no longer) enabled
    AttrNumber fk[INDEX_MAX_KEYS], pk[INDEX_MAX_KEYS];
    Oid eqop[INDEX_MAX_KEYS], pp_eqop[INDEX_MAX_KEYS], ff_eqop[INDEX_MAX_KEYS];
    int nkeys;
#if PG_VERSION_NUM >= 150000
    int nset;
    AttrNumber set_cols[INDEX_MAX_KEYS];
    DeconstructFkConstraintRow(tuple, &nkeys, fk, pk, eqop, pp_eqop, ff_eqop, &nset, set_cols);
#else
    DeconstructFkConstraintRow(tuple, &nkeys, fk, pk, eqop, pp_eqop, ff_eqop);
#endif
    check->nkeys = nkeys;
    Oid argtypes[INDEX_MAX_KEYS];
    for (int k = 0; k < nkeys; ++k) {
        // the referencing column in the firing relation, by name (a
        // partition's attribute numbers may differ from its parent's)
        char *attname = get_attname(defined_on, fk[k], false);
        AttrNumber attnum = get_attnum(RelationGetRelid(rel), attname);
        if (attnum == InvalidAttrNumber) return;
        check->attnums[k] = attnum;
        argtypes[k] = TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid;
    }
    check->deleted_attnum = get_attnum(parent, column);
    if (check->deleted_attnum == InvalidAttrNumber) return;  // renamed away: nothing to check
    check->probe = !con->condeferrable && get_rel_relkind(parent) == RELKIND_RELATION &&
                   SetUpProbe(con->conindid, nkeys, pk, eqop, argtypes, check);
    StringInfoData sql;
    initStringInfo(&sql);
    char relkind = get_rel_relkind(parent);
    appendStringInfo(&sql, "SELECT x.%s IS NOT NULL FROM %s%s.%s x WHERE ", quote_identifier(column),
                     relkind == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
                     quote_identifier(get_namespace_name(get_rel_namespace(parent))),
                     quote_identifier(get_rel_name(parent)));
    for (int k = 0; k < nkeys; ++k) {
        HeapTuple op = SearchSysCache1(OPEROID, ObjectIdGetDatum(eqop[k]));
        if (!HeapTupleIsValid(op)) elog(ERROR, "cache lookup failed for operator %u", eqop[k]);
        auto *form = reinterpret_cast<Form_pg_operator>(GETSTRUCT(op));
        appendStringInfo(&sql, "%sx.%s OPERATOR(%s.%s) $%d", k > 0 ? " AND " : "",
                         quote_identifier(get_attname(parent, pk[k], false)),
                         quote_identifier(get_namespace_name(form->oprnamespace)),
                         NameStr(form->oprname), k + 1);
        ReleaseSysCache(op);
    }
    appendStringInfoString(&sql, " FOR KEY SHARE OF x");
    SPIPlanPtr plan = SPI_prepare(sql.data, nkeys, argtypes);
    if (plan == nullptr)
        elog(ERROR, "pg_steward: could not prepare the check of foreign key \"%s\": %s", name,
             SPI_result_code_string(SPI_result));
    if (SPI_keepplan(plan) != 0) elog(ERROR, "pg_steward: SPI_keepplan failed");
    check->plan = plan;
    check->parent_owner = RelationOwner(parent);
    check->active = true;
}

TriggerChecks *ChecksFor(TriggerData *td) {
    if (g_checks == nullptr) {
        g_cxt = AllocSetContextCreate(CacheMemoryContext, "steward soft delete reference checks",
                                      ALLOCSET_SMALL_SIZES);
        HASHCTL ctl;
        memset(&ctl, 0, sizeof ctl);
        ctl.keysize = sizeof(Oid);
        ctl.entrysize = sizeof(TriggerChecks);
        ctl.hcxt = g_cxt;
        g_checks = hash_create("steward soft delete reference checks", 16, &ctl,
                               HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
        CacheRegisterRelcacheCallback(InvalidateChecks, 0);
    }
    const Trigger *trigger = td->tg_trigger;
    bool found;
    auto *tc = static_cast<TriggerChecks *>(hash_search(g_checks, &trigger->tgoid, HASH_ENTER, &found));
    if (!found) {  // every field the invalidation callback reads, before anything can fail
        tc->relid = RelationGetRelid(td->tg_relation);
        tc->nchecks = 0;
        tc->valid = false;
        tc->building = false;
    }
    if (tc->valid && !tc->building) return tc;
    // free the plans of every stale entry; forget other triggers' (dropped ones too)
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, g_checks);
    TriggerChecks *other;
    while ((other = static_cast<TriggerChecks *>(hash_seq_search(&status))) != nullptr) {
        if (other->valid && !other->building) continue;
        Forget(other);
        if (other != tc) hash_search(g_checks, &other->trigger_oid, HASH_REMOVE, nullptr);
    }
    if (trigger->tgnargs > kMaxChecks)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("too many foreign keys for one steward_soft_delete_parent trigger"),
                        errdetail("The trigger names %d; at most %d are supported.", trigger->tgnargs, kMaxChecks)));
    tc->relid = RelationGetRelid(td->tg_relation);
    // valid first: an invalidation that arrives while the checks are built
    // (catalog reads, planning) marks them stale again; building stays set
    // if the build fails, so the next call builds again
    tc->valid = true;
    tc->building = true;
    Oid defined_on = trigger->tgisclone ? RootTriggerRelation(trigger->tgoid) : tc->relid;
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_steward: SPI_connect failed");
    for (int i = 0; i < trigger->tgnargs; ++i) {
        tc->nchecks = i + 1;  // plans made so far are freed if a later one fails
        BuildCheck(td->tg_relation, defined_on, trigger->tgargs[i], &tc->checks[i]);
    }
    SPI_finish();
    tc->building = false;
    return tc;
}

// "(a, b)=(1, x)" for the error detail.
void DescribeKey(Relation rel, const Check &check, HeapTuple row, StringInfo cols, StringInfo vals) {
    TupleDesc desc = RelationGetDescr(rel);
    for (int k = 0; k < check.nkeys; ++k) {
        Form_pg_attribute att = TupleDescAttr(desc, check.attnums[k] - 1);
        bool isnull;
        Datum v = heap_getattr(row, check.attnums[k], desc, &isnull);
        Oid out;
        bool varlena;
        getTypeOutputInfo(att->atttypid, &out, &varlena);
        appendStringInfo(cols, "%s%s", k > 0 ? ", " : "", NameStr(att->attname));
        appendStringInfo(vals, "%s%s", k > 0 ? ", " : "", isnull ? "null" : OidOutputFunctionCall(out, v));
    }
}

bool QueryDeleted(const Check &check, Datum *values);
[[noreturn]] void ReportDeleted(Relation rel, const Check &check, HeapTuple row);

// Run one check for row; raise when it references a soft-deleted row.
void RunCheck(Relation rel, const Check &check, HeapTuple row, HeapTuple old_row) {
    TupleDesc desc = RelationGetDescr(rel);
    Datum values[INDEX_MAX_KEYS];
    bool changed = old_row == nullptr;
    for (int k = 0; k < check.nkeys; ++k) {
        bool isnull;
        values[k] = heap_getattr(row, check.attnums[k], desc, &isnull);
        if (isnull) return;  // MATCH SIMPLE: no reference (MATCH FULL: the key's own error)
        if (!changed) {
            bool old_null;
            Datum old = heap_getattr(old_row, check.attnums[k], desc, &old_null);
            Form_pg_attribute att = TupleDescAttr(desc, check.attnums[k] - 1);
            changed = old_null || !datum_image_eq(old, values[k], att->attbyval, att->attlen);
        }
    }
    if (!changed) return;  // the same reference as before
    if (check.probe ? ProbeDeleted(check, values) : QueryDeleted(check, values)) ReportDeleted(rel, check, row);
}

// The prepared SELECT ... FOR KEY SHARE, as the parent's owner like
// PostgreSQL's own check: is the row soft-deleted (false when missing)?
bool QueryDeleted(const Check &check, Datum *values) {
    Oid save_user;
    int save_sec;
    GetUserIdAndSecContext(&save_user, &save_sec);
    SetUserIdAndSecContext(check.parent_owner, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_steward: SPI_connect failed");
    int rc = SPI_execute_plan(check.plan, values, nullptr, false, 1);
    if (rc != SPI_OK_SELECT) elog(ERROR, "pg_steward: reference check failed: %s", SPI_result_code_string(rc));
    bool deleted = false;
    if (SPI_processed == 1) {
        bool isnull;
        deleted = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    }
    SPI_finish();
    SetUserIdAndSecContext(save_user, save_sec);
    return deleted;
}

// May the current user see the key values (SELECT on every key column, no
// row security in force)? PostgreSQL's own foreign key error asks the same.
bool MaySeeKey(Relation rel, const Check &check) {
    Oid relid = RelationGetRelid(rel);
    if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED) return false;
    Oid user = GetUserId();
    if (pg_class_aclcheck(relid, user, ACL_SELECT) == ACLCHECK_OK) return true;
    for (int k = 0; k < check.nkeys; ++k)
        if (pg_attribute_aclcheck(relid, check.attnums[k], user, ACL_SELECT) != ACLCHECK_OK) return false;
    return true;
}

[[noreturn]] void ReportDeleted(Relation rel, const Check &check, HeapTuple row) {
    if (!MaySeeKey(rel, check))
        ereport(ERROR, (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
                        errmsg("insert or update on table \"%s\" violates foreign key constraint \"%s\"",
                               RelationGetRelationName(rel), check.constraint_name),
                        errdetail("The key refers to a soft-deleted row of table \"%s\".", get_rel_name(check.parent)),
                        errhint("Restore the row with steward.restore() first."),
                        errtableconstraint(rel, check.constraint_name)));
    StringInfoData cols, vals;
    initStringInfo(&cols);
    initStringInfo(&vals);
    DescribeKey(rel, check, row, &cols, &vals);
    ereport(ERROR, (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
                    errmsg("insert or update on table \"%s\" violates foreign key constraint \"%s\"",
                           RelationGetRelationName(rel), check.constraint_name),
                    errdetail("Key (%s)=(%s) refers to a soft-deleted row of table \"%s\".", cols.data, vals.data,
                              get_rel_name(check.parent)),
                    errhint("Restore the row with steward.restore() first."),
                    errtableconstraint(rel, check.constraint_name)));
    pg_unreachable();
}

[[noreturn]] void ProtocolError(const char *what) {
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("steward._soft_delete_live_parent() %s", what),
                    errhint("pg_steward installs it on tables that reference soft-delete-enabled tables.")));
    pg_unreachable();
}

}  // namespace
}  // namespace steward::soft_delete

STEWARD_FUNCTION(steward_soft_delete_live_parent) {
    using namespace steward::soft_delete;
    if (!CALLED_AS_TRIGGER(fcinfo)) ProtocolError("was not called by the trigger manager");
    auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
    TriggerEvent event = td->tg_event;
    if (!TRIGGER_FIRED_AFTER(event) || !TRIGGER_FIRED_FOR_ROW(event) ||
        !(TRIGGER_FIRED_BY_INSERT(event) || TRIGGER_FIRED_BY_UPDATE(event)))
        ProtocolError("must be fired AFTER INSERT OR UPDATE ... FOR EACH ROW");
    TriggerChecks *tc = ChecksFor(td);
    bool update = TRIGGER_FIRED_BY_UPDATE(event);
    HeapTuple row = update ? td->tg_newtuple : td->tg_trigtuple;
    HeapTuple old_row = update ? td->tg_trigtuple : nullptr;
    for (int i = 0; i < tc->nchecks; ++i)
        if (tc->checks[i].active) RunCheck(td->tg_relation, tc->checks[i], row, old_row);
    return PointerGetDatum(nullptr);
}
