// steward.dequeue() and steward.complete_and_dequeue(): the claim.
//
// A hot path: plain data, PostgreSQL called directly (no RAII objects, see
// src/boundary/boundary.hpp). Statements run through SPI with plans prepared
// once per backend. One call:
//  1. looks the queue up (paused: nothing is returned);
//  2. every steward.queue_probe_interval (and whenever fewer jobs than asked
//     were found) "probes": buries jobs whose last lease expired, re-claims
//     jobs whose lease expired (each claim counts an attempt) and moves due
//     scheduled jobs to ready;
//  3. claims ready jobs in (priority, run_at, id) order with FOR UPDATE SKIP
//     LOCKED, starting at the queue's cursor (src/queue/cursor.cpp).
#include "boundary/boundary.hpp"
#include "core/queue_policy.hpp"
#include "module.hpp"
#include "queue/queue.hpp"
#include "standby/standby.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

namespace steward::queue {
namespace {

int g_probe_interval_ms = 1000;
int g_rescan_interval_ms = 10000;

SPIPlanPtr g_plan_queue = nullptr;
SPIPlanPtr g_plan_claim = nullptr;
SPIPlanPtr g_plan_claim_one = nullptr;
SPIPlanPtr g_plan_reclaim = nullptr;
SPIPlanPtr g_plan_promote = nullptr;
SPIPlanPtr g_plan_bury = nullptr;
SPIPlanPtr g_plan_queue_by_id = nullptr;

// Columns of steward.job, as every claim statement returns them.
constexpr const char *kJobColumns =
    "u.id, $QUEUE::text, u.payload, -u.prio, u.run_at, u.attempt, u.max_attempts, u.lease_token, "
    "u.worker, u.lease_expires_at, u.enqueued_at, u.dedup_key";
constexpr int kColId = 1, kColPriority = 4, kColRunAt = 5;

// Several jobs: the locking subquery's ids, as an array, select the rows
// to update through the primary key (= ANY (ARRAY(...))): a saved (generic)
// plan estimates "LIMIT $n" at a tenth of the table and would hash-join a
// join form with a sequential scan of steward._job. The rows come back in
// primary-key order; Emit sorts them into claim order. (A CTE that locked
// and a second one that updated, with a sorting SELECT on top, cost 15,000
// more CPU instructions per job in batches of 10.)
constexpr const char *kClaimSql =
    "UPDATE steward._job u"
    "   SET state = 'running', attempt = u.attempt + 1, lease_token = pg_catalog.abs(u.lease_token) + 1,"
    "       worker = $6, claimed_at = pg_catalog.now(), lease_expires_at = pg_catalog.now() + $7"
    " WHERE u.id = ANY (ARRAY(SELECT id FROM steward._job"
    "   WHERE queue_id = $1 AND state = 'ready' AND (prio, run_at, id) >= ($2, $3, $4)"
    "   ORDER BY prio, run_at, id LIMIT $5 FOR UPDATE SKIP LOCKED))"
    " RETURNING %s";

// One job (the usual call): the same claim with "=" and LIMIT 1, the shape
// of hand-written SKIP LOCKED SQL. $5 (the limit) is unused.
constexpr const char *kClaimOneSql =
    "UPDATE steward._job u"
    "   SET state = 'running', attempt = u.attempt + 1, lease_token = pg_catalog.abs(u.lease_token) + 1,"
    "       worker = $6, claimed_at = pg_catalog.now(), lease_expires_at = pg_catalog.now() + $7"
    " WHERE u.id = (SELECT id FROM steward._job"
    "   WHERE queue_id = $1 AND state = 'ready' AND (prio, run_at, id) >= ($2, $3, $4)"
    "   ORDER BY prio, run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " RETURNING %s";

constexpr const char *kReclaimSql =
    "WITH c AS ("
    "  SELECT id FROM steward._job"
    "   WHERE queue_id = $1 AND state = 'running' AND lease_expires_at <= pg_catalog.now()"
    "     AND attempt < max_attempts"
    "   ORDER BY lease_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED),"
    " u AS ("
    "  UPDATE steward._job j"
    "     SET attempt = j.attempt + 1, lease_token = j.lease_token + 1, worker = $3,"
    "         claimed_at = pg_catalog.now(), lease_expires_at = pg_catalog.now() + $4,"
    "         errors = coalesce(j.errors, '[]') || pg_catalog.jsonb_build_object("
    "             'attempt', j.attempt, 'at', pg_catalog.now(), 'worker', j.worker, 'error', 'lease expired')"
    "   WHERE j.id = ANY (ARRAY(SELECT id FROM c))"
    "  RETURNING j.*),"
    " logged AS ("
    "  INSERT INTO steward._job_error (queue_id, job_id, at, attempt, error)"
    "  SELECT u.queue_id, u.id, pg_catalog.now(), u.attempt - 1, 'lease expired' FROM u)"
    " SELECT %s FROM u ORDER BY u.id";

constexpr const char *kPromoteSql =
    "WITH c AS ("
    "  SELECT id FROM steward._job"
    "   WHERE queue_id = $1 AND state = 'scheduled' AND run_at <= pg_catalog.now()"
    "   ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
    " UPDATE steward._job j SET state = 'ready' WHERE j.id = ANY (ARRAY(SELECT id FROM c))"
    " RETURNING j.prio, j.run_at, j.id";

// Running jobs whose lease expired on their last attempt are dead. This and
// kReclaimSql record each expiry in steward._job_error too (the error log of
// the monitoring views).
constexpr const char *kBurySql =
    "WITH c AS ("
    "  SELECT id FROM steward._job"
    "   WHERE queue_id = $1 AND state = 'running' AND lease_expires_at <= pg_catalog.now()"
    "     AND attempt >= max_attempts"
    "   LIMIT 1000 FOR UPDATE SKIP LOCKED),"
    " moved AS (DELETE FROM steward._job j WHERE j.id = ANY (ARRAY(SELECT id FROM c)) RETURNING j.*),"
    " logged AS ("
    "  INSERT INTO steward._job_error (queue_id, job_id, at, attempt, error, dead)"
    "  SELECT m.queue_id, m.id, pg_catalog.now(), m.attempt, 'lease expired', true FROM moved m)"
    " INSERT INTO steward._job_history (id, queue_id, state, priority, run_at, payload, attempt,"
    "     max_attempts, lease_token, worker, claimed_at, enqueued_at, finished_at, dedup_key, errors,"
    "     progress, log)"
    " SELECT m.id, m.queue_id, 'dead', -m.prio, m.run_at, m.payload, m.attempt, m.max_attempts,"
    "        m.lease_token, m.worker, m.claimed_at, m.enqueued_at, pg_catalog.now(), m.dedup_key,"
    "        coalesce(m.errors, '[]') || pg_catalog.jsonb_build_object('attempt', m.attempt,"
    "            'at', pg_catalog.now(), 'worker', m.worker, 'error', 'lease expired'),"
    "        m.progress, m.log"
    "   FROM moved m";

// Build a claim statement: kJobColumns with the queue name parameter number.
char *ClaimSql(const char *shape, int queue_param) {
    char param[8];
    snprintf(param, sizeof param, "$%d", queue_param);
    StringInfoData cols;
    initStringInfo(&cols);
    for (const char *p = kJobColumns; *p; ++p) {
        if (strncmp(p, "$QUEUE", 6) == 0) {
            appendStringInfoString(&cols, param);
            p += 5;
        } else
            appendStringInfoChar(&cols, *p);
    }
    return psprintf(shape, cols.data);
}

// Plans are generic on purpose: the plan cache would otherwise keep
// re-planning the claim for every call (its generic cost looks high because
// of "LIMIT $n"), which costs more than the claim itself. The statements are
// written so that the generic plan is the right one (see kClaimSql).
SPIPlanPtr Prepare(const char *sql, int nargs, Oid *types) {
    SPIPlanPtr plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);
    if (plan == nullptr)
        elog(ERROR, "pg_steward: could not prepare queue statement: %s",
             SPI_result_code_string(SPI_result));
    if (SPI_keepplan(plan) != 0) elog(ERROR, "pg_steward: SPI_keepplan failed");
    return plan;
}

void PreparePlans() {
    if (g_plan_queue_by_id != nullptr) return;
    Oid queue_types[] = {TEXTOID};
    g_plan_queue = Prepare("SELECT id, paused, lease FROM steward._queue WHERE name = $1", 1, queue_types);
    Oid claim_types[] = {INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID, INT4OID, TEXTOID, INTERVALOID, TEXTOID};
    g_plan_claim = Prepare(ClaimSql(kClaimSql, 8), 8, claim_types);
    g_plan_claim_one = Prepare(ClaimSql(kClaimOneSql, 8), 8, claim_types);
    Oid reclaim_types[] = {INT4OID, INT4OID, TEXTOID, INTERVALOID, TEXTOID};
    g_plan_reclaim = Prepare(ClaimSql(kReclaimSql, 5), 5, reclaim_types);
    Oid id_types[] = {INT4OID};
    Oid promote_types[] = {INT4OID, INT4OID};
    g_plan_promote = Prepare(kPromoteSql, 2, promote_types);
    g_plan_bury = Prepare(kBurySql, 1, id_types);
    g_plan_queue_by_id =
        Prepare("SELECT id, paused, lease, name FROM steward._queue WHERE id = $1", 1, id_types);
}

void Run(SPIPlanPtr plan, Datum *values, const char *nulls, int expected) {
    int rc = SPI_execute_plan(plan, values, nulls, false, 0);
    if (rc != expected) elog(ERROR, "pg_steward: queue statement failed: %s", SPI_result_code_string(rc));
}

// Backend-local time of the last probe per queue (the last rescan is kept
// per queue in shared memory, src/queue/cursor.cpp).
struct QueueTimes {
    int32 queue_id;
    TimestampTz probed_at;
};
constexpr int kTimes = 16;
QueueTimes g_times[kTimes];

QueueTimes *TimesFor(int32 queue_id) {
    QueueTimes *oldest = &g_times[0];
    for (QueueTimes &t : g_times) {
        if (t.queue_id == queue_id) return &t;
        if (t.probed_at < oldest->probed_at) oldest = &t;
    }
    // probe at once (cheap)
    *oldest = QueueTimes{queue_id, 0};
    return oldest;
}

struct Call {
    ReturnSetInfo *rsinfo;
    Datum queue_name;
    int32 queue_id;
    Datum worker;
    bool worker_null;
    Datum lease;
    int32 wanted;   // jobs still to claim
    ReadyKey promoted_min;
    bool promoted;
};

// Claim order of two result rows (priority descending, run_at, id).
int CompareClaimed(const void *a, const void *b, void *arg) {
    TupleDesc desc = static_cast<TupleDesc>(arg);
    HeapTuple x = *static_cast<const HeapTuple *>(a), y = *static_cast<const HeapTuple *>(b);
    bool isnull;
    int32 px = DatumGetInt32(heap_getattr(x, kColPriority, desc, &isnull));
    int32 py = DatumGetInt32(heap_getattr(y, kColPriority, desc, &isnull));
    if (px != py) return px > py ? -1 : 1;
    TimestampTz rx = DatumGetTimestampTz(heap_getattr(x, kColRunAt, desc, &isnull));
    TimestampTz ry = DatumGetTimestampTz(heap_getattr(y, kColRunAt, desc, &isnull));
    if (rx != ry) return rx < ry ? -1 : 1;
    int64 ix = DatumGetInt64(heap_getattr(x, kColId, desc, &isnull));
    int64 iy = DatumGetInt64(heap_getattr(y, kColId, desc, &isnull));
    return ix < iy ? -1 : ix > iy ? 1 : 0;
}

// Copy the SPI result rows into the function's result set. With `first`
// (a claim of ready jobs, whose rows come in primary-key order) sorted into
// claim order first, and `first` set to the first row's key.
void Emit(Call *call, ReadyKey *first) {
    TupleDesc desc = call->rsinfo->setDesc;
    if (first != nullptr && SPI_processed > 1)
        qsort_arg(SPI_tuptable->vals, SPI_processed, sizeof(HeapTuple), CompareClaimed, SPI_tuptable->tupdesc);
    Datum values[12];
    bool nulls[12];
    for (uint64 i = 0; i < SPI_processed; ++i) {
        heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, values, nulls);
        tuplestore_putvalues(call->rsinfo->setResult, desc, values, nulls);
        if (i == 0 && first != nullptr)
            *first = ReadyKey{-DatumGetInt32(values[kColPriority - 1]),
                              DatumGetTimestampTz(values[kColRunAt - 1]),
                              DatumGetInt64(values[kColId - 1])};
    }
    call->wanted -= static_cast<int32>(SPI_processed);
}

