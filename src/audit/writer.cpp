// The audit log writer: appends one log row per audited change without SPI
// and without table privileges (tamper protection: only this path writes).
//
// Per transaction it resolves the day's partition once (the log is
// partitioned by the transaction start time, so one transaction writes one
// partition), builds the IndexInfo of its indexes and caches the sequence.
// Per row: nextval, heap_form_tuple, heap_insert, index_insert for each index.
// Partitions missing at write time are created through the SECURITY DEFINER
// function steward._audit_partition_for() (rare: they are created ahead).
//
// Hot path: plain data and direct PostgreSQL calls only.
#include "audit/audit.hpp"
#include "core/audit_plan.hpp"

extern "C" {
#include "access/detoast.h"
#include "access/genam.h"
#include "access/heapam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "utils/date.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"
}

namespace steward::audit {

// Settings (defined in trigger.cpp's module init).
extern char *g_actor;
extern char *g_context;

namespace {

constexpr int kLogColumns = 19;
constexpr int kMaxIndexes = 8;

enum LogColumn {
    kId, kLoggedAt, kTxid, kAction, kTableId, kVersionId, kRowKey, kOldKey, kStored,
    kChanged, kOldImage, kNewImage, kActor, kContext, kRoleName, kSessionRole,
    kApplicationName, kClientAddr, kStatement
};

// Everything the writer resolves once per transaction.
struct XactState {
    bool valid;
    LocalTransactionId lxid;
    MemoryContext cxt;  // child of TopTransactionContext
    Oid seq;
    Oid part;
    TimestampTz logged_at;
    int nindexes;
    Oid index_oids[kMaxIndexes];
    IndexInfo *index_info[kMaxIndexes];
    ExprState *index_pred[kMaxIndexes];
    EState *estate;
    TupleTableSlot *slot;
    Oid role;
    Datum role_name;
    Oid session_role;
    Datum session_role_name;
};

XactState g_xact;

// Per backend: client address, and the last parsed steward.audit_context.
bool g_client_addr_done = false;
bool g_client_addr_null = true;
Datum g_client_addr;
char *g_context_source = nullptr;
Datum g_context_value;

void ContextErrorCallback(void *) {
    errcontext("while reading setting \"steward.audit_context\"");
}

// steward.audit_context as jsonb; parsed again only when the text changes.
bool CurrentContext(Datum *out) {
    const char *src = g_context;
    if (src == nullptr || src[0] == '\0') return false;
    if (g_context_source == nullptr || strcmp(g_context_source, src) != 0) {
        ErrorContextCallback cb;
        cb.callback = ContextErrorCallback;
        cb.arg = nullptr;
        cb.previous = error_context_stack;
        error_context_stack = &cb;
        Datum parsed = DirectFunctionCall1(jsonb_in, CStringGetDatum(src));
        error_context_stack = cb.previous;
        MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
        Datum copy = PointerGetDatum(PG_DETOAST_DATUM_COPY(parsed));
        char *source = pstrdup(src);
        MemoryContextSwitchTo(old);
        if (g_context_source != nullptr) {
            pfree(g_context_source);
            pfree(DatumGetPointer(g_context_value));
        }
        g_context_source = source;
        g_context_value = copy;
    }
    *out = g_context_value;
    return true;
}

bool ClientAddr(Datum *out) {
    if (!g_client_addr_done) {
        LOCAL_FCINFO(call, 0);
        InitFunctionCallInfoData(*call, nullptr, 0, InvalidOid, nullptr, nullptr);
        MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
        Datum value = inet_client_addr(call);
        MemoryContextSwitchTo(old);
        g_client_addr_null = call->isnull;
        g_client_addr = value;
        g_client_addr_done = true;
    }
    *out = g_client_addr;
    return !g_client_addr_null;
}

Datum RoleName(Oid role) {
    char *name = GetUserNameFromId(role, true);
    return PointerGetDatum(cstring_to_text(name != nullptr ? name : "?"));
}

// The partition of the day of the transaction start, created if missing.
Oid PartitionOfDay(int64 day, Oid ns) {
    char name[NAMEDATALEN];
    if (!audit_plan::PartitionName(day, name, sizeof name))
        ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
                        errmsg("transaction timestamp is out of the range the audit log covers"),
                        errdetail("Audit log partitions cover the years 1000 to 9999.")));
    Oid part = get_relname_relid(name, ns);
    if (OidIsValid(part)) return part;
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    Oid argtypes[1] = {DATEOID};
    Datum args[1] = {DateADTGetDatum(static_cast<DateADT>(day))};
    int rc = SPI_execute_with_args("SELECT steward._audit_partition_for($1)::oid", 1, argtypes,
                                   args, nullptr, false, 1);
    if (rc != SPI_OK_SELECT || SPI_processed != 1) elog(ERROR, "could not create audit partition");
    bool isnull;
    part = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    SPI_finish();
    return part;
}

