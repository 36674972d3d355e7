// steward.audit_trigger(): the AFTER ... FOR EACH STATEMENT triggers that
// feed the audit log: INSERT, UPDATE and DELETE with transition tables (one
// call per statement reads every changed row; no per-row trigger event), and
// BEFORE TRUNCATE. The audited table and each of its partitions carry them
// (a statement fires the triggers of the table it names only); a
// partition's entries go under the audited table.
//
// Per backend and audited relation it caches what it needs to turn a row
// into row images (the table's current version in steward.audit_versions,
// the attribute number, length and storage kind of each audited column,
// output functions for columns stored as text, the image descriptors). The
// cache is built once through steward._audit_prepare() (SPI) and dropped on
// relcache invalidation of the relation (ALTER TABLE, enable_audit() with
// other options, a soft-delete trigger added, ...). Per row there is no
// catalog lookup and no SPI: compare old and new values, form one or two
// tuples of the changed columns, hand them to the writer (writer.cpp), which
// writes them with multi-inserts.
//
// Hot path: plain data and direct PostgreSQL calls only (see
// src/boundary/boundary.hpp).
#include "audit/audit.hpp"
#include "boundary/boundary.hpp"
#include "core/audit_plan.hpp"
#include "module.hpp"

extern "C" {
#include "access/detoast.h"
#include "access/genam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"
}

#include <algorithm>

namespace steward::audit {

char *g_actor = nullptr;
char *g_context = nullptr;

namespace {

// What the trigger knows about one audited relation (a hash entry: stable
// address, the key first).
struct AuditRel {
    Oid relid;
    bool valid;
    SubTransactionId built_in;  // subtransaction that built it (its version row may roll back)
    MemoryContext cxt;
    int32 table_id;
    int32 version_id;
    bool full_row;
    bool log_noop;
    bool log_statement;
    int ncols;
    AttrNumber *attnums;  // per position (0-based here): attribute number in relid
    char *kind;           // StorageKind per position
    int16 *typlen;        // of the column
    bool *typbyval;
    int16 *stored_len;    // of the stored form (text for kText)
    bool *stored_byval;
    FmgrInfo *out;  // output functions (kText positions)
    TupleDesc image_desc;
    int nkeys;
    int16 *key_positions;  // 1-based, in key order
    int16 *key_sorted;     // 1-based, ascending
    int soft_delete_position;  // 1-based, 0: none
    int stamp_position;        // 1-based: the column track_updated_at() stamps, 0: none
    Oid audited;               // the audited table: relid, or the partitioned table relid belongs to
    // Every column of relid is audited, in attribute order, stored in its
    // binary form: a whole row's image is the row's own tuple (RowImage()).
    bool image_is_row;
    AttrNumber last_key_attnum;  // highest attribute number of a key column
    // The statement's transition-table rows are read into these (made when
    // first needed, in cxt, over slot_desc: a copy of the row type with its
    // missing values, for rows older than an ADD COLUMN; they outlive the
    // statement and so must not pin the relcache's descriptor). A row read
    // from a tuplestore that went to disk is the slot's to free, in the
    // statement's memory: slots_busy says a statement is using them, so the
    // next one knows the last ended in an error and empties them without
    // freeing that row (its memory is gone).
    TupleDesc slot_desc;
    TupleTableSlot *old_slot;
    TupleTableSlot *new_slot;
    bool slots_busy;
};

HTAB *g_rels = nullptr;
// Entries built in this transaction (built_in set): only then does the end
// of a transaction have to look at them.
bool g_built_in_xact = false;

void InvalidateRel(Datum, Oid relid) {
    WriterRelcacheInvalidated(relid);
    if (g_rels == nullptr) return;
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, g_rels);
    AuditRel *ar;
    while ((ar = static_cast<AuditRel *>(hash_seq_search(&status))) != nullptr)
        if (relid == InvalidOid || ar->relid == relid) ar->valid = false;
}

void InvalidateAll(Datum arg, int, uint32) { InvalidateRel(arg, InvalidOid); }

void InvalidateRoles(Datum, int, uint32) { WriterRolesInvalidated(); }

// The partitions of an audited partitioned table whose TRUNCATE is under
// way in this transaction: their own TRUNCATE triggers, which fire next
// (TRUNCATE fires the BEFORE triggers of the named table, then of its
// partitions), log nothing (the table's entry covers them).
LocalTransactionId g_truncating_lxid = InvalidLocalTransactionId;
List *g_truncating = NIL;  // Oids, in TopTransactionContext

void ForgetTruncation() {
    g_truncating_lxid = InvalidLocalTransactionId;
    g_truncating = NIL;  // (its memory goes with the transaction)
}

// A cache entry built in a (sub)transaction that aborts may name a version
// row that was rolled back; the writer's per-transaction state may name a
// partition that was. Forget both.
void OnSubXact(SubXactEvent event, SubTransactionId sub, SubTransactionId, void *) {
    if (event != SUBXACT_EVENT_ABORT_SUB) return;
    ResetWriter();
    ForgetTruncation();
    if (g_rels == nullptr) return;
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, g_rels);
    AuditRel *ar;
    while ((ar = static_cast<AuditRel *>(hash_seq_search(&status))) != nullptr)
        if (ar->built_in != InvalidSubTransactionId && ar->built_in >= sub) ar->valid = false;
}

