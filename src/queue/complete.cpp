// steward.complete() and steward.complete_batch(): move claimed jobs to the
// history as completed. Hot paths (plain data, PostgreSQL called directly):
// one saved statement each, and only when it finds less than asked, the
// PL/pgSQL diagnosis of why (steward._job_not_yours raises the error the
// caller sees; the error undoes what the statement moved).
#include "boundary/boundary.hpp"
#include "queue/queue.hpp"
#include "standby/standby.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
}

namespace steward::queue {
namespace {

SPIPlanPtr g_plan_complete = nullptr;
SPIPlanPtr g_plan_complete_batch = nullptr;
SPIPlanPtr g_plan_diagnose = nullptr;

constexpr const char *kCompleteSql =
    "WITH moved AS ("
    "  DELETE FROM steward._job j"
    "   WHERE j.id = $1 AND j.lease_token = $2 AND $2 > 0"  // a running claim's token
    "  RETURNING j.*)"
    " INSERT INTO steward._job_history (id, queue_id, state, priority, run_at, payload, attempt,"
    "     max_attempts, lease_token, worker, claimed_at, enqueued_at, finished_at, dedup_key, result,"
    "     errors, progress, log)"
    " SELECT m.id, m.queue_id, 'completed', -m.prio, m.run_at, m.payload, m.attempt, m.max_attempts,"
    "        m.lease_token, m.worker, m.claimed_at, m.enqueued_at, $4, m.dedup_key, $3,"
    "        m.errors, m.progress, m.log"
    "   FROM moved m"
    " RETURNING queue_id";

// The batch form: the jobs of $1 (ids) / $2 (tokens) whose running claim
// the tokens name, each with its result $3[n]; returns the ids moved.
constexpr const char *kCompleteBatchSql =
    "WITH args AS ("
    "  SELECT a.id, a.token, a.n FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))"
    "   WITH ORDINALITY AS a(id, token, n)),"
    " moved AS ("
    "  DELETE FROM steward._job j USING args"
    "   WHERE j.id = args.id AND j.lease_token = args.token AND args.token > 0"
    "  RETURNING j.*, args.n)"
    " INSERT INTO steward._job_history (id, queue_id, state, priority, run_at, payload, attempt,"
    "     max_attempts, lease_token, worker, claimed_at, enqueued_at, finished_at, dedup_key, result,"
    "     errors, progress, log)"
    " SELECT m.id, m.queue_id, 'completed', -m.prio, m.run_at, m.payload, m.attempt, m.max_attempts,"
    "        m.lease_token, m.worker, m.claimed_at, m.enqueued_at, $4, m.dedup_key, $3[m.n],"
    "        m.errors, m.progress, m.log"
    "   FROM moved m"
    " RETURNING id";

// Generic plans: primary-key deletes; custom plans would re-plan every call.
SPIPlanPtr Prepare(const char *sql, int nargs, Oid *types) {
    SPIPlanPtr plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);
    if (plan == nullptr || SPI_keepplan(plan) != 0)
        elog(ERROR, "pg_steward: could not prepare complete: %s", SPI_result_code_string(SPI_result));
    return plan;
}

void PreparePlans() {
    if (g_plan_diagnose != nullptr) return;
    Oid types[] = {INT8OID, INT4OID, JSONBOID, TIMESTAMPTZOID};
    g_plan_complete = Prepare(kCompleteSql, 4, types);
    Oid batch_types[] = {INT8ARRAYOID, INT4ARRAYOID, JSONBARRAYOID, TIMESTAMPTZOID};
    g_plan_complete_batch = Prepare(kCompleteBatchSql, 4, batch_types);
    g_plan_diagnose = Prepare("SELECT steward._job_not_yours($1, $2, 'complete')", 2, types);
}

// Raise the error of a job the caller may not complete (never returns).
[[noreturn]] void Diagnose(Datum job_id, bool id_null, Datum token, bool token_null) {
    Datum args[] = {job_id, token};
    const char nulls[] = {id_null ? 'n' : ' ', token_null ? 'n' : ' '};
    SPI_execute_plan(g_plan_diagnose, args, nulls, false, 0);  // raises
    elog(ERROR, "pg_steward: job %lld could not be completed", static_cast<long long>(DatumGetInt64(job_id)));
    pg_unreachable();
}

// The elements of a one-type array argument (nulls checked by the caller).
int Elements(Datum array, Oid type, Datum **values, bool **nulls) {
    int16 len;
    bool byval;
    char align;
    get_typlenbyvalalign(type, &len, &byval, &align);
    int n;
    deconstruct_array(DatumGetArrayTypeP(array), type, len, byval, align, values, nulls, &n);
    return n;
}

int CompareInt64(const void *a, const void *b) {
    int64 x = *static_cast<const int64 *>(a), y = *static_cast<const int64 *>(b);
    return x < y ? -1 : x > y ? 1 : 0;
}

}  // namespace