void PrepareXact() {
    g_xact.valid = false;
    g_xact.cxt = AllocSetContextCreate(TopTransactionContext, "steward audit writer",
                                       ALLOCSET_SMALL_SIZES);
    Oid ns = get_namespace_oid("steward", false);
    g_xact.seq = get_relname_relid("audit_records_id_seq", ns);
    if (!OidIsValid(g_xact.seq)) elog(ERROR, "sequence steward.audit_records_id_seq is missing");
    g_xact.logged_at = GetCurrentTransactionStartTimestamp();
    g_xact.part = PartitionOfDay(audit_plan::DayOf(g_xact.logged_at), ns);

    Relation rel = relation_open(g_xact.part, RowExclusiveLock);
    if (RelationGetDescr(rel)->natts != kLogColumns)
        elog(ERROR, "audit log partition \"%s\" does not have the expected columns",
             RelationGetRelationName(rel));
    MemoryContext old = MemoryContextSwitchTo(g_xact.cxt);
    g_xact.estate = CreateExecutorState();
    g_xact.slot = MakeSingleTupleTableSlot(CreateTupleDescCopy(RelationGetDescr(rel)),
                                           &TTSOpsHeapTuple);
    List *indexes = RelationGetIndexList(rel);
    if (list_length(indexes) > kMaxIndexes)
        elog(ERROR, "audit log partition \"%s\" has more than %d indexes",
             RelationGetRelationName(rel), kMaxIndexes);
    g_xact.nindexes = 0;
    ListCell *lc;
    foreach (lc, indexes) {
        Oid index_oid = lfirst_oid(lc);
        Relation index = index_open(index_oid, RowExclusiveLock);
        int i = g_xact.nindexes++;
        g_xact.index_oids[i] = index_oid;
        g_xact.index_info[i] = BuildIndexInfo(index);
        g_xact.index_pred[i] =
            g_xact.index_info[i]->ii_Predicate != NIL
                ? ExecPrepareQual(g_xact.index_info[i]->ii_Predicate, g_xact.estate)
                : nullptr;
        index_close(index, NoLock);
    }
    MemoryContextSwitchTo(old);
    relation_close(rel, NoLock);
    g_xact.role = InvalidOid;
    g_xact.session_role = InvalidOid;
    g_xact.lxid = MyProc->lxid;
    g_xact.valid = true;
}

Datum PositionsArray(const int16 *positions, int n) {
    Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * (n > 0 ? n : 1)));
    for (int i = 0; i < n; ++i) elems[i] = Int16GetDatum(positions[i]);
    return PointerGetDatum(construct_array(elems, n, INT2OID, 2, true, TYPALIGN_SHORT));
}

void InsertIndexEntries(Relation rel, HeapTuple tuple) {
    TupleTableSlot *slot = g_xact.slot;
    ExecStoreHeapTuple(tuple, slot, false);
    ExprContext *econtext = GetPerTupleExprContext(g_xact.estate);
    econtext->ecxt_scantuple = slot;
    for (int i = 0; i < g_xact.nindexes; ++i) {
        if (g_xact.index_pred[i] != nullptr && !ExecQual(g_xact.index_pred[i], econtext)) continue;
        Relation index = index_open(g_xact.index_oids[i], RowExclusiveLock);
        IndexInfo *info = g_xact.index_info[i];
        Datum values[INDEX_MAX_KEYS];
        bool nulls[INDEX_MAX_KEYS];
        FormIndexDatum(info, slot, g_xact.estate, values, nulls);
        index_insert(index, values, nulls, &tuple->t_self, rel,
                     info->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO, false, info);
        index_close(index, NoLock);
    }
    ResetExprContext(econtext);
    ExecClearTuple(slot);
}

}  // namespace

