// One pass over a catalog where a health check or an aggregating view needs
// a figure over every object of a kind, instead of a SQL plan with
// per-object index probes and function calls (measured on 1,810 sequences:
// 87,000 instructions per sequence for the sequences check in SQL, 8,000
// here). Used by steward.health()'s stats checks and the views that
// aggregate (cache_hit, the problem rows of index_health, sequence_health):
//
//   steward._sequences()              every user sequence: last value, the
//                                     effective limit (its own bound or the
//                                     smallest integer column it feeds) and
//                                     the percentage used
//   steward._sequence_summary(t)      the highest percentage, its sequence and
//                                     how many are above t, without a row each
//   steward._index_candidates()       invalid indexes, and valid indexes that
//                                     share table and key columns with another
//                                     (the only ones a duplicate can be among)
//   steward._dead_tuples_worst(min)   the table with the largest share of dead
//                                     tuples among those with >= min rows
//   steward._cache_hit_sums()         block hits and reads of user tables and
//                                     of user indexes
//
// They read catalogs with heap scans under the catalog snapshot and the
// cumulative statistics; they never open or lock a user table or index
// (sequences are locked momentarily and never waited for, as in
// steward._sequence_last_value). The last two read the statistics in one
// pass over the shared statistics hash table and know which relation is a
// user table or index from a per-backend cache (RelKinds) instead of
// scanning pg_class. Plain code: no RAII objects, PostgreSQL is called
// directly; memory is the query's (the RelKinds cache's is its own).
#include "boundary/boundary.hpp"
#include "core/stats_settings.hpp"
#include "stats/relation_file.hpp"

#include <new>

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_index.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "access/transam.h"
#include "lib/dshash.h"
#include "pgstat.h"
#include "utils/pgstat_internal.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"
}

namespace {

// -- containers -------------------------------------------------------------------

// A growable palloc'd array (items move when it grows: keep indexes, not
// pointers).
template <typename T>
struct Growable {
    T *items = nullptr;
    int n = 0;
    int cap = 0;
    int Add(const T &item) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            items = static_cast<T *>(items ? repalloc(items, sizeof(T) * cap) : palloc(sizeof(T) * cap));
        }
        items[n] = item;
        return n++;
    }
};

// A map from non-zero 64-bit keys (oids, or an oid and a hash) to int32,
// open addressing with linear probing in palloc'd arrays: a lookup costs
// tens of instructions (a dynahash lookup about 250).
class KeyMap {
  public:
    explicit KeyMap(uint32 expected) { Allocate(Capacity(expected)); }
    // the value for key, or nullptr
    int32 *Find(uint64 key) const {
        for (uint32 i = Slot(key);; i = (i + 1) & mask_) {
            if (keys_[i] == key) return &values_[i];
            if (keys_[i] == 0) return nullptr;
        }
    }
    // the value for key, inserted as `initial` if absent (*found says which)
    int32 *Insert(uint64 key, int32 initial, bool *found) {
        if (2 * (used_ + 1) > mask_ + 1) Grow();
        uint32 i = Slot(key);
        for (; keys_[i] != 0; i = (i + 1) & mask_) {
            if (keys_[i] == key) {
                *found = true;
                return &values_[i];
            }
        }
        keys_[i] = key;
        values_[i] = initial;
        ++used_;
        *found = false;
        return &values_[i];
    }

  private:
    static uint32 Capacity(uint32 expected) {
        uint32 cap = 64;
        while (cap < 2 * expected) cap *= 2;
        return cap;
    }
    void Allocate(uint32 cap) {
        keys_ = static_cast<uint64 *>(palloc0(sizeof(uint64) * cap));
        values_ = static_cast<int32 *>(palloc(sizeof(int32) * cap));
        mask_ = cap - 1;
        used_ = 0;
    }
    uint32 Slot(uint64 key) const {
        key ^= key >> 33;
        key *= UINT64CONST(0xff51afd7ed558ccd);
        key ^= key >> 33;
        return static_cast<uint32>(key) & mask_;
    }
    void Grow() {
        uint64 *old_keys = keys_;
        int32 *old_values = values_;
        const uint32 old_cap = mask_ + 1;
        Allocate(old_cap * 2);
        bool found;
        for (uint32 i = 0; i < old_cap; ++i)
            if (old_keys[i] != 0) *Insert(old_keys[i], old_values[i], &found) = old_values[i];
        pfree(old_keys);
        pfree(old_values);
    }
    uint64 *keys_;
    int32 *values_;
    uint32 mask_;
    uint32 used_;
};

