#!/usr/bin/env bash
# Benchmark (not a test): cost of health() and of every stats view and
# feature summary on a "large" database (2,000 tables, 200 of them
# partitions, over 20 schemas, ~5,000 indexes, a queue with 1,000,000 jobs,
# an audit log, soft-delete tables) against a "small" one of the same shape
# (50 tables, a queue with 1,000 jobs). Target (issue 6): within 3x, and no
# view scans a user table, the queue table or the audit log in full.
#
# The server runs with shared_preload_libraries = pg_steward. Prints, per
# query and database:
#   - wall time: median of ROUNDS rounds (alternating the databases) of the
#     median of ITER runs, statistics snapshot cleared before each run;
#   - rows returned and the ratio per row (views that list every table grow
#     with the number of tables: read them per row);
#   - shared buffers touched (EXPLAIN (ANALYZE, BUFFERS), nested functions
#     included), deterministic enough to compare;
#   - CPU instructions (callgrind, single-user mode on the stopped data
#     directory, one profile per statement): first call of a backend ("cold")
#     and a later call in the same backend ("warm", a pooled connection);
#   - full scans: every plan, including the statements run inside functions
#     (auto_explain, nested statements), checked for a Seq Scan on a user
#     table, on steward._job, steward._job_history* or an audit log
#     partition; each one is printed as a violation.
# and the locks on user relations each query leaves held.
#
#   bash test/bench/stats/run.sh       # ROUNDS=3 ITER=5 LARGE=2000 SMALL=50 LARGE_JOBS=1000000 SMALL_JOBS=1000
#   STATS_BENCH_KEEP=1 bash test/bench/stats/run.sh   # leave the server running afterwards
#   STATS_BENCH_REUSE=1 ... # measure again on the server left running (same PG* variables, STEWARD_SERVER_DIR)
#   STATS_BENCH_QUICK=1 ...                            # skip callgrind
#
# Wall times come from a shared 2-core machine: the medians and ratios,
# instructions and buffers are what to read.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
source "$ROOT/test/lib/server.sh"
ROUNDS=${ROUNDS:-3}; ITER=${ITER:-5}; LARGE=${LARGE:-2000}; SMALL=${SMALL:-50}
LARGE_JOBS=${LARGE_JOBS:-1000000}; SMALL_JOBS=${SMALL_JOBS:-1000}
LARGE_AUDIT=${LARGE_AUDIT:-100000}; SMALL_AUDIT=${SMALL_AUDIT:-1000}
PG_OPTS="-c shared_preload_libraries=pg_steward -c max_locks_per_transaction=64 -c track_functions=none"

steward_install
if [ -z "${STATS_BENCH_REUSE-}" ]; then
  steward_server_start bench_stats $PG_OPTS
else
  export PGDATA=$STEWARD_SERVER_DIR/data
fi
if [ -z "${STATS_BENCH_KEEP-}" ] && [ -z "${STATS_BENCH_REUSE-}" ]; then trap steward_server_stop EXIT; fi