void OnXact(XactEvent event, void *) {
    bool abort = event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT;
    bool commit = event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
                  event == XACT_EVENT_PREPARE;
    if (abort) ResetWriter();
    if (abort || commit) ForgetTruncation();
    if (g_rels == nullptr || (!abort && !commit) || !g_built_in_xact) return;
    g_built_in_xact = false;
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, g_rels);
    AuditRel *ar;
    while ((ar = static_cast<AuditRel *>(hash_seq_search(&status))) != nullptr) {
        if (ar->built_in == InvalidSubTransactionId) continue;
        if (abort) ar->valid = false;
        ar->built_in = InvalidSubTransactionId;
    }
}

void Init() {
    DefineCustomStringVariable(
        "steward.actor", "Who acts, as the application knows it; recorded in the audit log.",
        "Set it per transaction: SET LOCAL steward.actor = 'user-42'.", &g_actor, "",
        PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "steward.audit_context", "Extra context (jsonb) recorded in the audit log.",
        "Set it per transaction: SET LOCAL steward.audit_context = '{\"request\": \"r-1\"}'.",
        &g_context, "", PGC_USERSET, 0, nullptr, nullptr, nullptr);
    CacheRegisterRelcacheCallback(InvalidateRel, 0);
    CacheRegisterSyscacheCallback(NAMESPACEOID, InvalidateAll, 0);
    CacheRegisterSyscacheCallback(AUTHOID, InvalidateRoles, 0);
    RegisterXactCallback(OnXact, nullptr);
    RegisterSubXactCallback(OnSubXact, nullptr);
}

int16 *Int16Array(Datum array, int *n, MemoryContext cxt) {
    Datum *elems;
    bool *nulls;
    deconstruct_array(DatumGetArrayTypeP(array), INT2OID, 2, true, TYPALIGN_SHORT, &elems, &nulls,
                      n);
    auto *out = static_cast<int16 *>(MemoryContextAlloc(cxt, sizeof(int16) * (*n + 1)));
    for (int i = 0; i < *n; ++i) out[i] = nulls[i] ? 0 : DatumGetInt16(elems[i]);
    return out;
}

// The columns of steward._audit_prepare()'s result, in order.
enum PrepareColumn {
    kPrepTableId, kPrepVersionId, kPrepFullRow, kPrepLogNoop, kPrepLogStatement, kPrepAttnums,
    kPrepStorage, kPrepRedacted, kPrepKeyPositions, kPrepSoftDelete, kPrepAudited, kPrepStamp,
    kPrepColumns
};

bool NameIn(const char *name, Datum *names, int n) {
    for (int i = 0; i < n; ++i)
        if (strcmp(NameStr(*DatumGetName(names[i])), name) == 0) return true;
    return false;
}

// 1-based position of the column named by a trigger's first argument (or
// if_none without arguments) among the version's columns; 0: no trigger.
int16 TriggerColumn(Relation rel, const char *tgname, bool enabled_only, const char *if_none,
                    Datum *columns, int ncolumns) {
    if (rel->trigdesc == nullptr) return 0;
    for (int t = 0; t < rel->trigdesc->numtriggers; ++t) {
        const Trigger &tg = rel->trigdesc->triggers[t];
        if (strcmp(tg.tgname, tgname) != 0) continue;
        if (enabled_only && tg.tgenabled == TRIGGER_DISABLED) return 0;
        const char *col = tg.tgnargs > 0 ? tg.tgargs[0] : if_none;
        for (int i = 0; i < ncolumns; ++i)
            if (strcmp(TextDatumGetCString(columns[i]), col) == 0) return static_cast<int16>(i + 1);
        return 0;
    }
    return 0;
}

