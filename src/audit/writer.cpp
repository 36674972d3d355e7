// The audit log writer: appends the log rows of one statement without SPI
// and without table privileges (tamper protection: only this path writes).
//
// It resolves the day's partition (the log is partitioned by the transaction
// start time, so a transaction writes one partition) and builds the IndexInfo
// of its indexes once, and keeps them while the day lasts (dropped on relcache
// invalidation of the partition, its indexes or the sequence, and after an
// abort, which may have rolled the partition back). Per statement it opens
// the partition and its indexes once, takes one value of the id sequence
// (ids are value << 20 | row number: ordered like the statements, which for
// one record is the order of its changes, since a second writer waits for the
// first one's commit), and writes the rows with heap_multi_insert in batches,
// then the index entries of each row. A statement of many rows packs its
// entries instead (all but key moves): they are serialized as they come,
// sorted by key hash at the end of the statement (or every few MB), and
// written ~30 to a log row below 8 kB, whose key_range covers their hashes:
// one heap tuple, one WAL record share and one index entry (GiST over
// key_range) per ~30 entries instead of per entry, while one record's
// entries are still found through an index (the range, then `hashes`).
// Partitions are created ahead, a week
// at a time, by a background worker that the first writer of a day starts
// when the partition of 3 days ahead is missing (partition_worker.cpp). A
// writer that finds its own day's partition missing has the worker create
// it and waits for it; only when no worker can run does it create it itself
// (SECURITY DEFINER steward._audit_partition_for(), in its own transaction).
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
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgrprotos.h"
#include "utils/inval.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rangetypes.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/xid8.h"
}

#include <algorithm>

