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

// A key column's value made canonical for the key image: varlena values
// fully detoasted and decompressed, so equal keys give equal bytes.
Datum CanonicalVarlena(Datum value);

// One audit log entry as the trigger hands it to the writer. Position
// arrays are 1-based positions of the version's columns; a count of -1
// writes SQL NULL.
struct Entry {
    char action;
    int32 table_id;
    int32 version_id;
    bool log_statement;
    Datum row_key;  // 0: NULL
    Datum old_key;
    Datum old_image;
    Datum new_image;
    const int16 *stored;
    int nstored;
    const int16 *changed;
    int nchanged;
};

// Append one entry to the log (writer.cpp): heap insert into the day's
// partition plus its index entries, no SPI, no table privileges used.
void WriteEntry(const Entry &entry);

// Forget per-transaction writer state (after a subtransaction abort).
void ResetWriter();

}  // namespace steward::audit