// Fast path of steward._audit_prepare(relid) (once per backend and table):
// ReadCurrentVersion() reads the table's options and latest version, and
// when that
// version still describes the relation (names, columns, attribute numbers,
// types, redaction, key) the result row is made here, as _audit_prepare()
// would return it, without its catalog queries. False, to have
// _audit_prepare() decide, for a partition, a table without primary key, a
// version that differs in anything, or option names that no longer match a
// column (a rename _audit_prepare() follows). Runs inside the caller's SPI
// connection; v holds SPI-allocated values.
bool CurrentVersion(Relation rel, Datum *v, bool *isnull) {
    if (rel->rd_rel->relispartition) return false;
    Oid pk = RelationGetPrimaryKeyIndex(rel);
    if (!OidIsValid(pk)) return false;
    Datum c[kCurrentVersionColumns];
    bool cnull[kCurrentVersionColumns];
    if (!ReadCurrentVersion(RelationGetRelid(rel), c, cnull)) return false;
    for (int i = 0; i < kCurrentVersionColumns; ++i)
        if (cnull[i]) return false;
    if (DatumGetObjectId(c[11]) != RelationGetRelid(rel)) return false;
    char *nsp = get_namespace_name(RelationGetNamespace(rel));
    if (nsp == nullptr || strcmp(TextDatumGetCString(c[12]), nsp) != 0 ||
        strcmp(TextDatumGetCString(c[13]), RelationGetRelationName(rel)) != 0)
        return false;
    int nattnums, nredacted, ncolumns, ntypes, nexcluded, noptred;
    Datum *attnums = DeconstructAll(c[5], INT2OID, &nattnums);
    Datum *redacted = DeconstructAll(c[7], BOOLOID, &nredacted);
    Datum *excluded = DeconstructAll(c[9], NAMEOID, &nexcluded);
    Datum *options_redacted = DeconstructAll(c[10], NAMEOID, &noptred);
    Datum *columns = DeconstructAll(c[14], TEXTOID, &ncolumns);
    Datum *types = DeconstructAll(c[15], OIDOID, &ntypes);
    if (nattnums != ncolumns || nredacted != ncolumns || ntypes != ncolumns) return false;
    // the audited columns now: every live column not excluded, in order
    TupleDesc desc = RelationGetDescr(rel);
    int pos = 0;
    for (int a = 0; a < desc->natts; ++a) {
        Form_pg_attribute att = TupleDescAttr(desc, a);
        if (att->attisdropped || NameIn(NameStr(att->attname), excluded, nexcluded)) continue;
        if (pos >= ncolumns || DatumGetInt16(attnums[pos]) != att->attnum ||
            DatumGetObjectId(types[pos]) != att->atttypid ||
            strcmp(TextDatumGetCString(columns[pos]), NameStr(att->attname)) != 0 ||
            DatumGetBool(redacted[pos]) != NameIn(NameStr(att->attname), options_redacted, noptred))
            return false;
        ++pos;
    }
    if (pos != ncolumns) return false;
    // every option name is a live column (else a rename may have to be followed)
    for (int pass = 0; pass < 2; ++pass) {
        Datum *names = pass == 0 ? excluded : options_redacted;
        int n = pass == 0 ? nexcluded : noptred;
        for (int i = 0; i < n; ++i) {
            bool live = false;
            for (int a = 0; a < desc->natts && !live; ++a) {
                Form_pg_attribute att = TupleDescAttr(desc, a);
                live = !att->attisdropped && strcmp(NameStr(att->attname), NameStr(*DatumGetName(names[i]))) == 0;
            }
            if (!live) return false;
        }
    }
    // the key: the primary key's columns, as positions in the version
    int nkeys;
    Datum *key_positions = DeconstructAll(c[8], INT2OID, &nkeys);
    Relation index = index_open(pk, AccessShareLock);
    bool same_key = index->rd_index->indnkeyatts == nkeys;
    for (int k = 0; k < nkeys && same_key; ++k) {
        AttrNumber attnum = index->rd_index->indkey.values[k];
        int p = 0;
        for (int i = 0; i < ncolumns && p == 0; ++i)
            if (DatumGetInt16(attnums[i]) == attnum) p = i + 1;
        same_key = p != 0 && p == DatumGetInt16(key_positions[k]);
    }
    index_close(index, AccessShareLock);
    if (!same_key) return false;
    for (int i = 0; i < kPrepColumns; ++i) isnull[i] = false;
    v[kPrepTableId] = c[0];
    v[kPrepVersionId] = c[1];
    v[kPrepFullRow] = c[2];
    v[kPrepLogNoop] = c[3];
    v[kPrepLogStatement] = c[4];
    v[kPrepAttnums] = c[5];
    v[kPrepStorage] = c[6];
    v[kPrepRedacted] = c[7];
    v[kPrepKeyPositions] = c[8];
    v[kPrepSoftDelete] =
        Int16GetDatum(TriggerColumn(rel, "steward_soft_delete", false, "", columns, ncolumns));
    v[kPrepAudited] = ObjectIdGetDatum(RelationGetRelid(rel));
    v[kPrepStamp] =
        Int16GetDatum(TriggerColumn(rel, "steward_updated_at", true, "updated_at", columns, ncolumns));
    return true;
}