# build DB N_TABLES N_JOBS N_AUDIT
#   N_TABLES tables over 20 schemas; a tenth of them are partitions of
#   partitioned tables; each has a bigint identity or serial primary key, an
#   index on a, every other one an index on b too (~2.5 indexes a table).
#   A queue "work" with N_JOBS jobs built through the public API: ~49% ready,
#   2% scheduled, 45% completed, 1% dead (with errors), 0.5% waiting for a
#   retry (with errors), 1% running (half of them with expired leases); a
#   queue "mail" with 100 ready jobs. An audited table changed N_AUDIT
#   times; ten soft-delete tables with 20 rows, one with N_AUDIT rows.
build() {
  local db=$1 n=$2 jobs=$3 audit=$4
  psql -q -d postgres -c "CREATE DATABASE $db" >/dev/null
  export PGOPTIONS='-c client_min_messages=warning'
  spsql -d "$db" <<SQL >/dev/null
CREATE EXTENSION pg_steward;
DO \$\$
DECLARE
    n constant int := $n;
    parts constant int := n / 10;          -- partitions
    parents constant int := GREATEST(1, parts / 20);
    s text; t text;
BEGIN
    FOR i IN 1..20 LOOP EXECUTE format('CREATE SCHEMA app%s', i); END LOOP;
    FOR i IN 1..(n - parts) LOOP
        s := 'app' || (i % 20 + 1); t := 't' || i;
        IF i % 2 = 0 THEN      -- half identity, half serial (a column default)
            EXECUTE format('CREATE TABLE %I.%I (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, a int, b text)', s, t);
        ELSE
            EXECUTE format('CREATE TABLE %I.%I (id serial PRIMARY KEY, a int, b text)', s, t);
        END IF;
        EXECUTE format('CREATE INDEX ON %I.%I (a)', s, t);
        IF i % 2 = 0 THEN EXECUTE format('CREATE INDEX ON %I.%I (b)', s, t); END IF;
        EXECUTE format('INSERT INTO %I.%I (a, b) SELECT g, g::text FROM generate_series(1, 20) g', s, t);
        IF i % 100 = 0 THEN COMMIT; END IF;    -- keep the lock table small
    END LOOP;
    FOR p IN 1..parents LOOP
        s := 'app' || (p % 20 + 1); t := 'events' || p;
        EXECUTE format('CREATE TABLE %I.%I (id bigint GENERATED ALWAYS AS IDENTITY, k int, a int, PRIMARY KEY (id, k)) PARTITION BY LIST (k)', s, t);
        EXECUTE format('CREATE INDEX ON %I.%I (a)', s, t);
        FOR q IN 1..(parts / parents) LOOP
            EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES IN (%s)', s, t || '_p' || q, s, t, q);
        END LOOP;
        EXECUTE format('INSERT INTO %I.%I (k, a) SELECT q, q FROM generate_series(1, %s) q', s, t, parts / parents);
        COMMIT;
    END LOOP;
END
\$\$;
-- a few known problems so the problem views return rows at both sizes
CREATE INDEX dup_a ON app2.t1 (a);

-- soft delete: ten small tables and one with $audit rows
DO \$\$
BEGIN
    FOR i IN 1..10 LOOP
        EXECUTE format('ALTER TABLE app%s.t%s ADD COLUMN deleted_at timestamptz', i % 20 + 1, i);
        PERFORM steward.enable_soft_delete(format('app%s.t%s', i % 20 + 1, i)::regclass);
        EXECUTE format('DELETE FROM app%s.t%s WHERE a <= 5', i % 20 + 1, i);
    END LOOP;
END
\$\$;
CREATE TABLE public.big_soft (id bigint PRIMARY KEY, v int, deleted_at timestamptz);
INSERT INTO public.big_soft SELECT g, g, CASE WHEN g % 10 = 0 THEN now() END FROM generate_series(1, $audit) g;
SELECT steward.enable_soft_delete('public.big_soft');

-- audit: one table, $audit changes today
CREATE TABLE public.audited (id int PRIMARY KEY, v int);
SELECT steward.enable_audit('public.audited');
INSERT INTO public.audited SELECT g, 0 FROM generate_series(1, $audit / 2) g;
UPDATE public.audited SET v = 1;
SQL
  # the queue, through the public API, in chunks
  spsql -d "$db" <<SQL >/dev/null
SELECT steward.create_queue('work');
SELECT steward.create_queue('mail');
SELECT count(*) FROM steward.enqueue_batch('mail', array_fill('{}'::jsonb, ARRAY[100]));
DO \$\$
DECLARE
    total constant bigint := $jobs;
    chunk constant int := LEAST(10000, GREATEST(total / 10, 1)::int);
    done bigint := 0;
    ids bigint[]; tokens int[];
    j record;
BEGIN
    -- jobs that will die (max_attempts 1, claimed first: higher priority)
    PERFORM count(*) FROM steward.enqueue_batch('work',
        (SELECT array_agg(jsonb_build_object('n', g)) FROM generate_series(1, total / 100) g),
        priority => 10, max_attempts => 1);
    -- scheduled for tomorrow
    PERFORM count(*) FROM steward.enqueue_batch('work',
        (SELECT array_agg(jsonb_build_object('n', g)) FROM generate_series(1, total / 50) g),
        run_at => now() + interval '1 day');
    COMMIT;
    done := total / 100 + total / 50;
    WHILE done < total LOOP
        PERFORM count(*) FROM steward.enqueue_batch('work',
            (SELECT array_agg(jsonb_build_object('n', g)) FROM generate_series(1, LEAST(chunk, total - done)) g));
        done := done + LEAST(chunk, total - done);
        COMMIT;
    END LOOP;
    -- dead: claim the max_attempts-1 jobs and fail them
    done := 0;
    WHILE done < total / 100 LOOP
        FOR j IN SELECT * FROM steward.dequeue('work', 'bench', LEAST(1000, total / 100 - done)::int) LOOP
            PERFORM steward.fail(j.id, j.lease_token, 'error ' || (j.id % 7));
            done := done + 1;
        END LOOP;
        COMMIT;
    END LOOP;
    -- completed: 45%
    done := 0;
    WHILE done < total * 45 / 100 LOOP
        SELECT array_agg(d.id), array_agg(d.lease_token) INTO ids, tokens
          FROM steward.dequeue('work', 'bench', LEAST(1000, total * 45 / 100 - done)::int) d;
        PERFORM steward.complete_batch(ids, tokens);
        done := done + cardinality(ids);
        COMMIT;
    END LOOP;
    -- waiting for a retry, with an error: 0.5%
    FOR j IN SELECT * FROM steward.dequeue('work', 'bench', GREATEST(LEAST(1000, total / 200), 1)::int) LOOP
        PERFORM steward.fail(j.id, j.lease_token, 'timeout', retry_in => interval '1 hour');
    END LOOP;
    COMMIT;
    -- running: 0.5% with expired leases, 0.5% live
    PERFORM count(*) FROM steward.dequeue('work', 'bench', GREATEST(LEAST(1000, total / 200), 1)::int, lease => interval '1 second');
    PERFORM count(*) FROM steward.dequeue('work', 'bench', GREATEST(LEAST(1000, total / 200), 1)::int, lease => interval '1 hour');
    COMMIT;
END
\$\$;
VACUUM ANALYZE;
SQL
  spsql -d "$db" <<'SQL' >/dev/null
-- median wall time (ms) of n runs of query q, every column of every row
-- rendered, statistics snapshot cleared before each run
CREATE FUNCTION public.bench_ms(q text, n int) RETURNS numeric LANGUAGE plpgsql AS $f$
DECLARE t0 timestamptz; times numeric[] := '{}'; dummy bigint;
BEGIN
    FOR i IN 1..n LOOP
        PERFORM pg_stat_clear_snapshot();
        t0 := clock_timestamp();
        EXECUTE 'SELECT sum(length(s::text)) FROM (' || q || ') s' INTO dummy;
        times := times || (extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric;
    END LOOP;
    RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x);
END
$f$;
-- shared buffers (hit + read) of one run of q, nested function work included
CREATE FUNCTION public.bench_buffers(q text) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE p json;
BEGIN
    PERFORM pg_stat_clear_snapshot();
    EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) SELECT sum(length(s::text)) FROM (' || q || ') s' INTO p;
    RETURN (p -> 0 -> 'Plan' ->> 'Shared Hit Blocks')::bigint + (p -> 0 -> 'Plan' ->> 'Shared Read Blocks')::bigint;
