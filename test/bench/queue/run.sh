#!/usr/bin/env bash
# Job queue benchmark (issue 5): prints jobs/s medians and the target ratios.
#
#   bash test/bench/queue/run.sh                   # full run (~15 min)
#   QUEUE_BENCH_QUICK=1 bash test/bench/queue/run.sh   # short run (~6 min)
#
# Knobs: QUEUE_BENCH_SECONDS (per pgbench run), QUEUE_BENCH_ROUNDS,
# QUEUE_BENCH_SNAPSHOT_SECONDS (held-snapshot run), QUEUE_BENCH_MODES
# ("on off": synchronous_commit settings), QUEUE_BENCH_PARTS ("ratios
# cpu snapshot backlog monitor"; monitor: the monitoring views at 10k and 1M
# jobs), QUEUE_BENCH_SNAPSHOT_MODES (synchronous_commit of the held-snapshot
# part, default "off"), QUEUE_BENCH_SNAPSHOT_VARIANTS, QUEUE_BENCH_SNAPSHOT_RATE
# (jobs/s the backlog reserve of the held-snapshot part is sized for),
# QUEUE_BENCH_SNAPSHOT_BACKLOG (600000).
#
# 2 pgbench clients (-M prepared), library preloaded, fsync on. Variants are
# interleaved round by round and each is topped up to the same backlog
# before it runs; medians over rounds. Wall time on a shared machine is
# noisy: read the ratios, not the absolute numbers.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export STEWARD_ROOT=$(cd "$HERE/../../.." && pwd)
source "$STEWARD_ROOT/test/lib/server.sh"

