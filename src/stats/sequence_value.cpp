// Lock-light reading of a sequence's last value for steward.sequence_health.
//
// pg_sequence_last_value() opens each sequence (building its relcache entry)
// and keeps a RowExclusiveLock on it until the end of the transaction: on a
// database with thousands of identity columns one health() call fills the
// shared lock table (measured: 1,830 locks for 1,810 sequences) and waits
// behind any ALTER SEQUENCE. Here each sequence is locked only
// conditionally (AccessShareLock, never waiting: a sequence being altered
// reads as NULL) and unlocked as soon as its one page has been read through
// the buffer manager by file location (the pg_class row), without a
// relcache entry. The value is the one pg_sequence_last_value() reports: the
// page's last_value when is_called.
#include "boundary/boundary.hpp"
#include "stats/relation_file.hpp"

extern "C" {
#include "access/xlog.h"
#include "commands/sequence.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/syscache.h"
}

namespace {

// Special-space marker of sequence pages (SEQ_MAGIC, private to sequence.c).
constexpr uint32 kSequenceMagic = 0x1717;

// Read last_value/is_called from block 0 of a sequence's main fork.
bool ReadSequencePage(const RelFileNode &node, bool permanent, Oid relid, int64 *value) {
    Buffer buffer = ReadBufferWithoutRelcache(node, MAIN_FORKNUM, 0, RBM_NORMAL, nullptr, permanent);
    LockBuffer(buffer, BUFFER_LOCK_SHARE);
    Page page = BufferGetPage(buffer);
    if (PageGetSpecialSize(page) != MAXALIGN(sizeof(uint32)) ||
        *reinterpret_cast<uint32 *>(PageGetSpecialPointer(page)) != kSequenceMagic ||
        PageGetMaxOffsetNumber(page) < FirstOffsetNumber) {
        UnlockReleaseBuffer(buffer);
        elog(ERROR, "bad magic number in sequence with OID %u", relid);
    }
    ItemId item = PageGetItemId(page, FirstOffsetNumber);
    auto *tuple = reinterpret_cast<HeapTupleHeader>(PageGetItem(page, item));
    const auto *data = reinterpret_cast<const FormData_pg_sequence_data *>(
        reinterpret_cast<char *>(tuple) + tuple->t_hoff);
    const bool called = data->is_called;
    *value = data->last_value;
    UnlockReleaseBuffer(buffer);
    return called;
}

}  // namespace

namespace steward::stats {

bool SequenceLastValue(Oid relid, const FormData_pg_class *rel, int64 *value) {
    const bool permanent = rel->relpersistence == RELPERSISTENCE_PERMANENT;
    RelFileNode node;
    BackendId backend;
    const bool readable = rel->relkind == RELKIND_SEQUENCE && rel->relpersistence != RELPERSISTENCE_TEMP &&
                          !(rel->relpersistence == RELPERSISTENCE_UNLOGGED && RecoveryInProgress()) &&
                          RelationFileLocation(relid, rel, &node, &backend);
    return readable && ReadSequencePage(node, permanent, relid, value);
}

}  // namespace steward::stats

// steward._sequence_last_value(seq oid) RETURNS bigint: NULL when the
// sequence was never called, does not exist (any more), is being altered
// (locked), is temporary, or is unlogged on a standby.
// Plain code: no RAII objects, PostgreSQL is called directly.
STEWARD_FUNCTION(steward_sequence_last_value) {
    const Oid relid = PG_GETARG_OID(0);
    if (!ConditionalLockRelationOid(relid, AccessShareLock)) PG_RETURN_NULL();
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    int64 value = 0;
    bool called = false;
    if (HeapTupleIsValid(tuple)) {
        called = steward::stats::SequenceLastValue(
            relid, reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple)), &value);
        ReleaseSysCache(tuple);
    }
    UnlockRelationOid(relid, AccessShareLock);
    if (!called) PG_RETURN_NULL();
    PG_RETURN_INT64(value);
}