namespace steward::audit {

// Settings (defined in trigger.cpp's module init).
extern char *g_actor;
extern char *g_context;

namespace {

constexpr int kLogColumns = 22;
constexpr int kMaxIndexes = 8;
constexpr int kBatchRows = 500;
// A batch is also written once its formed rows reach this size (large row
// images, or statement text kept per row with log_statement).
constexpr Size kBatchBytes = 8 * 1024 * 1024;
constexpr int kRowBits = 20;  // rows per id block: 2^20
constexpr int64 kCheckAheadDays = 3;  // see CheckPartitionsAhead()
// Packing: statements of at least kPackMinRows rows; a packed log row holds
// up to kPackMaxEntries entries and kPackBytes of them (the partitions keep
// rows below toast_tuple_target = 8160 in the heap page, uncompressed);
// entries waiting to be sorted are written once they reach kPendingBytes.
constexpr int64 kPackMinRows = 16;
constexpr int kPackMaxEntries = 128;
constexpr Size kPackBytes = 7000;
constexpr Size kPendingBytes = 8 * 1024 * 1024;
// PositionsArray() keeps this many arrays of up to this many positions.
constexpr int kCachedPositionArrays = 8;
constexpr int kCachedPositionsMax = 16;

enum LogColumn {
    kId, kLoggedAt, kTxid, kAction, kTableId, kVersionId, kRowHash, kOldHash, kStored, kChanged, kOldImage, kNewImage, kActor, kContext, kRoleName, kSessionRole,
    kApplicationName, kClientAddr, kStatement, kKeyRange, kHashes, kEntries
};

// A packed entry waiting for the sort: its key hash and serialized form.
struct Pending {
    uint64 hash;
    int64 id;
    char *data;
    Size len;
};

// What the writer resolves once per day's partition.
struct WriterState {
    bool valid;
    int64 day;
    MemoryContext cxt;  // child of CacheMemoryContext
    Oid seq;
    Oid part;
    int nindexes;
    Oid index_oids[kMaxIndexes];
    IndexInfo *index_info[kMaxIndexes];
    ExprState *index_pred[kMaxIndexes];
    EState *estate;
    int nslots_made;
    TupleDesc desc;
    TupleTableSlot *slots[kBatchRows];
    MemoryContext batch_cxt;  // the formed tuples of the current batch
    MemoryContext pack_cxt;   // the packed entries waiting for the sort
    TypeCacheEntry *range_type;  // int8range
    // The first position arrays built (in cxt), kept until the state is
    // prepared again: a table's statements store the same few lists again
    // and again.
    int npositions_made;
    struct {
        int n;
        int16 positions[kCachedPositionsMax];
        Datum array;
    } positions_made[kCachedPositionArrays];
    // per transaction; role names per backend (TopMemoryContext, dropped
    // when pg_authid changes)
    LocalTransactionId lxid;
    TimestampTz logged_at;
    Oid role;
    Datum role_name;
    Oid session_role;
    Datum session_role_name;
};

// The statement being written.
struct Batch {
    bool open;
    Relation rel;
    Relation indexes[kMaxIndexes];
    BulkInsertState bistate;
    int64 id_block;
    int64 next_row;
    int nslots;
    Size bytes;  // formed rows waiting in the slots
    // packing (statements of many rows)
    bool pack;
    Pending *pending;
    int npending;
    int max_pending;
    Size pending_bytes;
    char pending_action;
    int32 pending_table_id;
    int32 pending_version_id;
    bool pending_log_statement;
    // the statement text, made once per statement when a row first needs it
    Datum statement;
    MemoryContext statement_cxt;
    // the same for every row of the statement (read when its trigger fires)
    Datum txid;
    bool has_actor, has_context, has_application_name, has_client_addr;
    Datum actor, context, application_name, client_addr;
};

WriterState g_xact;
Batch g_batch;
bool g_roles_valid = false;

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
    // Created in this transaction, the partition would be invisible to
    // everyone else, and would hold their writers, until we commit.
    if (CreatePartitionsInBackground(day, true)) {
        AcceptInvalidationMessages();
        part = get_relname_relid(name, ns);
        if (OidIsValid(part)) return part;
    }
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

// Once per backend and day: is the partition of 3 days ahead there? If not,
// a background worker creates the next week's (this writer does not wait).
void CheckPartitionsAhead(int64 day, Oid ns) {
    static int64 checked_day = PG_INT64_MIN;
    if (checked_day == day) return;
    checked_day = day;
    char name[NAMEDATALEN];
    if (audit_plan::PartitionName(day + kCheckAheadDays, name, sizeof name) &&
        !OidIsValid(get_relname_relid(name, ns)))
        CreatePartitionsInBackground(day, false);
}

void PrepareWriter(int64 day) {
    g_xact.valid = false;
    if (g_xact.cxt != nullptr) MemoryContextDelete(g_xact.cxt);
    g_xact.cxt = nullptr;
    Oid ns = get_namespace_oid("steward", false);
    Oid seq = get_relname_relid("audit_records_id_seq", ns);
    if (!OidIsValid(seq)) elog(ERROR, "sequence steward.audit_records_id_seq is missing");
    Oid part = PartitionOfDay(day, ns);
    CheckPartitionsAhead(day, ns);
    g_xact.cxt = AllocSetContextCreate(CacheMemoryContext, "steward audit writer",
                                       ALLOCSET_SMALL_SIZES);
    g_xact.seq = seq;
    g_xact.part = part;
    g_xact.day = day;

    Relation rel = relation_open(g_xact.part, RowExclusiveLock);
    if (RelationGetDescr(rel)->natts != kLogColumns)
        elog(ERROR, "audit log partition \"%s\" does not have the expected columns",
             RelationGetRelationName(rel));
    MemoryContext old = MemoryContextSwitchTo(g_xact.cxt);
    g_xact.estate = CreateExecutorState();
    g_xact.desc = CreateTupleDescCopy(RelationGetDescr(rel));
    g_xact.nslots_made = 0;
    g_xact.npositions_made = 0;
    g_xact.batch_cxt = AllocSetContextCreate(g_xact.cxt, "steward audit batch",
                                             ALLOCSET_DEFAULT_SIZES);
    g_xact.pack_cxt = AllocSetContextCreate(g_xact.cxt, "steward audit packed entries",
                                            ALLOCSET_DEFAULT_SIZES);
    g_xact.range_type = lookup_type_cache(INT8RANGEOID, TYPECACHE_RANGE_INFO);
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
    g_xact.lxid = InvalidLocalTransactionId;
    g_xact.valid = true;
}

// Write the formed tuples of the batch, then their index entries.
void Flush() {
    int n = g_batch.nslots;
    if (n == 0) return;
    heap_multi_insert(g_batch.rel, g_xact.slots, n, GetCurrentCommandId(true), 0, g_batch.bistate);
    ExprContext *econtext = GetPerTupleExprContext(g_xact.estate);
    for (int r = 0; r < n; ++r) {
        TupleTableSlot *slot = g_xact.slots[r];
        econtext->ecxt_scantuple = slot;
        for (int i = 0; i < g_xact.nindexes; ++i) {
            IndexInfo *info = g_xact.index_info[i];
            if (!info->ii_ReadyForInserts) continue;  // being built concurrently (as executor does)
            if (g_xact.index_pred[i] != nullptr && !ExecQual(g_xact.index_pred[i], econtext))
                continue;
            Datum values[INDEX_MAX_KEYS];
            bool nulls[INDEX_MAX_KEYS];
            FormIndexDatum(info, slot, g_xact.estate, values, nulls);
            if (g_batch.indexes[i] == nullptr)  // opened when first needed (partial indexes)
                g_batch.indexes[i] = index_open(g_xact.index_oids[i], RowExclusiveLock);
            index_insert(g_batch.indexes[i], values, nulls, &slot->tts_tid, g_batch.rel,
                         info->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO, false, info);
        }
        ResetExprContext(econtext);
        ExecClearTuple(slot);
    }
    g_batch.nslots = 0;
    g_batch.bytes = 0;
    MemoryContextReset(g_xact.batch_cxt);
}

void FlushPending();  // below: the packed entries of the statement

}  // namespace

Datum PositionsArray(const int16 *positions, int n) {
    Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * (n > 0 ? n : 1)));
    for (int i = 0; i < n; ++i) elems[i] = Int16GetDatum(positions[i]);
    return PointerGetDatum(construct_array(elems, n, INT2OID, 2, true, TYPALIGN_SHORT));
}