QUICK=${QUEUE_BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then d=5 r=2 s=40; else d=10 r=3 s=150; fi
DUR=${QUEUE_BENCH_SECONDS:-$d}
ROUNDS=${QUEUE_BENCH_ROUNDS:-$r}
SNAP=${QUEUE_BENCH_SNAPSHOT_SECONDS:-$s}
MODES=${QUEUE_BENCH_MODES:-on off}
PARTS=${QUEUE_BENCH_PARTS:-ratios cpu snapshot backlog monitor}
BACKLOG=300000
SNAP_BACKLOG=${QUEUE_BENCH_SNAPSHOT_BACKLOG:-600000}
SNAP_MODES=${QUEUE_BENCH_SNAPSHOT_MODES:-off}
SNAP_VARIANTS=${QUEUE_BENCH_SNAPSHOT_VARIANTS:-raw_two_tx steward_two_tx steward_two_tx_nocursor steward_cad}
# The held-snapshot runs must not drain the queue: a pgbench client whose
# dequeue finds nothing aborts (\gset of no row), and pgbench exits 2. At
# 10,000 jobs/s a 150 s run takes 1.5M jobs, more than the 600k backlog, so
# each variant starts with SNAP_BACKLOG + SNAP_RATE * seconds ready jobs and
# the run reports how many were left at its end (the claim cost depends on
# the dead entries before the first ready one, not on how many follow it).
SNAP_RATE=${QUEUE_BENCH_SNAPSHOT_RATE:-10000}

steward_install >/dev/null
trap steward_server_stop EXIT

start() {  # start SYNC_COMMIT
  steward_server_stop
  steward_server_start queue_bench -c shared_preload_libraries=pg_steward -c fsync=on \
    -c synchronous_commit="$1" -c max_wal_size=4GB -c shared_buffers=512MB
  spsql -c 'CREATE EXTENSION pg_steward' -f "$HERE/setup.sql" >/dev/null
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print 0} else if (NR%2) {print a[(NR+1)/2]} else {printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# run_variant SCRIPT JOBS_PER_TX [extra pgbench args]: jobs/s
# A client that found the queue empty (its \gset got no row) aborts; the
# run is then reported on stderr and counts as 0 (each variant is topped up
# with a reserve for its rate, so it should not happen).
run_variant() {
  local script=$1 per=$2; shift 2
  local out rc=0 tps
  out=$(pgbench -n -M prepared -c 2 -j 2 -T "$DUR" -D id=0 -D tok=0 "$@" -f "$HERE/$script" 2>&1) || rc=$?
  tps=$(grep -oP 'tps = \K[0-9.]+(?= \(without)' <<<"$out" || true)
  if [ "$rc" -ne 0 ] || [ -z "$tps" ]; then
    echo "   pgbench exited with status $rc ($script): $(grep -iE 'error|abort' <<<"$out" | sort | uniq -c | head -n 3 | tr -s ' ' | paste -sd ';' -)" >&2
    tps=0
  fi
  awk -v t="$tps" -v p="$per" 'BEGIN { printf "%.1f", t * p }'
}

ratios_part() {
  local mode=$1
  declare -A res=()
  local variants="raw_two_tx steward_two_tx steward_cad raw_cad steward_batch10"
  local r1="" r2="" r3="" rr=""
  for ((round = 1; round <= ROUNDS; round++)); do
    declare -A now=()
    # odd rounds in the listed order, even rounds reversed, so that a drift
    # within a round (the disk's flush time) favours no variant
    local order=$variants
    ((round % 2)) || order=$(tr ' ' '\n' <<<"$variants" | tac | paste -sd ' ' -)
    for v in $order; do
      # the backlog; batches (up to ~40k jobs/s here, more than the backlog
      # in a 10 s run) in their own queue with a reserve, so that they do not
      # run dry and the other variants' backlog stays as it is
      if [ "$v" = steward_batch10 ]; then
        per=10; spsql -c "SELECT top_up($((BACKLOG + 50000 * DUR)), 'bench_batch')" >/dev/null
      else
        per=1; spsql -c "SELECT top_up($BACKLOG)" >/dev/null
      fi
      now[$v]=$(run_variant "$v.sql" "$per")
      res[$v]+="${now[$v]} "
    done
    # ratios within the round (the variants ran back to back)
    r1+="$(ratio "${now[steward_two_tx]}" "${now[raw_two_tx]}") "
    r2+="$(ratio "${now[steward_cad]}" "${now[steward_two_tx]}") "
    r3+="$(ratio "${now[steward_batch10]}" "${now[steward_two_tx]}") "
    rr+="$(ratio "${now[raw_cad]}" "${now[raw_two_tx]}") "
  done
  echo "-- synchronous_commit=$mode, 2 workers, ${BACKLOG} backlog, ${ROUNDS} rounds x ${DUR}s (jobs/s per round, median)"
  for v in $variants; do
    printf '   %-16s %-48s median %s\n' "$v" "${res[$v]}" "$(echo "${res[$v]}" | tr ' ' '\n' | grep . | median)"
  done
  echo "   ratios per round, then their median:"
  echo "   (1) dequeue+complete, 2 tx: steward / raw SQL   $r1 -> $(echo "$r1" | tr ' ' '\n' | grep . | median)  (target >= 1.0)"
  echo "   (2) complete_and_dequeue / (1)                  $r2 -> $(echo "$r2" | tr ' ' '\n' | grep . | median)  (target >= 1.8)"
  echo "       raw SQL in one statement / raw (1)          $rr -> $(echo "$rr" | tr ' ' '\n' | grep . | median)"
  echo "   (3) batches of 10 / (1)                         $r3 -> $(echo "$r3" | tr ' ' '\n' | grep . | median)  (target >= 5)"
}

# progress_rates SECONDS SCRIPT: per-5s jobs/s of one long run. A failed
# pgbench (exit status or no progress) is reported on stderr with its
# messages, not left to set -e (which ended the run without a word).
progress_rates() {
  local secs=$1 script=$2 out=$STEWARD_SERVER_DIR/pgbench_progress.out rc=0
  pgbench -n -M prepared -c 2 -j 2 -T "$secs" -P 5 -D id=0 -D tok=0 -f "$HERE/$script" >"$out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "   pgbench exited with status $rc ($script): $(grep -v '^progress:' "$out" | grep -iE 'error|abort|fail' | sort | uniq -c | head -n 5 | tr -s ' ' | paste -sd ';' -)" >&2
  fi
  grep -oP '^progress: [0-9.]+ s, \K[0-9.]+(?= tps)' "$out" | tr '\n' ' ' || true
}

# buffers_per_job VARIANT: shared buffers one claim + complete touches, in a
# session that already ran one (so catalog caches are warm). Independent of
# the machine's load, unlike jobs/s.
buffers_per_job() {
  local v=$1 opts="" sql
  [ "$v" = steward_two_tx_nocursor ] && opts="-c steward.queue_cursor=off"
  case $v in
    raw*) sql="UPDATE raw_job SET state = 'running', attempt = attempt + 1 WHERE id = (SELECT id FROM raw_job WHERE queue = 'bench' AND state = 'ready' AND run_at <= now() ORDER BY priority DESC, run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id" ;;
    *) sql="SELECT steward.complete(id, lease_token) FROM steward.dequeue('bench', 'probe')" ;;
  esac
  PGOPTIONS="$opts" psql -X -q -c "$sql" -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) $sql" 2>/dev/null |
    grep -m1 -oP 'Buffers: shared hit=\K[0-9]+' || echo '?'
}