// Fill ar from steward._audit_prepare(relid), or its fast path.
void Build(AuditRel *ar, Relation rel) {
    ar->valid = false;
    ar->slot_desc = nullptr;  // (their memory is in cxt)
    ar->old_slot = nullptr;
    ar->new_slot = nullptr;
    ar->slots_busy = false;
    if (ar->cxt == nullptr)
        ar->cxt = AllocSetContextCreate(CacheMemoryContext, "steward audit relation",
                                        ALLOCSET_SMALL_SIZES);
    else
        MemoryContextReset(ar->cxt);
    Oid relid = RelationGetRelid(rel);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    bool isnull[kPrepColumns];
    Datum v[kPrepColumns];
    if (!CurrentVersion(rel, v, isnull)) {
        Oid argtypes[1] = {OIDOID};
        Datum args[1] = {ObjectIdGetDatum(relid)};
        int rc = SPI_execute_with_args(
            "SELECT table_id, version_id, full_row, log_noop, log_statement, attnums, storage, "
            "redacted, key_positions, soft_delete_position, audited, stamp_position "
            "FROM steward._audit_prepare($1)",
            1, argtypes, args, nullptr, false, 1);
        if (rc != SPI_OK_SELECT || SPI_processed != 1) elog(ERROR, "steward._audit_prepare failed");
        HeapTuple row = SPI_tuptable->vals[0];
        TupleDesc rowdesc = SPI_tuptable->tupdesc;
        for (int i = 0; i < kPrepColumns; ++i) v[i] = SPI_getbinval(row, rowdesc, i + 1, &isnull[i]);
    }
    if (isnull[5] || isnull[6] || isnull[7] || isnull[8] || isnull[10])
        elog(ERROR, "steward._audit_prepare returned no column list");

    MemoryContext old = MemoryContextSwitchTo(ar->cxt);
    ar->table_id = DatumGetInt32(v[0]);
    ar->version_id = DatumGetInt32(v[1]);
    ar->full_row = DatumGetBool(v[2]);
    ar->log_noop = DatumGetBool(v[3]);
    ar->log_statement = DatumGetBool(v[4]);
    int n;
    int16 *attnums = Int16Array(v[5], &n, ar->cxt);
    Datum *storage;
    bool *storage_nulls;
    int nstorage;
    deconstruct_array(DatumGetArrayTypeP(v[6]), OIDOID, 4, true, TYPALIGN_INT, &storage,
                      &storage_nulls, &nstorage);
    Datum *redacted;
    bool *redacted_nulls;
    int nredacted;
    deconstruct_array(DatumGetArrayTypeP(v[7]), BOOLOID, 1, true, TYPALIGN_CHAR, &redacted,
                      &redacted_nulls, &nredacted);
    if (nstorage != n || nredacted != n)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("audited columns of relation \"%s\" do not match its audit version",
                               RelationGetRelationName(rel))));
    ar->ncols = n;
    ar->attnums = attnums;
    ar->kind = static_cast<char *>(palloc(n + 1));
    ar->typlen = static_cast<int16 *>(palloc(sizeof(int16) * (n + 1)));
    ar->typbyval = static_cast<bool *>(palloc(n + 1));
    ar->stored_len = static_cast<int16 *>(palloc(sizeof(int16) * (n + 1)));
    ar->stored_byval = static_cast<bool *>(palloc(n + 1));
    ar->out = static_cast<FmgrInfo *>(palloc0(sizeof(FmgrInfo) * (n + 1)));
    ar->image_desc = CreateTemplateTupleDesc(n);
    TupleDesc desc = RelationGetDescr(rel);
    for (int i = 0; i < n; ++i) {
        AttrNumber attnum = attnums[i];
        if (attnum <= 0 || attnum > desc->natts || TupleDescAttr(desc, attnum - 1)->attisdropped)
            ereport(ERROR,
                    (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                     errmsg("audited columns of relation \"%s\" do not match its audit version",
                            RelationGetRelationName(rel))));
        Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
        Oid stored = DatumGetObjectId(storage[i]);
        ar->typlen[i] = att->attlen;
        ar->typbyval[i] = att->attbyval;
        if (DatumGetBool(redacted[i]))
            ar->kind[i] = kRedacted;
        else if (stored == getBaseType(att->atttypid))
            ar->kind[i] = kBinary;
        else {
            ar->kind[i] = kText;
            Oid out;
            bool varlena;
            getTypeOutputInfo(att->atttypid, &out, &varlena);
            fmgr_info_cxt(out, &ar->out[i], ar->cxt);
        }
        ar->stored_len[i] = ar->kind[i] == kBinary ? att->attlen : -1;
        ar->stored_byval[i] = ar->kind[i] == kBinary ? att->attbyval : false;
        TupleDescInitEntry(ar->image_desc, static_cast<AttrNumber>(i + 1), nullptr, stored, -1, 0);
    }
    ar->key_positions = Int16Array(v[8], &ar->nkeys, ar->cxt);
    ar->key_sorted = static_cast<int16 *>(palloc(sizeof(int16) * (ar->nkeys + 1)));
    for (int k = 0; k < ar->nkeys; ++k) {
        int p = ar->key_positions[k];
        if (p < 1 || p > n || ar->kind[p - 1] == kRedacted)
            elog(ERROR, "invalid key position %d for relation \"%s\"", p,
                 RelationGetRelationName(rel));
        ar->key_sorted[k] = static_cast<int16>(p);
    }
    for (int i = 1; i < ar->nkeys; ++i)  // insertion sort: keys are short
        for (int j = i; j > 0 && ar->key_sorted[j - 1] > ar->key_sorted[j]; --j)
            std::swap(ar->key_sorted[j - 1], ar->key_sorted[j]);
    ar->image_is_row = n == desc->natts;
    for (int i = 0; i < n && ar->image_is_row; ++i)
        ar->image_is_row = ar->kind[i] == kBinary && attnums[i] == i + 1;
    ar->last_key_attnum = 0;
    for (int k = 0; k < ar->nkeys; ++k)
        ar->last_key_attnum = std::max(ar->last_key_attnum, attnums[ar->key_positions[k] - 1]);
    ar->soft_delete_position = isnull[9] ? 0 : DatumGetInt16(v[9]);
    ar->audited = DatumGetObjectId(v[10]);
    ar->stamp_position = isnull[11] ? 0 : DatumGetInt16(v[11]);
    MemoryContextSwitchTo(old);
    SPI_finish();
    ar->built_in = GetCurrentSubTransactionId();
    g_built_in_xact = true;
    ar->valid = true;
}

