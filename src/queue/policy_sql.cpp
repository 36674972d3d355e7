// SQL wrappers of the pure queue policy (src/core/queue_policy.cpp):
// option validation for create_queue/alter_queue and the retry backoff.
#include "boundary/boundary.hpp"
#include "core/queue_policy.hpp"
#include "queue/queue.hpp"

extern "C" {
#include "common/pg_prng.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

using namespace steward::queue;

namespace {

// The argument as microseconds, or a clean error when it is NULL.
int64 RequiredInterval(FunctionCallInfo fcinfo, int arg, const char *name) {
    if (PG_ARGISNULL(arg))
        throw steward::SqlError("22004", std::string(name) + " must not be null");
    return IntervalMicros(PG_GETARG_INTERVAL_P(arg));
}

}  // namespace

// steward._queue_check_options(name, max_attempts, lease, backoff_base,
// backoff_max, backoff_jitter, retention): raises 22023 on the first bad one.
STEWARD_FUNCTION(steward_queue_check_options) {
    if (PG_ARGISNULL(0)) throw steward::SqlError("22004", "queue name must not be null");
    std::string name = steward::PgCall([&] { return TextDatumGetCString(PG_GETARG_DATUM(0)); });
    std::string why = ValidateQueueName(name);
    if (!why.empty())
        throw steward::SqlError("22023", why, "The name given was \"" + name + "\".",
                                "The name is part of the LISTEN channel steward_queue_<name>.");
    if (PG_ARGISNULL(1)) throw steward::SqlError("22004", "max_attempts must not be null");
    if (PG_ARGISNULL(5)) throw steward::SqlError("22004", "backoff_jitter must not be null");
    QueueOptions options{PG_GETARG_INT32(1),
                         RequiredInterval(fcinfo, 2, "lease"),
                         RequiredInterval(fcinfo, 3, "backoff_base"),
                         RequiredInterval(fcinfo, 4, "backoff_max"),
                         PG_GETARG_FLOAT8(5),
                         RequiredInterval(fcinfo, 6, "retention")};
    std::string field;
    why = ValidateQueueOptions(options, &field);
    if (!why.empty()) throw steward::SqlError("22023", why, {}, {});
    PG_RETURN_VOID();
}

// steward._queue_backoff(attempt, base, cap, jitter) -> interval
STEWARD_FUNCTION(steward_queue_backoff) {
    int64 micros = BackoffMicros(PG_GETARG_INT32(0), IntervalMicros(PG_GETARG_INTERVAL_P(1)),
                                 IntervalMicros(PG_GETARG_INTERVAL_P(2)), PG_GETARG_FLOAT8(3),
                                 pg_prng_double(&pg_global_prng_state));
    auto *result = static_cast<Interval *>(palloc0(sizeof(Interval)));
    result->time = micros;
    PG_RETURN_INTERVAL_P(result);
}