// -- schemas --------------------------------------------------------------------

// Whether a namespace is one the views report on (IsUserSchemaName), one
// syscache lookup per namespace and call.
class UserNamespaces {
  public:
    bool Contains(Oid nsp) {
        if (nsp == last_oid_) return last_user_;
        bool found;
        int32 *user = known_.Insert(nsp, 0, &found);
        if (!found) {
            char *name = get_namespace_name(nsp);
            *user = name != nullptr && steward::stats::IsUserSchemaName(name);
        }
        last_oid_ = nsp;
        last_user_ = *user != 0;
        return last_user_;
    }

  private:
    KeyMap known_{64};
    Oid last_oid_ = InvalidOid;
    bool last_user_ = false;
};

// A user relation of one of the kinds the views report (not temporary).
bool IsReported(UserNamespaces *namespaces, const FormData_pg_class *rel) {
    return rel->relpersistence != RELPERSISTENCE_TEMP && namespaces->Contains(rel->relnamespace);
}

// Calls fn(tuple) for every row of a catalog visible to a catalog snapshot
// (heap scan, no slots: a catalog tuple costs ~200 instructions).
template <typename Fn>
void ScanCatalog(Oid catalog, Fn fn) {
    Relation rel = table_open(catalog, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
    HeapTuple tuple;
    while (HeapTupleIsValid(tuple = heap_getnext(scan, ForwardScanDirection))) {
        fn(tuple);
        CHECK_FOR_INTERRUPTS();
    }
    table_endscan(scan);
    table_close(rel, AccessShareLock);
}

// -- sequences --------------------------------------------------------------------

struct SequenceEntry {
    Oid seqrelid;
    int64 increment;
    int64 max;
    int64 min;
    int64 column_max;  // smallest max of the integer columns it feeds; 0: none
    bool called;
    int64 last_value;
    int64 limit_value;
    int64 hundredths;  // percent_used * 100
};

struct FedColumn {
    int32 sequence;  // index into the sequences
    Oid relid;
    int16 attnum;
};

struct DefaultUse {
    Oid attrdef;
    int32 sequence;
};

// The largest value of an integer column type (domains resolved); 0 for
// other types.
int64 IntegerTypeMax(Oid type) {
    if (type != INT2OID && type != INT4OID && type != INT8OID) type = getBaseType(type);
    switch (type) {
        case INT2OID:
            return PG_INT16_MAX;
        case INT4OID:
            return PG_INT32_MAX;
        case INT8OID:
            return PG_INT64_MAX;
        default:
            return 0;
    }
}

// Columns fed by the sequences (`index` maps their oids to their indexes):
// serial and identity columns (the sequence depends on them, 'a' or 'i'),
// and columns whose default calls it (the default depends on the sequence).
// One pass over pg_depend, one over pg_attrdef when a default uses a
// sequence.
void FindFedColumns(const KeyMap &index, Growable<FedColumn> *columns) {
    Growable<DefaultUse> defaults;
    ScanCatalog(DependRelationId, [&](HeapTuple tuple) {
        const auto *d = reinterpret_cast<Form_pg_depend>(GETSTRUCT(tuple));
        if (d->refclassid != RelationRelationId) return;
        if (d->classid == RelationRelationId && d->refobjsubid > 0 &&
            (d->deptype == DEPENDENCY_AUTO || d->deptype == DEPENDENCY_INTERNAL)) {
            if (const int32 *seq = index.Find(d->objid))
                columns->Add({*seq, d->refobjid, static_cast<int16>(d->refobjsubid)});
        } else if (d->classid == AttrDefaultRelationId && d->refobjsubid == 0) {
            if (const int32 *seq = index.Find(d->refobjid)) defaults.Add({d->objid, *seq});
        }
    });
    if (defaults.n == 0) return;
    KeyMap uses(defaults.n);  // attrdef oid -> first use; the others follow in `next`
    auto *next = static_cast<int32 *>(palloc(sizeof(int32) * defaults.n));
    for (int i = 0; i < defaults.n; ++i) {
        bool found;
        int32 *first = uses.Insert(defaults.items[i].attrdef, i, &found);
        next[i] = found ? *first : -1;
        *first = i;
    }
    ScanCatalog(AttrDefaultRelationId, [&](HeapTuple tuple) {
        const auto *ad = reinterpret_cast<Form_pg_attrdef>(GETSTRUCT(tuple));
        if (const int32 *use = uses.Find(ad->oid))
            for (int32 i = *use; i >= 0; i = next[i])
                columns->Add({defaults.items[i].sequence, ad->adrelid, ad->adnum});
    });
}

// A one-row result of the function's declared OUT parameters.
Datum OneRow(FunctionCallInfo fcinfo, Datum *values, bool *nulls) {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        elog(ERROR, "return type must be a row type");
    return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
}

// Every sequence outside the system and temporary schemas with its last
// value (momentary lock, never waited for), limit and percentage, into
// *out; returns how many.
int CollectSequences(SequenceEntry **out) {
    Growable<SequenceEntry> seqs;
    ScanCatalog(SequenceRelationId, [&](HeapTuple tuple) {
        const auto *s = reinterpret_cast<Form_pg_sequence>(GETSTRUCT(tuple));
        seqs.Add({s->seqrelid, s->seqincrement, s->seqmax, s->seqmin, 0, false, 0, 0, 0});
    });
    KeyMap index(seqs.n);
    for (int i = 0; i < seqs.n; ++i) {
        bool found;
        index.Insert(seqs.items[i].seqrelid, i, &found);
    }
    Growable<FedColumn> columns;
    if (seqs.n > 0) FindFedColumns(index, &columns);
    for (int i = 0; i < columns.n; ++i) {
        const FedColumn &c = columns.items[i];
        HeapTuple att = SearchSysCache2(ATTNUM, ObjectIdGetDatum(c.relid), Int16GetDatum(c.attnum));
        if (!HeapTupleIsValid(att)) continue;
        const auto *a = reinterpret_cast<Form_pg_attribute>(GETSTRUCT(att));
        const int64 type_max = a->attisdropped ? 0 : IntegerTypeMax(a->atttypid);
        ReleaseSysCache(att);
        SequenceEntry &e = seqs.items[c.sequence];
        if (type_max > 0 && (e.column_max == 0 || type_max < e.column_max)) e.column_max = type_max;
    }
    int n = 0;
    UserNamespaces namespaces;
    for (int i = 0; i < seqs.n; ++i) {
        SequenceEntry e = seqs.items[i];
        const bool locked = ConditionalLockRelationOid(e.seqrelid, AccessShareLock);
        HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(e.seqrelid));
        bool keep = false;
        if (HeapTupleIsValid(tuple)) {
            const auto *rel = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple));
            keep = IsReported(&namespaces, rel);
            if (keep && locked) e.called = steward::stats::SequenceLastValue(e.seqrelid, rel, &e.last_value);
            ReleaseSysCache(tuple);
        }
        if (locked) UnlockRelationOid(e.seqrelid, AccessShareLock);
        if (!keep) continue;
        if (e.increment > 0)
            e.limit_value = e.column_max > 0 ? Min(e.max, e.column_max) : e.max;
        else
            e.limit_value = e.column_max > 0 ? Max(e.min, -e.column_max - 1) : e.min;
        e.hundredths = e.called ? steward::stats::PercentHundredths(e.last_value, e.limit_value) : 0;
        seqs.items[n++] = e;  // compacts in place: n <= i
        CHECK_FOR_INTERRUPTS();
    }
    *out = seqs.items;
    return n;
}

}  // namespace

