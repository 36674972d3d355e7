// steward.complete(): move a claimed job to the history as completed. A hot
// path (plain data, PostgreSQL called directly): one saved statement, and
// only when it finds nothing, the PL/pgSQL diagnosis of why
// (steward._job_not_yours raises the error the caller sees).
#include "boundary/boundary.hpp"
#include "queue/queue.hpp"
#include "standby/standby.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/timestamp.h"
}

namespace steward::queue {
namespace {

SPIPlanPtr g_plan_complete = nullptr;
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

void PreparePlans() {
    if (g_plan_diagnose != nullptr) return;
    Oid types[] = {INT8OID, INT4OID, JSONBOID, TIMESTAMPTZOID};
    // generic plan: a primary-key delete; custom plans would re-plan every call
    SPIPlanPtr plan = SPI_prepare_cursor(kCompleteSql, 4, types, CURSOR_OPT_GENERIC_PLAN);
    if (plan == nullptr || SPI_keepplan(plan) != 0)
        elog(ERROR, "pg_steward: could not prepare complete: %s", SPI_result_code_string(SPI_result));
    g_plan_complete = plan;
    plan = SPI_prepare("SELECT steward._job_not_yours($1, $2, 'complete')", 2, types);
    if (plan == nullptr || SPI_keepplan(plan) != 0)
        elog(ERROR, "pg_steward: could not prepare complete: %s", SPI_result_code_string(SPI_result));
    g_plan_diagnose = plan;
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
    if (SPI_processed == 0) {
        SPI_execute_plan(g_plan_diagnose, args, nulls, false, 0);  // raises
        elog(ERROR, "pg_steward: job %lld could not be completed", static_cast<long long>(args[0]));
    }
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
