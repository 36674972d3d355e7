// Where a relation's files are, from its pg_class row alone: no relcache
// entry, no lock (src/stats/relation_size.cpp, sequence_value.cpp); and a
// sequence's last value read from its one page that way.
#pragma once
#include "boundary/postgres.hpp"

extern "C" {
#include "catalog/pg_class.h"
#include "storage/backendid.h"
#include "storage/relfilenode.h"
}

namespace steward::stats {

// Fill node/backend for the relation `relid` described by `rel`. False when
// it has no readable files here: no storage, or another session's temporary
// relation.
bool RelationFileLocation(Oid relid, const FormData_pg_class *rel, RelFileNode *node,
                          BackendId *backend);

// The last value of the sequence `relid` (pg_class row `rel`) into *value:
// false when it was never called or cannot be read here (not a sequence,
// temporary, unlogged on a standby). The caller holds a lock on it, taken
// before it read `rel` (src/stats/sequence_value.cpp).
bool SequenceLastValue(Oid relid, const FormData_pg_class *rel, int64 *value);

}  // namespace steward::stats