// steward._sequences() RETURNS TABLE(seqrelid oid, last_value bigint,
// limit_value bigint, percent_used numeric): every sequence outside the
// system and temporary schemas, as steward._sequence_usage defines them.
STEWARD_FUNCTION(steward_sequences) {
    SequenceEntry *seqs;
    const int n = CollectSequences(&seqs);
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    for (int i = 0; i < n; ++i) {
        const SequenceEntry &e = seqs[i];
        Datum values[4] = {ObjectIdGetDatum(e.seqrelid), Int64GetDatum(e.last_value), Int64GetDatum(e.limit_value),
                           NumericGetDatum(int64_div_fast_to_numeric(e.hundredths, 2))};
        bool nulls[4] = {false, !e.called, false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return static_cast<Datum>(0);
}

// steward._sequence_summary(warning_hundredths bigint, OUT highest_percent
// numeric, OUT above_warning integer, OUT highest oid): over the sequences of
// steward._sequences(), the highest percent_used and its sequence (ties: the
// lowest oid), and how many have a percent_used above warning_hundredths / 100
// (pass floor(100 * threshold)). NULLs and 0 when there is no sequence.
STEWARD_FUNCTION(steward_sequence_summary) {
    const int64 threshold = PG_GETARG_INT64(0);
    SequenceEntry *seqs;
    const int n = CollectSequences(&seqs);
    int above = 0;
    const SequenceEntry *highest = nullptr;
    for (int i = 0; i < n; ++i) {
        const SequenceEntry &e = seqs[i];
        if (e.hundredths > threshold) ++above;
        if (highest == nullptr || e.hundredths > highest->hundredths ||
            (e.hundredths == highest->hundredths && e.seqrelid < highest->seqrelid))
            highest = &e;
    }
    Datum values[3] = {highest ? NumericGetDatum(int64_div_fast_to_numeric(highest->hundredths, 2)) : 0,
                       Int32GetDatum(above), highest ? ObjectIdGetDatum(highest->seqrelid) : 0};
    bool nulls[3] = {highest == nullptr, false, highest == nullptr};
    return OneRow(fcinfo, values, nulls);
}

// -- indexes ----------------------------------------------------------------------

namespace {

struct IndexRow {
    Oid indexrelid;
    Oid indrelid;
    bool invalid;
    uint64 key;  // the table and a hash of the key columns
};

}  // namespace

// steward._index_candidates() RETURNS TABLE(indexrelid oid, indrelid oid,
// invalid boolean): every index that is not valid (invalid), and every valid
// live index with the same table and key columns as another valid live
// index (not invalid; rarely also one whose key columns only hash alike:
// the caller compares full definitions, steward._duplicate_indexes_among).
// One pass over pg_index; every schema (callers filter).
STEWARD_FUNCTION(steward_index_candidates) {
    Growable<IndexRow> rows;
    KeyMap groups(1024);  // key -> number of valid live indexes
    ScanCatalog(IndexRelationId, [&](HeapTuple tuple) {
        const auto *ix = reinterpret_cast<Form_pg_index>(GETSTRUCT(tuple));
        if (!ix->indisvalid) {
            rows.Add({ix->indexrelid, ix->indrelid, true, 0});
            return;
        }
        if (!ix->indislive) return;
        const uint32 columns = hash_bytes(reinterpret_cast<const unsigned char *>(ix->indkey.values),
                                          static_cast<int>(sizeof(int16)) * ix->indkey.dim1);
        const uint64 key = (static_cast<uint64>(ix->indrelid) << 32) | columns;
        bool found;
        int32 *count = groups.Insert(key, 0, &found);
        ++*count;
        rows.Add({ix->indexrelid, ix->indrelid, false, key});
    });
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    for (int i = 0; i < rows.n; ++i) {
        const IndexRow &r = rows.items[i];
        if (!r.invalid && *groups.Find(r.key) < 2) continue;
        Datum values[3] = {ObjectIdGetDatum(r.indexrelid), ObjectIdGetDatum(r.indrelid), BoolGetDatum(r.invalid)};
        bool nulls[3] = {false, false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return static_cast<Datum>(0);
}

// -- tables and the statistics ----------------------------------------------------

namespace {

// What the cache_hit sums make of a relation, kept per backend across calls
// (RelKinds): a reported table or materialized view, a reported index, or
// neither (catalogs, TOAST, temporary, sequences, ...).
enum RelKind : int32 { kKindUnknown = 0, kKindTable = 1, kKindIndex = 2, kKindOther = 3 };

RelKind KindOf(UserNamespaces *namespaces, const FormData_pg_class *rel) {
    if (rel->relkind != RELKIND_RELATION && rel->relkind != RELKIND_MATVIEW && rel->relkind != RELKIND_INDEX)
        return kKindOther;
    if (!IsReported(namespaces, rel)) return kKindOther;
    return rel->relkind == RELKIND_INDEX ? kKindIndex : kKindTable;
}

// Relation oid -> RelKind for every relation (oid >= FirstNormalObjectId),
// filled by one pass over pg_class on first use (or after an invalidation
// of everything), kept in a context of its own. A relcache invalidation of
// a relation (created, altered, dropped, vacuumed, its oid reused) marks its
// entry unknown: looked up again (syscache) when its statistics show up. So
// a pooled connection's call reads no catalog for a stable schema.
MemoryContext g_kinds_cxt = nullptr;
KeyMap *g_kinds = nullptr;  // nullptr: not filled

void InvalidateKinds(Datum, Oid relid) {
    if (g_kinds == nullptr) return;
    if (!OidIsValid(relid)) {  // everything (e.g. after an invalidation queue overflow)
        g_kinds = nullptr;
        MemoryContextReset(g_kinds_cxt);
        return;
    }
    int32 *kind = g_kinds->Find(relid);
    if (kind != nullptr) *kind = kKindUnknown;
}

KeyMap *RelKinds() {
    if (g_kinds != nullptr) return g_kinds;
    if (g_kinds_cxt == nullptr) {
        g_kinds_cxt = AllocSetContextCreate(TopMemoryContext, "pg_steward relation kinds", ALLOCSET_DEFAULT_SIZES);
        CacheRegisterRelcacheCallback(InvalidateKinds, static_cast<Datum>(0));
    }
    MemoryContextReset(g_kinds_cxt);
    MemoryContext old = MemoryContextSwitchTo(g_kinds_cxt);
    KeyMap *kinds = new (palloc(sizeof(KeyMap))) KeyMap(4096);
    UserNamespaces namespaces;
    ScanCatalog(RelationRelationId, [&](HeapTuple tuple) {
        const auto *rel = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple));
        if (rel->oid < FirstNormalObjectId) return;
        bool found;
        *kinds->Insert(rel->oid, kKindUnknown, &found) = KindOf(&namespaces, rel);
    });
    MemoryContextSwitchTo(old);
    g_kinds = kinds;  // complete: an error above leaves it unset
    return g_kinds;
}

// The kind of relid from the cache, looked up (and cached) when unknown.
RelKind CachedKind(KeyMap *kinds, UserNamespaces *namespaces, Oid relid) {
    int32 *kind = kinds->Find(relid);
    if (kind != nullptr && *kind != kKindUnknown) return static_cast<RelKind>(*kind);
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tuple)) return kKindOther;  // dropped: its statistics go soon
    const RelKind k = KindOf(namespaces, reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple)));
    ReleaseSysCache(tuple);
    if (kind == nullptr) {
        MemoryContext old = MemoryContextSwitchTo(g_kinds_cxt);
        bool found;
        kind = kinds->Insert(relid, kKindUnknown, &found);
        MemoryContextSwitchTo(old);
    }
    *kind = k;
    return k;
}