AuditRel *Lookup(FunctionCallInfo fcinfo, Relation rel) {
    Oid relid = RelationGetRelid(rel);
    auto *ar = static_cast<AuditRel *>(fcinfo->flinfo->fn_extra);
    if (ar == nullptr || ar->relid != relid) {
        if (g_rels == nullptr) {
            HASHCTL ctl;
            memset(&ctl, 0, sizeof ctl);
            ctl.keysize = sizeof(Oid);
            ctl.entrysize = sizeof(AuditRel);
            g_rels = hash_create("steward audit relations", 64, &ctl, HASH_ELEM | HASH_BLOBS);
        }
        bool found;
        ar = static_cast<AuditRel *>(hash_search(g_rels, &relid, HASH_ENTER, &found));
        if (!found) {
            ar->valid = false;
            ar->cxt = nullptr;
            ar->built_in = InvalidSubTransactionId;
            ar->slot_desc = nullptr;
            ar->old_slot = nullptr;
            ar->new_slot = nullptr;
            ar->slots_busy = false;
        }
        fcinfo->flinfo->fn_extra = ar;
    }
    if (!ar->valid) Build(ar, rel);
    return ar;
}

// The value of position p (0-based) from slot as the image stores it.
inline Datum StoredValue(const AuditRel *ar, int p, TupleTableSlot *slot, bool *isnull) {
    int a = ar->attnums[p] - 1;
    *isnull = slot->tts_isnull[a];
    if (*isnull) return 0;
    Datum value = slot->tts_values[a];
    switch (ar->kind[p]) {
        case kBinary:
            if (ar->typlen[p] == -1 && VARATT_IS_EXTERNAL(DatumGetPointer(value)))
                value = PointerGetDatum(
                    detoast_external_attr(reinterpret_cast<struct varlena *>(DatumGetPointer(value))));
            return value;
        case kText:
            return PointerGetDatum(cstring_to_text(OutputFunctionCall(&ar->out[p], value)));
        default:
            return PointerGetDatum(cstring_to_text(kRedactedMarker));
    }
}

// Image of the positions listed (1-based; all when positions is null).
Datum Image(const AuditRel *ar, TupleTableSlot *slot, const int16 *positions, int n) {
    Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * ar->ncols));
    bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * ar->ncols));
    if (positions == nullptr) {
        for (int p = 0; p < ar->ncols; ++p) values[p] = StoredValue(ar, p, slot, &nulls[p]);
    } else {
        for (int p = 0; p < ar->ncols; ++p) nulls[p] = true;
        for (int i = 0; i < n; ++i) {
            int p = positions[i] - 1;
            values[p] = StoredValue(ar, p, slot, &nulls[p]);
        }
    }
    return FormImage(ar->image_desc, values, nulls);
}

