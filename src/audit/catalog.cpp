// Catalog support of the audit trail, called from its SQL functions (not a
// hot path): the AFTER trigger on steward.audit_tables that drops every
// backend's cached options of a table and its partitions.
//
// Plain data and direct PostgreSQL calls only.
#include "audit/audit.hpp"
#include "boundary/boundary.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_inherits.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/syscache.h"
}

namespace steward::audit {
namespace {

// Relcache invalidation of relid and its partitions (the audit trigger's
// per-backend cache of a relation is dropped with its relcache entry).
void InvalidateTree(Oid relid) {
    if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid))) return;
    List *rels = find_all_inheritors(relid, NoLock, nullptr);
    ListCell *lc;
    foreach (lc, rels) {
        Oid oid = lfirst_oid(lc);
        if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(oid))) CacheInvalidateRelcacheByRelid(oid);
    }
}

void InvalidateTableOf(HeapTuple tuple, TupleDesc desc, int attno) {
    if (tuple == nullptr) return;
    bool isnull;
    Datum tbl = heap_getattr(tuple, attno, desc, &isnull);
    if (!isnull) InvalidateTree(DatumGetObjectId(tbl));
}

}  // namespace
}  // namespace steward::audit

using namespace steward::audit;

// AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW on steward.audit_tables.
STEWARD_FUNCTION(steward_audit_tables_changed) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("steward._audit_tables_changed() was not called by the trigger manager")));
    auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
    if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("steward._audit_tables_changed() must be fired AFTER ... FOR EACH ROW")));
    TupleDesc desc = RelationGetDescr(td->tg_relation);
    int attno = SPI_fnumber(desc, "tbl");
    if (attno <= 0) elog(ERROR, "steward.audit_tables has no column \"tbl\"");
    InvalidateTableOf(td->tg_trigtuple, desc, attno);
    if (TRIGGER_FIRED_BY_UPDATE(td->tg_event)) InvalidateTableOf(td->tg_newtuple, desc, attno);
    return PointerGetDatum(nullptr);
}
