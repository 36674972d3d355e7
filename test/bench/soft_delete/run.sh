#!/usr/bin/env bash
# soft delete benchmark, in one run:
#  A. soft-deleting every row of a table (ROWS rows, default 100000) with
#       limit        no trigger: UPDATE t SET deleted_at = now() WHERE deleted_at IS NULL
#       steward      DELETE FROM t on a pg_steward table, library preloaded (rewrite)
#       steward_trg  the same with steward.soft_delete_rewrite = off (C trigger path,
#                    what a session that has not loaded the library gets)
#       plpgsql      DELETE FROM t with a typical hand-written BEFORE DELETE trigger
#                    (UPDATE ... WHERE id = OLD.id; RETURN NULL)
#  B. reading live rows through the view t_live vs the hand-written
#     WHERE deleted_at IS NULL, on the same partial index (an indexed lookup
#     and a full count).
# Prints ratios to the hand-written baseline: wall time (variants interleaved,
# median of per-round ratios, ROUNDS rounds, default 7) and CPU instructions
# (callgrind on CG_ROWS rows, default 20000, single-user mode; deterministic;
# CALLGRIND=0 skips, CG_DELETE=0 skips part A's). Not a test: it never fails on time.
set -euo pipefail
ROWS=${ROWS:-100000}; ROUNDS=${ROUNDS:-7}; CG_ROWS=${CG_ROWS:-20000}; CALLGRIND=${CALLGRIND:-1}
READ_ROWS=${READ_ROWS:-200000}
source "$(dirname "$0")/../../lib/server.sh"
export PGOPTIONS="-c client_min_messages=warning"
steward_install
steward_server_start bench_soft_delete -c shared_preload_libraries=pg_steward -c synchronous_commit=off \
  -c autovacuum=off -c shared_buffers=512MB -c max_wal_size=4GB -c checkpoint_timeout=30min
trap steward_server_stop EXIT

VARIANTS="limit steward steward_trg plpgsql"
make_tables() {  # make_tables ROWCOUNT
  spsql <<SQL
CREATE EXTENSION IF NOT EXISTS pg_steward;
SQL
  for v in $VARIANTS; do
    spsql <<SQL
DROP TABLE IF EXISTS del_$v CASCADE;
CREATE TABLE del_$v (id int PRIMARY KEY, a int, b text, v int, deleted_at timestamptz);
INSERT INTO del_$v SELECT g, g, 'row ' || g, 0 FROM generate_series(1, $1) g;
SQL
    case $v in
      steward|steward_trg) spsql -c "SELECT steward.enable_soft_delete('del_$v', create_views => false)" >/dev/null ;;
      plpgsql) spsql <<SQL
CREATE OR REPLACE FUNCTION plpgsql_soft_delete() RETURNS trigger LANGUAGE plpgsql AS
  \$\$ BEGIN UPDATE del_plpgsql SET deleted_at = now() WHERE id = OLD.id; RETURN NULL; END \$\$;
CREATE TRIGGER soft_delete BEFORE DELETE ON del_plpgsql FOR EACH ROW EXECUTE FUNCTION plpgsql_soft_delete();
SQL
      ;;
    esac
  done
  spsql -c "VACUUM ANALYZE" -c CHECKPOINT
}

stmt() {  # stmt VARIANT
  case $1 in
    limit) echo "UPDATE del_limit SET deleted_at = now() WHERE deleted_at IS NULL;" ;;
    steward_trg) echo "SET steward.soft_delete_rewrite = off; DELETE FROM del_steward_trg; RESET steward.soft_delete_rewrite;" ;;
    *) echo "DELETE FROM del_$1;" ;;
  esac
}
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "== A. soft-deleting $ROWS rows, $ROUNDS rounds (ms per statement, includes commit)"
echo "   (shared 2-core machine: other work runs at the same time; read the ratios)"
make_tables "$ROWS"
declare -A RATIOS
for round in $(seq 1 "$ROUNDS"); do
  declare -A MS=()
  for v in $(echo $VARIANTS | tr ' ' '\n' | shuf); do
    MS[$v]=$(psql -X -q -c '\timing on' -c "$(stmt $v)" 2>&1 | grep -oP 'Time: \K[0-9.]+' | sort -n | tail -1)
    # every row live again, same history for every variant
    spsql -c "SET steward.soft_delete_rewrite = off" -c "UPDATE del_$v SET deleted_at = NULL" -c "VACUUM del_$v" >/dev/null
  done
  for v in $VARIANTS; do RATIOS[$v]+="$(echo "scale=4; ${MS[$v]} / ${MS[limit]}" | bc) "; done
  printf 'round %d: %s\n' "$round" "$(for v in $VARIANTS; do printf '%s=%s ' $v "${MS[$v]}"; done)"
  unset MS
done
echo
printf '%-12s %10s\n' variant 'wall time'
for v in $VARIANTS; do printf '%-12s %9.3fx\n' "$v" "$(echo "${RATIOS[$v]}" | median)"; done