// Bury, reclaim expired leases, promote due scheduled jobs.
void Probe(Call *call) {
    Datum id_arg[] = {Int32GetDatum(call->queue_id)};
    Run(g_plan_bury, id_arg, nullptr, SPI_OK_INSERT);
    if (call->wanted > 0) {
        Datum args[] = {Int32GetDatum(call->queue_id), Int32GetDatum(call->wanted), call->worker,
                        call->lease, call->queue_name};
        const char nulls[] = {' ', ' ', call->worker_null ? 'n' : ' ', ' ', ' '};
        Run(g_plan_reclaim, args, nulls, SPI_OK_SELECT);
        Emit(call, nullptr);
    }
    // Promoted jobs stay locked until the caller's transaction ends. In a
    // transaction block (transactional mode: the work runs before COMMIT)
    // promote only as many as this call still wants, or every due job would
    // be hidden from the other workers for the length of this one's job;
    // otherwise the statement commits at once: up to 10,000.
    int32 limit = IsTransactionBlock() ? call->wanted : 10000;
    if (limit <= 0) return;
    Datum promote_args[] = {Int32GetDatum(call->queue_id), Int32GetDatum(limit)};
    Run(g_plan_promote, promote_args, nullptr, SPI_OK_UPDATE_RETURNING);
    for (uint64 i = 0; i < SPI_processed; ++i) {
        bool isnull;
        HeapTuple t = SPI_tuptable->vals[i];
        ReadyKey k{DatumGetInt32(SPI_getbinval(t, SPI_tuptable->tupdesc, 1, &isnull)),
                   DatumGetTimestampTz(SPI_getbinval(t, SPI_tuptable->tupdesc, 2, &isnull)),
                   DatumGetInt64(SPI_getbinval(t, SPI_tuptable->tupdesc, 3, &isnull))};
        if (!call->promoted || KeyLess(k, call->promoted_min)) call->promoted_min = k;
        call->promoted = true;
    }
    if (call->promoted) CursorLowerAtCommit(call->queue_id, call->promoted_min);
}

