// Where a relation's files are, from its pg_class row alone: no relcache
// entry, no lock (src/stats/relation_size.cpp, sequence_value.cpp).
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

}  // namespace steward::stats
