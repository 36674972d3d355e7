// Log partitions created outside the writer's transaction: a dynamic
// background worker (no preloading needed: any backend may register one)
// connects to the writer's database as the log's owner and runs
// steward._audit_partitions_ahead() in a transaction of its own, which
// commits at once. A writer starts one when it finds a partition it needs
// soon missing (writer.cpp): the partition of 3 days ahead (without waiting;
// the worker creates up to 7 days ahead), or the one of its own day (and
// waits for it). Creating a partition inside the writer's transaction
// instead would keep the log's lock until the writer commits, so other
// writers needing that partition would wait for it.
//
// Plain data and direct PostgreSQL calls only.
#include "audit/audit.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
}

namespace steward::audit {
namespace {

struct WorkerArgs {
    Oid database;
    Oid role;
    int32 day;  // days since 2000-01-01 (DateADT): the first partition wanted
};

// Does this transaction hold a lock on the log that would block the
// worker's ATTACH PARTITION (SHARE UPDATE EXCLUSIVE or stronger)? Then
// waiting for the worker would wait for ourselves.
bool LogLockedByMe(Oid log) {
    LOCKTAG tag;
    SET_LOCKTAG_RELATION(tag, MyDatabaseId, log);
    for (LOCKMODE mode = ShareUpdateExclusiveLock; mode <= AccessExclusiveLock; ++mode)
        if (LockHeldByMe(&tag, mode)) return true;
    return false;
}

}  // namespace

bool CreatePartitionsInBackground(int64 day, bool wait) {
    Oid ns = get_namespace_oid("steward", false);
    Oid log = get_relname_relid("audit_records", ns);
    if (!OidIsValid(log)) return false;
    if (wait && LogLockedByMe(log)) return false;
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(log));
    if (!HeapTupleIsValid(tuple)) return false;
    WorkerArgs args;
    args.database = MyDatabaseId;
    args.role = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relowner;
    args.day = static_cast<int32>(day);
    ReleaseSysCache(tuple);

    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = BGW_NEVER_RESTART;
    snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_steward");
    snprintf(worker.bgw_function_name, BGW_MAXLEN, "steward_audit_partition_worker");
    snprintf(worker.bgw_name, BGW_MAXLEN, "pg_steward audit partitions");
    snprintf(worker.bgw_type, BGW_MAXLEN, "pg_steward audit partitions");
    static_assert(sizeof(WorkerArgs) <= BGW_EXTRALEN, "worker arguments fit in bgw_extra");
    memcpy(worker.bgw_extra, &args, sizeof args);
    worker.bgw_notify_pid = MyProcPid;
    BackgroundWorkerHandle *handle;
    if (!RegisterDynamicBackgroundWorker(&worker, &handle)) return false;  // no free worker slot
    if (wait) return WaitForBackgroundWorkerShutdown(handle) == BGWH_STOPPED;
    return true;
}

}  // namespace steward::audit

// The worker's entry point (looked up by name when the worker starts).
extern "C" PGDLLEXPORT void steward_audit_partition_worker(Datum);

void steward_audit_partition_worker(Datum) {
    steward::audit::WorkerArgs args;
    memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof args);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnectionByOid(args.database, args.role, 0);
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    // A writer may be waiting for us: never wait long for a lock.
    SetConfigOption("lock_timeout", "10s", PGC_SUSET, PGC_S_OVERRIDE);
    if (OidIsValid(get_extension_oid("pg_steward", true))) {  // (still there)
        pgstat_report_activity(STATE_RUNNING, "creating audit log partitions");
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
        PushActiveSnapshot(GetTransactionSnapshot());
        Oid argtypes[1] = {DATEOID};
        Datum values[1] = {DateADTGetDatum(static_cast<DateADT>(args.day))};
        int rc = SPI_execute_with_args(
            "SELECT steward._audit_partitions_ahead($1, (pg_catalog.now() AT TIME ZONE 'UTC')::date + 7)",
            1, argtypes, values, nullptr, false, 1);
        if (rc != SPI_OK_SELECT) elog(ERROR, "could not create audit log partitions");
        PopActiveSnapshot();
        SPI_finish();
    }
    CommitTransactionCommand();
    pgstat_report_activity(STATE_IDLE, nullptr);
}