// Claim up to call->wanted ready jobs, from the cursor on.
void ClaimReady(Call *call, TimestampTz now) {
    if (call->wanted <= 0) return;
    ReadyKey start = KeyMin();
    uint64 generation = 0;
    if (!CursorRead(call->queue_id, &start, &generation, now, static_cast<int64>(g_rescan_interval_ms) * 1000))
        start = KeyMin();
    bool from_start = !KeyLess(KeyMin(), start);  // a full scan (rescan, or no floor)
    if (call->promoted && KeyLess(call->promoted_min, start)) start = call->promoted_min;
    ReadyKey own;  // jobs this transaction made ready are visible to it
    if (CursorPendingMin(call->queue_id, &own) && KeyLess(own, start)) start = own;
    // the rows the claim locks come back if we abort, even if it fails midway
    CursorResetOnAbort(call->queue_id);
    Datum args[] = {Int32GetDatum(call->queue_id), Int32GetDatum(start.prio),
                    TimestampTzGetDatum(start.run_at), Int64GetDatum(start.id),
                    Int32GetDatum(call->wanted), call->worker, call->lease, call->queue_name};
    const char nulls[] = {' ', ' ', ' ', ' ', ' ', call->worker_null ? 'n' : ' ', ' ', ' '};
    Run(call->wanted == 1 ? g_plan_claim_one : g_plan_claim, args, nulls, SPI_OK_UPDATE_RETURNING);
    if (SPI_processed == 0) return;
    ReadyKey first;
    Emit(call, &first);
    // Every ready entry before `first` was claimed, locked or not yet
    // committed when our snapshot was taken (taken after `generation` was
    // read). An older transaction snapshot may not raise.
    if (!IsolationUsesXactSnapshot()) CursorRaise(call->queue_id, first, generation, from_start);
}

