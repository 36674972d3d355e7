// Reading the audit log: the entries of a log row (steward._audit_entries:
// the row itself, or its packed entries), row images decoded to jsonb
// (steward._audit_decode, used by the steward.audit_log view), canonical keys from user-given values
// (steward.audit_key_hash), steward.history() and steward.row_as_of().
//
// Not a hot path: reading may look up catalogs and use SPI per call. Plain
// data only, so errors propagate directly.
#include "audit/audit.hpp"
#include "boundary/boundary.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

namespace steward::audit {

Datum *DeconstructAll(Datum array, Oid elemtype, int *n) {
    int16 len;
    bool byval;
    char align;
    get_typlenbyvalalign(elemtype, &len, &byval, &align);
    Datum *elems;
    bool *nulls;
    deconstruct_array(DatumGetArrayTypeP(array), elemtype, len, byval, align, &elems, &nulls, n);
    return elems;
}

namespace {

// A version of an audited table, as decoding needs it.
struct Version {
    int32 version_id;
    int ncols;
    char **names;
    char *kind;
    Oid *declared;      // declared type (InvalidOid when it no longer exists)
    Oid *stored;        // storage type
    FmgrInfo *to_jsonb; // per column, for the declared (kText) or stored type
    FmgrInfo *input;    // kText columns whose type exists: its input function
    Oid *ioparam;
    TupleDesc image_desc;
    int nkeys;
    int16 *key_positions;
};

constexpr int kCachedVersions = 16;

struct DecodeCache {
    Version *versions[kCachedVersions];
    int next;
};


void InitToJsonb(FmgrInfo *flinfo, Oid type, MemoryContext cxt) {
    fmgr_info_cxt(F_TO_JSONB, flinfo, cxt);
    MemoryContext old = MemoryContextSwitchTo(cxt);
    flinfo->fn_expr = reinterpret_cast<Node *>(
        makeFuncExpr(F_TO_JSONB, JSONBOID, list_make1(makeNullConst(type, -1, InvalidOid)),
                     InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL));
    MemoryContextSwitchTo(old);
}

// Load a version from steward.audit_versions by id, or the latest of a
// table when version_id is 0. Returns nullptr when there is none.
Version *LoadVersion(int32 version_id, Oid tbl, MemoryContext cxt) {
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    int rc;
    if (version_id != 0) {
        Oid argtypes[1] = {INT4OID};
        Datum args[1] = {Int32GetDatum(version_id)};
        rc = SPI_execute_with_args(
            "SELECT v.version_id, v.columns, v.types::oid[], v.storage::oid[], v.redacted, "
            "v.key_positions FROM steward.audit_versions v WHERE v.version_id = $1",
            1, argtypes, args, nullptr, true, 1);
    } else {
        Oid argtypes[1] = {REGCLASSOID};
        Datum args[1] = {ObjectIdGetDatum(tbl)};
        rc = SPI_execute_with_args(
            "SELECT v.version_id, v.columns, v.types::oid[], v.storage::oid[], v.redacted, "
            "v.key_positions FROM steward.audit_versions v "
            "JOIN steward.audit_tables t ON t.table_id = v.table_id "
            "WHERE t.tbl = $1 ORDER BY v.version_id DESC LIMIT 1",
            1, argtypes, args, nullptr, true, 1);
    }
    if (rc != SPI_OK_SELECT) elog(ERROR, "could not read steward.audit_versions");
    if (SPI_processed == 0) {
        SPI_finish();
        return nullptr;
    }
    HeapTuple row = SPI_tuptable->vals[0];
    TupleDesc rowdesc = SPI_tuptable->tupdesc;
    Datum v[6];
    bool isnull[6];
    for (int i = 0; i < 6; ++i) v[i] = SPI_getbinval(row, rowdesc, i + 1, &isnull[i]);

    MemoryContext old = MemoryContextSwitchTo(cxt);
    auto *ver = static_cast<Version *>(palloc0(sizeof(Version)));
    ver->version_id = DatumGetInt32(v[0]);
    int n, ntypes, nstored, nredacted;
    Datum *names = DeconstructAll(v[1], TEXTOID, &n);
    Datum *types = DeconstructAll(v[2], OIDOID, &ntypes);
    Datum *stored = DeconstructAll(v[3], OIDOID, &nstored);
    Datum *redacted = DeconstructAll(v[4], BOOLOID, &nredacted);
    Datum *keys = DeconstructAll(v[5], INT2OID, &ver->nkeys);
    if (ntypes != n || nstored != n || nredacted != n)
        elog(ERROR, "audit version %d is inconsistent", ver->version_id);
    ver->ncols = n;
    ver->names = static_cast<char **>(palloc(sizeof(char *) * (n + 1)));
    ver->kind = static_cast<char *>(palloc(n + 1));
    ver->declared = static_cast<Oid *>(palloc(sizeof(Oid) * (n + 1)));
    ver->stored = static_cast<Oid *>(palloc(sizeof(Oid) * (n + 1)));
    ver->to_jsonb = static_cast<FmgrInfo *>(palloc0(sizeof(FmgrInfo) * (n + 1)));
    ver->input = static_cast<FmgrInfo *>(palloc0(sizeof(FmgrInfo) * (n + 1)));
    ver->ioparam = static_cast<Oid *>(palloc0(sizeof(Oid) * (n + 1)));
    ver->image_desc = CreateTemplateTupleDesc(n);
    for (int i = 0; i < n; ++i) {
        ver->names[i] = TextDatumGetCString(names[i]);
        Oid declared = DatumGetObjectId(types[i]);
        if (!SearchSysCacheExists1(TYPEOID, ObjectIdGetDatum(declared))) declared = InvalidOid;
        ver->declared[i] = declared;
        ver->stored[i] = DatumGetObjectId(stored[i]);
        if (DatumGetBool(redacted[i]))
            ver->kind[i] = kRedacted;
        else if (declared != InvalidOid && ver->stored[i] == getBaseType(declared))
            ver->kind[i] = kBinary;
        else if (declared == InvalidOid && ver->stored[i] != TEXTOID)
            ver->kind[i] = kBinary;  // a built-in type cannot have gone
        else
            ver->kind[i] = kText;
        Oid json_type = ver->stored[i];
        if (ver->kind[i] == kText && declared != InvalidOid) {
            Oid input;
            getTypeInputInfo(declared, &input, &ver->ioparam[i]);
            fmgr_info_cxt(input, &ver->input[i], cxt);
            json_type = declared;
        }
        InitToJsonb(&ver->to_jsonb[i], json_type, cxt);
        TupleDescInitEntry(ver->image_desc, static_cast<AttrNumber>(i + 1), nullptr,
                           ver->stored[i], -1, 0);
    }
    ver->key_positions = static_cast<int16 *>(palloc(sizeof(int16) * (ver->nkeys + 1)));
    for (int k = 0; k < ver->nkeys; ++k) {
        ver->key_positions[k] = DatumGetInt16(keys[k]);
        if (ver->key_positions[k] < 1 || ver->key_positions[k] > n)
            elog(ERROR, "audit version %d is inconsistent", ver->version_id);
    }
    MemoryContextSwitchTo(old);
    SPI_finish();
    return ver;
}

Version *CachedVersion(FunctionCallInfo fcinfo, int32 version_id) {
    auto *cache = static_cast<DecodeCache *>(fcinfo->flinfo->fn_extra);
    if (cache == nullptr) {
        cache = static_cast<DecodeCache *>(
            MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(DecodeCache)));
        fcinfo->flinfo->fn_extra = cache;
    }
    for (int i = 0; i < kCachedVersions; ++i)
        if (cache->versions[i] != nullptr && cache->versions[i]->version_id == version_id)
            return cache->versions[i];
    Version *ver = LoadVersion(version_id, InvalidOid, fcinfo->flinfo->fn_mcxt);
    if (ver == nullptr)
        ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
                        errmsg("audit version %d does not exist", version_id)));
    cache->versions[cache->next] = ver;
    cache->next = (cache->next + 1) % kCachedVersions;
    return ver;
}