// Calls fn(kind, relid, stats) for every reported table, materialized view
// (kKindTable) and index (kKindIndex) of this database that has
// statistics: one pass over the shared statistics hash table, each entry
// read under its lock as pgstat_build_snapshot() reads it, instead of a
// pgstat_fetch_stat_tabentry() per relation (a lookup and a copy into the
// transaction's statistics cache: ~1,350 instructions per relation). The
// counters are the current ones, not the transaction's snapshot. Which
// relation is what comes from the backend's RelKinds cache.
template <typename Fn>
void ForEachReportedStats(Fn fn) {
    KeyMap *kinds = RelKinds();
    UserNamespaces namespaces;
    dshash_seq_status hstat;
    dshash_seq_init(&hstat, pgStatLocal.shared_hash, false);
    PgStatShared_HashEntry *entry;
    while ((entry = static_cast<PgStatShared_HashEntry *>(dshash_seq_next(&hstat))) != nullptr) {
        if (entry->dropped || entry->key.kind != PGSTAT_KIND_RELATION || entry->key.dboid != MyDatabaseId ||
            entry->key.objoid < FirstNormalObjectId)  // catalogs: never reported
            continue;
        const RelKind kind = CachedKind(kinds, &namespaces, entry->key.objoid);
        if (kind != kKindTable && kind != kKindIndex) continue;
        auto *shared = static_cast<PgStatShared_Relation *>(dsa_get_address(pgStatLocal.dsa, entry->body));
        LWLockAcquire(&shared->header.lock, LW_SHARED);
        const PgStat_StatTabEntry stats = shared->stats;
        LWLockRelease(&shared->header.lock);
        fn(kind, static_cast<Oid>(entry->key.objoid), stats);
    }
    dshash_seq_term(&hstat);
}

}  // namespace