namespace {

// PositionsArray() for a log row being formed: the same array when the
// same positions come again (the writer's state holds them; heap_form_tuple
// copies them into the row).
Datum LogPositionsArray(const int16 *positions, int n) {
    bool cacheable = g_xact.valid && n <= kCachedPositionsMax;
    if (cacheable) {
        for (int c = 0; c < g_xact.npositions_made; ++c) {
            const auto &made = g_xact.positions_made[c];
            if (made.n == n && memcmp(made.positions, positions, sizeof(int16) * n) == 0)
                return made.array;
        }
    }
    if (!cacheable || g_xact.npositions_made == kCachedPositionArrays) return PositionsArray(positions, n);
    MemoryContext old = MemoryContextSwitchTo(g_xact.cxt);
    Datum array = PositionsArray(positions, n);
    MemoryContextSwitchTo(old);
    auto &made = g_xact.positions_made[g_xact.npositions_made++];
    made.n = n;
    memcpy(made.positions, positions, sizeof(int16) * n);
    made.array = array;
    return array;
}

}  // namespace

void ResetWriter() {
    g_xact.valid = false;
    g_batch.open = false;
}

void WriterRolesInvalidated() { g_roles_valid = false; }

void WriterRelcacheInvalidated(Oid relid) {
    if (!g_xact.valid) return;
    bool ours = relid == InvalidOid || relid == g_xact.part || relid == g_xact.seq;
    for (int i = 0; i < g_xact.nindexes && !ours; ++i) ours = relid == g_xact.index_oids[i];
    if (ours) g_xact.valid = false;
}

