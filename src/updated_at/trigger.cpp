// steward.set_updated_at(): BEFORE INSERT OR UPDATE row trigger that stamps a
// timestamp column with the transaction timestamp.
//
// Semantics (docs/updated_at.md):
//  - UPDATE: the column is set to the transaction timestamp, unless the
//    statement assigns the column itself (then its value is kept, so
//    `SET updated_at = updated_at` leaves the stamp alone).
//  - INSERT: a NULL value is stamped; an explicit value is kept (imports,
//    COPY, pg_restore keep their stamps).
//
// This is a hot path: it holds only plain data and calls PostgreSQL directly
// (see src/boundary/boundary.hpp). Per-statement state (column number, type,
// the coerced stamp) lives in fn_extra, so a row costs one tuple copy and an
// 8-byte store when the column's offset can be found without deforming.
#include "boundary/boundary.hpp"
#include "updated_at/updated_at.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/tupmacs.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
}

namespace steward::updated_at {
namespace {

// Per-statement cache in fn_extra.
struct StampCache {
    Oid relid;
    AttrNumber attnum;       // 1-based
    Oid type;                // the column's declared type (maybe a domain)
    int32 typmod;            // effective typmod (column's or the domain's)
    int fixed_offset;        // data offset when the tuple has no NULLs, or -1
    TimestampTz stamped_at;  // transaction timestamp `value` was made for
    Datum value;
    void *domain_cache;
};

[[noreturn]] void TriggerProtocolError(const char *what) {
    ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                    errmsg("steward.set_updated_at() %s", what),
                    errhint("Install it with steward.track_updated_at(), which creates "
                            "a BEFORE INSERT OR UPDATE ... FOR EACH ROW trigger.")));
    pg_unreachable();
}

StampCache *BuildCache(FunctionCallInfo fcinfo, TriggerData *td) {
    Relation rel = td->tg_relation;
    Trigger *trigger = td->tg_trigger;
    if (trigger->tgnargs > 1)
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("steward.set_updated_at() takes at most one argument"),
                        errdetail("Trigger \"%s\" on table \"%s\" passes %d arguments.",
                                  trigger->tgname, RelationGetRelationName(rel),
                                  trigger->tgnargs),
                        errhint("Pass the name of the timestamp column, or nothing for "
                                "\"updated_at\".")));
    const char *column = trigger->tgnargs == 1 ? trigger->tgargs[0] : kDefaultColumn;
    TupleDesc desc = RelationGetDescr(rel);
    int attnum = SPI_fnumber(desc, column);
    if (attnum <= 0)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                        errmsg("column \"%s\" of relation \"%s\" does not exist", column,
                               RelationGetRelationName(rel)),
                        errdetail("Trigger \"%s\" stamps this column.", trigger->tgname)));
    Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
    Oid base;
    int32 base_typmod;
    if (!IsStampType(att->atttypid, &base, &base_typmod))
        ereport(ERROR,
                (errcode(ERRCODE_DATATYPE_MISMATCH),
                 errmsg("column \"%s\" of relation \"%s\" must be of type timestamptz or "
                        "timestamp",
                        column, RelationGetRelationName(rel)),
                 errdetail("The column is of type %s.", format_type_be(att->atttypid))));
    if (att->attgenerated)
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("column \"%s\" of relation \"%s\" is a generated column",
                               column, RelationGetRelationName(rel))));

    auto *cache = static_cast<StampCache *>(
        MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(StampCache)));
    cache->relid = RelationGetRelid(rel);
    cache->attnum = static_cast<AttrNumber>(attnum);
    cache->type = att->atttypid;
    cache->typmod = att->atttypmod >= 0 ? att->atttypmod : base_typmod;
    // Offset of the column in a tuple without NULLs: known in advance when
    // every column before it has a fixed length.
    int offset = 0;
    for (int i = 0; i < attnum - 1 && offset >= 0; ++i) {
        Form_pg_attribute a = TupleDescAttr(desc, i);
        if (a->attlen <= 0)
            offset = -1;
        else
            offset = att_addlength_datum(att_align_nominal(offset, a->attalign), a->attlen, 0);
    }
    cache->fixed_offset = offset >= 0 ? static_cast<int>(att_align_nominal(offset, att->attalign)) : -1;
    cache->stamped_at = DT_NOBEGIN;
    return cache;
}