END
$f$;
SQL
  unset PGOPTIONS
}

if [ -z "${STATS_BENCH_REUSE-}" ]; then
  t_build=$(date +%s)
  echo "building: small ($SMALL tables, $SMALL_JOBS jobs) and large ($LARGE tables, $LARGE_JOBS jobs)..." >&2
  build small "$SMALL" "$SMALL_JOBS" "$SMALL_AUDIT"
  build large "$LARGE" "$LARGE_JOBS" "$LARGE_AUDIT"
  echo "built in $(( $(date +%s) - t_build )) s" >&2
fi

echo "pg_steward stats benchmark $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores shared with other work, shared_preload_libraries = pg_steward"
for db in small large; do
  spsql -d "$db" -At <<'SQL'
SELECT format('%s: %s tables (%s partitions), %s indexes, %s sequences, %s schemas; catalog rows: pg_class %s, pg_index %s, pg_depend %s',
       current_database(),
       count(*) FILTER (WHERE relkind = 'r'), count(*) FILTER (WHERE relkind = 'r' AND relispartition),
       count(*) FILTER (WHERE relkind IN ('i', 'I')), count(*) FILTER (WHERE relkind = 'S'),
       (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'app%'),
       (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_index), (SELECT count(*) FROM pg_depend))
  FROM pg_class WHERE relnamespace::regnamespace::text LIKE 'app%';
SELECT format('  queue: %s live jobs (%s), %s in the history (%s); audit log: %s rows; soft delete: %s tables',
       (SELECT count(*) FROM steward._job),
       (SELECT string_agg(state || ' ' || n, ', ' ORDER BY state) FROM (SELECT state, count(*) n FROM steward._job GROUP BY 1) s),
       (SELECT count(*) FROM steward._job_history),
       (SELECT string_agg(state || ' ' || n, ', ' ORDER BY state) FROM (SELECT state, count(*) n FROM steward._job_history GROUP BY 1) s),
       (SELECT count(*) FROM steward.audit_records),
       (SELECT count(*) FROM steward.soft_delete_tables));
