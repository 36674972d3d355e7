// Checking the values of a row image before they are decoded.
//
// steward._audit_decode() takes an image as a bytea argument, so a caller
// (a member of steward_auditor) can pass any bytes. reader.cpp's CheckImage
// makes sure the tuple's layout stays inside the buffer; this file makes
// sure each value stored in binary form is one its type's output functions
// can read: the internal structure of a jsonb, numeric, array, inet or bit
// string value is walked with bounds checks, so a forged or damaged value
// is an error (XX001), never a read outside it. Images store in binary form
// only the built-in types that are checked here (_audit_storage_type());
// every other type is stored as text and read back through its input
// function, which checks its input itself. An image of an older version may
// still hold another type in binary form: only a superuser can decode it.
//
// Plain data only; errors propagate directly.
#include "audit/audit.hpp"

#include <sys/socket.h>

#include <algorithm>

extern "C" {
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/varbit.h"
}

namespace steward::audit {
namespace {

[[noreturn]] void BadValue(Oid type) {
    ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
                    errmsg("audit row image holds an invalid value of type %s", format_type_be(type))));
    pg_unreachable();
}

// The numeric header as numeric.c lays it out (not exported by numeric.h).
constexpr uint16 kSignMask = 0xC000, kShort = 0x8000, kSpecial = 0xC000;
constexpr uint16 kExtSignMask = 0xF000, kNaN = 0xC000, kPInf = 0xD000, kNInf = 0xF000;
constexpr int kNBase = 10000;
using NumericDigit = int16;  // numeric.c's digit

// p: a detoasted numeric value of size bytes (header included).
void CheckNumeric(const char *p, uint32 size, bool finite_only, Oid type) {
    if (size < VARHDRSZ + sizeof(uint16)) BadValue(type);
    uint16 header;
    memcpy(&header, p + VARHDRSZ, sizeof header);
    uint32 fixed;
    if ((header & kSignMask) == kSpecial) {
        uint16 ext = header & kExtSignMask;
        if ((ext != kNaN && ext != kPInf && ext != kNInf) || finite_only) BadValue(type);
        return;
    }
    fixed = (header & kSignMask) == kShort ? VARHDRSZ + sizeof(uint16) : VARHDRSZ + 2 * sizeof(uint16);
    if (size < fixed || (size - fixed) % sizeof(NumericDigit) != 0) BadValue(type);
    for (uint32 off = fixed; off < size; off += sizeof(NumericDigit)) {
        NumericDigit d;
        memcpy(&d, p + off, sizeof d);
        if (d < 0 || d >= kNBase) BadValue(type);
    }
}

// A jsonb container of len bytes at base (its header, JEntries, data).
void CheckJsonbContainer(const char *base, uint32 len, int depth) {
    check_stack_depth();
    if (len < sizeof(uint32)) BadValue(JSONBOID);
    uint32 header;
    memcpy(&header, base, sizeof header);
    uint32 count = header & JB_CMASK;
    bool object = (header & JB_FOBJECT) != 0, array = (header & JB_FARRAY) != 0;
    bool scalar = (header & JB_FSCALAR) != 0;
    if (object == array || (scalar && (!array || count != 1 || depth > 0))) BadValue(JSONBOID);
    uint64 nentries = object ? 2 * static_cast<uint64>(count) : count;
    uint64 data_start = sizeof(uint32) + nentries * sizeof(JEntry);
    if (data_start > len) BadValue(JSONBOID);
    const char *data = base + data_start;
    uint32 data_len = len - static_cast<uint32>(data_start);
    uint32 off = 0;
    for (uint64 i = 0; i < nentries; ++i) {
        JEntry entry;
        memcpy(&entry, base + sizeof(uint32) + i * sizeof(JEntry), sizeof entry);
        uint32 value = JBE_OFFLENFLD(entry);
        // as getJsonbOffset/getJsonbLength: an offset every JB_OFFSET_STRIDE
        uint32 end = JBE_HAS_OFF(entry) ? value : off + value;
        if (end < off || end > data_len) BadValue(JSONBOID);
        uint32 type = entry & JENTRY_TYPEMASK;
        if (object && i < count && type != JENTRY_ISSTRING) BadValue(JSONBOID);  // keys
        switch (type) {
            case JENTRY_ISSTRING:
                break;
            case JENTRY_ISBOOL_FALSE:
            case JENTRY_ISBOOL_TRUE:
            case JENTRY_ISNULL:
                if (end != off) BadValue(JSONBOID);
                break;
            case JENTRY_ISNUMERIC:
            case JENTRY_ISCONTAINER: {
                uint32 start = INTALIGN(off);
                if (start > end) BadValue(JSONBOID);
                const char *p = data + start;
                uint32 n = end - start;
                if (type == JENTRY_ISCONTAINER) {
                    CheckJsonbContainer(p, n, depth + 1);
                } else {
                    // a numeric value with its 4-byte header, INTALIGNed
                    if (n < VARHDRSZ || VARATT_IS_1B(p) || VARSIZE_4B(p) != n) BadValue(JSONBOID);
                    CheckNumeric(p, n, true, JSONBOID);
                }
                break;
            }
            default:
                BadValue(JSONBOID);
        }
        off = end;
    }
}

