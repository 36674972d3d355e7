#!/usr/bin/env bash
# Where the audit trail's instructions go (not a test): sets up the same
# tables as run.sh, runs one statement under callgrind in single-user mode
# and prints callgrind_annotate's inclusive and exclusive top lists.
#
#   bash test/bench/audit/profile.sh insert          # or update, delete, single
#   OUT=/tmp/cg.insert bash test/bench/audit/profile.sh insert   # keep the raw file
set -euo pipefail
op=${1:?usage: profile.sh insert|update|delete|single}
ROWS=${ROWS:-20000}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export ROWS
BENCH_SETUP_ONLY=1 bash "$here/run.sh" >/dev/null
source "$here/../../lib/server.sh"
steward_install
export STEWARD_SERVER_DIR=$STEWARD_ROOT/build/servers/bench_audit
export PGDATA=$STEWARD_SERVER_DIR/data PGHOST=$STEWARD_SERVER_DIR/socket PGUSER=$STEWARD_TEST_USER PGDATABASE=steward
export PGPORT=$(head -4 "$PGDATA/postmaster.pid" | tail -1)
trap steward_server_stop EXIT
case $op in
  insert) stmt="INSERT INTO t_steward SELECT * FROM src;" ;;
  update) stmt="UPDATE t_steward SET a = a + 1;" ;;
  delete) stmt="DELETE FROM t_steward;" ;;
  single) stmt="UPDATE t_steward SET a = a WHERE id = 0;"$'\n'
          for i in $(seq 1 500); do stmt+="UPDATE t_steward SET a = a + 1 WHERE id = $i;"$'\n'; done ;;
  *) echo "unknown: $op" >&2; exit 2 ;;
esac
out=${OUT:-$STEWARD_SERVER_DIR/callgrind.$op}
psql -q -c CHECKPOINT >/dev/null
copy=$STEWARD_SERVER_DIR/cg
rm -rf "$copy"; cp -a "$PGDATA" "$copy"; rm -f "$copy/postmaster.pid"
[ "$(id -u)" -eq 0 ] && chown -R "$STEWARD_TEST_USER" "$copy" && touch "$out" && chown "$STEWARD_TEST_USER" "$out"
# warm up like run.sh does (one statement), then the measured one
_as_test_user bash -c "printf 'SELECT 1;\n' | postgres --single -D '$copy' -c fsync=off steward >/dev/null 2>&1"
_as_test_user bash -c "printf '%s\n' \"\$1\" | valgrind --tool=callgrind --callgrind-out-file='$out' postgres --single -D '$copy' -c fsync=off steward >/dev/null 2>&1" _ "$stmt"
rm -rf "$copy"
echo "== $op: inclusive"
callgrind_annotate --inclusive=yes "$out" 2>/dev/null | head -60
echo "== $op: exclusive"
callgrind_annotate "$out" 2>/dev/null | head -45
