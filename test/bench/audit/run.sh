#!/usr/bin/env bash
# Audit trail benchmark (not a test): CPU instructions (callgrind, deterministic)
# of bulk UPDATE / INSERT / DELETE of ROWS rows on a 10-column table, each
#   bare                 no trigger
#   pg_steward           steward.enable_audit()
#   deferred             the same with steward.audit_key_index = deferred (today's
#                        partition has no key index until the day is over)
#   plpgsql              AFTER ROW trigger inserting to_jsonb(OLD), to_jsonb(NEW)
#   cte                  the best one-statement SQL: a data-modifying CTE logging
#                        the changed column (UPDATE) or the full row (INSERT, DELETE)
# then single-row UPDATE transactions with pgbench (2 clients), bare vs pg_steward vs
# the hand-written CTE, interleaved rounds, median TPS, with fsync off and durable. Prints the ratios the issue's targets use, and the
# log's bytes per row. (INSERT copies rows from a staging table, like a bulk import.)
#
#   bash test/bench/audit/run.sh            # ROWS=20000 ROUNDS=3 SECONDS_PER_RUN=10
#                                           # (durable pgbench: DURABLE_ROUNDS=15 DURABLE_SECONDS=4)
#   CPU_ONLY=1 bash test/bench/audit/run.sh # only the deterministic parts (callgrind, bytes)
#   PGBENCH_ONLY=1 bash test/bench/audit/run.sh  # only the pgbench rounds (wall time)
set -euo pipefail
ROWS=${ROWS:-20000}
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
source "$(dirname "${BASH_SOURCE[0]}")/../../lib/server.sh"
steward_install
steward_server_start bench_audit
[ -n "${BENCH_SETUP_ONLY-}" ] || trap steward_server_stop EXIT