# holder_xmin: backend_xmin of the snapshot holder (empty if it is gone)
holder_xmin() {
  spsql -At -c "SELECT backend_xmin FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_xmin IS NOT NULL AND query LIKE '%pg_sleep(%' AND state = 'active'"
}

snapshot_part() {
  local mode=$1
  local reserve=$((SNAP_BACKLOG + SNAP_RATE * SNAP))
  echo "-- held REPEATABLE READ snapshot for the whole run, backlog ${SNAP_BACKLOG} (each variant starts with ${reserve} ready jobs, a reserve for ${SNAP_RATE} jobs/s), ${SNAP}s per variant, synchronous_commit=${mode}"
  for v in $SNAP_VARIANTS; do
    script=$v; opts=""
    if [ $v = steward_two_tx_nocursor ]; then script=steward_two_tx; opts="-c steward.queue_cursor=off"; fi
    spsql -c "SELECT top_up($reserve)" -c 'VACUUM ANALYZE' >/dev/null
    # the snapshot holder
    psql -X -q -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT count(*) FROM steward._queue" \
         -c "SELECT pg_sleep($SNAP + 10)" -c "COMMIT" >/dev/null 2>&1 &
    holder=$!
    sleep 1
    # held: the holder's snapshot (its backend_xmin) is the same at the start and the end
    xmin_start=$(holder_xmin)
    (sleep 10; buffers_per_job "$v" > "$STEWARD_SERVER_DIR/buf_start") &
    rates=$(PGOPTIONS="$opts" progress_rates "$SNAP" "$script.sql")
    wait $! 2>/dev/null || true
    buf_start=$(cat "$STEWARD_SERVER_DIR/buf_start" 2>/dev/null || echo '?')
    buf_end=$(buffers_per_job "$v")
    xmin_end=$(holder_xmin)
    kill "$holder" 2>/dev/null || true; wait "$holder" 2>/dev/null || true
    spsql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(%' AND pid <> pg_backend_pid()" >/dev/null
    case $v in
      raw*) left=$(spsql -At -c "SELECT count(*) FROM raw_job WHERE state = 'ready'") ;;
      *) left=$(spsql -At -c "SELECT count(*) FROM steward._job WHERE state = 'ready'") ;;
    esac
    n=$(echo "$rates" | wc -w)
    first=$(echo "$rates" | tr ' ' '\n' | grep . | sed -n '2,4p' | median)
    last=$(echo "$rates" | tr ' ' '\n' | grep . | tail -n 3 | median)
    held=NO; [ -n "$xmin_start" ] && [ "$xmin_start" = "$xmin_end" ] && held=yes
    printf '   %-24s snapshot held: %s  jobs/s start %8s  end %8s  end/start %s  (%s intervals of 5s)\n' \
      "$v" "$held" "$first" "$last" "$(ratio "$last" "$first")" "$n"
    printf '   %-24s buffers per claim(+complete): after 10 s %s, at the end %s; ready jobs left %s\n' "" "$buf_start" "$buf_end" "$left"
    echo "      per 5s: $rates"
  done
  echo "   target: steward end/start >= 0.8 (jobs/s swing with the machine's load; buffers per job do not)"
}

# Cost of one dequeue + complete (single client, -t) at a small and a large backlog.
backlog_part() {
  echo "-- dequeue cost by backlog (1 client, synchronous_commit=off; ms per dequeue+complete, median of 3)"
  local n=${QUEUE_BENCH_BACKLOG_TX:-3000}
  for size in 10000 1000000; do
    spsql -c "DELETE FROM steward._job" -c "DELETE FROM raw_job" -c "VACUUM" >/dev/null
    spsql -c "SELECT top_up($size + 4 * $n)" -c 'VACUUM ANALYZE' >/dev/null
    lat=""
    for i in 1 2 3; do
      l=$(pgbench -n -M prepared -c 1 -t "$n" -D id=0 -D tok=0 -f "$HERE/steward_two_tx.sql" 2>&1 |
          grep -oP 'latency average = \K[0-9.]+')
      lat+="$l "
    done
    m=$(echo "$lat" | tr ' ' '\n' | grep . | median)
    printf '   backlog %8s: %s  median %s ms\n' "$size" "$lat" "$m"
    eval "lat_$size=$m"
  done
  echo "   cost at 1M / cost at 10k = $(ratio "$lat_1000000" "$lat_10000")  (target <= 1.5)"
}

