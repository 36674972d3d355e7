#!/usr/bin/env bash
# What the check of new references to soft-deleted rows costs (not a test):
# CPU instructions (callgrind, single-user mode, deterministic) of inserting
# ROWS child rows, in one statement and as ROWS one-row statements, into a
# table with a foreign key to a parent that is
#   plain     not soft-delete-enabled (the foreign key's own check only)
#   steward   soft-delete-enabled: + steward_soft_delete_parent (C, prepared
#             statement per foreign key)
#   plpgsql   not enabled, with the AFTER INSERT row trigger an application
#             would write for the same rule (IF EXISTS (SELECT ... deleted_at
#             IS NOT NULL) THEN RAISE)
# and prints instructions per row over the plain variant; then an UPDATE of
# another column of every row (the check fires and skips the unchanged key).
#
#   bash test/bench/soft_delete/references.sh      # ROWS=2000
set -euo pipefail
ROWS=${ROWS:-2000}
source "$(dirname "$0")/../../lib/server.sh"
export PGOPTIONS="-c client_min_messages=warning"
steward_install
steward_server_start bench_soft_delete_refs
trap steward_server_stop EXIT
spsql <<SQL >/dev/null
CREATE EXTENSION pg_steward;
CREATE FUNCTION check_live_parent() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  IF EXISTS (SELECT 1 FROM parent_plpgsql p WHERE p.id = NEW.parent_id AND p.deleted_at IS NOT NULL) THEN
    RAISE EXCEPTION 'parent % is deleted', NEW.parent_id USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END \$\$;
DO \$\$
DECLARE v text;
BEGIN
  FOREACH v IN ARRAY ARRAY['plain', 'steward', 'plpgsql'] LOOP
    EXECUTE format('CREATE TABLE parent_%s (id int PRIMARY KEY, name text, deleted_at timestamptz)', v);
    EXECUTE format('INSERT INTO parent_%s SELECT g, ''p'' || g FROM generate_series(1, 1000) g', v);
    EXECUTE format('CREATE TABLE child_%s (id int PRIMARY KEY, parent_id int REFERENCES parent_%s, note text)', v, v);
  END LOOP;
END \$\$;
SELECT steward.enable_soft_delete('parent_steward', create_views => false);
CREATE TRIGGER check_live_parent AFTER INSERT ON child_plpgsql FOR EACH ROW EXECUTE FUNCTION check_live_parent();
VACUUM ANALYZE;
SQL
declare -A BULK ONE
for v in plain steward plpgsql; do
  BULK[$v]=$(callgrind_instructions "SELECT 1;" "INSERT INTO child_$v SELECT g, 1 + g % 1000, 'n' FROM generate_series(1, $ROWS) g;")
  stmts=""
  for i in $(seq 1 "$ROWS"); do stmts+="INSERT INTO child_$v VALUES ($i, $((1 + i % 1000)), 'n');"$'\n'; done
  # the first statement warms the backend up (library, caches, plans)
  warm="INSERT INTO child_$v VALUES (0, 1, 'w');"
  ONE[$v]=$(( $(callgrind_instructions "SELECT 1;" "$warm"$'\n'"$stmts") - $(callgrind_instructions "SELECT 1;" "$warm") ))
done
# an UPDATE that leaves the key alone (the trigger has no column list: it
# fires and skips the row), on the rows inserted in one statement
declare -A UPD
for v in plain steward; do
  UPD[$v]=$(callgrind_instructions "INSERT INTO child_$v SELECT g, 1 + g % 1000, 'n' FROM generate_series(1, $ROWS) g;" \
            "UPDATE child_$v SET note = 'm';")
done
echo "CPU instructions per child row, $ROWS rows (callgrind, postgres --single)"
for v in plain steward plpgsql; do
  printf '  %-8s one statement %8d per row (+%6d)   one-row statements %8d per row (+%6d)\n' "$v" \
    $((BULK[$v] / ROWS)) $(((BULK[$v] - BULK[plain]) / ROWS)) $((ONE[$v] / ROWS)) $(((ONE[$v] - ONE[plain]) / ROWS))
done
printf '  UPDATE of another column, one statement: plain %d, steward %d per row (+%d)\n' \
  $((UPD[plain] / ROWS)) $((UPD[steward] / ROWS)) $(((UPD[steward] - UPD[plain]) / ROWS))
printf 'check cost, steward / plpgsql: one statement %.2f, one-row statements %.2f\n' \
  "$(bc -l <<<"(${BULK[steward]} - ${BULK[plain]}) / (${BULK[plpgsql]} - ${BULK[plain]})")" \
  "$(bc -l <<<"(${ONE[steward]} - ${ONE[plain]}) / (${ONE[plpgsql]} - ${ONE[plain]})")"