SQL
done

QUERIES=(
  "SELECT steward.health()"
  "SELECT * FROM steward._health_checks_stats()"
  "SELECT * FROM steward.table_health"
  "SELECT * FROM steward.index_health"
  "SELECT * FROM steward.index_health WHERE issue <> 'unused'"
  "SELECT * FROM steward.sequence_health"
  "SELECT * FROM steward.cache_hit"
  "SELECT * FROM steward.database_activity"
  "SELECT * FROM steward.connections"
  "SELECT * FROM steward.long_running"
  "SELECT * FROM steward.blocking"
  "SELECT * FROM steward.slow_queries"
  "SELECT * FROM steward.health_thresholds"
  "SELECT * FROM steward.queue_summary"
  "SELECT * FROM steward.queue_error_summary"
  "SELECT * FROM steward.queue_stats"
  "SELECT * FROM steward._health_checks_queue()"
  "SELECT * FROM steward.soft_delete_summary"
  "SELECT * FROM steward._health_checks_soft_delete()"
  "SELECT * FROM steward.recent_activity"
  "SELECT * FROM steward.audit_summary"
  "SELECT * FROM steward._health_checks_audit()"
)
# a view this version does not have yet is skipped
declare -a SKIP=()
for i in "${!QUERIES[@]}"; do
  if ! spsql -d small -At -c "EXPLAIN ${QUERIES[$i]}" >/dev/null 2>&1; then SKIP[$i]=1; fi
done

declare -A T
for r in $(seq 1 "$ROUNDS"); do
  for db in small large; do
    for i in "${!QUERIES[@]}"; do
      [ -z "${SKIP[$i]-}" ] || continue
      v=$(spsql -d "$db" -At -c "SELECT round(public.bench_ms(\$q\$${QUERIES[$i]}\$q\$, $ITER), 3)")
      T[$db,$i]="${T[$db,$i]-} $v"
    done
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

printf '\n-- wall time (median ms of %s rounds x %s runs), rows, shared buffers of one run\n' "$ROUNDS" "$ITER"
printf '%-58s %9s %9s %7s %6s %6s %8s %8s %8s %7s\n' query ms_small ms_large ratio rows_s rows_l per_row buf_s buf_l ratio
for i in "${!QUERIES[@]}"; do
  q=${QUERIES[$i]}
  if [ -n "${SKIP[$i]-}" ]; then printf '%-58s (not in this version)\n' "${q:0:58}"; continue; fi
  s=$(echo "${T[small,$i]}" | median); l=$(echo "${T[large,$i]}" | median)
  rs=$(spsql -d small -At -c "SELECT count(*) FROM ($q) s"); rl=$(spsql -d large -At -c "SELECT count(*) FROM ($q) s")
  bs=$(spsql -d small -At -c "SELECT public.bench_buffers(\$q\$$q\$q\$)"); bl=$(spsql -d large -At -c "SELECT public.bench_buffers(\$q\$$q\$q\$)")
  awk -v q="$q" -v s="$s" -v l="$l" -v rs="$rs" -v rl="$rl" -v bs="$bs" -v bl="$bl" 'BEGIN {
      ratio = (s > 0) ? l / s : 0; pr = (rs > 0 && rl > 0 && s > 0) ? (l / rl) / (s / rs) : ratio;
      br = (bs > 0) ? bl / bs : 0;
      printf "%-58s %9.3f %9.3f %6.2fx %6d %6d %7.2fx %8d %8d %6.2fx\n", substr(q, 1, 58), s, l, ratio, rs, rl, pr, bs, bl, br }'
done