void PushValue(JsonbParseState **state, Datum jsonb_datum) {
    Jsonb *jb = DatumGetJsonbP(jsonb_datum);
    JsonbValue jv;
    if (JB_ROOT_IS_SCALAR(jb)) {
        JsonbExtractScalar(&jb->root, &jv);
    } else {
        jv.type = jbvBinary;
        jv.val.binary.data = &jb->root;
        jv.val.binary.len = static_cast<int>(VARSIZE(jb) - VARHDRSZ);
    }
    pushJsonbValue(state, WJB_VALUE, &jv);
}

[[noreturn]] void BadImage(const Version *ver) {
    ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
                    errmsg("audit row image does not match version %d", ver->version_id)));
    pg_unreachable();
}

// The image is caller input (any bytea can be passed): walk it the way
// heap_deform_tuple will, with bounds checks, so a forged or damaged image
// is an error and never a read outside the buffer.
void CheckImage(const Version *ver, HeapTupleHeader t, uint32 len) {
    if (len < SizeofHeapTupleHeader) BadImage(ver);
    int natts = HeapTupleHeaderGetNatts(t);
    bool hasnulls = (t->t_infomask & HEAP_HASNULL) != 0;
    uint32 hoff = t->t_hoff;
    uint32 min_hoff = SizeofHeapTupleHeader + (hasnulls ? BITMAPLEN(natts) : 0);
    if (natts > ver->ncols || hoff < min_hoff || hoff > len) BadImage(ver);
    const char *data = reinterpret_cast<const char *>(t) + hoff;
    uint32 avail = len - hoff;
    uint32 off = 0;
    for (int i = 0; i < natts; ++i) {
        Form_pg_attribute att = TupleDescAttr(ver->image_desc, i);
        if (hasnulls && att_isnull(i, t->t_bits)) continue;
        if (att->attlen > 0) {
            off = static_cast<uint32>(att_align_nominal(off, att->attalign));
            if (off > avail || static_cast<uint32>(att->attlen) > avail - off) BadImage(ver);
            off += static_cast<uint32>(att->attlen);
        } else if (att->attlen == -1) {
            if (off >= avail) BadImage(ver);
            off = static_cast<uint32>(att_align_pointer(off, att->attalign, -1, data + off));
            if (off >= avail) BadImage(ver);
            const char *p = data + off;
            if (VARATT_IS_EXTERNAL(p)) BadImage(ver);  // images hold no TOAST pointers
            uint32 size;
            if (VARATT_IS_1B(p)) {
                size = VARSIZE_1B(p);
            } else {
                if (avail - off < VARHDRSZ) BadImage(ver);
                size = VARSIZE_4B(p);
                if (size < VARHDRSZ) BadImage(ver);
            }
            if (size < 1 || size > avail - off) BadImage(ver);
            off += size;
        } else {  // cstring
            size_t n = strnlen(data + off, avail - off);
            if (n == avail - off) BadImage(ver);
            off += static_cast<uint32>(n) + 1;
        }
    }
}

