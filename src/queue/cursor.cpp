// The ready-index cursor: why a SKIP LOCKED queue stays flat under a held
// snapshot (docs/queue.md, "Design").
//
// A claim turns the first ready entries of the index into dead ones. While
// any snapshot older than them is open, vacuum and index "kill" bits cannot
// remove them, so a scan from the start of the index walks an ever longer
// dead prefix: that is what makes every SKIP LOCKED queue slow down. Here
// each queue has a floor in shared memory: a key below which no ready job
// exists. Dequeue starts its scan at the floor (an index row comparison) and
// moves the floor up to the first key it claimed. Every way a ready job can
// appear below the floor lowers it:
//  - enqueue, fail-with-retry, release, retry, promotion of due scheduled
//    jobs: lowered right after commit (the job is visible by then), and the
//    lowering bumps the queue's generation, so a dequeue whose snapshot
//    predates the commit cannot raise the floor past it (it raises only if
//    the generation it read before its snapshot is unchanged);
//  - an aborted claim or cancel (the locked ready rows come back): the floor
//    is reset at abort of the transaction or of any subtransaction;
//  - a crash: shared memory is re-created empty;
//  - a prepared transaction (2PC): its jobs become ready, or its claimed jobs
//    come back, when COMMIT PREPARED / ROLLBACK PREPARED runs, in whichever
//    session: that statement resets every floor.
// As a safety net every backend scans from the start every
// steward.queue_rescan_interval. Without preloading there is no shared
// memory and every scan starts at the beginning (same results, slower).
#include "boundary/boundary.hpp"
#include "module.hpp"
#include "queue/queue.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/utility.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
}

