// Every steward function that writes calls RequirePrimary() first (the C
// entry points directly, the PL/pgSQL ones through steward._require_primary),
// so that on a hot standby it fails with one clear error that names the
// primary, instead of a "cannot execute INSERT in a read-only transaction"
// raised from a statement inside the extension. On a primary the check is
// RecoveryInProgress(): a test of a backend-local flag once recovery has
// ended.
#include "boundary/boundary.hpp"
#include "standby/standby.hpp"

extern "C" {
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "replication/walreceiver.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
}

namespace steward {

void RequirePrimary(const char *action) {
    if (likely(!RecoveryInProgress())) return;
    // The primary's address as the WAL receiver knows it. Like
    // pg_stat_wal_receiver, show it only to roles that may read all
    // statistics (the role outside any SECURITY DEFINER function: the
    // callers of this check are mostly such functions); others get the
    // hint without it.
    char host[NI_MAXHOST];
    int port = 0;
    host[0] = '\0';
    if (WalRcv != nullptr && has_privs_of_role(GetOuterUserId(), ROLE_PG_READ_ALL_STATS)) {
        SpinLockAcquire(&WalRcv->mutex);
        strlcpy(host, const_cast<const char *>(WalRcv->sender_host), sizeof host);
        port = WalRcv->sender_port;
        SpinLockRelease(&WalRcv->mutex);
    }
    ereport(ERROR,
            (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION), errmsg("cannot %s on a standby server", action),
             errdetail("This server is a read-only hot standby: it replays changes from the primary and "
                       "accepts no writes."),
             host[0] != '\0' ? errhint("Run it on the primary server (%s:%d).", host, port)
                             : errhint("Run it on the primary server.")));
}

}  // namespace steward

// steward._require_primary(action text) RETURNS boolean: true, or the error.
// Boolean so that PL/pgSQL can call it as the first DECLARE initializer
// (before initializers that already lock or write), as a simple expression.
STEWARD_FUNCTION(steward_require_primary) {
    if (PG_ARGISNULL(0)) steward::RequirePrimary("write");
    else steward::RequirePrimary(text_to_cstring(PG_GETARG_TEXT_PP(0)));
    PG_RETURN_BOOL(true);
}