// jsonb object of the positions `only` (1-based; all when null) of image.
Datum Decode(const Version *ver, Datum image, const int16 *only, int nonly) {
    struct varlena *copy = PG_DETOAST_DATUM_COPY(image);  // 4-byte header, MAXALIGNed
    HeapTupleData tuple;
    tuple.t_len = VARSIZE(copy);
    tuple.t_data = reinterpret_cast<HeapTupleHeader>(copy);
    ItemPointerSetInvalid(&tuple.t_self);
    tuple.t_tableOid = InvalidOid;
    CheckImage(ver, tuple.t_data, tuple.t_len);
    Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * (ver->ncols + 1)));
    bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * (ver->ncols + 1)));
    heap_deform_tuple(&tuple, ver->image_desc, values, nulls);

    JsonbParseState *state = nullptr;
    pushJsonbValue(&state, WJB_BEGIN_OBJECT, nullptr);
    int count = only != nullptr ? nonly : ver->ncols;
    for (int i = 0; i < count; ++i) {
        int p = only != nullptr ? only[i] - 1 : i;
        if (p < 0 || p >= ver->ncols) continue;
        JsonbValue key;
        key.type = jbvString;
        key.val.string.val = ver->names[p];
        key.val.string.len = static_cast<int>(strlen(ver->names[p]));
        pushJsonbValue(&state, WJB_KEY, &key);
        if (nulls[p]) {
            JsonbValue null_value;
            null_value.type = jbvNull;
            pushJsonbValue(&state, WJB_VALUE, &null_value);
            continue;
        }
        Datum value = values[p];
        if (ver->kind[p] == kBinary)
            CheckStoredValue(ver->stored[p], value, TupleDescAttr(ver->image_desc, p)->attlen);
        if (ver->kind[p] == kText && ver->input[p].fn_oid != InvalidOid)
            value = InputFunctionCall(&ver->input[p], TextDatumGetCString(value), ver->ioparam[p], -1);
        PushValue(&state, FunctionCall1(&ver->to_jsonb[p], value));
    }
    JsonbValue *result = pushJsonbValue(&state, WJB_END_OBJECT, nullptr);
    return JsonbPGetDatum(JsonbValueToJsonb(result));
}

