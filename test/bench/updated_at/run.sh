#!/usr/bin/env bash
# updated_at benchmark: a bulk UPDATE of every row of a narrow (5 columns)
# and a wide (24 columns, two TOASTed) table, in one run, with
#   limit       no trigger; the statement sets updated_at = now() itself
#   steward     pg_steward, library preloaded (statement fast path)
#   steward_trg pg_steward's trigger path (steward.updated_at_fast_path = off)
#   moddatetime contrib moddatetime
#   plpgsql     a PL/pgSQL trigger NEW.updated_at := now()
# and prints each variant's ratio to the limit:
#   - wall time: ROWS rows (default 100000), ROUNDS rounds (default 7),
#     variants interleaved, median of per-round ratios (includes commit);
#   - CPU instructions: callgrind on CG_ROWS rows (default 20000) in
#     single-user mode (deterministic; skip with CALLGRIND=0).
# Not a test: it never fails on time.
set -euo pipefail
ROWS=${ROWS:-100000}; ROUNDS=${ROUNDS:-7}; CG_ROWS=${CG_ROWS:-20000}; CALLGRIND=${CALLGRIND:-1}
source "$(dirname "$0")/../../lib/server.sh"
export PGOPTIONS="-c client_min_messages=warning"
steward_install
steward_server_start bench_updated_at -c shared_preload_libraries=pg_steward -c synchronous_commit=off \
  -c autovacuum=off -c shared_buffers=512MB -c max_wal_size=4GB -c checkpoint_timeout=30min
trap steward_server_stop EXIT

VARIANTS="limit steward steward_trg moddatetime plpgsql"
make_tables() {  # make_tables ROWCOUNT
  spsql <<SQL
CREATE EXTENSION IF NOT EXISTS pg_steward;
CREATE EXTENSION IF NOT EXISTS moddatetime;
CREATE OR REPLACE FUNCTION plpgsql_stamp() RETURNS trigger LANGUAGE plpgsql AS
  \$\$ BEGIN NEW.updated_at := now(); RETURN NEW; END \$\$;
SQL
  for v in $VARIANTS; do
    spsql <<SQL
DROP TABLE IF EXISTS narrow_$v, wide_$v;
CREATE TABLE narrow_$v (id int PRIMARY KEY, a int, b int, v int, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO narrow_$v SELECT g, g, g, 0 FROM generate_series(1, $1) g;
CREATE TABLE wide_$v (id int PRIMARY KEY,
  c1 int, c2 int, c3 int, c4 bigint, c5 bigint, c6 numeric, c7 numeric, c8 text, c9 text,
  c10 text, c11 boolean, c12 date, c13 timestamptz, c14 int, c15 int, c16 text, c17 text,
  c18 jsonb, big1 text, big2 text, v int, updated_at timestamptz NOT NULL DEFAULT now(), c19 int);
INSERT INTO wide_$v SELECT g, g, g, g, g, g, g * 1.5, g / 3.0, 'text ' || g, md5(g::text),
  NULL, g % 2 = 0, date '2020-01-01' + g % 1000, now(), g, NULL, 'label', md5((g * 7)::text),
  jsonb_build_object('k', g), (SELECT string_agg(md5((g * 100 + i)::text), '') FROM generate_series(1, 130) i),
  (SELECT string_agg(md5((g * 300 + i)::text), '') FROM generate_series(1, 130) i), 0, now(), g
  FROM generate_series(1, $1) g;
SQL
    for t in narrow_$v wide_$v; do
      case $v in
        steward|steward_trg) spsql -c "SELECT steward.track_updated_at('$t')" >/dev/null ;;
        moddatetime) spsql -c "CREATE TRIGGER mdt BEFORE UPDATE ON $t FOR EACH ROW EXECUTE FUNCTION moddatetime(updated_at)" ;;
        plpgsql) spsql -c "CREATE TRIGGER pls BEFORE UPDATE ON $t FOR EACH ROW EXECUTE FUNCTION plpgsql_stamp()" ;;
      esac
    done
  done
  spsql -c "VACUUM ANALYZE" -c CHECKPOINT
}

stmt() {  # stmt VARIANT TABLE
  case $1 in
    limit) echo "UPDATE $2_limit SET v = v + 1, updated_at = now();" ;;
    steward_trg) echo "SET steward.updated_at_fast_path = off; UPDATE $2_$1 SET v = v + 1; RESET steward.updated_at_fast_path;" ;;
    *) echo "UPDATE $2_$1 SET v = v + 1;" ;;
  esac
}

echo "== wall time: $ROWS rows, $ROUNDS rounds (ms per bulk UPDATE, includes commit)"
make_tables "$ROWS"
declare -A RATIOS
for round in $(seq 1 "$ROUNDS"); do
  declare -A MS=()
  order=$(echo $VARIANTS | tr ' ' '\n' | shuf | tr '\n' ' ')
  for shape in narrow wide; do
    for v in $order; do
      ms=$(psql -X -q -c '\timing on' -c "$(stmt $v $shape)" 2>&1 | grep -oP 'Time: \K[0-9.]+' | tail -1)
      MS[$shape.$v]=$ms
      spsql -c "VACUUM ${shape}_$v" >/dev/null
    done
    for v in $VARIANTS; do
      RATIOS[$shape.$v]+="$(echo "scale=4; ${MS[$shape.$v]} / ${MS[$shape.limit]}" | bc) "
    done
  done
  printf 'round %d: narrow %s | wide %s\n' "$round" \
    "$(for v in $VARIANTS; do printf '%s=%s ' $v "${MS[narrow.$v]}"; done)" \
    "$(for v in $VARIANTS; do printf '%s=%s ' $v "${MS[wide.$v]}"; done)"
  unset MS
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo
printf '%-12s %10s %10s\n' variant narrow wide
for v in $VARIANTS; do
  printf '%-12s %9.3fx %9.3fx\n' "$v" "$(echo "${RATIOS[narrow.$v]}" | median)" "$(echo "${RATIOS[wide.$v]}" | median)"
done

if [ "$CALLGRIND" = 1 ]; then
  echo
  echo "== CPU instructions (callgrind, $CG_ROWS rows, single-user mode, library preloaded)"
  make_tables "$CG_ROWS"
  export CALLGRIND_PG_OPTS="-c shared_preload_libraries=pg_steward"
  printf '%-12s %14s %8s %14s %8s\n' variant narrow ratio wide ratio
  declare -A CG
  for v in $VARIANTS; do
    for shape in narrow wide; do
      CG[$shape.$v]=$(callgrind_instructions "SELECT 1;" "$(stmt $v $shape | tr '\n' ' ' | sed 's/; /;\n/g')")
    done
    printf '%-12s %14s %7.3fx %14s %7.3fx\n' "$v" "${CG[narrow.$v]}" \
      "$(echo "scale=4; ${CG[narrow.$v]} / ${CG[narrow.limit]}" | bc)" "${CG[wide.$v]}" \
      "$(echo "scale=4; ${CG[wide.$v]} / ${CG[wide.limit]}" | bc)"
  done
fi