// A whole row's image, taken from its transition-table tuple as it is when
// the image's layout is the row's own (image_is_row), the tuple has every
// column and no TOAST pointer: the bytes heap_form_tuple() would produce,
// without deforming and forming the row. Otherwise formed by Image().
Datum RowImage(const AuditRel *ar, TupleTableSlot *slot) {
    if (ar->image_is_row && TTS_IS_MINIMALTUPLE(slot)) {
        MinimalTuple mt = reinterpret_cast<MinimalTupleTableSlot *>(slot)->mintuple;
        if (mt != nullptr && !(mt->t_infomask & HEAP_HASEXTERNAL) &&
            (mt->t_infomask2 & HEAP_NATTS_MASK) == ar->ncols) {
            Size len = mt->t_len + MINIMAL_TUPLE_OFFSET;
            auto td = static_cast<HeapTupleHeader>(palloc(len));
            memcpy(reinterpret_cast<char *>(td) + MINIMAL_TUPLE_OFFSET, mt, mt->t_len);
            HeapTupleHeaderSetDatumLength(td, len);
            HeapTupleHeaderSetTypeId(td, ar->image_desc->tdtypeid);
            HeapTupleHeaderSetTypMod(td, ar->image_desc->tdtypmod);
            ItemPointerSetInvalid(&td->t_ctid);
            td->t_infomask &= (HEAP_HASNULL | HEAP_HASVARWIDTH);  // no visibility bits
            td->t_infomask2 &= HEAP_NATTS_MASK;
            return PointerGetDatum(td);
        }
    }
    slot_getallattrs(slot);
    return Image(ar, slot, nullptr, 0);
}

int64 KeyHashOf(const AuditRel *ar, TupleTableSlot *slot) {
    Datum values[INDEX_MAX_KEYS];
    int16 typlen[INDEX_MAX_KEYS];
    bool typbyval[INDEX_MAX_KEYS];
    int n = ar->nkeys < INDEX_MAX_KEYS ? ar->nkeys : INDEX_MAX_KEYS;
    for (int k = 0; k < n; ++k) {
        int p = ar->key_positions[k] - 1;
        bool isnull;
        values[k] = StoredValue(ar, p, slot, &isnull);
        if (isnull) values[k] = PointerGetDatum(cstring_to_text(""));  // keys are NOT NULL
        typlen[k] = isnull ? -1 : ar->stored_len[p];
        typbyval[k] = isnull ? false : ar->stored_byval[p];
    }
    return KeyHash(ar->table_id, n, values, typlen, typbyval);
}

// Did position p (0-based) change between old and new?
bool Changed(const AuditRel *ar, int p, TupleTableSlot *old_slot, TupleTableSlot *new_slot) {
    int a = ar->attnums[p] - 1;
    bool old_null = old_slot->tts_isnull[a], new_null = new_slot->tts_isnull[a];
    if (old_null || new_null) return old_null != new_null;
    Datum o = old_slot->tts_values[a], n = new_slot->tts_values[a];
    if (datumIsEqual(o, n, ar->typbyval[p], ar->typlen[p])) return false;
    if (ar->typlen[p] != -1) return true;
    // Same value, other representation (compressed, TOASTed)?
    auto *ov = reinterpret_cast<struct varlena *>(DatumGetPointer(o));
    auto *nv = reinterpret_cast<struct varlena *>(DatumGetPointer(n));
    if (!VARATT_IS_EXTENDED(ov) && !VARATT_IS_EXTENDED(nv)) return true;
    if (toast_raw_datum_size(o) != toast_raw_datum_size(n)) return true;
    return !datumIsEqual(PointerGetDatum(detoast_attr(ov)), PointerGetDatum(detoast_attr(nv)),
                         false, -1);
}

[[noreturn]] void ProtocolError(const char *what) {
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("steward.audit_trigger() %s", what),
                    errhint("Install it with steward.enable_audit().")));
    pg_unreachable();
}

Entry NewEntry(const AuditRel *ar, char action) {
    Entry e;
    memset(&e, 0, sizeof e);
    e.action = action;
    e.table_id = ar->table_id;
    e.version_id = ar->version_id;
    e.log_statement = ar->log_statement;
    e.nstored = -1;
    e.nchanged = -1;
    return e;
}