echo
echo "-- full scans: Seq Scan on a user table, steward._job, steward._job_history* or an audit log partition"
echo "   in any plan of each query, nested statements included (auto_explain, large database). Per relation:"
echo "   scans, rows the relation holds (reltuples); a violation is a full scan of a relation of 1,000 rows or more"
violations=0
for i in "${!QUERIES[@]}"; do
  [ -z "${SKIP[$i]-}" ] || continue
  q=${QUERIES[$i]}
  out=$(spsql -d large -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" \
          -c "SET auto_explain.log_nested_statements = on" -c "SET auto_explain.log_verbose = on" \
          -c "SET auto_explain.log_level = notice" -c "SET client_min_messages = notice" \
          -c "SELECT count(*) FROM ($q) s" 2>&1 >/dev/null || true)
  rels=$(printf '%s\n' "$out" | sed -nE 's/.*Seq Scan on ([^ ]+) .*/\1/p' \
           | grep -E '^(app[0-9]+|public)\.|^steward\.(_job|_job_history[a-z0-9_]*|audit_records[a-z0-9_]*)$' | sort | uniq -c || true)
  [ -n "$rels" ] || continue
  printf '   %s\n' "$q"
  while read -r n rel; do
    size=$(spsql -d large -At -c "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = '$rel'::regclass")
    if [ "$size" -ge 1000 ]; then mark='VIOLATION'; violations=$((violations + 1)); else mark='(small)'; fi
    printf '      %-40s %3s scan(s) of %9s rows  %s\n' "$rel" "$n" "$size" "$mark"
  done <<<"$rels"
done
echo "   violations: $violations"

echo
echo "-- locks on user relations (not counting our own) held after each query, large database"
for q in "SELECT * FROM steward.table_health" "SELECT * FROM steward.index_health" \
         "SELECT * FROM steward.sequence_health" "SELECT steward.health()" \
         "SELECT max(last_value) FROM pg_sequences"; do
  n=$(spsql -d large -At -c "BEGIN" -c "SELECT count(*) FROM ($q) s" -c "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation >= 16384 AND relation NOT IN (SELECT oid FROM pg_class WHERE relnamespace = 'steward'::regnamespace)" -c "COMMIT" | tail -1)
  printf '   %-100s %6s\n' "${q:0:100}" "$n"
done

# per-statement instructions in one single-user backend: callgrind dumps a
# profile each time the backend enters ReadyForQuery (once before every
# command it reads), so numbered profile 1 is the start-up, 2 .. N+1 are the
# N statements, N+2 the closing SELECT 1 (the last, unnumbered one: exit)
cg_statements() {   # cg_statements DB STATEMENT...: prints one count per statement
  local db=$1; shift
  local dir=$STEWARD_SERVER_DIR/cgdump
  rm -rf "$dir"; mkdir -p "$dir"; [ "$(id -u)" -eq 0 ] && chown "$STEWARD_TEST_USER" "$dir"
  local input; input=$(printf '%s;\n' "$@" "SELECT 1")
  _as_test_user bash -c "printf '%s\n' \"\$1\" | valgrind --tool=callgrind --dump-before=ReadyForQuery \
      --callgrind-out-file='$dir/cg.out' postgres --single -D '$PGDATA' -c fsync=off $PG_OPTS $db >/dev/null 2>&1" _ "$input"
  local f
  for f in $(ls "$dir" | grep -E '^cg\.out\.[0-9]+$' | sort -t. -k3 -n | sed -n "2,$(($# + 1))p"); do
    grep -m1 -oP '^summary: \K[0-9]+' "$dir/$f"
  done
  rm -rf "$dir"
}

echo
if [ -n "${STATS_BENCH_QUICK-}" ] || ! command -v valgrind >/dev/null; then
  echo "-- CPU instructions: skipped"
else
  echo "-- CPU instructions (callgrind, postgres --single with the library preloaded). cold = first call"
  echo "   of a new backend; warm = its third call; steady = its eighth (a pooled connection: PL/pgSQL"
  echo "   plans with parameters are planned anew for the first five calls, then kept): 8 calls of the"
  echo "   stats checks and cache_hit, 3 of the others (health() with the queue takes minutes under valgrind)"
  _as_test_user pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  CGQ=(
    "SELECT steward.health()"
    "SELECT count(*) FROM steward._health_checks_stats()"
    "SELECT count(*) FROM steward.cache_hit"
    "SELECT count(*) FROM steward.table_health"
    "SELECT count(*) FROM steward.index_health"
    "SELECT count(*) FROM steward.index_health WHERE issue <> 'unused'"
    "SELECT count(*) FROM steward.sequence_health"
    "SELECT count(*) FROM steward.database_activity"
    "SELECT count(*) FROM steward.queue_summary"
    "SELECT count(*) FROM steward.queue_error_summary"
    "SELECT count(*) FROM steward.soft_delete_summary"
    "SELECT count(*) FROM steward.recent_activity"
    "SELECT count(*) FROM steward.audit_summary"
  )
  declare -A CG
  declare -a CGSKIP=()   # a view this version does not have
  for i in "${!CGQ[@]}"; do
    _as_test_user postgres --single -D "$PGDATA" $PG_OPTS small <<<"EXPLAIN ${CGQ[$i]};" 2>&1 | grep -q 'ERROR' && CGSKIP[$i]=1
  done
  for db in small large; do
    for i in "${!CGQ[@]}"; do
      [ -z "${CGSKIP[$i]-}" ] || continue
      calls=3; { [ "$i" -eq 1 ] || [ "$i" -eq 2 ]; } && calls=8
      args=(); for _ in $(seq 1 $calls); do args+=("${CGQ[$i]}"); done
      mapfile -t c < <(cg_statements "$db" "${args[@]}")
      CG[$db,$i,cold]=${c[0]:-0}; CG[$db,$i,warm]=${c[2]:-0}; CG[$db,$i,steady]=${c[7]:-}
    done
  done
  printf '   %-48s %11s %11s %6s  %11s %11s %6s  %11s %11s %6s\n' query cold_small cold_large ratio \
    warm_small warm_large ratio steady_small steady_large ratio
  for i in "${!CGQ[@]}"; do
    if [ -n "${CGSKIP[$i]-}" ]; then printf '   %-48s (not in this version)\n' "${CGQ[$i]:0:48}"; continue; fi
    awk -v q="${CGQ[$i]}" -v cs="${CG[small,$i,cold]}" -v cl="${CG[large,$i,cold]}" -v ws="${CG[small,$i,warm]}" \
        -v wl="${CG[large,$i,warm]}" -v ss="${CG[small,$i,steady]}" -v sl="${CG[large,$i,steady]}" 'BEGIN {
      printf "   %-48s %11.0f %11.0f %5.2fx  %11.0f %11.0f %5.2fx", substr(q, 1, 48), cs, cl, (cs > 0 ? cl / cs : 0), ws, wl, (ws > 0 ? wl / ws : 0)
      if (ss != "") printf "  %11.0f %11.0f %5.2fx", ss, sl, (ss > 0 ? sl / ss : 0)
      printf "\n" }'
  done
  _as_test_user pg_ctl -D "$PGDATA" -l "$STEWARD_SERVER_DIR/server.log" -w \
    -o "-p $PGPORT -k $PGHOST -c listen_addresses='' -c fsync=off $PG_OPTS" start >/dev/null
  # health() without the queue's checks (steward._health_checks_queue renamed away for the
  # measurement and back afterwards): what the other features and health() itself cost
  for db in small large; do spsql -d "$db" -c "ALTER FUNCTION steward._health_checks_queue() RENAME TO _bench_queue_checks_off"; done
  _as_test_user pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  for db in small large; do
    mapfile -t c < <(cg_statements "$db" "SELECT steward.health()" "SELECT steward.health()" "SELECT steward.health()" \
      "SELECT steward.health()" "SELECT steward.health()" "SELECT steward.health()" "SELECT steward.health()" "SELECT steward.health()")
    CG[$db,nq,cold]=${c[0]:-0}; CG[$db,nq,warm]=${c[2]:-0}; CG[$db,nq,steady]=${c[7]:-0}
  done
  awk -v q="SELECT steward.health() without the queue's checks" -v cs="${CG[small,nq,cold]}" -v cl="${CG[large,nq,cold]}" \
      -v ws="${CG[small,nq,warm]}" -v wl="${CG[large,nq,warm]}" -v ss="${CG[small,nq,steady]}" -v sl="${CG[large,nq,steady]}" 'BEGIN {
    printf "   %-48s %11.0f %11.0f %5.2fx  %11.0f %11.0f %5.2fx  %11.0f %11.0f %5.2fx\n", substr(q, 1, 48), cs, cl, cl / cs, ws, wl, wl / ws, ss, sl, sl / ss }'
  _as_test_user pg_ctl -D "$PGDATA" -l "$STEWARD_SERVER_DIR/server.log" -w \
    -o "-p $PGPORT -k $PGHOST -c listen_addresses='' -c fsync=off $PG_OPTS" start >/dev/null
  for db in small large; do spsql -d "$db" -c "ALTER FUNCTION steward._bench_queue_checks_off() RENAME TO _health_checks_queue"; done
fi
echo "(machine shared with other jobs: wall times are noisy, ratios, buffers and instructions are what count)"
if [ -n "${STATS_BENCH_KEEP-}" ]; then echo "server left running: PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER (databases small, large)" >&2; fi
