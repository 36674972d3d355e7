// Lock-free relation sizes for the stats views.
//
// pg_relation_size() and friends open the relation: they wait for an
// AccessShareLock on each one, so a view over every table stalls behind any
// ACCESS EXCLUSIVE lock (an ALTER TABLE, VACUUM FULL or TRUNCATE left in an
// open transaction), and they build a relcache entry for every relation.
// Here the file location comes from the pg_class row in the syscache and
// the size from stat() on the segment files, as pg_relation_size computes
// it, without opening or locking the relation. A concurrent rewrite
// (TRUNCATE, VACUUM FULL) may make one reading momentarily stale, which a
// monitoring view accepts.
#include "boundary/boundary.hpp"
#include "stats/relation_file.hpp"

#include <sys/stat.h>

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_tablespace.h"
#include "common/relpath.h"
#include "miscadmin.h"
#include "storage/backendid.h"
#include "utils/relmapper.h"
#include "utils/syscache.h"
}

namespace {

// Bytes in all segment files of one fork; a missing file counts as empty.
int64 ForkBytes(const RelFileNode &node, BackendId backend, ForkNumber fork) {
    char *base = relpathbackend(node, backend, fork);
    int64 total = 0;
    for (unsigned segment = 0;; ++segment) {
        char path[MAXPGPATH];
        if (segment == 0)
            snprintf(path, sizeof(path), "%s", base);
        else
            snprintf(path, sizeof(path), "%s.%u", base, segment);
        struct stat st;
        if (stat(path, &st) < 0) {
            if (errno == ENOENT) break;
            ereport(ERROR, (errcode_for_file_access(),
                            errmsg("could not stat file \"%s\": %m", path)));
        }
        total += st.st_size;
        CHECK_FOR_INTERRUPTS();
    }
    pfree(base);
    return total;
}

}  // namespace

namespace steward::stats {

bool RelationFileLocation(Oid relid, const FormData_pg_class *rel, RelFileNode *node,
                          BackendId *backend) {
    if (!RELKIND_HAS_STORAGE(rel->relkind)) return false;
    node->spcNode = OidIsValid(rel->reltablespace) ? rel->reltablespace : MyDatabaseTableSpace;
    node->dbNode = node->spcNode == GLOBALTABLESPACE_OID ? InvalidOid : MyDatabaseId;
    node->relNode = OidIsValid(rel->relfilenode) ? rel->relfilenode
                                                 : RelationMapOidToFilenode(relid, rel->relisshared);
    *backend = InvalidBackendId;
    if (rel->relpersistence == RELPERSISTENCE_TEMP) {
        *backend = isTempOrTempToastNamespace(rel->relnamespace)
                       ? BackendIdForTempRelations()
                       : GetTempNamespaceBackendId(rel->relnamespace);
        if (*backend == InvalidBackendId) return false;
    }
    return OidIsValid(node->relNode);
}

}  // namespace steward::stats

// steward._relation_bytes(rel oid) RETURNS bigint: bytes of every fork of
// the relation (not its TOAST table or indexes); 0 for relations without
// storage; NULL for an unknown oid or another session's temporary table.
// Plain code: no RAII objects, PostgreSQL is called directly.
STEWARD_FUNCTION(steward_relation_bytes) {
    const Oid relid = PG_GETARG_OID(0);
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tuple)) PG_RETURN_NULL();
    const auto *rel = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple));
    const bool has_storage = RELKIND_HAS_STORAGE(rel->relkind);
    RelFileNode node;
    BackendId backend;
    const bool readable = has_storage && steward::stats::RelationFileLocation(relid, rel, &node, &backend);
    ReleaseSysCache(tuple);
    if (!has_storage) PG_RETURN_INT64(0);
    if (!readable) PG_RETURN_NULL();
    int64 total = 0;
    for (int fork = 0; fork <= MAX_FORKNUM; ++fork)
        total += ForkBytes(node, backend, static_cast<ForkNumber>(fork));
    PG_RETURN_INT64(total);
}