int64 KeyHash(int32 table_id, int n, const Datum *values, const int16 *typlen,
              const bool *typbyval) {
    uint64 h = hash_bytes_uint32_extended(static_cast<uint32>(table_id), 0x73746577);
    for (int k = 0; k < n; ++k) {
        uint64 part;
        if (typbyval[k]) {
            int64 x;
            switch (typlen[k]) {
                case 1: x = static_cast<int64>(DatumGetChar(values[k])); break;
                case 2: x = DatumGetInt16(values[k]); break;
                case 4: x = DatumGetInt32(values[k]); break;
                default: x = DatumGetInt64(values[k]); break;
            }
            unsigned char le[8];
            for (int b = 0; b < 8; ++b) le[b] = static_cast<unsigned char>(static_cast<uint64>(x) >> (8 * b));
            part = hash_bytes_extended(le, 8, 0);
        } else if (typlen[k] == -1) {
            struct varlena *v = PG_DETOAST_DATUM_PACKED(values[k]);
            part = hash_bytes_extended(reinterpret_cast<const unsigned char *>(VARDATA_ANY(v)),
                                       static_cast<int>(VARSIZE_ANY_EXHDR(v)), 0);
        } else if (typlen[k] == -2) {
            const char *c = DatumGetCString(values[k]);
            part = hash_bytes_extended(reinterpret_cast<const unsigned char *>(c),
                                       static_cast<int>(strlen(c)), 0);
        } else {
            part = hash_bytes_extended(reinterpret_cast<const unsigned char *>(DatumGetPointer(values[k])),
                                       typlen[k], 0);
        }
        h = hash_combine64(h, part);
    }
    return static_cast<int64>(h);
}

// Who acts and where from, as of the statement's trigger: the same for each
// of its rows.
void ReadStatementContext() {
    if (g_xact.lxid != MyProc->lxid) {
        g_xact.lxid = MyProc->lxid;
        g_xact.logged_at = GetCurrentTransactionStartTimestamp();
    }
    g_batch.txid = FullTransactionIdGetDatum(GetTopFullTransactionId());
    const char *actor = g_actor;
    g_batch.has_actor = actor != nullptr && actor[0] != '\0';
    if (g_batch.has_actor) {
        size_t len = strlen(actor);
        if (len > audit_plan::kMaxActorBytes)
            ereport(ERROR, (errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
                            errmsg("steward.actor is too long"),
                            errdetail("The actor is %zu bytes long; at most %zu are allowed.", len,
                                      audit_plan::kMaxActorBytes),
                            errhint("Set steward.actor to a user id or name, and put further "
                                    "details into steward.audit_context.")));
        g_batch.actor = PointerGetDatum(cstring_to_text_with_len(actor, static_cast<int>(len)));
    }
    g_batch.has_context = CurrentContext(&g_batch.context);
    g_batch.statement = PointerGetDatum(nullptr);
    g_batch.statement_cxt = CurrentMemoryContext;  // lives as long as actor and context
    Oid role = GetUserId();
    Oid session_role = GetSessionUserId();
    if (!g_roles_valid || role != g_xact.role || session_role != g_xact.session_role) {
        if (g_xact.role_name != 0) pfree(DatumGetPointer(g_xact.role_name));
        if (g_xact.session_role_name != 0) pfree(DatumGetPointer(g_xact.session_role_name));
        g_roles_valid = true;
        MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
        g_xact.role_name = RoleName(role);
        g_xact.role = role;
        g_xact.session_role_name = RoleName(session_role);
        g_xact.session_role = session_role;
        MemoryContextSwitchTo(old);
    }
    g_batch.has_application_name = application_name != nullptr && application_name[0] != '\0';
    if (g_batch.has_application_name)
        g_batch.application_name = PointerGetDatum(cstring_to_text(application_name));
    g_batch.has_client_addr = ClientAddr(&g_batch.client_addr);
}

