// Job queue internals shared by src/queue/*.cpp (docs/queue.md).
#pragma once

#include "boundary/postgres.hpp"

extern "C" {
#include "datatype/timestamp.h"
}

namespace steward::queue {

// Position in the ready index (queue_id, prio, run_at, id).
struct ReadyKey {
    int32 prio;
    TimestampTz run_at;
    int64 id;
};

// The key before every other key: a scan from here walks the whole index.
inline ReadyKey KeyMin() { return ReadyKey{PG_INT32_MIN, DT_NOBEGIN, PG_INT64_MIN}; }

inline bool KeyLess(const ReadyKey &a, const ReadyKey &b) {
    if (a.prio != b.prio) return a.prio < b.prio;
    if (a.run_at != b.run_at) return a.run_at < b.run_at;
    return a.id < b.id;
}

// The scan cursor ("floor") of a queue's ready index: every ready job of the
// queue has a key >= the floor, except jobs whose change has not committed
// yet or whose lowering is about to happen at their commit (src/queue/cursor.cpp).
// Available only when the library is preloaded (shared memory); otherwise
// CursorRead returns false and the scan starts at the beginning.
bool CursorEnabled();
// The floor and the queue's generation (bumped by every lowering or reset).
// False (scan from the start) also when the queue's last scan from the start
// is rescan_us or more before now: this call is then the rescan.
bool CursorRead(int32 queue_id, ReadyKey *floor, uint64 *generation, TimestampTz now, int64 rescan_us);
// Move the floor up to `to` if nothing lowered it since `generation` was read;
// from_start (the scan began at the lowest key): to `to` even if lower.
void CursorRaise(int32 queue_id, const ReadyKey &to, uint64 generation, bool from_start);
// The lowest key this transaction made ready in the queue (pending lowering).
bool CursorPendingMin(int32 queue_id, ReadyKey *key);
// At commit of this transaction, lower the floor to `key` (a job became ready).
void CursorLowerAtCommit(int32 queue_id, const ReadyKey &key);
// If this transaction or a subtransaction of it aborts, forget the floor
// (ready jobs it locked come back).
void CursorResetOnAbort(int32 queue_id);

// Complete the job of fcinfo's arguments 0-2 (job_id, lease_token, result);
// returns its queue id or raises why it is not the caller's. SPI connected.
int32 CompleteJob(FunctionCallInfo fcinfo);

// Interval as microseconds (months as 30 days), saturating.
int64 IntervalMicros(const Interval *iv);

}  // namespace steward::queue