echo
echo "== B. reading live rows: view vs hand-written WHERE deleted_at IS NULL ($READ_ROWS rows, 10% deleted)"
spsql <<SQL
DROP TABLE IF EXISTS rd CASCADE;
CREATE TABLE rd (id int PRIMARY KEY, grp int, v int, payload text);
INSERT INTO rd SELECT g, g % 1000, g, md5(g::text) FROM generate_series(1, $READ_ROWS) g;
SELECT steward.enable_soft_delete('rd');
DELETE FROM rd WHERE id % 10 = 0;
CREATE INDEX rd_grp_live ON rd (grp) WHERE deleted_at IS NULL;
VACUUM ANALYZE rd;
CHECKPOINT;
SQL
Q_VIEW_LOOKUP="SELECT count(*), sum(v) FROM rd_live WHERE grp = 42;"
Q_HAND_LOOKUP="SELECT count(*), sum(v) FROM rd WHERE grp = 42 AND deleted_at IS NULL;"
Q_VIEW_ALL="SELECT count(*) FROM rd_live;"
Q_HAND_ALL="SELECT count(*) FROM rd WHERE deleted_at IS NULL;"
echo "plans (must be the same):"
psql -X -At -c "EXPLAIN (COSTS OFF) $Q_VIEW_LOOKUP" | sed 's/^/  view: /'
psql -X -At -c "EXPLAIN (COSTS OFF) $Q_HAND_LOOKUP" | sed 's/^/  hand: /'
dir=$STEWARD_SERVER_DIR/pgbench; mkdir -p "$dir"; chmod 777 "$dir"
for q in VIEW_LOOKUP HAND_LOOKUP VIEW_ALL HAND_ALL; do eval "echo \"\$Q_$q\"" > "$dir/$q.sql"; done
declare -A TPS_RATIOS
for round in $(seq 1 "$ROUNDS"); do
  declare -A TPS=()
  for q in $(printf '%s\n' VIEW_LOOKUP HAND_LOOKUP VIEW_ALL HAND_ALL | shuf); do
    secs=2; case $q in *ALL) secs=3 ;; esac
    TPS[$q]=$(pgbench -n -T $secs -f "$dir/$q.sql" 2>/dev/null | grep -oP 'tps = \K[0-9.]+' | head -1)
  done
  # time ratio = hand tps / view tps
  TPS_RATIOS[lookup]+="$(echo "scale=4; ${TPS[HAND_LOOKUP]} / ${TPS[VIEW_LOOKUP]}" | bc) "
  TPS_RATIOS[all]+="$(echo "scale=4; ${TPS[HAND_ALL]} / ${TPS[VIEW_ALL]}" | bc) "
  printf 'round %d: tps lookup view=%s hand=%s | full count view=%s hand=%s\n' "$round" \
    "${TPS[VIEW_LOOKUP]}" "${TPS[HAND_LOOKUP]}" "${TPS[VIEW_ALL]}" "${TPS[HAND_ALL]}"
  unset TPS
done
printf 'view / hand-written, time per query: indexed lookup %.3fx, full count %.3fx\n' \
  "$(echo "${TPS_RATIOS[lookup]}" | median)" "$(echo "${TPS_RATIOS[all]}" | median)"

if [ "$CALLGRIND" = 1 ]; then
  echo
  echo "== CPU instructions (callgrind, single-user mode, library preloaded)"
  export CALLGRIND_PG_OPTS="-c shared_preload_libraries=pg_steward"
  repeat() { for _ in $(seq 1 "$2"); do echo "$1"; done; }
  # per-query cost of a lookup: (120 statements - 20 statements) / 100, so
  # the one-time catalog loading of a fresh backend cancels out
  lookup_cost() {  # lookup_cost STATEMENT [FIRST_LINE]
    local many few
    many=$(callgrind_instructions "SELECT 1;" "${2:+$2$'\n'}$(repeat "$1" 120)")
    few=$(callgrind_instructions "SELECT 1;" "${2:+$2$'\n'}$(repeat "$1" 20)")
    echo $(((many - few) / 100))
  }
  r_vl=$(lookup_cost "$Q_VIEW_LOOKUP")
  r_hl=$(lookup_cost "$Q_HAND_LOOKUP")
  r_vp=$(lookup_cost "EXECUTE q;" "PREPARE q AS $Q_VIEW_LOOKUP")
  r_hp=$(lookup_cost "EXECUTE q;" "PREPARE q AS $Q_HAND_LOOKUP")
  printf 'reads: prepared lookup (per EXECUTE) view %s hand %s (%.3fx)\n' \
    "$r_vp" "$r_hp" "$(echo "scale=4; $r_vp / $r_hp" | bc)"
  r_va=$(callgrind_instructions "SELECT 1;" "$Q_VIEW_ALL")
  r_ha=$(callgrind_instructions "SELECT 1;" "$Q_HAND_ALL")
  printf 'reads: lookup (per statement, parse+plan+run) view %s hand %s (%.3fx) | full count view %s hand %s (%.3fx)\n' \
    "$r_vl" "$r_hl" "$(echo "scale=4; $r_vl / $r_hl" | bc)" "$r_va" "$r_ha" "$(echo "scale=4; $r_va / $r_ha" | bc)"
  [ "${CG_DELETE:-1}" = 1 ] || exit 0
  make_tables "$CG_ROWS"
  printf '%-12s %14s %8s   (%s rows)\n' variant instructions ratio "$CG_ROWS"
  declare -A CG
  for v in $VARIANTS; do
    CG[$v]=$(callgrind_instructions "SELECT 1;" "$(stmt $v | tr '\n' ' ' | sed 's/; /;\n/g')")
    printf '%-12s %14s %7.3fx\n' "$v" "${CG[$v]}" "$(echo "scale=4; ${CG[$v]} / ${CG[limit]}" | bc)"
  done
fi
