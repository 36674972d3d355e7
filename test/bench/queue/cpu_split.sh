#!/usr/bin/env bash
# Where a job's CPU goes: the server's processes against the pgbench client
# (and the kernel work each does), per job, for each queue variant.
#
#   bash test/bench/queue/cpu_split.sh          # synchronous_commit=off
#   QUEUE_SPLIT_SYNC=on bash test/bench/queue/cpu_split.sh
#
# With 2 workers on 2 cores the run is CPU-bound, so jobs/s is about
# 2 cores / (server + client CPU per job). This shows how much of (1) and
# (2) is the server's at all, and so the most any server-side speed-up
# could give a ratio: the client's and the kernel's share of a round trip
# does not shrink with it. Backends' CPU is read from the postmaster's
# reaped-children counters after pgbench disconnects, plus the delta of
# the background processes; pgbench's from its own rusage.
set -euo pipefail
export LC_ALL=C   # (bash's `times` prints a decimal comma in some locales)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export STEWARD_ROOT=$(cd "$HERE/../../.." && pwd)
source "$STEWARD_ROOT/test/lib/server.sh"
SYNC=${QUEUE_SPLIT_SYNC:-off}
DUR=${QUEUE_SPLIT_SECONDS:-10}
VARIANTS=${QUEUE_SPLIT_VARIANTS:-raw_two_tx steward_two_tx steward_cad steward_batch10}
HZ=$(getconf CLK_TCK)

steward_install >/dev/null
trap steward_server_stop EXIT
steward_server_start queue_split -c shared_preload_libraries=pg_steward -c fsync=on \
  -c synchronous_commit="$SYNC" -c max_wal_size=4GB -c shared_buffers=512MB
spsql -c 'CREATE EXTENSION pg_steward' -f "$HERE/setup.sql" >/dev/null
pm=$(head -1 "$PGDATA/postmaster.pid")

# server_ticks: the postmaster's own and reaped children's CPU, plus every
# live child's (background processes), in clock ticks
server_ticks() {
  local t s
  t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")
  for c in $(pgrep -P "$pm"); do
    s=$(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0)
    t=$((t + s))
  done
  echo "$t"
}

echo "pg_steward queue CPU split, synchronous_commit=$SYNC, 2 pgbench clients (-M prepared), ${DUR}s per variant"
printf '   %-16s %10s %12s %12s %12s %8s\n' variant jobs/s 'server us' 'client us' 'total us' server%
for v in $VARIANTS; do
  # 300k jobs, plus for batches a reserve for their rate (a worker that
  # finds the queue empty aborts)
  per=1; top="top_up(300000)"
  if [ "$v" = steward_batch10 ]; then per=10; top="top_up($((300000 + 50000 * DUR)), 'bench_batch')"; fi
  # the top-up (and the autovacuum of its rows) before the count starts
  spsql -c "SELECT $top" -c 'VACUUM ANALYZE' -c 'CHECKPOINT' >/dev/null
  sleep 2
  before=$(server_ticks)
  # (the subshell's `times`, not in a pipeline: its children's user and
  # system CPU, i.e. pgbench's)
  out=$( (pgbench -n -M prepared -c 2 -j 2 -T "$DUR" -D id=0 -D tok=0 -f "$HERE/$v.sql" 2>&1
          times >"$STEWARD_SERVER_DIR/times.out"
          tail -n 1 "$STEWARD_SERVER_DIR/times.out" | sed -E 's/([0-9]+)m([0-9.]+)s/\1 \2/g; s/^/TIME /') )
  sleep 1   # the backends exit and are reaped
  after=$(server_ticks)
  if grep -qiE 'aborted|error' <<<"$out"; then
    echo "   $v: pgbench reported errors: $(grep -iE 'aborted|error' <<<"$out" | sort | uniq -c | head -n 3 | tr -s ' ' | paste -sd ';' -)" >&2
  fi
  txs=$(grep -oP 'number of transactions actually processed: \K[0-9]+' <<<"$out")
  tps=$(grep -oP 'tps = \K[0-9.]+(?= \(without)' <<<"$out")
  read -r um us sm ss < <(grep -oP '^TIME \K.*' <<<"$out")
  cu=$(awk -v m="$um" -v s="$us" 'BEGIN {print m * 60 + s}'); cs=$(awk -v m="$sm" -v s="$ss" 'BEGIN {print m * 60 + s}')
  awk -v v="$v" -v n="$txs" -v p="$per" -v tps="$tps" -v s=$((after - before)) -v hz="$HZ" -v cu="$cu" -v cs="$cs" 'BEGIN {
    jobs = n * p; sv = s / hz * 1e6 / jobs; cl = (cu + cs) * 1e6 / jobs
    printf "   %-16s %10.1f %12.1f %12.1f %12.1f %7.0f%%\n", v, tps * p, sv, cl, sv + cl, 100 * sv / (sv + cl) }'
done