void BeginBatch(int64 expected_rows) {
    int64 day = audit_plan::DayOf(GetCurrentTransactionStartTimestamp());
    if (!g_xact.valid || g_xact.day != day) PrepareWriter(day);
    g_batch.open = false;
    g_batch.rel = try_relation_open(g_xact.part, RowExclusiveLock);
    if (g_batch.rel != nullptr && !g_xact.valid) {
        // Taking the lock processed invalidations for the partition or its
        // indexes (say an index built since the state was cached): rebuild
        // the state now, under the lock, so no index misses these rows.
        relation_close(g_batch.rel, NoLock);
        PrepareWriter(day);
        g_batch.rel = try_relation_open(g_xact.part, RowExclusiveLock);
    }
    if (g_batch.rel == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("audit log partition was dropped during the transaction"),
                        errhint("Do not purge the current day's audit partition.")));
    for (int i = 0; i < g_xact.nindexes; ++i)
        g_batch.indexes[i] = nullptr;
    // A bulk-insert state (buffer ring) pays off for many rows only.
    g_batch.bistate = expected_rows > 1 ? GetBulkInsertState() : nullptr;
    g_batch.id_block = -1;
    g_batch.next_row = 0;
    g_batch.nslots = 0;
    g_batch.bytes = 0;
    MemoryContextReset(g_xact.batch_cxt);
    g_batch.pack = expected_rows >= kPackMinRows;
    g_batch.pending = nullptr;
    g_batch.npending = 0;
    g_batch.max_pending = 0;
    g_batch.pending_bytes = 0;
    MemoryContextReset(g_xact.pack_cxt);
    ReadStatementContext();
    g_batch.open = true;
}

void EndBatch() {
    if (!g_batch.open) return;
    FlushPending();
    Flush();
    if (g_batch.bistate != nullptr) FreeBulkInsertState(g_batch.bistate);
    for (int i = 0; i < g_xact.nindexes; ++i)
        if (g_batch.indexes[i] != nullptr) index_close(g_batch.indexes[i], NoLock);
    relation_close(g_batch.rel, NoLock);
    g_batch.open = false;
}