// steward._dead_tuples_worst(min_rows bigint, OUT relid oid, OUT dead bigint,
// OUT live bigint): of the user tables and materialized views with at least
// min_rows live + dead tuples, the one with the largest share of dead tuples
// (pg_stat_get_dead_tuples / (dead + live)); all NULL when there is none.
STEWARD_FUNCTION(steward_dead_tuples_worst) {
    const int64 min_rows = PG_GETARG_INT64(0);
    Oid worst = InvalidOid;
    int64 worst_dead = 0;
    int64 worst_live = 0;
    ForEachReportedStats([&](RelKind kind, Oid relid, const PgStat_StatTabEntry &s) {
        if (kind != kKindTable) return;
        const int64 dead = s.n_dead_tuples;
        const int64 live = s.n_live_tuples;
        if (dead + live < min_rows) return;
        // a table without rows has no share: below every table that has rows
        const bool better = !OidIsValid(worst) ||
                            (dead + live > 0 &&
                             (worst_dead + worst_live == 0 ||
                              steward::stats::CompareShares(dead, dead + live, worst_dead, worst_dead + worst_live) > 0));
        if (better) {
            worst = relid;
            worst_dead = dead;
            worst_live = live;
        }
    });
    Datum values[3] = {ObjectIdGetDatum(worst), Int64GetDatum(worst_dead), Int64GetDatum(worst_live)};
    bool nulls[3] = {!OidIsValid(worst), !OidIsValid(worst), !OidIsValid(worst)};
    return OneRow(fcinfo, values, nulls);
}

// steward._cache_hit_sums(OUT table_hits bigint, OUT table_reads bigint,
// OUT index_hits bigint, OUT index_reads bigint): buffer hits and reads
// (blocks fetched - hits) summed over user tables and materialized views,
// and over their indexes, as pg_stat_get_blocks_hit/_fetched report them
// (ForEachReportedStats: the current counters).
STEWARD_FUNCTION(steward_cache_hit_sums) {
    int64 sums[4] = {0, 0, 0, 0};
    ForEachReportedStats([&](RelKind kind, Oid, const PgStat_StatTabEntry &s) {
        const int k = kind == kKindIndex ? 2 : 0;
        sums[k] += s.blocks_hit;
        sums[k + 1] += s.blocks_fetched - s.blocks_hit;
    });
    Datum values[4] = {Int64GetDatum(sums[0]), Int64GetDatum(sums[1]), Int64GetDatum(sums[2]), Int64GetDatum(sums[3])};
    bool nulls[4] = {false, false, false, false};
    return OneRow(fcinfo, values, nulls);
}