void AuditUpdate(const AuditRel *ar, TupleTableSlot *old_slot, TupleTableSlot *new_slot) {
    int16 *changed = static_cast<int16 *>(palloc(sizeof(int16) * (ar->ncols + 1)));
    int nchanged = 0;
    for (int p = 0; p < ar->ncols; ++p)
        if (Changed(ar, p, old_slot, new_slot)) changed[nchanged++] = static_cast<int16>(p + 1);
    // No-op: nothing audited changed, or only the updated_at stamp moved.
    if (!ar->log_noop &&
        (nchanged == 0 || (nchanged == 1 && changed[0] == ar->stamp_position)))
        return;

    char action = 'U';
    if (ar->soft_delete_position > 0) {
        int a = ar->attnums[ar->soft_delete_position - 1] - 1;
        bool was_null = old_slot->tts_isnull[a], is_null = new_slot->tts_isnull[a];
        if (was_null && !is_null) action = 'S';
        if (!was_null && is_null) action = 'R';
    }
    Entry e = NewEntry(ar, action);
    e.changed = changed;
    e.nchanged = nchanged;
    e.has_key = true;
    e.row_hash = KeyHashOf(ar, new_slot);
    bool key_changed = false;
    for (int k = 0, i = 0; k < ar->nkeys && !key_changed; ++k) {
        while (i < nchanged && changed[i] < ar->key_sorted[k]) ++i;
        key_changed = i < nchanged && changed[i] == ar->key_sorted[k];
    }
    if (key_changed) {
        e.key_changed = true;
        e.old_hash = KeyHashOf(ar, old_slot);
    }
    if (ar->full_row) {
        e.old_image = RowImage(ar, old_slot);
        e.new_image = RowImage(ar, new_slot);
    } else {
        int16 *stored = static_cast<int16 *>(palloc(sizeof(int16) * (ar->ncols + ar->nkeys + 1)));
        int nstored = audit_plan::MergePositions(ar->key_sorted, ar->nkeys, changed, nchanged, stored);
        e.stored = stored;
        e.nstored = nstored;
        e.old_image = Image(ar, old_slot, stored, nstored);
        e.new_image = Image(ar, new_slot, stored, nstored);
    }
    AddEntry(e);
}

// An entry holding one whole row: the new one (INSERT) or the old one
// (DELETE, a partition's TRUNCATE).
void AddRowEntry(const AuditRel *ar, char action, TupleTableSlot *slot, bool old_row) {
    Entry e = NewEntry(ar, action);
    e.has_key = true;
    slot_getsomeattrs(slot, ar->last_key_attnum);
    e.row_hash = KeyHashOf(ar, slot);
    (old_row ? e.old_image : e.new_image) = RowImage(ar, slot);
    AddEntry(e);
}

// The slot *cached of ar for a transition table's rows, made when first needed.
TupleTableSlot *TransitionSlot(AuditRel *ar, Relation rel, TupleTableSlot **cached) {
    if (*cached == nullptr) {
        MemoryContext old = MemoryContextSwitchTo(ar->cxt);
        if (ar->slot_desc == nullptr) ar->slot_desc = CreateTupleDescCopyConstr(RelationGetDescr(rel));
        *cached = MakeSingleTupleTableSlot(ar->slot_desc, &TTSOpsMinimalTuple);
        MemoryContextSwitchTo(old);
    }
    return *cached;
}

// The slots of a statement that ended in an error may hold a row freed
// with that statement's memory: empty them without freeing it.
void ForgetStaleSlots(AuditRel *ar) {
    if (!ar->slots_busy) return;
    for (TupleTableSlot *slot : {ar->old_slot, ar->new_slot}) {
        if (slot == nullptr) continue;
        slot->tts_flags &= ~TTS_FLAG_SHOULDFREE;
        ExecClearTuple(slot);
    }
    ar->slots_busy = false;
}

// Read the next row of a transition table into slot (not deformed yet);
// false at its end.
inline bool NextRow(Tuplestorestate *store, TupleTableSlot *slot) {
    return tuplestore_gettupleslot(store, true, false, slot);
}

// Log every row of the statement's transition table(s).
void AuditStatement(AuditRel *ar, TriggerData *td, char action) {
    Relation rel = td->tg_relation;
    Tuplestorestate *olds = td->tg_oldtable;
    Tuplestorestate *news = td->tg_newtable;
    if ((action != 'I' && olds == nullptr) || (action != 'D' && news == nullptr))
        ProtocolError("must be created with REFERENCING OLD TABLE / NEW TABLE");
    ForgetStaleSlots(ar);
    TupleTableSlot *old_slot = olds != nullptr ? TransitionSlot(ar, rel, &ar->old_slot) : nullptr;
    TupleTableSlot *new_slot = news != nullptr ? TransitionSlot(ar, rel, &ar->new_slot) : nullptr;
    ar->slots_busy = true;
    if (olds != nullptr) tuplestore_rescan(olds);
    if (news != nullptr) tuplestore_rescan(news);
    MemoryContext row_cxt =
        AllocSetContextCreate(CurrentMemoryContext, "steward audit row", ALLOCSET_DEFAULT_SIZES);
    BeginBatch(tuplestore_tuple_count(olds != nullptr ? olds : news));
    for (;;) {
        CHECK_FOR_INTERRUPTS();  // a huge statement's audit pass stays cancellable
        bool have_old = old_slot != nullptr && NextRow(olds, old_slot);
        bool have_new = new_slot != nullptr && NextRow(news, new_slot);
        if (!have_old && !have_new) break;
        MemoryContext old = MemoryContextSwitchTo(row_cxt);
        if (action == 'I') {
            AddRowEntry(ar, 'I', new_slot, false);
        } else if (action == 'D') {
            AddRowEntry(ar, 'D', old_slot, true);
        } else {
            if (!have_old || !have_new) elog(ERROR, "transition tables of an UPDATE differ in length");
            slot_getallattrs(old_slot);
            slot_getallattrs(new_slot);
            AuditUpdate(ar, old_slot, new_slot);
        }
        MemoryContextSwitchTo(old);
        MemoryContextReset(row_cxt);
    }
    EndBatch();
    MemoryContextDelete(row_cxt);
    if (old_slot != nullptr) ExecClearTuple(old_slot);
    if (new_slot != nullptr) ExecClearTuple(new_slot);
    ar->slots_busy = false;
}