namespace {

int64 NextId() {
    if (g_batch.id_block < 0 || g_batch.next_row >= (int64{1} << kRowBits)) {
        g_batch.id_block = nextval_internal(g_xact.seq, false);
        g_batch.next_row = 0;
    }
    return (g_batch.id_block << kRowBits) | g_batch.next_row++;
}

// The columns every log row of the statement shares; the rest NULL.
void StatementColumns(Datum *values, bool *nulls, char action, int32 table_id, int32 version_id,
                      bool log_statement) {
    for (int i = 0; i < kLogColumns; ++i) nulls[i] = true;
    auto set = [&](int column, Datum value) {
        values[column] = value;
        nulls[column] = false;
    };
    set(kLoggedAt, TimestampTzGetDatum(g_xact.logged_at));
    set(kTxid, g_batch.txid);
    set(kAction, CharGetDatum(action));
    set(kTableId, Int32GetDatum(table_id));
    set(kVersionId, Int32GetDatum(version_id));
    if (g_batch.has_actor) set(kActor, g_batch.actor);
    if (g_batch.has_context) set(kContext, g_batch.context);
    set(kRoleName, g_xact.role_name);
    set(kSessionRole, g_xact.session_role_name);
    if (g_batch.has_application_name) set(kApplicationName, g_batch.application_name);
    if (g_batch.has_client_addr) set(kClientAddr, g_batch.client_addr);
    if (log_statement && debug_query_string != nullptr) {
        if (DatumGetPointer(g_batch.statement) == nullptr) {
            MemoryContext prev = MemoryContextSwitchTo(g_batch.statement_cxt);
            g_batch.statement = PointerGetDatum(cstring_to_text(debug_query_string));
            MemoryContextSwitchTo(prev);
        }
        set(kStatement, g_batch.statement);
    }
}

// Form a log row (in the batch context) and queue it for the next Flush().
void AddLogRow(Datum *values, bool *nulls) {
    if (g_batch.nslots == g_xact.nslots_made) {
        MemoryContext prev = MemoryContextSwitchTo(g_xact.cxt);
        g_xact.slots[g_xact.nslots_made++] = MakeSingleTupleTableSlot(g_xact.desc, &TTSOpsHeapTuple);
        MemoryContextSwitchTo(prev);
    }
    TupleTableSlot *slot = g_xact.slots[g_batch.nslots++];
    HeapTuple tuple = heap_form_tuple(slot->tts_tupleDescriptor, values, nulls);
    g_batch.bytes += tuple->t_len;
    ExecStoreHeapTuple(tuple, slot, true);
    if (g_batch.nslots == kBatchRows || g_batch.bytes >= kBatchBytes) Flush();
}

Size ImageLen(Datum image) { return image != 0 ? VARSIZE(DatumGetPointer(image)) : 0; }

// Serialize an entry into the pending set (PackedHeader layout, audit.hpp).
void Pack(const Entry &e, int64 id) {
    if (g_batch.npending == g_batch.max_pending) {
        int grown = g_batch.max_pending == 0 ? 1024 : g_batch.max_pending * 2;
        g_batch.pending = static_cast<Pending *>(
            g_batch.pending == nullptr
                ? MemoryContextAlloc(g_xact.pack_cxt, sizeof(Pending) * grown)
                : repalloc(g_batch.pending, sizeof(Pending) * grown));
        g_batch.max_pending = grown;
    }
    PackedHeader h;
    memset(&h, 0, sizeof h);
    h.id = id;
    h.row_hash = e.row_hash;
    h.nstored = static_cast<int16>(e.nstored);
    h.nchanged = static_cast<int16>(e.nchanged);
    h.old_len = static_cast<uint32>(ImageLen(e.old_image));
    h.new_len = static_cast<uint32>(ImageLen(e.new_image));
    Size npos = (e.nstored > 0 ? e.nstored : 0) + (e.nchanged > 0 ? e.nchanged : 0);
    Size len = sizeof h + npos * sizeof(int16) + h.old_len + h.new_len;
    char *data = static_cast<char *>(MemoryContextAlloc(g_xact.pack_cxt, len));
    char *p = data;
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    if (e.nstored > 0) {
        memcpy(p, e.stored, e.nstored * sizeof(int16));
        p += e.nstored * sizeof(int16);
    }
    if (e.nchanged > 0) {
        memcpy(p, e.changed, e.nchanged * sizeof(int16));
        p += e.nchanged * sizeof(int16);
    }
    if (h.old_len > 0) memcpy(p, DatumGetPointer(e.old_image), h.old_len);
    p += h.old_len;
    if (h.new_len > 0) memcpy(p, DatumGetPointer(e.new_image), h.new_len);
    Pending &slot = g_batch.pending[g_batch.npending++];
    slot.hash = static_cast<uint64>(e.row_hash);
    slot.id = id;
    slot.data = data;
    slot.len = len;
    g_batch.pending_bytes += len;
}

// One packed log row of pending entries [from, to) (sorted by hash).
void AddPackedRow(int from, int to) {
    MemoryContext old = MemoryContextSwitchTo(g_xact.batch_cxt);
    Datum values[kLogColumns];
    bool nulls[kLogColumns];
    StatementColumns(values, nulls, g_batch.pending_action, g_batch.pending_table_id,
                     g_batch.pending_version_id, g_batch.pending_log_statement);
    Size total = 0;
    int64 max_id = PG_INT64_MIN;
    int n = to - from;
    Datum *hashes = static_cast<Datum *>(palloc(sizeof(Datum) * n));
    for (int i = from; i < to; ++i) {
        total += g_batch.pending[i].len;
        max_id = std::max(max_id, g_batch.pending[i].id);
        hashes[i - from] = Int64GetDatum(static_cast<int64>(g_batch.pending[i].hash));
    }
    bytea *entries = static_cast<bytea *>(palloc(VARHDRSZ + total));
    SET_VARSIZE(entries, VARHDRSZ + total);
    char *p = VARDATA(entries);
    for (int i = from; i < to; ++i) {
        memcpy(p, g_batch.pending[i].data, g_batch.pending[i].len);
        p += g_batch.pending[i].len;
    }
    RangeBound lower, upper;
    lower.val = Int64GetDatum(KeyPoint(g_batch.pending_table_id,
                                       static_cast<int64>(g_batch.pending[from].hash)));
    lower.infinite = false;
    lower.inclusive = true;
    lower.lower = true;
    upper.val = Int64GetDatum(KeyPoint(g_batch.pending_table_id,
                                       static_cast<int64>(g_batch.pending[to - 1].hash)));
    upper.infinite = false;
    upper.inclusive = true;
    upper.lower = false;
#if PG_VERSION_NUM >= 160000
    RangeType *range = make_range(g_xact.range_type, &lower, &upper, false, nullptr);
#else
    RangeType *range = make_range(g_xact.range_type, &lower, &upper, false);
#endif
    values[kId] = Int64GetDatum(max_id);  // the row's id: its newest entry's
    nulls[kId] = false;
    values[kKeyRange] = RangeTypePGetDatum(range);
    nulls[kKeyRange] = false;
    values[kHashes] = PointerGetDatum(
        construct_array(hashes, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
    nulls[kHashes] = false;
    values[kEntries] = PointerGetDatum(entries);
    nulls[kEntries] = false;
    AddLogRow(values, nulls);
    MemoryContextSwitchTo(old);
}

// Sort the pending entries by key hash and write them packed.
void FlushPending() {
    int n = g_batch.npending;
    if (n == 0) return;
    std::sort(g_batch.pending, g_batch.pending + n,
              [](const Pending &a, const Pending &b) { return a.hash < b.hash; });
    for (int from = 0; from < n;) {
        int to = from;
        Size bytes = 0;
        while (to < n && to - from < kPackMaxEntries &&
               (to == from || bytes + g_batch.pending[to].len + sizeof(int64) <= kPackBytes)) {
            bytes += g_batch.pending[to].len + sizeof(int64);
            ++to;
        }
        AddPackedRow(from, to);
        from = to;
    }
    g_batch.npending = 0;
    g_batch.max_pending = 0;
    g_batch.pending = nullptr;
    g_batch.pending_bytes = 0;
    MemoryContextReset(g_xact.pack_cxt);
}

}  // namespace

void AddEntry(const Entry &e) {
    int64 id = NextId();
    if (g_batch.pack && e.has_key && !e.key_changed) {
        if (g_batch.npending > 0 &&
            (e.action != g_batch.pending_action || e.table_id != g_batch.pending_table_id ||
             e.version_id != g_batch.pending_version_id ||
             e.log_statement != g_batch.pending_log_statement))
            FlushPending();
        g_batch.pending_action = e.action;
        g_batch.pending_table_id = e.table_id;
        g_batch.pending_version_id = e.version_id;
        g_batch.pending_log_statement = e.log_statement;
        Pack(e, id);
        if (g_batch.pending_bytes >= kPendingBytes) FlushPending();
        return;
    }
    MemoryContext old = MemoryContextSwitchTo(g_xact.batch_cxt);
    Datum values[kLogColumns];
    bool nulls[kLogColumns];
    StatementColumns(values, nulls, e.action, e.table_id, e.version_id, e.log_statement);
    auto set = [&](int column, Datum value) {
        values[column] = value;
        nulls[column] = false;
    };
    set(kId, Int64GetDatum(id));
    if (e.has_key) set(kRowHash, Int64GetDatum(e.row_hash));
    if (e.key_changed) set(kOldHash, Int64GetDatum(e.old_hash));
    if (e.nstored >= 0) set(kStored, LogPositionsArray(e.stored, e.nstored));
    if (e.nchanged >= 0) set(kChanged, LogPositionsArray(e.changed, e.nchanged));
    if (e.old_image != 0) set(kOldImage, e.old_image);
    if (e.new_image != 0) set(kNewImage, e.new_image);
    AddLogRow(values, nulls);
    MemoryContextSwitchTo(old);
}

}  // namespace steward::audit