[[noreturn]] void BadArgument(const char *message, const char *detail) {
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s", message),
                    detail ? errdetail("%s", detail) : 0));
    pg_unreachable();
}

// Raise on a bad max_jobs or lease (before anything is changed).
void CheckArguments(int32 max_jobs, Datum lease_arg, bool lease_null) {
    if (max_jobs < 1 || max_jobs > kMaxJobsLimit) {
        char detail[64];
        snprintf(detail, sizeof detail, "The value given was %d.", max_jobs);
        BadArgument("max_jobs must be between 1 and 1000", detail);
    }
    if (!lease_null) {
        int64 micros = IntervalMicros(DatumGetIntervalP(lease_arg));
        if (micros <= 0 || micros > kMaxLeaseMicros) {
            char *text = DatumGetCString(DirectFunctionCall1(interval_out, lease_arg));
            BadArgument(micros <= 0 ? "lease must be positive" : "lease must not exceed 7 days",
                        psprintf("The lease given was %s.", text));
        }
    }
}

// The whole dequeue; the caller is connected to SPI and checked the
// arguments. The queue is named, or given by id (queue_name 0).
void Dequeue(ReturnSetInfo *rsinfo, Datum queue_name, int32 queue_id, Datum worker, bool worker_null,
             int32 max_jobs, Datum lease_arg, bool lease_null) {
    PreparePlans();
    if (queue_name == 0) {
        Datum id_arg[] = {Int32GetDatum(queue_id)};
        Run(g_plan_queue_by_id, id_arg, nullptr, SPI_OK_SELECT);
        if (SPI_processed == 0) elog(ERROR, "pg_steward: queue %d vanished", queue_id);
        bool isnull;
        queue_name = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
    } else {
        Datum name_arg[] = {queue_name};
        Run(g_plan_queue, name_arg, nullptr, SPI_OK_SELECT);
    }
    if (SPI_processed == 0)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("queue \"%s\" does not exist", TextDatumGetCString(queue_name)),
                        errhint("Create it with steward.create_queue().")));
    bool isnull;
    HeapTuple row = SPI_tuptable->vals[0];
    TupleDesc row_desc = SPI_tuptable->tupdesc;
    Call call{};
    call.rsinfo = rsinfo;
    call.queue_name = queue_name;
    call.queue_id = DatumGetInt32(SPI_getbinval(row, row_desc, 1, &isnull));
    if (DatumGetBool(SPI_getbinval(row, row_desc, 2, &isnull))) return;  // paused
    call.lease = lease_null ? SPI_getbinval(row, row_desc, 3, &isnull) : lease_arg;
    if (lease_null) call.lease = PointerGetDatum(DatumGetIntervalP(call.lease));  // lives until SPI_finish
    call.worker = worker;
    call.worker_null = worker_null;
    call.wanted = max_jobs;

    TimestampTz now = GetCurrentTimestamp();
    QueueTimes *times = TimesFor(call.queue_id);
    bool probed = false;
    if (now - times->probed_at >= static_cast<int64>(g_probe_interval_ms) * 1000) {
        Probe(&call);
        times->probed_at = now;
        probed = true;
    }
    ClaimReady(&call, now);
    if (call.wanted > 0 && !probed) {
        Probe(&call);
        times->probed_at = now;
        ClaimReady(&call, now);
    }
}