int16 *Positions(Datum array, int *n) {
    Datum *elems = DeconstructAll(array, INT2OID, n);
    int16 *out = static_cast<int16 *>(palloc(sizeof(int16) * (*n + 1)));
    for (int i = 0; i < *n; ++i) out[i] = DatumGetInt16(elems[i]);
    return out;
}

// The table's name for messages (its oid when it no longer exists).
const char *TableLabel(Oid tbl) {
    char *name = get_rel_name(tbl);
    return name != nullptr ? name : psprintf("%u", tbl);
}

// The table a key belongs to must be named (regclass) and audited.
Version *LatestVersion(Oid tbl) {
    Version *ver = LoadVersion(0, tbl, CurrentMemoryContext);
    if (ver == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("table \"%s\" has no audit history", TableLabel(tbl)),
                        errhint("Enable auditing with steward.enable_audit().")));
    return ver;
}

// steward.audit_tables.table_id of an audited table.
int32 TableId(Oid tbl) {
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    Oid argtypes[1] = {REGCLASSOID};
    Datum args[1] = {ObjectIdGetDatum(tbl)};
    if (SPI_execute_with_args("SELECT t.table_id FROM steward.audit_tables t WHERE t.tbl = $1", 1,
                              argtypes, args, nullptr, true, 1) != SPI_OK_SELECT ||
        SPI_processed != 1)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("table \"%s\" has no audit history", TableLabel(tbl))));
    bool isnull;
    int32 id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    SPI_finish();
    return id;
}

// The key hash (as the trigger writes it) of key values args[0..n).
int64 CanonicalKey(Oid tbl, int n, const Datum *args, const Oid *types, const bool *nulls) {
    Version *ver = LatestVersion(tbl);
    if (n != ver->nkeys) {
        StringInfoData cols;
        initStringInfo(&cols);
        for (int k = 0; k < ver->nkeys; ++k)
            appendStringInfo(&cols, "%s%s", k > 0 ? ", " : "",
                             quote_identifier(ver->names[ver->key_positions[k] - 1]));
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("wrong number of key values for table \"%s\"", TableLabel(tbl)),
                        errdetail("Its key has %d column%s (%s); %d value%s given.", ver->nkeys,
                                  ver->nkeys == 1 ? "" : "s", cols.data, n,
                                  n == 1 ? " was" : "s were")));
    }
    Datum values[INDEX_MAX_KEYS];
    int16 typlen[INDEX_MAX_KEYS];
    bool typbyval[INDEX_MAX_KEYS];
    if (n > INDEX_MAX_KEYS) n = INDEX_MAX_KEYS;
    for (int k = 0; k < n; ++k) {
        int p = ver->key_positions[k] - 1;
        const char *column = ver->names[p];
        if (nulls[k])
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("key value %d must not be null", k + 1)));
        Oid declared = ver->declared[p];
        if (declared == InvalidOid)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                            errmsg("type of key column \"%s\" no longer exists", column)));
        Datum value = args[k];
        Oid argtype = types[k];
        if (getBaseType(argtype) != getBaseType(declared)) {
            char category;
            bool preferred;
            get_type_category_preferred(argtype, &category, &preferred);
            Oid from = argtype;
            if (category != TYPCATEGORY_STRING && argtype != UNKNOWNOID &&
                !can_coerce_type(1, &from, &declared, COERCION_IMPLICIT))
                ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                                errmsg("key value %d is of type %s, but key column \"%s\" is of type %s",
                                       k + 1, format_type_be(argtype), column,
                                       format_type_be(declared)),
                                errhint("Pass the value as %s or as text.",
                                        format_type_be(declared))));
            Oid out, input, ioparam;
            bool varlena;
            getTypeOutputInfo(argtype, &out, &varlena);
            getTypeInputInfo(declared, &input, &ioparam);
            value = OidInputFunctionCall(input, OidOutputFunctionCall(out, value), ioparam, -1);
            argtype = declared;
        }
        // The trigger hashed the stored value, which carries the column's
        // typmod (numeric(10,2) stores 1.50, char(5) stores 'ab   '): apply
        // the key column's current typmod to the caller's value too.
        AttrNumber attnum = get_attnum(tbl, column);
        int32 typmod = -1;
        if (attnum != InvalidAttrNumber) {
            Oid att_type, att_collation;
            get_atttypetypmodcoll(tbl, attnum, &att_type, &typmod, &att_collation);
        }
        if (typmod >= 0) {
            Oid out, input, ioparam;
            bool varlena;
            getTypeOutputInfo(argtype, &out, &varlena);
            getTypeInputInfo(declared, &input, &ioparam);
            value = OidInputFunctionCall(input, OidOutputFunctionCall(out, value), ioparam, typmod);
        }
        if (ver->kind[p] == kText) {
            Oid out;
            bool varlena;
            getTypeOutputInfo(declared, &out, &varlena);
            value = PointerGetDatum(cstring_to_text(OidOutputFunctionCall(out, value)));
        }
        values[k] = value;
        get_typlenbyval(ver->stored[p], &typlen[k], &typbyval[k]);
    }
    return KeyHash(TableId(tbl), n, values, typlen, typbyval);
}