// TRUNCATE (BEFORE, so the rows are still there). Of the audited table: one
// entry without rows, and its partitions, whose triggers fire next, log
// nothing. Of a partition on its own: one TRUNCATE entry per row it
// removes, with the row (an entry for the whole table would end the history
// of the rows in its other partitions too).
void AuditTruncate(const AuditRel *ar, Relation rel) {
    Oid relid = RelationGetRelid(rel);
    if (relid == ar->audited) {
        BeginBatch(1);
        AddEntry(NewEntry(ar, 'T'));
        EndBatch();
        if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE) {
            // TRUNCATE already holds ACCESS EXCLUSIVE on every partition
            MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
            List *parts = find_all_inheritors(relid, NoLock, nullptr);
            MemoryContextSwitchTo(old);
            g_truncating = list_delete_first(parts);  // the first one is relid
            g_truncating_lxid = MyProc->lxid;
        }
        return;
    }
    if (g_truncating_lxid == MyProc->lxid && list_member_oid(g_truncating, relid)) {
        g_truncating = list_delete_oid(g_truncating, relid);
        return;
    }
    if (rel->rd_rel->relkind != RELKIND_RELATION) return;  // its own partitions log their rows
    // Every row TRUNCATE removes: those committed (it waited for their
    // writers under its lock) and this transaction's, whatever the
    // transaction's snapshot.
    Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
    TableScanDesc scan = table_beginscan(rel, snapshot, 0, nullptr);
    TupleTableSlot *slot = table_slot_create(rel, nullptr);
    MemoryContext row_cxt =
        AllocSetContextCreate(CurrentMemoryContext, "steward audit row", ALLOCSET_DEFAULT_SIZES);
    BeginBatch(2);
    while (table_scan_getnextslot(scan, ForwardScanDirection, slot)) {
        CHECK_FOR_INTERRUPTS();
        slot_getallattrs(slot);
        MemoryContext old = MemoryContextSwitchTo(row_cxt);
        AddRowEntry(ar, 'T', slot, true);
        MemoryContextSwitchTo(old);
        MemoryContextReset(row_cxt);
    }
    EndBatch();
    MemoryContextDelete(row_cxt);
    ExecDropSingleTupleTableSlot(slot);
    table_endscan(scan);
    UnregisterSnapshot(snapshot);
}

}  // namespace

STEWARD_MODULE_INIT(audit, Init);

}  // namespace steward::audit

using namespace steward::audit;

STEWARD_FUNCTION(steward_audit_trigger) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("steward.audit_trigger() was not called by the trigger manager"),
                        errhint("Use steward.enable_audit() to audit a table.")));
    auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
    TriggerEvent event = td->tg_event;
    char action;
    if (TRIGGER_FIRED_BY_INSERT(event))
        action = 'I';
    else if (TRIGGER_FIRED_BY_UPDATE(event))
        action = 'U';
    else if (TRIGGER_FIRED_BY_DELETE(event))
        action = 'D';
    else
        action = 'T';
    if (action == 'T' && !TRIGGER_FIRED_BEFORE(event)) ProtocolError("must be fired BEFORE TRUNCATE");
    if (action != 'T' && !TRIGGER_FIRED_AFTER(event)) ProtocolError("must be fired AFTER the event");
    if (!TRIGGER_FIRED_FOR_STATEMENT(event)) ProtocolError("must be fired FOR EACH STATEMENT");
    AuditRel *ar = Lookup(fcinfo, td->tg_relation);
    if (action == 'T')
        AuditTruncate(ar, td->tg_relation);
    else
        AuditStatement(ar, td, action);
    return PointerGetDatum(nullptr);
}