void RequireNotNull(FunctionCallInfo fcinfo, int arg, const char *what) {
    if (PG_ARGISNULL(arg))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not be null", what)));
}

void InitDequeueGucs() {
    DefineCustomIntVariable("steward.queue_probe_interval",
                            "How often a busy dequeue also looks for expired leases and due scheduled jobs.",
                            "An idle dequeue (fewer jobs found than asked for) always looks.",
                            &g_probe_interval_ms, 1000, 0, 3600 * 1000, PGC_USERSET, GUC_UNIT_MS,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("steward.queue_rescan_interval",
                            "How often a dequeue ignores the queue's cursor and scans from the start.",
                            nullptr, &g_rescan_interval_ms, 10000, 0, 3600 * 1000, PGC_USERSET,
                            GUC_UNIT_MS, nullptr, nullptr, nullptr);
}

}  // namespace
}  // namespace steward::queue

STEWARD_MODULE_INIT(queue_dequeue, steward::queue::InitDequeueGucs);

using namespace steward::queue;

STEWARD_FUNCTION(steward_dequeue) {
    steward::RequirePrimary("claim jobs");
    RequireNotNull(fcinfo, 0, "queue name");
    RequireNotNull(fcinfo, 2, "max_jobs");
    CheckArguments(PG_GETARG_INT32(2), PG_ARGISNULL(3) ? 0 : PG_GETARG_DATUM(3), PG_ARGISNULL(3));
    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_steward: SPI_connect failed");
    Dequeue(rsinfo, PG_GETARG_DATUM(0), 0, PG_ARGISNULL(1) ? 0 : PG_GETARG_DATUM(1), PG_ARGISNULL(1),
            PG_GETARG_INT32(2), PG_ARGISNULL(3) ? 0 : PG_GETARG_DATUM(3), PG_ARGISNULL(3));
    SPI_finish();
    return (Datum)0;
}

// complete(job_id, lease_token, result) then dequeue (same queue unless named).
STEWARD_FUNCTION(steward_complete_and_dequeue) {
    steward::RequirePrimary("complete and claim jobs");
    RequireNotNull(fcinfo, 5, "max_jobs");
    CheckArguments(PG_GETARG_INT32(5), PG_ARGISNULL(6) ? 0 : PG_GETARG_DATUM(6), PG_ARGISNULL(6));
    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_steward: SPI_connect failed");
    int32 queue_id = CompleteJob(fcinfo);
    Datum queue_name = PG_ARGISNULL(3) ? 0 : PG_GETARG_DATUM(3);
    Dequeue(rsinfo, queue_name, queue_id, PG_ARGISNULL(4) ? 0 : PG_GETARG_DATUM(4), PG_ARGISNULL(4),
            PG_GETARG_INT32(5), PG_ARGISNULL(6) ? 0 : PG_GETARG_DATUM(6), PG_ARGISNULL(6));
    SPI_finish();
    return (Datum)0;
}