spsql <<SQL
CREATE EXTENSION pg_steward;
CREATE FUNCTION mk(name text) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
  EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, a int NOT NULL, b bigint, c text, d numeric(12,2),
                  e timestamptz, f boolean, g text, h jsonb, i date)', name);
  EXECUTE format('INSERT INTO %I SELECT g, g, g * 7, ''name '' || g, g / 3.0, ''2024-01-01''::timestamptz + g * interval ''1 minute'',
                  g %% 2 = 0, md5(g::text), jsonb_build_object(''k'', g), ''2024-01-01''::date + g %% 300
                  FROM generate_series(1, $ROWS) g', name);
END \$\$;
SELECT mk('t_bare'), mk('t_steward'), mk('t_plpgsql'), mk('src');
UPDATE src SET id = id + $ROWS;
CREATE TABLE bench_log (id bigserial PRIMARY KEY, logged_at timestamptz NOT NULL DEFAULT now(),
                        txid bigint NOT NULL DEFAULT txid_current(), actor text DEFAULT current_setting('app.actor', true),
                        role_name text NOT NULL DEFAULT current_user, action text NOT NULL,
                        tbl text NOT NULL, old_row jsonb, new_row jsonb);
CREATE FUNCTION log_trigger() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  INSERT INTO bench_log (action, tbl, old_row, new_row)
  VALUES (TG_OP, TG_TABLE_NAME, CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
          CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
  RETURN NULL;
END \$\$;
CREATE TRIGGER log AFTER INSERT OR UPDATE OR DELETE ON t_plpgsql FOR EACH ROW EXECUTE FUNCTION log_trigger();
SELECT steward.enable_audit('t_steward');
VACUUM ANALYZE;
SQL

INS="SELECT * FROM src"
if [ -n "${BENCH_SETUP_ONLY-}" ]; then echo "server left running: PGHOST=$PGHOST PGPORT=$PGPORT"; exit 0; fi
declare -A STMT=(
  [update_bare]="UPDATE t_bare SET a = a + 1"
  [update_steward]="UPDATE t_steward SET a = a + 1"
  [update_plpgsql]="UPDATE t_plpgsql SET a = a + 1"
  [update_cte]="WITH u AS (UPDATE t_bare SET a = a + 1 RETURNING id, a) INSERT INTO bench_log (action, tbl, old_row, new_row) SELECT 'UPDATE', 't_bare', jsonb_build_object('id', id, 'a', a - 1), jsonb_build_object('id', id, 'a', a) FROM u"
  [insert_bare]="INSERT INTO t_bare $INS"
  [insert_steward]="INSERT INTO t_steward $INS"
  [insert_plpgsql]="INSERT INTO t_plpgsql $INS"
  [insert_cte]="WITH i AS (INSERT INTO t_bare $INS RETURNING *) INSERT INTO bench_log (action, tbl, new_row) SELECT 'INSERT', 't_bare', to_jsonb(i) FROM i"
  [delete_bare]="DELETE FROM t_bare"
  [delete_steward]="DELETE FROM t_steward"
  [delete_plpgsql]="DELETE FROM t_plpgsql"
  [delete_cte]="WITH d AS (DELETE FROM t_bare RETURNING *) INSERT INTO bench_log (action, tbl, old_row) SELECT 'DELETE', 't_bare', to_jsonb(d) FROM d"
)
if [ -z "${PGBENCH_ONLY-}" ]; then
PART=$(spsql -At -c "SELECT steward._audit_partition_name((now() AT TIME ZONE 'UTC')::date)")
declare -A CPU
WARM="UPDATE t_steward SET a = a WHERE id = 0;"
CPU_WARM=$(callgrind_instructions "SELECT 1;" "$WARM")
for op in update insert delete; do
  for v in bare steward plpgsql cte; do
    CPU[${op}_$v]=$(callgrind_instructions "SELECT 1;" "${STMT[${op}_$v]};")
  done
  CPU[${op}_deferred]=$(callgrind_instructions "DROP INDEX steward.${PART}_key, steward.${PART}_key_range;" "${STMT[${op}_steward]};")
  # steady state: the same statement after one that loads the library and
  # builds the backend's caches (a long-lived connection pays that once)
  CPU[${op}_warm]=$(( $(callgrind_instructions "SELECT 1;" "$WARM"$'\n'"${STMT[${op}_steward]};") - CPU_WARM ))
done

echo
echo "CPU instructions, $ROWS rows (callgrind, postgres --single; deterministic)"
printf '%-7s %12s %12s %12s %12s %12s   %s\n' op bare pg_steward deferred plpgsql cte "ratios"
for op in update insert delete; do
  b=${CPU[${op}_bare]} s=${CPU[${op}_steward]} d=${CPU[${op}_deferred]} p=${CPU[${op}_plpgsql]} c=${CPU[${op}_cte]}
  printf '%-7s %12d %12d %12d %12d %12d   steward/bare %.2fx (deferred %.2fx)  plpgsql/bare %.2fx  cte/bare %.2fx  steward/cte %.2fx (deferred %.2fx)\n' \
    "$op" "$b" "$s" "$d" "$p" "$c" "$(bc -l <<<"$s/$b")" "$(bc -l <<<"$d/$b")" "$(bc -l <<<"$p/$b")" "$(bc -l <<<"$c/$b")" "$(bc -l <<<"$s/$c")" "$(bc -l <<<"$d/$c")"
done
echo "targets: UPDATE steward/bare <= 2.0x; INSERT and DELETE steward/cte <= 0.5x"
printf 'steady state (library loaded, backend caches built; the first statement of a backend pays %d more):\n' \
  "$((CPU[update_steward] - CPU[update_warm]))"
for op in update insert delete; do
  printf '%-7s pg_steward %12d   steward/bare %.2fx  steward/cte %.2fx\n' "$op" "${CPU[${op}_warm]}" \
    "$(bc -l <<<"${CPU[${op}_warm]}/${CPU[${op}_bare]}")" "$(bc -l <<<"${CPU[${op}_warm]}/${CPU[${op}_cte]}")"
done

# -- log size per row ---------------------------------------------------------------
spsql -c "UPDATE t_steward SET a = a + 1" -c "UPDATE t_plpgsql SET a = a + 1"
spsql -At <<'SQL'
SELECT format('log bytes per row (UPDATE of one column): pg_steward %s (heap+indexes %s), plpgsql to_jsonb log %s (heap+indexes %s)',
  (SELECT round(sum(pg_column_size(r.*)) / sum(steward._audit_entry_count(r.hashes, r.entries))) FROM steward.audit_records r WHERE action = 'U'),
  (SELECT round(sum(pg_total_relation_size(c.oid))::numeric / (SELECT sum(steward._audit_entry_count(r.hashes, r.entries)) FROM steward.audit_records r))
     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'steward.audit_records'::regclass),
  (SELECT round(avg(pg_column_size(l.*))) FROM bench_log l WHERE action = 'UPDATE'),
  (SELECT round(pg_total_relation_size('bench_log')::numeric / count(*)) FROM bench_log));
SQL
spsql -c "TRUNCATE bench_log" -c "INSERT INTO t_steward $INS" -c "INSERT INTO t_plpgsql $INS"
spsql -At <<'SQL'
SELECT format('log bytes per row (INSERT of a 10-column row): pg_steward %s, plpgsql to_jsonb log %s',
  (SELECT round(sum(pg_column_size(r.*)) / sum(steward._audit_entry_count(r.hashes, r.entries))) FROM steward.audit_records r WHERE action = 'I'),
  (SELECT round(avg(pg_column_size(l.*))) FROM bench_log l WHERE action = 'INSERT'));
SQL

# -- single-row transactions: CPU per transaction (callgrind, 500 single-row UPDATEs,
# each its own transaction; the first includes the per-backend cache build) --------------
one_row() { local t=$1 i out=""; for i in $(seq 1 500); do out+="UPDATE $t SET a = a + 1 WHERE id = $i;"$'\n'; done; printf '%s' "$out"; }
c_bare=$(callgrind_instructions "SELECT 1;" "$(one_row t_bare)")
c_steward=$(callgrind_instructions "SELECT 1;" "$(one_row t_steward)")
# the same with the cache already built (a long-lived connection)
c_warm=$(callgrind_instructions "SELECT 1;" "UPDATE t_steward SET a = a WHERE id = 0;"$'\n'"$(one_row t_steward)")
c_warm_base=$(callgrind_instructions "SELECT 1;" "UPDATE t_steward SET a = a WHERE id = 0;")
printf 'single-row UPDATE transactions, CPU per transaction: bare %d, pg_steward %d (%d once the backend cache is built): %.2fx\n' \
  $((c_bare / 500)) $((c_steward / 500)) $(((c_warm - c_warm_base) / 500)) "$(bc -l <<<"($c_warm - $c_warm_base) / $c_bare")"

fi  # PGBENCH_ONLY

[ -z "${CPU_ONLY-}" ] || exit 0

# -- single-row transactions (wall time, pgbench, 2 clients) ------------------------------
# Per round, one run each of: bare, pg_steward, and the hand-written CTE that logs the
# changed column in the same statement (what an application would write by hand).
cat >"$STEWARD_SERVER_DIR/bare.sql" <<SQL
\set id random(1, $ROWS)
UPDATE t_bare SET a = a + 1 WHERE id = :id;
SQL
sed 's/t_bare/t_steward/' "$STEWARD_SERVER_DIR/bare.sql" >"$STEWARD_SERVER_DIR/steward.sql"
cat >"$STEWARD_SERVER_DIR/cte.sql" <<SQL
\set id random(1, $ROWS)
WITH u AS (UPDATE t_bare SET a = a + 1 WHERE id = :id RETURNING id, a) INSERT INTO bench_log (action, tbl, old_row, new_row) SELECT 'UPDATE', 't_bare', jsonb_build_object('id', id, 'a', a - 1), jsonb_build_object('id', id, 'a', a) FROM u;
SQL
tps() { pgbench -n -c 2 -j 2 -T "$2" -f "$STEWARD_SERVER_DIR/$1.sql" 2>/dev/null | grep -oP 'tps = \K[0-9.]+' | head -1; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# rounds LABEL N SECONDS: N interleaved rounds, then the medians of the per-round ratios
rounds() {
  local label=$1 n=$2 secs=$3 r tb ts tc
  local -a rs=() rc=()
  for r in $(seq 1 "$n"); do
    # odd rounds bare first, even rounds bare last: a drift within a round
    # (the disk's flush time, checkpoints) then favours neither side
    if ((r % 2)); then tb=$(tps bare "$secs"); ts=$(tps steward "$secs"); tc=$(tps cte "$secs")
    else tc=$(tps cte "$secs"); ts=$(tps steward "$secs"); tb=$(tps bare "$secs"); fi
    rs+=("$(bc -l <<<"$ts/$tb")"); rc+=("$(bc -l <<<"$tc/$tb")")
    printf '%s round %d: bare %.0f tps, pg_steward %.0f tps, hand-written CTE %.0f tps; pg_steward/bare %.3f, CTE/bare %.3f\n' \
      "$label" "$r" "$tb" "$ts" "$tc" "${rs[-1]}" "${rc[-1]}"
  done
  printf 'single-row UPDATE transactions, 2 clients, %s: pg_steward/bare TPS median %.3f (target >= 0.9), hand-written CTE/bare median %.3f\n' \
    "$label" "$(median "${rs[@]}")" "$(median "${rc[@]}")"
}
rounds "fsync=off" "$ROUNDS" "$SECONDS_PER_RUN"
# The same with durable commits (fsync=on, synchronous_commit=on), as in production.
# The disk's flush time swings from run to run here: more, shorter rounds
# (DURABLE_ROUNDS x DURABLE_SECONDS) give a steadier median.
_as_test_user pg_ctl -D "$PGDATA" -w restart -m fast -o "-p $PGPORT -k $PGHOST -c listen_addresses='' -c fsync=on -c synchronous_commit=on" >/dev/null
rounds "durable" "${DURABLE_ROUNDS:-15}" "${DURABLE_SECONDS:-4}"
