#!/usr/bin/env bash
# What a per-record key index costs per entry with each PostgreSQL index
# method (not a test): CPU instructions (callgrind, deterministic) of
# inserting ROWS random bigint keys in one statement into a table with
#   none                 no index (the base)
#   hash                 a hash index (what the audit log uses for row_hash)
#   btree                a btree index
#   gin pending          the same keys packed 500 per row into bigint[] under a
#                        GIN index with fastupdate: the insert only appends to
#                        the pending list ...
#   gin cleanup          ... and gin_clean_pending_list() merging it into the
#                        index later (autovacuum, or the writer that overflows
#                        gin_pending_list_limit)
#   hash build / btree build   CREATE INDEX over ROWS keys already in a table
#   gist range           one int8range per 32 keys (the sorted keys of a packed
#                        log tuple: its lowest and highest) under a GiST index,
#                        per key over the same ranges without the index
# and prints instructions per key over the base. The audit benchmark's INSERT
# and DELETE targets (test/bench/audit/RESULTS.md) leave ~3.4k instructions per
# changed row for everything the audit does; this shows what its key index
# alone costs with each method.
#
#   bash test/bench/audit/index_costs.sh        # ROWS=20000
set -euo pipefail
ROWS=${ROWS:-20000}
source "$(dirname "${BASH_SOURCE[0]}")/../../lib/server.sh"
steward_install
steward_server_start bench_audit_index
trap steward_server_stop EXIT

spsql <<SQL
CREATE TABLE src AS SELECT (random() * 9e18)::bigint AS h, g / 500 AS grp FROM generate_series(0, $ROWS - 1) g;
CREATE TABLE srca AS SELECT grp, array_agg(h) AS a FROM src GROUP BY grp;
CREATE TABLE t_none (h bigint);
CREATE TABLE t_hash (h bigint);  CREATE INDEX ON t_hash USING hash (h);
CREATE TABLE t_btree (h bigint); CREATE INDEX ON t_btree (h);
CREATE TABLE t_arr (h bigint[]);
CREATE TABLE t_gin (h bigint[]);
CREATE INDEX t_gin_idx ON t_gin USING gin (h) WITH (fastupdate = on, gin_pending_list_limit = 65536);
CREATE TABLE t_built_hash AS SELECT h FROM src;
CREATE TABLE t_built_btree AS SELECT h FROM src;
CREATE TABLE t_built_none AS SELECT h FROM src;
CREATE TABLE srcr AS SELECT int8range(min(h), max(h), '[]') AS r
  FROM (SELECT h, row_number() OVER (ORDER BY h) / 32 AS c FROM src) s GROUP BY c;
CREATE TABLE t_range (r int8range);
CREATE TABLE t_gist (r int8range); CREATE INDEX ON t_gist USING gist (r);
VACUUM ANALYZE;
SQL

cpu() { callgrind_instructions "${2:-SELECT 1;}" "$1"; }
none=$(cpu "INSERT INTO t_none SELECT h FROM src;")
hash=$(cpu "INSERT INTO t_hash SELECT h FROM src;")
btree=$(cpu "INSERT INTO t_btree SELECT h FROM src;")
arr=$(cpu "INSERT INTO t_arr SELECT a FROM srca;")
gin=$(cpu "INSERT INTO t_gin SELECT a FROM srca;")
gin_clean=$(cpu "SELECT gin_clean_pending_list('t_gin_idx');" "INSERT INTO t_gin SELECT a FROM srca;")
gin_empty=$(cpu "SELECT gin_clean_pending_list('t_gin_idx');")
range=$(cpu "INSERT INTO t_range SELECT r FROM srcr;")
gist=$(cpu "INSERT INTO t_gist SELECT r FROM srcr;")
build_none=$(cpu "ALTER TABLE t_built_none ADD CHECK (h IS NOT NULL);")
build_hash=$(cpu "CREATE INDEX ON t_built_hash USING hash (h);")
build_btree=$(cpu "CREATE INDEX ON t_built_btree (h);")

per() { echo $(( ($1 - $2) / ROWS )); }
echo "instructions per key, $ROWS random bigint keys (callgrind, postgres --single)"
printf '  %-36s %8s\n' "hash index, inserted with the row" "$(per "$hash" "$none")"
printf '  %-36s %8s\n' "btree index, inserted with the row" "$(per "$btree" "$none")"
printf '  %-36s %8s\n' "GIN fastupdate, pending list append" "$(per "$gin" "$arr")"
printf '  %-36s %8s\n' "GIN pending list merged later" "$(per "$gin_clean" "$gin_empty")"
printf '  %-36s %8s\n' "CREATE INDEX USING hash (bulk)" "$(per "$build_hash" "$build_none")"
printf '  %-36s %8s\n' "CREATE INDEX USING btree (bulk)" "$(per "$build_btree" "$build_none")"
printf '  %-36s %8s\n' "GiST int8range, one per 32 keys" "$(per "$gist" "$range")"
echo "  (bulk builds: over a full-table ALTER TABLE ... ADD CHECK as the base, which reads the table once)"