int32 CompleteJob(FunctionCallInfo fcinfo) {
    PreparePlans();
    Datum args[4];
    char nulls[4];
    for (int i = 0; i < 3; ++i) {
        args[i] = PG_ARGISNULL(i) ? 0 : PG_GETARG_DATUM(i);
        nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
    }
    // finished_at: the moment of the call (docs/queue.md, Clocks)
    args[3] = TimestampTzGetDatum(GetCurrentTimestamp());
    nulls[3] = ' ';
    int rc = SPI_execute_plan(g_plan_complete, args, nulls, false, 0);
    if (rc != SPI_OK_INSERT_RETURNING)
        elog(ERROR, "pg_steward: complete failed: %s", SPI_result_code_string(rc));
    if (SPI_processed == 0) Diagnose(args[0], nulls[0] == 'n', args[1], nulls[1] == 'n');
    bool isnull;
    return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

}  // namespace steward::queue

STEWARD_FUNCTION(steward_complete) {
    steward::RequirePrimary("complete jobs");
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_steward: SPI_connect failed");
    steward::queue::CompleteJob(fcinfo);
    SPI_finish();
    PG_RETURN_VOID();
}

// complete_batch(job_ids, lease_tokens, results): all or nothing.
STEWARD_FUNCTION(steward_complete_batch) {
    using namespace steward::queue;
    steward::RequirePrimary("complete jobs");
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("job ids and lease tokens must not be null")));
    Datum *ids, *tokens, *results = nullptr;
    bool *id_nulls, *token_nulls, *result_nulls = nullptr;
    int n = Elements(PG_GETARG_DATUM(0), INT8OID, &ids, &id_nulls);
    int n_tokens = Elements(PG_GETARG_DATUM(1), INT4OID, &tokens, &token_nulls);
    int n_results = PG_ARGISNULL(2) ? n : Elements(PG_GETARG_DATUM(2), JSONBOID, &results, &result_nulls);
    if (n_tokens != n || n_results != n)
        ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                        errmsg("job ids, lease tokens and results must have the same length")));
    auto *sorted = static_cast<int64 *>(palloc(sizeof(int64) * (n + 1)));
    for (int i = 0; i < n; ++i) {
        if (id_nulls[i] || token_nulls[i])
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("job ids and lease tokens must not contain nulls"),
                            errdetail("Element %d is null.", i + 1)));
        sorted[i] = DatumGetInt64(ids[i]);
    }
    qsort(sorted, n, sizeof(int64), CompareInt64);
    for (int i = 1; i < n; ++i)
        if (sorted[i] == sorted[i - 1])
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("job ids must not repeat"),
                            errdetail("Job %lld is given twice.", static_cast<long long>(sorted[i]))));
    if (n == 0) PG_RETURN_INT32(0);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_steward: SPI_connect failed");
    PreparePlans();
    Datum args[] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), PG_ARGISNULL(2) ? 0 : PG_GETARG_DATUM(2),
                    TimestampTzGetDatum(GetCurrentTimestamp())};  // finished_at: the moment of the call
    const char nulls[] = {' ', ' ', PG_ARGISNULL(2) ? 'n' : ' ', ' '};
    int rc = SPI_execute_plan(g_plan_complete_batch, args, nulls, false, 0);
    if (rc != SPI_OK_INSERT_RETURNING)
        elog(ERROR, "pg_steward: complete_batch failed: %s", SPI_result_code_string(rc));
    int done = static_cast<int>(SPI_processed);
    if (done < n) {
        // The first job (in the caller's order) that was not moved says why;
        // the error undoes the others.
        auto *moved = static_cast<int64 *>(palloc(sizeof(int64) * (done + 1)));
        for (int i = 0; i < done; ++i) {
            bool isnull;
            moved[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
        }
        qsort(moved, done, sizeof(int64), CompareInt64);
        for (int i = 0; i < n; ++i) {
            int64 id = DatumGetInt64(ids[i]);
            if (bsearch(&id, moved, done, sizeof(int64), CompareInt64) == nullptr)
                Diagnose(ids[i], false, tokens[i], false);
        }
        // every job was diagnosed as ours: lost a race with a concurrent change
        ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE), errmsg("could not complete all jobs"),
                        errdetail("%d of %d jobs were still claimed by this worker.", done, n)));
    }
    SPI_finish();
    PG_RETURN_INT32(done);
}