void CheckValue(Oid type, const char *p, uint32 size, int depth);

// An array value of size bytes at p (detoasted, 4-byte header).
void CheckArray(Oid type, Oid elemtype, const char *p, uint32 size, int depth) {
    if (size < ARR_OVERHEAD_NONULLS(0)) BadValue(type);
    const ArrayType *a = reinterpret_cast<const ArrayType *>(p);
    int ndim = ARR_NDIM(a);
    if (ndim < 0 || ndim > MAXDIM || ARR_ELEMTYPE(a) != elemtype) BadValue(type);
    if (size < ARR_OVERHEAD_NONULLS(ndim)) BadValue(type);
    int64 nitems = ndim == 0 ? 0 : 1;
    for (int i = 0; i < ndim; ++i) {
        int dim = ARR_DIMS(a)[i], lb = ARR_LBOUND(a)[i];
        if (dim < 0 || static_cast<int64>(lb) + dim - 1 > PG_INT32_MAX) BadValue(type);
        nitems *= dim;
        if (nitems > static_cast<int64>(MaxArraySize)) BadValue(type);
    }
    int32 dataoffset = a->dataoffset;
    uint32 data_start;
    if (dataoffset == 0) {
        data_start = ARR_OVERHEAD_NONULLS(ndim);
    } else {
        if (static_cast<uint64>(ARR_OVERHEAD_WITHNULLS(ndim, static_cast<uint64>(nitems))) > size ||
            dataoffset != static_cast<int32>(ARR_OVERHEAD_WITHNULLS(ndim, nitems)))
            BadValue(type);
        data_start = static_cast<uint32>(dataoffset);
    }
    int16 elmlen;
    bool elmbyval;
    char elmalign;
    get_typlenbyvalalign(elemtype, &elmlen, &elmbyval, &elmalign);
    const bits8 *nullbitmap = ARR_NULLBITMAP(a);
    uint32 off = data_start;
    for (int64 i = 0; i < nitems; ++i) {
        if (nullbitmap != nullptr && (nullbitmap[i / 8] & (1 << (i % 8))) == 0) continue;
        off = static_cast<uint32>(att_align_nominal(off, elmalign));
        if (off > size) BadValue(type);
        uint32 n;
        if (elmlen > 0) {
            n = static_cast<uint32>(elmlen);
            if (n > size - off) BadValue(type);
            if (!elmbyval) CheckValue(elemtype, p + off, n, depth + 1);
        } else if (elmlen == -1) {
            if (size - off < 1) BadValue(type);
            const char *e = p + off;
            if (VARATT_IS_1B(e)) {
                if (VARATT_IS_1B_E(e)) BadValue(type);
                n = VARSIZE_1B(e);
            } else {
                if (size - off < VARHDRSZ || VARATT_IS_4B_C(e)) BadValue(type);
                n = VARSIZE_4B(e);
            }
            if (n < 1 || n > size - off) BadValue(type);
            CheckValue(elemtype, e, n, depth + 1);
        } else {
            BadValue(type);
        }
        off += n;
    }
}

