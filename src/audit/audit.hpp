// Audit trail: declarations shared by the trigger (trigger.cpp), the log
// writer (writer.cpp) and the readers (reader.cpp). docs/audit.md has the
// design; extension/030_audit.sql the tables.
#pragma once
#include "boundary/postgres.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/tupdesc.h"
}

namespace steward::audit {

// How a row image stores one column (see steward._audit_storage_type()).
enum StorageKind : char {
    kBinary = 'b',    // the base type's own datum (built-in, oid-free types)
    kText = 't',      // the type's text output (enums, composites, user types)
    kRedacted = 'r',  // a fixed marker instead of the value
};

inline constexpr const char *kRedactedMarker = "[redacted]";

// A row image: a heap tuple of the image descriptor, its header doubling as
// a bytea (heap_form_tuple sets the varlena length). Plain memory only.
inline Datum FormImage(TupleDesc desc, Datum *values, bool *nulls) {
    HeapTuple tuple = heap_form_tuple(desc, values, nulls);
    return PointerGetDatum(tuple->t_data);
}

// The indexed identity of a record: a 64-bit hash of its key values (in
// their stored form: the base type's binary value, or text), seeded with the
// table id. Independent of byte order and of TOAST/compression, so the
// trigger and the readers compute the same value for the same key.
int64 KeyHash(int32 table_id, int n, const Datum *values, const int16 *typlen,
              const bool *typbyval);

// One audit log entry as the trigger hands it to the writer. Position
// arrays are 1-based positions of the version's columns; a count of -1
// writes SQL NULL.
struct Entry {
    char action;
    int32 table_id;
    int32 version_id;
    bool log_statement;
    bool has_key;       // false for TRUNCATE
    int64 row_hash;
    bool key_changed;   // UPDATE that changed the key: old_hash is the old one
    int64 old_hash;
    Datum old_image;
    Datum new_image;
    const int16 *stored;
    int nstored;
    const int16 *changed;
    int nchanged;
};

// Packed entries (writer.cpp writes them, steward._audit_entries() in
// reader.cpp reads them): a bulk statement's entries, sorted by key hash,
// many to a log row, in its `entries` bytea as a sequence of
//   PackedHeader, int16 stored[nstored], int16 changed[nchanged],
//   old image (old_len bytes), new image (new_len bytes)
// (images are varlenas, whole; counts of -1 mean SQL NULL; no alignment:
// read with memcpy). The row's `hashes` lists the entries' row_hash values
// and its `key_range` their KeyPoint()s, lowest to highest.
struct PackedHeader {
    int64 id;
    int64 row_hash;
    int16 nstored;
    int16 nchanged;
    uint32 old_len;
    uint32 new_len;
};

// The point of a key hash in key_range: the table id, then the hash's upper
// 32 bits (as steward._audit_key_point() computes it).
inline int64 KeyPoint(int32 table_id, int64 hash) {
    return static_cast<int64>((static_cast<uint64>(static_cast<uint32>(table_id)) << 32) |
                              (static_cast<uint64>(hash) >> 32));
}

// The elements of an array (NULLs as 0).
Datum *DeconstructAll(Datum array, Oid elemtype, int *n);

// A value of a row image, stored in binary form as the built-in type `type`
// (typlen its length), checked before an output function reads it: raises
// XX001 when its internal structure does not hold (value_check.cpp).
void CheckStoredValue(Oid type, Datum value, int16 typlen);

// An int2[] of n positions.
Datum PositionsArray(const int16 *positions, int n);

// An audited table's options and latest version, read straight from
// steward.audit_tables (by tbl) and steward.audit_versions (the highest
// version_id of its table_id) through their indexes, with the active
// snapshot (catalog.cpp): no SQL to parse and plan in a new backend. The 16
// values, copied into the current memory context: table_id, version_id,
// full_row, log_noop, log_statement, attnums, storage (as oid[]), redacted,
// key_positions, excluded, the options' redacted, relid, schema_name,
// table_name, columns, types (as oid[]). False when relid is not audited,
// auditing is disabled, or it has no version yet.
constexpr int kCurrentVersionColumns = 16;
bool ReadCurrentVersion(Oid relid, Datum *values, bool *nulls);

// Writing the entries of one statement (writer.cpp): BeginBatch() opens the
// day's partition and its indexes, AddEntry() forms a log tuple (written in
// multi-inserts of up to a few hundred rows) or, in a statement of many
// rows, packs the entry, EndBatch() writes the rest and closes. No SPI per row, no table privileges used. Entries of one batch get
// consecutive ids after every earlier statement's.
void BeginBatch(int64 expected_rows);
void AddEntry(const Entry &entry);
void EndBatch();

// Have a background worker create the missing log partitions from day
// (days since 2000-01-01) to 7 days ahead of today, in a transaction of its
// own (partition_worker.cpp); with wait, wait until it is done. False when
// no worker could be started (or, with wait, when it could not be waited
// for: this transaction holds a lock the worker would need).
bool CreatePartitionsInBackground(int64 day, bool wait);

// Forget the writer's cached partition (after an abort, which may have
// rolled back its creation), or when one of its relations is invalidated.
void ResetWriter();
void WriterRelcacheInvalidated(Oid relid);
void WriterRolesInvalidated();

}  // namespace steward::audit