Oid TableArg(FunctionCallInfo fcinfo) {
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("table must not be null")));
    return PG_GETARG_OID(0);
}

// The variadic arguments from position 1 on.
int VariadicArgs(FunctionCallInfo fcinfo, Datum **args, Oid **types, bool **nulls) {
    int n = extract_variadic_args(fcinfo, 1, true, args, types, nulls);
    if (n <= 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("key values are missing"),
                        errhint("Pass the record's key values after the table.")));
    return n;
}

}  // namespace
}  // namespace steward::audit

using namespace steward::audit;

namespace {

[[noreturn]] void MalformedPacked(const char *what) {
    ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
                    errmsg("packed audit log entries are malformed"),
                    errdetail("%s", what)));
    pg_unreachable();
}

// A copy of the image of len bytes at p (a whole varlena), or 0.
Datum PackedImage(const char *p, uint32 len) {
    if (len == 0) return 0;
    if (len < VARHDRSZ) MalformedPacked("An image is shorter than its header.");
    char *copy = static_cast<char *>(palloc(len));
    memcpy(copy, p, len);
    if (VARATT_IS_EXTENDED(copy) || VARSIZE(copy) != len)
        MalformedPacked("An image's length does not match its header.");
    return PointerGetDatum(copy);
}

Datum PackedPositions(const char *p, int16 n) {
    int16 *positions = static_cast<int16 *>(palloc(sizeof(int16) * (n > 0 ? n : 1)));
    if (n > 0) memcpy(positions, p, n * sizeof(int16));
    return PositionsArray(positions, n);
}

}  // namespace

// steward._audit_entries(id, row_hash, old_hash, stored, changed, old_image,
// new_image, entries): one row per entry of a log row.
STEWARD_FUNCTION(steward_audit_entries) {
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    constexpr int kColumns = 7;
    Datum values[kColumns];
    bool nulls[kColumns];
    if (PG_ARGISNULL(7)) {  // a single entry: the row's own columns
        for (int i = 0; i < kColumns; ++i) {
            nulls[i] = PG_ARGISNULL(i);
            values[i] = nulls[i] ? 0 : PG_GETARG_DATUM(i);
        }
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        return static_cast<Datum>(0);
    }
    bytea *blob = PG_GETARG_BYTEA_PP(7);
    const char *data = VARDATA_ANY(blob);
    Size len = VARSIZE_ANY_EXHDR(blob);
    Size off = 0;
    while (off < len) {
        PackedHeader h;
        if (len - off < sizeof h) MalformedPacked("An entry header is cut short.");
        memcpy(&h, data + off, sizeof h);
        off += sizeof h;
        if (h.nstored < -1 || h.nchanged < -1) MalformedPacked("An entry has a negative count.");
        Size npos = static_cast<Size>(h.nstored > 0 ? h.nstored : 0) +
                    static_cast<Size>(h.nchanged > 0 ? h.nchanged : 0);
        if (len - off < npos * sizeof(int16) + h.old_len + h.new_len)
            MalformedPacked("An entry is longer than the data.");
        for (int i = 0; i < kColumns; ++i) nulls[i] = true;
        values[0] = Int64GetDatum(h.id);
        values[1] = Int64GetDatum(h.row_hash);
        nulls[0] = nulls[1] = false;
        if (h.nstored >= 0) {
            values[3] = PackedPositions(data + off, h.nstored);
            nulls[3] = false;
            off += (h.nstored > 0 ? h.nstored : 0) * sizeof(int16);
        }
        if (h.nchanged >= 0) {
            values[4] = PackedPositions(data + off, h.nchanged);
            nulls[4] = false;
            off += (h.nchanged > 0 ? h.nchanged : 0) * sizeof(int16);
        }
        values[5] = PackedImage(data + off, h.old_len);
        nulls[5] = values[5] == 0;
        off += h.old_len;
        values[6] = PackedImage(data + off, h.new_len);
        nulls[6] = values[6] == 0;
        off += h.new_len;
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return static_cast<Datum>(0);
}

STEWARD_FUNCTION(steward_audit_decode) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) PG_RETURN_NULL();
    Version *ver = CachedVersion(fcinfo, PG_GETARG_INT32(0));
    int n = 0;
    int16 *only = PG_ARGISNULL(2) ? nullptr : Positions(PG_GETARG_DATUM(2), &n);
    return Decode(ver, PG_GETARG_DATUM(1), only, n);
}