// Offset of attribute attnum's data in tuple, or -1 when it is NULL or
// missing (added after the tuple was written). Mirrors heap_deform_tuple.
int FindOffset(HeapTuple tuple, TupleDesc desc, const StampCache *cache) {
    HeapTupleHeader header = tuple->t_data;
    int target = cache->attnum - 1;
    if (HeapTupleHeaderGetNatts(header) <= target) return -1;
    bool hasnulls = HeapTupleHasNulls(tuple);
    if (!hasnulls && cache->fixed_offset >= 0) return cache->fixed_offset;
    if (hasnulls && att_isnull(target, header->t_bits)) return -1;
    const char *data = reinterpret_cast<const char *>(header) + header->t_hoff;
    long off = 0;
    for (int i = 0;; ++i) {
        Form_pg_attribute a = TupleDescAttr(desc, i);
        if (hasnulls && att_isnull(i, header->t_bits)) continue;
        if (a->attlen == -1)
            off = att_align_pointer(off, a->attalign, -1, data + off);
        else
            off = att_align_nominal(off, a->attalign);
        if (i == target) return static_cast<int>(off);
        off = att_addlength_pointer(off, a->attlen, data + off);
    }
}

// A copy of tuple with the stamp column set to value.
HeapTuple WithStamp(HeapTuple tuple, TupleDesc desc, const StampCache *cache) {
    int offset = FindOffset(tuple, desc, cache);
    if (offset >= 0) {
        HeapTuple copy = heap_copytuple(tuple);
        char *data = reinterpret_cast<char *>(copy->t_data) + copy->t_data->t_hoff;
        int64 raw = DatumGetInt64(cache->value);  // timestamp[tz] is int64, by value
        std::memcpy(data + offset, &raw, sizeof raw);
        return copy;
    }
    int column = cache->attnum;
    Datum value = cache->value;
    bool isnull = false;
    return heap_modify_tuple_by_cols(tuple, desc, 1, &column, &value, &isnull);
}

}  // namespace

bool IsStampType(Oid typid, Oid *base_type, int32 *base_typmod) {
    *base_typmod = -1;
    *base_type = getBaseTypeAndTypmod(typid, base_typmod);
    return *base_type == TIMESTAMPTZOID || *base_type == TIMESTAMPOID;
}

Datum StampFor(Oid column_type, int32 typmod, void **domain_cache, MemoryContext cxt) {
    Oid base;
    int32 base_typmod;
    IsStampType(column_type, &base, &base_typmod);
    Datum now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
    Datum value;
    if (base == TIMESTAMPTZOID)
        value = typmod >= 0 ? DirectFunctionCall2(timestamptz_scale, now, Int32GetDatum(typmod))
                            : now;
    else {
        value = DirectFunctionCall1(timestamptz_timestamp, now);
        if (typmod >= 0)
            value = DirectFunctionCall2(timestamp_scale, value, Int32GetDatum(typmod));
    }
    if (column_type != base) domain_check(value, false, column_type, domain_cache, cxt);
    return value;
}

}  // namespace steward::updated_at

using namespace steward::updated_at;

STEWARD_FUNCTION(steward_set_updated_at) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("steward.set_updated_at() was not called by the trigger manager"),
                        errhint("Use it in CREATE TRIGGER, or call steward.track_updated_at().")));
    auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
    TriggerEvent event = td->tg_event;
    if (!TRIGGER_FIRED_FOR_ROW(event)) TriggerProtocolError("must be fired FOR EACH ROW");
    if (!TRIGGER_FIRED_BEFORE(event)) TriggerProtocolError("must be fired BEFORE the event");
    bool is_update = TRIGGER_FIRED_BY_UPDATE(event);
    if (!is_update && !TRIGGER_FIRED_BY_INSERT(event))
        TriggerProtocolError("must be fired for INSERT or UPDATE");

    auto *cache = static_cast<StampCache *>(fcinfo->flinfo->fn_extra);
    if (cache == nullptr || cache->relid != RelationGetRelid(td->tg_relation)) {
        cache = BuildCache(fcinfo, td);
        fcinfo->flinfo->fn_extra = cache;
    }

    HeapTuple tuple = is_update ? td->tg_newtuple : td->tg_trigtuple;
    TupleDesc desc = RelationGetDescr(td->tg_relation);
    if (is_update) {
        // An explicit assignment by the statement wins.
        if (bms_is_member(cache->attnum - FirstLowInvalidHeapAttributeNumber,
                          td->tg_updatedcols))
            return PointerGetDatum(tuple);
    } else {
        bool isnull;
        (void)heap_getattr(tuple, cache->attnum, desc, &isnull);
        if (!isnull) return PointerGetDatum(tuple);
    }
    TimestampTz xact_start = GetCurrentTransactionStartTimestamp();
    if (cache->stamped_at != xact_start) {
        cache->value =
            StampFor(cache->type, cache->typmod, &cache->domain_cache, fcinfo->flinfo->fn_mcxt);
        cache->stamped_at = xact_start;
    }
    return PointerGetDatum(WithStamp(tuple, desc, cache));
}