// One value of the built-in type `type` (a domain's base type), at p, of
// size bytes (for varlena types a 1- or 4-byte header, uncompressed).
void CheckValue(Oid type, const char *p, uint32 size, int depth) {
    check_stack_depth();
    // the fixed-size types read only their bytes; name up to its NUL
    if (type == NAMEOID) {
        if (memchr(p, '\0', std::min<uint32>(size, NAMEDATALEN)) == nullptr) BadValue(type);
        return;
    }
    int16 typlen = get_typlen(type);
    if (typlen > 0) return;
    // varlena: the header's size is size; header and payload
    uint32 hdr = VARATT_IS_1B(p) ? VARHDRSZ_SHORT : VARHDRSZ;
    const char *payload = p + hdr;
    uint32 len = size - hdr;
    switch (type) {
        case TEXTOID:
        case VARCHAROID:
        case BPCHAROID:
        case BYTEAOID:
        case JSONOID:
        case XMLOID:
            return;  // bytes only (text: any bytes, as the output functions copy them)
        default:
            break;
    }
    // the others are read at 4-byte alignment, with a 4-byte header: copy
    char *copy = static_cast<char *>(palloc(len + VARHDRSZ));
    SET_VARSIZE(copy, len + VARHDRSZ);
    memcpy(copy + VARHDRSZ, payload, len);
    switch (type) {
        case JSONBOID:
            CheckJsonbContainer(copy + VARHDRSZ, len, 0);
            break;
        case NUMERICOID:
            CheckNumeric(copy, len + VARHDRSZ, false, type);
            break;
        case INETOID:
        case CIDROID: {
            const inet *ip = reinterpret_cast<const inet *>(copy);
            if (len < 2) BadValue(type);
            int family = ip_family(ip), bits = ip_bits(ip);
            int addrsize = family == PGSQL_AF_INET ? 4 : family == PGSQL_AF_INET6 ? 16 : -1;
            if (addrsize < 0 || bits > addrsize * 8 || len != static_cast<uint32>(2 + addrsize)) BadValue(type);
            break;
        }
        case BITOID:
        case VARBITOID: {
            if (len < sizeof(int32)) BadValue(type);
            const VarBit *b = reinterpret_cast<const VarBit *>(copy);
            int64 bitlen = VARBITLEN(b);
            if (bitlen < 0 || (bitlen + BITS_PER_BYTE - 1) / BITS_PER_BYTE > static_cast<int64>(len - sizeof(int32)))
                BadValue(type);
            break;
        }
        default: {
            // arrays (not int2vector and oidvector, whose output functions
            // trust their one dimension: stored as text)
            Oid elem = type == INT2VECTOROID || type == OIDVECTOROID ? InvalidOid : get_element_type(type);
            if (elem != InvalidOid) {
                CheckArray(type, elem, copy, len + VARHDRSZ, depth);
                break;
            }
            // stored in binary form by an older version: not checked here
            if (!superuser())
                ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                                errmsg("only superusers can decode audited values of type %s",
                                       format_type_be(type)),
                                errdetail("Entries of this table version store the type in binary form, "
                                          "which pg_steward cannot check for damage."),
                                errhint("Ask a superuser to read these entries; entries written since "
                                        "pg_steward 0.2.0 store the type as text.")));
        }
    }
    pfree(copy);
}

}  // namespace

void CheckStoredValue(Oid type, Datum value, int16 typlen) {
    if (typlen > 0 && type != NAMEOID) return;  // fixed-size values read only their bytes
    const char *p = DatumGetPointer(value);
    uint32 size;
    if (typlen == -1) {
        if (VARATT_IS_EXTERNAL(p)) BadValue(type);  // CheckImage refused these
        // compressed in the image (a large value): decompression checks its
        // input (pglz, lz4), then the value is checked as the reader sees it
        if (VARATT_IS_COMPRESSED(p)) p = reinterpret_cast<const char *>(PG_DETOAST_DATUM(value));
        size = VARSIZE_ANY(p);
    } else if (typlen == -2) {
        return;  // cstring: CheckImage found its NUL
    } else {
        size = static_cast<uint32>(typlen);
    }
    CheckValue(type, p, size, 0);
}

}  // namespace steward::audit