STEWARD_FUNCTION(steward_audit_key_hash) {
    Oid tbl = TableArg(fcinfo);
    Datum *args;
    Oid *types;
    bool *nulls;
    int n = VariadicArgs(fcinfo, &args, &types, &nulls);
    return Int64GetDatum(CanonicalKey(tbl, n, args, types, nulls));
}

STEWARD_FUNCTION(steward_audit_history) {
    Oid tbl = TableArg(fcinfo);
    Datum *args;
    Oid *types;
    bool *nulls;
    int n = VariadicArgs(fcinfo, &args, &types, &nulls);
    Datum hash = Int64GetDatum(CanonicalKey(tbl, n, args, types, nulls));
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    // Both values are constants of this one-shot plan: the planner inlines
    // _audit_log_rows() and finds the record through the key indexes.
    Oid argtypes[2] = {INT4OID, INT8OID};
    Datum values[2] = {Int32GetDatum(TableId(tbl)), hash};
    if (SPI_execute_with_args("SELECT * FROM steward._audit_log_rows($1, $2) ORDER BY id", 2,
                              argtypes, values, nullptr, true, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not read the audit log");
    for (uint64 i = 0; i < SPI_processed; ++i)
        tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[i]);
    SPI_finish();
    return static_cast<Datum>(0);
}

STEWARD_FUNCTION(steward_audit_row_as_of) {
    Oid tbl = TableArg(fcinfo);
    Datum *args;
    Oid *types;
    bool *nulls;
    int n = VariadicArgs(fcinfo, &args, &types, &nulls);
    if (n < 2)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("steward.row_as_of() needs the key values and a timestamp"),
                        errhint("Call it as steward.row_as_of(table, key values..., timestamptz).")));
    Oid at_type = types[n - 1];
    if (nulls[n - 1])
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("the timestamp must not be null")));
    Datum at = args[n - 1];
    if (at_type != TIMESTAMPTZOID) {
        char category;
        bool preferred;
        get_type_category_preferred(at_type, &category, &preferred);
        if (category != TYPCATEGORY_STRING && category != TYPCATEGORY_DATETIME)
            ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                            errmsg("the last argument of steward.row_as_of() must be a timestamptz"),
                            errdetail("It is of type %s.", format_type_be(at_type)),
                            errhint("Call it as steward.row_as_of(table, key values..., timestamptz).")));
        Oid out;
        bool varlena;
        getTypeOutputInfo(at_type, &out, &varlena);
        at = DirectFunctionCall3(timestamptz_in, CStringGetDatum(OidOutputFunctionCall(out, at)),
                                 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
    }
    Datum hash = Int64GetDatum(CanonicalKey(tbl, n - 1, args, types, nulls));
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    Oid argtypes[3] = {REGCLASSOID, INT8OID, TIMESTAMPTZOID};
    Datum values[3] = {ObjectIdGetDatum(tbl), hash, at};
    if (SPI_execute_with_args("SELECT state FROM steward._row_as_of($1, $2, $3)", 3, argtypes, values,
                              nullptr, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "could not read the audit log");
    bool isnull;
    Datum result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    if (!isnull) result = SPI_datumTransfer(result, false, -1);
    SPI_finish();
    if (isnull) PG_RETURN_NULL();
    return result;
}