# CPU instructions per job (callgrind, single-user mode, deterministic):
# jobs i = 1..n are claimed in id order, so every line knows its job id.
# Two forms: "text" sends every statement as SQL text (parsed and planned
# each time: the long raw SQL pays more for that than a function call), and
# "prepared" runs the statements PREPAREd once (EXECUTE each time), as the
# wall-clock runs do (pgbench -M prepared).
RAW_CLAIM="UPDATE raw_job SET state = 'running', attempt = attempt + 1, worker = 'w', lease_expires_at = now() + interval '5 minutes' WHERE id = (SELECT id FROM raw_job WHERE queue = 'bench' AND state = 'ready' AND run_at <= now() ORDER BY priority DESC, run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id"
cpu_prepare() {  # the PREPAREs of the prepared form
  echo "PREPARE raw_claim AS $RAW_CLAIM"
  echo "PREPARE raw_done(bigint) AS DELETE FROM raw_job WHERE id = \$1"
  echo "PREPARE raw_cad(bigint) AS WITH done AS (DELETE FROM raw_job WHERE id = \$1) $RAW_CLAIM"
  echo "PREPARE deq(int) AS SELECT id FROM steward.dequeue('bench', 'w', \$1)"
  echo "PREPARE done(bigint, int) AS SELECT steward.complete(\$1, \$2)"
  echo "PREPARE cad(bigint, int) AS SELECT id FROM steward.complete_and_dequeue(\$1, \$2, worker => 'w')"
  echo "PREPARE done10(bigint[], int[]) AS SELECT steward.complete_batch(\$1, \$2)"
}
cpu_lines() {  # cpu_lines VARIANT FROM TO [prepared]
  local v=$1 i p=${4-}
  for ((i = $2; i <= $3; i++)); do
    case $v/$p in
      raw_two_tx/) echo "$RAW_CLAIM"
                   echo "DELETE FROM raw_job WHERE id = $i" ;;
      raw_two_tx/prepared) echo "EXECUTE raw_claim"
                           echo "EXECUTE raw_done($i)" ;;
      raw_cad/) echo "WITH done AS (DELETE FROM raw_job WHERE id = $i) $RAW_CLAIM" ;;
      raw_cad/prepared) echo "EXECUTE raw_cad($i)" ;;
      steward_two_tx/) echo "SELECT id FROM steward.dequeue('bench', 'w')"
                       echo "SELECT steward.complete($i, 1)" ;;
      steward_two_tx/prepared) echo "EXECUTE deq(1)"
                               echo "EXECUTE done($i, 1)" ;;
      steward_cad/) echo "SELECT id FROM steward.complete_and_dequeue($i, 1, worker => 'w')" ;;
      steward_cad/prepared) echo "EXECUTE cad($i, 1)" ;;
      steward_batch10/*) if (( i % 10 == 0 )); then
                           if [ "$p" = prepared ]; then
                             echo "EXECUTE deq(10)"
                             echo "EXECUTE done10('{$(seq -s, $((i - 9)) $i)}', '{1,1,1,1,1,1,1,1,1,1}')"
                           else
                             echo "SELECT count(*) FROM steward.dequeue('bench', 'w', 10)"
                             echo "SELECT steward.complete_batch(ARRAY(SELECT generate_series($i - 9, $i))::bigint[], array_fill(1, ARRAY[10]))"
                           fi
                         fi ;;
    esac
  done
}

# The probe (expired leases, due jobs) and the full rescan run on wall-clock
# intervals, and valgrind's slowdown varies with the machine's load, so they
# are pushed out of the measured window (each runs once, at the first dequeue)
# to keep the count deterministic; in a real run a probe costs each worker a
# few statements once a second.
CPU_OPTS="-c shared_preload_libraries=pg_steward -c steward.queue_probe_interval=3600000 -c steward.queue_rescan_interval=3600000"

cpu_part() {
  echo "-- CPU instructions per job (callgrind, single-user mode, 300 - 100 jobs, backlog 20000, probe and rescan intervals 1 h)"
  start off
  spsql -c "SELECT top_up(20000)" -c 'VACUUM ANALYZE' >/dev/null
  local form
  for form in text prepared; do
    declare -A per=()
    for v in raw_two_tx raw_cad steward_two_tx steward_cad steward_batch10; do
      local pre="" a b
      [ $form = prepared ] && pre=$(cpu_prepare)
      [ $v = steward_cad ] && pre+=$'\n'"SELECT id FROM steward.dequeue('bench', 'w')"
      [ $v = raw_cad ] && pre+=$'\n'"$RAW_CLAIM"
      a=$(CALLGRIND_PG_OPTS="$CPU_OPTS" callgrind_instructions "SELECT 1" "$pre
$(cpu_lines $v 1 100 "${form#text}")")
      b=$(CALLGRIND_PG_OPTS="$CPU_OPTS" callgrind_instructions "SELECT 1" "$pre
$(cpu_lines $v 1 300 "${form#text}")")
      per[$v]=$(( (b - a) / 200 ))
      printf '   %-9s %-16s %10s instructions per job\n' "$form" "$v" "${per[$v]}"
    done
    echo "   $form: steward (1) / raw (1) cost = $(ratio "${per[steward_two_tx]}" "${per[raw_two_tx]}") (lower is cheaper; throughput ratio ~ its inverse when CPU-bound)"
    echo "   $form: complete_and_dequeue / (1) = $(ratio "${per[steward_cad]}" "${per[steward_two_tx]}"), batches of 10 / (1) = $(ratio "${per[steward_batch10]}" "${per[steward_two_tx]}")"
    # the same step for the hand-written SQL: its one-statement form (delete
    # the previous job, claim the next) against its two transactions, the
    # bound of (2) for SQL that writes no history row at all
    echo "   $form: raw SQL in one statement / raw (1) = $(ratio "${per[raw_cad]}" "${per[raw_two_tx]}") (throughput ratio ~ its inverse when CPU-bound)"
  done
}

# The monitoring views at 10k and 1M jobs (plus as many history rows): time
# (median of 3 calls after a session's first) and shared buffers per view, and every plan inside them
# (auto_explain of the nested statements) checked for sequential scans of
# steward._job or a history partition that read anything.
monitor_part() {
  echo "-- monitoring views: ms (median of 3 calls in a session after its first) and shared buffers per query; N ready jobs + N history rows, 3 queues"
  local views="queue_stats queue_summary queue_error_summary _health_checks_queue() health()"
  for size in 10000 1000000; do
    spsql -v n=$size -f "$HERE/monitor_load.sql" -c 'VACUUM ANALYZE' >/dev/null
    for v in $views; do
      local sql="SELECT count(*) FROM steward.$v" t buf
      [ "$v" = "health()" ] && sql="SELECT steward.health() IS NOT NULL"
      # one session: the first call (new session: caches, plans) and 3 more
      t=$(spsql -c '\timing on' -c "$sql" -c "$sql" -c "$sql" -c "$sql" | grep -oP 'Time: \K[0-9.]+' | tr '\n' ' ')
      buf=$(spsql -c "$sql" -c "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, COSTS OFF) $sql" | grep -oP 'Buffers: shared hit=\K[0-9]+' | head -n 1)
      printf '   %8s jobs  %-22s %8s ms  %7s buffers   (first call in a session %s ms, then %s)\n' "$size" "$v" \
        "$(echo "$t" | tr ' ' '\n' | grep . | tail -n 3 | median)" "$buf" "${t%% *}" "${t#* }"
    done
    # every statement the views run, with its plan: a Seq Scan node of
    # steward._job or of a history partition followed by a Buffers line read pages
    local plans=$STEWARD_SERVER_DIR/monitor_plans_$size.txt
    { echo "LOAD 'auto_explain';"
      echo "SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on;"
      echo "SET auto_explain.log_analyze = on; SET auto_explain.log_buffers = on; SET auto_explain.log_timing = off;"
      echo "SET client_min_messages = log;"
      for v in $views; do [ "$v" = "health()" ] && echo "SELECT steward.health() IS NOT NULL;" || echo "SELECT count(*) FROM steward.$v;"; done
    } | spsql >"$plans" 2>&1
    local seq
    seq=$(awk '/Seq Scan on _job/ {node=$0; next} /->|Query Text|duration:/ {node=""} /Buffers:/ && node != "" {print node; node=""}' "$plans" |
          sed -E 's/^.*(Seq Scan on [a-z_0-9]+).*$/\1/' | sort | uniq -c | awk '{$1 = $1 "x"; print}' | paste -sd ';' -)
    echo "   $size jobs: sequential scans of steward._job or the history that read pages: ${seq:-none}"
  done
}

echo "pg_steward queue benchmark $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores shared with other work: wall-time figures are noisy, compare ratios"
for mode in $MODES; do
  if [[ " $PARTS " == *" ratios "* ]]; then
    start "$mode"
    ratios_part "$mode"
  fi
done
if [[ " $PARTS " == *" snapshot "* ]]; then
  for mode in $SNAP_MODES; do
    start "$mode"
    snapshot_part "$mode"
  done
fi
if [[ " $PARTS " == *" cpu "* ]]; then
  cpu_part
fi
if [[ " $PARTS " == *" monitor "* ]]; then
  start off
  monitor_part
fi
if [[ " $PARTS " == *" backlog "* ]]; then
  start off
  backlog_part
fi