void ResetWriter() { g_xact.valid = false; }

Datum CanonicalVarlena(Datum value) {
    struct varlena *v = reinterpret_cast<struct varlena *>(DatumGetPointer(value));
    if (VARATT_IS_EXTENDED(v)) return PointerGetDatum(detoast_attr(v));
    return value;
}

void WriteEntry(const Entry &e) {
    if (!g_xact.valid || g_xact.lxid != MyProc->lxid) PrepareXact();

    Datum values[kLogColumns];
    bool nulls[kLogColumns];
    for (int i = 0; i < kLogColumns; ++i) nulls[i] = true;
    auto set = [&](int column, Datum value) {
        values[column] = value;
        nulls[column] = false;
    };
    set(kId, Int64GetDatum(nextval_internal(g_xact.seq, false)));
    set(kLoggedAt, TimestampTzGetDatum(g_xact.logged_at));
    set(kTxid, FullTransactionIdGetDatum(GetTopFullTransactionId()));
    set(kAction, CharGetDatum(e.action));
    set(kTableId, Int32GetDatum(e.table_id));
    set(kVersionId, Int32GetDatum(e.version_id));
    if (e.row_key != 0) set(kRowKey, e.row_key);
    if (e.old_key != 0) set(kOldKey, e.old_key);
    if (e.nstored >= 0) set(kStored, PositionsArray(e.stored, e.nstored));
    if (e.nchanged >= 0) set(kChanged, PositionsArray(e.changed, e.nchanged));
    if (e.old_image != 0) set(kOldImage, e.old_image);
    if (e.new_image != 0) set(kNewImage, e.new_image);

    const char *actor = g_actor;
    if (actor != nullptr && actor[0] != '\0') {
        size_t len = strlen(actor);
        if (len > audit_plan::kMaxActorBytes)
            ereport(ERROR, (errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
                            errmsg("steward.actor is too long"),
                            errdetail("The actor is %zu bytes long; at most %zu are allowed.", len,
                                      audit_plan::kMaxActorBytes),
                            errhint("Set steward.actor to a user id or name, and put further "
                                    "details into steward.audit_context.")));
        set(kActor, PointerGetDatum(cstring_to_text_with_len(actor, static_cast<int>(len))));
    }
    Datum context;
    if (CurrentContext(&context)) set(kContext, context);

    Oid role = GetUserId();
    if (role != g_xact.role) {
        MemoryContext old = MemoryContextSwitchTo(g_xact.cxt);
        g_xact.role_name = RoleName(role);
        MemoryContextSwitchTo(old);
        g_xact.role = role;
    }
    Oid session_role = GetSessionUserId();
    if (session_role != g_xact.session_role) {
        MemoryContext old = MemoryContextSwitchTo(g_xact.cxt);
        g_xact.session_role_name = RoleName(session_role);
        MemoryContextSwitchTo(old);
        g_xact.session_role = session_role;
    }
    set(kRoleName, g_xact.role_name);
    set(kSessionRole, g_xact.session_role_name);
    if (application_name != nullptr && application_name[0] != '\0')
        set(kApplicationName, PointerGetDatum(cstring_to_text(application_name)));
    Datum addr;
    if (ClientAddr(&addr)) set(kClientAddr, addr);
    if (e.log_statement && debug_query_string != nullptr)
        set(kStatement, PointerGetDatum(cstring_to_text(debug_query_string)));

    Relation rel = try_relation_open(g_xact.part, RowExclusiveLock);
    if (rel == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("audit log partition was dropped during the transaction"),
                        errhint("Do not purge the current day's audit partition.")));
    HeapTuple tuple = heap_form_tuple(RelationGetDescr(rel), values, nulls);
    heap_insert(rel, tuple, GetCurrentCommandId(true), 0, nullptr);
    InsertIndexEntries(rel, tuple);
    relation_close(rel, NoLock);
}

}  // namespace steward::audit
