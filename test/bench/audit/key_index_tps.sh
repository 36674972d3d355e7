#!/usr/bin/env bash
# What the audit log's key index costs single-row transactions (not a test):
# pgbench, 2 clients, single-row UPDATEs of an audited table against the same
# on a bare table, with today's log partition keyed by
#   hash       its hash index on row_hash (what pg_steward creates)
#   btree      a btree index on row_hash instead
#   none       no key index (what steward.audit_key_index = deferred gives
#              until the day is over: history() then reads the day in full)
# ROUNDS interleaved rounds of SECONDS_PER_RUN s each; prints the sorted
# pg_steward/bare TPS ratios and their median per variant. fsync is off on the
# benchmark server: CPU and memory traffic count, not the disk. Run it alone:
# wall time on a shared machine is noisy.
#
#   bash test/bench/audit/key_index_tps.sh      # ROUNDS=5 SECONDS_PER_RUN=4
set -euo pipefail
ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-4}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_SETUP_ONLY=1 bash "$here/run.sh" >/dev/null
source "$here/../../lib/server.sh"
export STEWARD_SERVER_DIR=$STEWARD_ROOT/build/servers/bench_audit
export PGDATA=$STEWARD_SERVER_DIR/data PGHOST=$STEWARD_SERVER_DIR/socket PGUSER=$STEWARD_TEST_USER PGDATABASE=steward
export PGPORT=$(head -4 "$PGDATA/postmaster.pid" | tail -1)
trap steward_server_stop EXIT
printf '\\set id random(1, 20000)\nUPDATE t_bare SET a = a + 1 WHERE id = :id;\n' >"$STEWARD_SERVER_DIR/bare.sql"
sed 's/t_bare/t_steward/' "$STEWARD_SERVER_DIR/bare.sql" >"$STEWARD_SERVER_DIR/steward.sql"
part=$(psql -Atc "SELECT steward._audit_partition_name((pg_catalog.now() AT TIME ZONE 'UTC')::date)")
tps() { pgbench -n -c 2 -j 2 -T "$SECONDS_PER_RUN" -f "$STEWARD_SERVER_DIR/$1.sql" 2>/dev/null | grep -oP 'tps = \K[0-9.]+' | head -1; }
variant() {
  local label=$1 r tb ts
  local -a ratios=()
  for r in $(seq 1 "$ROUNDS"); do
    tb=$(tps bare); ts=$(tps steward)
    ratios+=("$(bc -l <<<"$ts/$tb")")
  done
  printf '%s\n' "${ratios[@]}" | sort -g | awk -v l="$label" '{a[NR]=$1} END {printf "key index %-6s pg_steward/bare TPS:", l; for (i = 1; i <= NR; i++) printf " %.3f", a[i]; printf "   median %.3f\n", (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'
}
variant hash
psql -qc "DROP INDEX steward.\"${part}_key\"" -c "CREATE INDEX \"${part}_key_btree\" ON steward.\"$part\" (row_hash)"
variant btree
psql -qc "DROP INDEX steward.\"${part}_key_btree\""
variant none
