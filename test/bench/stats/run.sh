#!/usr/bin/env bash
# Benchmark (not a test): cost of health() and of every stats view on a
# database with 2,000 tables (200 of them partitions, spread over 20 schemas)
# and ~5,000 indexes, against the same database shape with 50 tables.
# Target: within 3x. Prints, per query, the median wall time at both sizes,
# the ratio, the rows returned and the ratio per row (for views that list
# every table the row count itself grows 40x), then the CPU instructions of
# health() (callgrind, deterministic), and the locks on user relations each
# query leaves held (pg_sequences keeps one per sequence).
#
#   bash test/bench/stats/run.sh            # ROUNDS=3 ITER=10 LARGE=2000 SMALL=50
#
# Wall times come from a shared 2-core machine: rounds alternate the two
# databases, and the medians and ratios are what to read.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
source "$ROOT/test/lib/server.sh"
ROUNDS=${ROUNDS:-3}; ITER=${ITER:-10}; LARGE=${LARGE:-2000}; SMALL=${SMALL:-50}

steward_install
steward_server_start bench_stats -c max_locks_per_transaction=64
trap steward_server_stop EXIT

# build DB N_TABLES: N_TABLES tables over 20 schemas; a tenth of them are
# partitions of partitioned tables; each has a bigint identity primary key,
# an index on a, every other one an index on b too (~2.5 indexes a table).
build() {
  local db=$1 n=$2
  psql -q -d postgres -c "CREATE DATABASE $db" >/dev/null
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
ANALYZE;
-- median wall time (ms) of n runs of query q, every column of every row
-- rendered, statistics snapshot cleared before each run
CREATE FUNCTION public.bench_ms(q text, n int) RETURNS numeric LANGUAGE plpgsql AS \$f\$
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
\$f\$;
SQL
}

echo "building: small ($SMALL tables) and large ($LARGE tables)..." >&2
build small "$SMALL"
build large "$LARGE"
for db in small large; do
  spsql -d "$db" -At -c "SELECT format('%s: %s tables (%s partitions), %s indexes, %s sequences, %s schemas', current_database(),
      count(*) FILTER (WHERE relkind = 'r'), count(*) FILTER (WHERE relkind = 'r' AND relispartition),
      count(*) FILTER (WHERE relkind IN ('i', 'I')), count(*) FILTER (WHERE relkind = 'S'),
      (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'app%'))
    FROM pg_class WHERE relnamespace::regnamespace::text LIKE 'app%'"
done

QUERIES=(
  "SELECT steward.health()"
  "SELECT * FROM steward.table_health"
  "SELECT * FROM steward.index_health"
  "SELECT * FROM steward.index_health WHERE issue <> 'unused'"
  "SELECT * FROM steward.sequence_health"
  "SELECT * FROM steward.cache_hit"
  "SELECT * FROM steward.connections"
  "SELECT * FROM steward.long_running"
  "SELECT * FROM steward.blocking"
  "SELECT * FROM steward.slow_queries"
  "SELECT * FROM steward.health_thresholds"
)

declare -A T
for r in $(seq 1 "$ROUNDS"); do
  for db in small large; do
    for i in "${!QUERIES[@]}"; do
      q=${QUERIES[$i]}
      v=$(spsql -d "$db" -At -c "SELECT round(public.bench_ms(\$q\$$q\$q\$, $ITER), 3)")
      T[$db,$i]="${T[$db,$i]-} $v"
    done
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

printf '\n%-62s %9s %9s %7s %7s %7s %9s\n' "query (median ms of $ROUNDS rounds x $ITER runs)" small large ratio rows_s rows_l per_row
for i in "${!QUERIES[@]}"; do
  q=${QUERIES[$i]}
  s=$(echo "${T[small,$i]}" | median); l=$(echo "${T[large,$i]}" | median)
  rs=$(spsql -d small -At -c "SELECT count(*) FROM ($q) s"); rl=$(spsql -d large -At -c "SELECT count(*) FROM ($q) s")
  awk -v q="$q" -v s="$s" -v l="$l" -v rs="$rs" -v rl="$rl" 'BEGIN {
      ratio = (s > 0) ? l / s : 0; pr = (rs > 0 && rl > 0 && s > 0) ? (l / rl) / (s / rs) : ratio;
      printf "%-62s %9.3f %9.3f %6.2fx %7d %7d %8.2fx\n", substr(q, 1, 62), s, l, ratio, rs, rl, pr }'
done

echo
echo "locks on user relations (not counting our own views) held after each query, large database:"
for q in "SELECT * FROM steward.table_health" "SELECT * FROM steward.index_health" \
         "SELECT * FROM steward.sequence_health" "SELECT steward.health()" \
         "SELECT max(last_value) FROM pg_sequences"; do
  n=$(spsql -d large -At -c "BEGIN" -c "SELECT count(*) FROM ($q) s" -c "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation >= 16384 AND relation NOT IN (SELECT oid FROM pg_class WHERE relnamespace = 'steward'::regnamespace)" -c "COMMIT" | tail -1)
  printf '  %-100s %6s\n' "${q:0:100}" "$n"
done

echo
echo "CPU instructions of SELECT steward.health() (callgrind, single-user mode; cold = first call of"
echo "a new backend, warm = a second call in the same backend, as from a pooled connection):"
# the data directory is copied while the server runs; a file vanishing
# mid-copy (pg_internal.init) fails one attempt
cg_retry() { local n; for n in 1 2 3; do callgrind_instructions "SELECT 1;" "$1" 2>/dev/null && return; sleep 2; done; echo 0; }
if command -v valgrind >/dev/null; then
  # callgrind_instructions runs in database "steward": fill it like small, then like large
  for db in small large; do
    psql -q -d postgres -c "DROP DATABASE steward" -c "CREATE DATABASE steward TEMPLATE $db" >/dev/null
    c1=$(cg_retry "SELECT steward.health();")
    c2=$(cg_retry "SELECT steward.health();
SELECT steward.health();")
    eval "cold_$db=$c1 warm_$db=$((c2 - c1))"
  done
  awk -v cs="$cold_small" -v cl="$cold_large" -v ws="$warm_small" -v wl="$warm_large" 'BEGIN {
      printf "  cold: small %.0f, large %.0f, ratio %.2fx\n", cs, cl, cl / cs
      printf "  warm: small %.0f, large %.0f, ratio %.2fx\n", ws, wl, wl / ws }'
else
  echo "  valgrind not installed: skipped"
fi
for db in small large; do
  spsql -d "$db" -At -c "SELECT format('catalog rows in %s: pg_class %s, pg_index %s, pg_depend %s', current_database(),
      (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_index), (SELECT count(*) FROM pg_depend))"
done
echo "(machine shared with other jobs: wall times are noisy, ratios are what count)"