namespace steward::queue {
namespace {

constexpr int kSlots = 256;

// Queue ids are per database; shared memory is per cluster: a slot belongs
// to (database, queue id).
struct Slot {
    Oid dbid;
    int32 queue_id;  // 0: free
    bool valid;      // floor is meaningful
    ReadyKey floor;
    uint64 generation;
    TimestampTz rescanned_at;  // last scan from the start (0: none yet)
    uint64 used;               // the clock when last looked up (eviction order)
};

struct CursorShmem {
    slock_t lock;
    uint32 epoch;  // bumped by ResetAll and by an eviction
    uint64 clock;  // ticks at every slot lookup
    Slot slots[kSlots];
};

CursorShmem *g_shmem = nullptr;
bool g_cursor_guc = true;
shmem_request_hook_type g_prev_request = nullptr;
shmem_startup_hook_type g_prev_startup = nullptr;
ProcessUtility_hook_type g_prev_utility = nullptr;

// Pending work of the current transaction (plain static data).
constexpr int kPending = 32;
struct Lowering {
    int32 queue_id;
    ReadyKey key;
};
Lowering g_lowerings[kPending];
int g_lowering_count = 0;
bool g_lowering_overflow = false;
int32 g_resets[kPending];
int g_reset_count = 0;
bool g_reset_overflow = false;
bool g_callbacks_registered = false;

// Find the queue's slot in this database; with create, take a free one, or
// when every slot is taken (slots are not freed when a queue is dropped:
// dropped queues keep theirs until they are the least recently used) the
// least recently used one, preferring one without a floor. An eviction bumps
// the epoch, which refuses every raise that read a slot before it: neither
// the evicted queue nor the new one can then take a raise meant for the other.
// Caller holds the lock.
Slot *FindSlot(int32 queue_id, bool create) {
    Slot *free_slot = nullptr, *victim = nullptr;
    for (Slot &s : g_shmem->slots) {
        if (s.queue_id == queue_id && s.dbid == MyDatabaseId) {
            s.used = ++g_shmem->clock;
            return &s;
        }
        if (s.queue_id == 0) {
            if (free_slot == nullptr) free_slot = &s;
        } else if (victim == nullptr || (victim->valid && !s.valid) ||
                   (victim->valid == s.valid && s.used < victim->used)) {
            victim = &s;
        }
    }
    if (!create) return nullptr;
    if (free_slot == nullptr) {
        free_slot = victim;
        ++g_shmem->epoch;
    }
    free_slot->dbid = MyDatabaseId;
    free_slot->queue_id = queue_id;
    free_slot->valid = false;
    free_slot->generation = 1;
    free_slot->rescanned_at = 0;
    free_slot->used = ++g_shmem->clock;
    return free_slot;
}

void ResetAll() {
    SpinLockAcquire(&g_shmem->lock);
    ++g_shmem->epoch;
    for (Slot &s : g_shmem->slots)
        if (s.queue_id != 0) {
            s.valid = false;
            ++s.generation;
        }
    SpinLockRelease(&g_shmem->lock);
}

// Reset and Lower create the slot if needed, so that the generation change
// is seen by a raise that read the queue before it had a slot.
void Reset(int32 queue_id) {
    SpinLockAcquire(&g_shmem->lock);
    if (Slot *s = FindSlot(queue_id, true)) {
        s->valid = false;
        ++s->generation;
    }
    SpinLockRelease(&g_shmem->lock);
}

void Lower(int32 queue_id, const ReadyKey &key) {
    SpinLockAcquire(&g_shmem->lock);
    if (Slot *s = FindSlot(queue_id, true)) {
        if (s->valid && KeyLess(key, s->floor)) s->floor = key;
        ++s->generation;
    }
    SpinLockRelease(&g_shmem->lock);
}

void ForgetPending() {
    g_lowering_count = 0;
    g_lowering_overflow = false;
    g_reset_count = 0;
    g_reset_overflow = false;
}

void ApplyResets() {
    if (g_reset_overflow) {
        ResetAll();
        return;
    }
    for (int i = 0; i < g_reset_count; ++i) Reset(g_resets[i]);
}

// Lowerings are applied after commit (the jobs are visible to every new
// snapshot by then); resets on abort. A prepared transaction's jobs change
// only when COMMIT / ROLLBACK PREPARED runs (see OnUtility): nothing to do
// at PREPARE but forget what was pending.
void OnXact(XactEvent event, void *) {
    if (g_shmem == nullptr) return;
    switch (event) {
        case XACT_EVENT_COMMIT:
        case XACT_EVENT_PARALLEL_COMMIT:
            if (g_lowering_overflow)
                ResetAll();
            else
                for (int i = 0; i < g_lowering_count; ++i)
                    Lower(g_lowerings[i].queue_id, g_lowerings[i].key);
            ForgetPending();
            break;
        case XACT_EVENT_PREPARE:
            ForgetPending();
            break;
        case XACT_EVENT_ABORT:
        case XACT_EVENT_PARALLEL_ABORT:
            ApplyResets();
            ForgetPending();
            break;
        default:
            break;
    }
}

// A subtransaction that aborts may have locked ready jobs: reset the floors
// registered so far (conservative: only costs one walk from the start).
void OnSubXact(SubXactEvent event, SubTransactionId, SubTransactionId, void *) {
    if (g_shmem == nullptr || event != SUBXACT_EVENT_ABORT_SUB) return;
    ApplyResets();
}

void EnsureCallbacks() {
    if (g_callbacks_registered) return;
    RegisterXactCallback(OnXact, nullptr);
    RegisterSubXactCallback(OnSubXact, nullptr);
    g_callbacks_registered = true;
}

// COMMIT PREPARED / ROLLBACK PREPARED: the prepared transaction may have
// enqueued jobs (ready from now on) or claimed ones (ready again after a
// rollback) below any floor, and which queues it touched is not known here:
// once it is finished (visible to every new snapshot), forget every floor.
// ResetAll, not only this database's slots: its epoch also refuses the raise
// of a dequeue that read a queue before the queue had a slot. Rare and cheap:
// the next dequeue of each queue walks its index from the start once.
void OnUtility(PlannedStmt *pstmt, const char *query, bool read_only_tree, ProcessUtilityContext context,
               ParamListInfo params, QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc) {
    Node *stmt = pstmt->utilityStmt;
    bool finishes_prepared = IsA(stmt, TransactionStmt) &&
                             (castNode(TransactionStmt, stmt)->kind == TRANS_STMT_COMMIT_PREPARED ||
                              castNode(TransactionStmt, stmt)->kind == TRANS_STMT_ROLLBACK_PREPARED);
    if (g_prev_utility)
        g_prev_utility(pstmt, query, read_only_tree, context, params, env, dest, qc);
    else
        standard_ProcessUtility(pstmt, query, read_only_tree, context, params, env, dest, qc);
    if (finishes_prepared && g_shmem != nullptr) ResetAll();
}

void RequestShmem() {
    if (g_prev_request) g_prev_request();
    RequestAddinShmemSpace(MAXALIGN(sizeof(CursorShmem)));
}

void StartupShmem() {
    if (g_prev_startup) g_prev_startup();
    bool found;
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    g_shmem = static_cast<CursorShmem *>(ShmemInitStruct("pg_steward queue cursors", sizeof(CursorShmem), &found));
    if (!found) {
        std::memset(static_cast<void *>(g_shmem), 0, sizeof(CursorShmem));
        SpinLockInit(&g_shmem->lock);
    }
    LWLockRelease(AddinShmemInitLock);
}

void InitQueueModule() {
    DefineCustomBoolVariable("steward.queue_cursor",
                             "Start dequeue scans at the queue's cursor (needs preloading).",
                             "Off makes every dequeue scan its ready index from the start, as a plain "
                             "SKIP LOCKED query does.",
                             &g_cursor_guc, true, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    if (!process_shared_preload_libraries_in_progress) return;
    g_prev_request = shmem_request_hook;
    shmem_request_hook = RequestShmem;
    g_prev_startup = shmem_startup_hook;
    shmem_startup_hook = StartupShmem;
    g_prev_utility = ProcessUtility_hook;
    ProcessUtility_hook = OnUtility;
}

}  // namespace

bool CursorEnabled() { return g_shmem != nullptr && g_cursor_guc; }

bool CursorRead(int32 queue_id, ReadyKey *floor, uint64 *generation, TimestampTz now, int64 rescan_us) {
    *generation = 0;
    if (!CursorEnabled()) return false;
    SpinLockAcquire(&g_shmem->lock);
    Slot *s = FindSlot(queue_id, false);
    bool valid = s != nullptr && s->valid;
    // The safety net, per queue (not per backend: a worker that serves more
    // queues than it keeps times for must not escape it): one dequeue per
    // interval ignores the floor; the first interval starts at the first read.
    if (valid && s->rescanned_at == 0) s->rescanned_at = now;
    if (valid && now - s->rescanned_at >= rescan_us) {
        s->rescanned_at = now;
        valid = false;
    }
    // generation: the global epoch in the high half, the slot's in the low
    *generation = static_cast<uint64>(g_shmem->epoch) << 32;
    if (s != nullptr) {
        *generation |= s->generation & 0xffffffffu;
        if (valid) *floor = s->floor;
    }
    SpinLockRelease(&g_shmem->lock);
    return valid;
}

bool CursorPendingMin(int32 queue_id, ReadyKey *key) {
    if (g_shmem == nullptr) return false;
    if (g_lowering_overflow) {
        *key = KeyMin();
        return true;
    }
    for (int i = 0; i < g_lowering_count; ++i)
        if (g_lowerings[i].queue_id == queue_id) {
            *key = g_lowerings[i].key;
            return true;
        }
    return false;
}

void CursorRaise(int32 queue_id, const ReadyKey &to, uint64 generation, bool from_start) {
    if (!CursorEnabled()) return;
    TimestampTz now = from_start ? GetCurrentTimestamp() : 0;
    SpinLockAcquire(&g_shmem->lock);
    uint32 slot_gen = static_cast<uint32>(generation & 0xffffffffu);
    // slot_gen 0: the queue had no slot when read. A slot created since by
    // a lowering or reset has generation >= 2 and refuses this raise.
    Slot *s = g_shmem->epoch == (generation >> 32) ? FindSlot(queue_id, slot_gen == 0) : nullptr;
    if (s != nullptr && (slot_gen == 0 ? s->generation == 1 && !s->valid
                                       : (s->generation & 0xffffffffu) == slot_gen)) {
        // after a scan from the start, `to` is the lowest claimable key: a
        // floor above it (too high, whatever put it there) is repaired
        if (!s->valid || from_start || KeyLess(s->floor, to)) s->floor = to;
        if (from_start) s->rescanned_at = now;
        s->valid = true;
    }
    SpinLockRelease(&g_shmem->lock);
}

void CursorLowerAtCommit(int32 queue_id, const ReadyKey &key) {
    if (g_shmem == nullptr) return;
    EnsureCallbacks();
    for (int i = 0; i < g_lowering_count; ++i)
        if (g_lowerings[i].queue_id == queue_id) {
            if (KeyLess(key, g_lowerings[i].key)) g_lowerings[i].key = key;
            return;
        }
    if (g_lowering_count == kPending) {
        g_lowering_overflow = true;
        return;
    }
    g_lowerings[g_lowering_count++] = Lowering{queue_id, key};
}

void CursorResetOnAbort(int32 queue_id) {
    if (g_shmem == nullptr) return;
    EnsureCallbacks();
    for (int i = 0; i < g_reset_count; ++i)
        if (g_resets[i] == queue_id) return;
    if (g_reset_count == kPending) {
        g_reset_overflow = true;
        return;
    }
    g_resets[g_reset_count++] = queue_id;
}

int64 IntervalMicros(const Interval *iv) {
    __int128 total = static_cast<__int128>(iv->time) +
                     (static_cast<__int128>(iv->month) * DAYS_PER_MONTH + iv->day) * USECS_PER_DAY;
    if (total > PG_INT64_MAX) return PG_INT64_MAX;
    if (total < PG_INT64_MIN) return PG_INT64_MIN;
    return static_cast<int64>(total);
}

}  // namespace steward::queue

STEWARD_MODULE_INIT(queue, steward::queue::InitQueueModule);

using namespace steward::queue;

STEWARD_FUNCTION(steward_queue_ready_hint) {
    ReadyKey key{PG_GETARG_INT32(1), PG_GETARG_TIMESTAMPTZ(2), PG_GETARG_INT64(3)};
    CursorLowerAtCommit(PG_GETARG_INT32(0), key);
    PG_RETURN_VOID();
}

// steward._queue_cursor_forget(): drop every cursor of this database (run
// by CREATE EXTENSION: queue ids restart after DROP EXTENSION, and a
// restore fills the tables without any enqueue).
STEWARD_FUNCTION(steward_queue_cursor_forget) {
    if (g_shmem != nullptr) {
        SpinLockAcquire(&g_shmem->lock);
        for (Slot &s : g_shmem->slots)
            if (s.queue_id != 0 && s.dbid == MyDatabaseId) {
                s.valid = false;
                ++s.generation;
            }
        SpinLockRelease(&g_shmem->lock);
    }
    PG_RETURN_VOID();
}

STEWARD_FUNCTION(steward_queue_reset_on_abort) {
    CursorResetOnAbort(PG_GETARG_INT32(0));
    PG_RETURN_VOID();
}

// steward._queue_cursor(queue_id): the queue's floor for diagnosis (NULLs
// when there is none, e.g. without preloading).
STEWARD_FUNCTION(steward_queue_cursor) {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        elog(ERROR, "pg_steward: _queue_cursor must return a record");
    desc = BlessTupleDesc(desc);
    ReadyKey floor = KeyMin();
    uint64 generation = 0;
    bool valid = CursorRead(PG_GETARG_INT32(0), &floor, &generation, 0, PG_INT64_MAX);
    Datum values[4] = {Int32GetDatum(-floor.prio), TimestampTzGetDatum(floor.run_at),
                       Int64GetDatum(floor.id), Int64GetDatum(static_cast<int64>(generation))};
    bool nulls[4] = {!valid, !valid, !valid, !CursorEnabled()};
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
