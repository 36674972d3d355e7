-- updated_at maintenance: steward.set_updated_at(), track/untrack, tracked_tables.
SET timezone = 'UTC';
CREATE SCHEMA ua;
SET search_path = ua, public;

-- A typical table: the trigger stamps NULLs on INSERT and every UPDATE.
CREATE TABLE tasks (id int PRIMARY KEY, title text, status text,
                    updated_at timestamptz NOT NULL DEFAULT '2000-01-01');
SELECT steward.track_updated_at('tasks');
SELECT steward.track_updated_at('tasks');            -- idempotent: nothing changes
SELECT table_name, column_name, inherited, enabled FROM steward.tracked_tables;

BEGIN;
INSERT INTO tasks (id, title, status) VALUES (1, 'a', 'new');           -- default kept
INSERT INTO tasks VALUES (2, 'b', 'new', '1999-12-31');                 -- explicit kept
SELECT id, updated_at FROM tasks ORDER BY id;
COMMIT;

BEGIN;
UPDATE tasks SET status = 'running' WHERE id = 1;
SELECT id, updated_at = now() AS stamped_now FROM tasks ORDER BY id;
COMMIT;

-- An explicit assignment wins; SET updated_at = updated_at keeps the stamp.
UPDATE tasks SET status = 'done', updated_at = '2020-02-02' WHERE id = 1;
UPDATE tasks SET status = 'done', updated_at = updated_at WHERE id = 2;
SELECT id, status, updated_at FROM tasks ORDER BY id;

-- A no-op UPDATE is still an UPDATE: the stamp moves (docs/updated_at.md).
BEGIN;
UPDATE tasks SET status = status;
SELECT count(*) FILTER (WHERE updated_at = now()) AS stamped FROM tasks;
ROLLBACK;

-- INSERT of NULL is stamped (the column may be nullable).
CREATE TABLE notes (id int, body text, updated_at timestamptz);
SELECT steward.track_updated_at('notes');
BEGIN;
INSERT INTO notes VALUES (1, 'x', NULL), (2, 'y', '2001-01-01');
COPY notes FROM stdin;
3	z	\N
\.
SELECT id, updated_at = now() AS stamped_now, updated_at = '2001-01-01' AS kept FROM notes ORDER BY id;
COMMIT;

-- The trigger path and the statement fast path give the same rows.
CREATE TABLE twin_a (id int PRIMARY KEY, v int, updated_at timestamptz);
CREATE TABLE twin_b (id int PRIMARY KEY, v int, updated_at timestamptz);
SELECT steward.track_updated_at('twin_a'), steward.track_updated_at('twin_b');
INSERT INTO twin_a SELECT g, g, '2000-01-01' FROM generate_series(1, 5) g;
INSERT INTO twin_b SELECT g, g, '2000-01-01' FROM generate_series(1, 5) g;
BEGIN;
SET LOCAL steward.updated_at_fast_path = off;
UPDATE twin_a SET v = v * 10 WHERE id <= 3;
UPDATE twin_a SET v = v + 1, updated_at = '2010-01-01' WHERE id = 5;
SET LOCAL steward.updated_at_fast_path = on;
UPDATE twin_b SET v = v * 10 WHERE id <= 3;
UPDATE twin_b SET v = v + 1, updated_at = '2010-01-01' WHERE id = 5;
SELECT a.id, a.v, b.v AS v_b, a.updated_at = now() AS a_now, b.updated_at = now() AS b_now,
       a.updated_at IS NOT DISTINCT FROM b.updated_at AS same_stamp
  FROM twin_a a JOIN twin_b b USING (id) ORDER BY id;
COMMIT;

-- With the library loaded, the fast path stamps in the statement: no
-- trigger call is left for the executor. Turned off, the trigger runs.
LOAD 'pg_steward';
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) UPDATE twin_a SET v = v + 1;
EXPLAIN (VERBOSE, COSTS OFF) UPDATE twin_a SET v = v + 1;
SET steward.updated_at_fast_path = off;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) UPDATE twin_a SET v = v + 1;
RESET steward.updated_at_fast_path;
-- An explicit assignment needs no trigger call either.
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
    UPDATE twin_a SET v = v + 1, updated_at = '2011-01-01';

-- A prepared UPDATE follows untrack/track (plans are invalidated).
PREPARE bump(int) AS UPDATE twin_a SET v = v + 1 WHERE id = $1;
EXECUTE bump(1);
SELECT steward.untrack_updated_at('twin_a');
SELECT steward.untrack_updated_at('twin_a');         -- not tracked: false
EXECUTE bump(2);
SELECT id, updated_at FROM twin_a WHERE id = 2;
SELECT steward.track_updated_at('twin_a');
BEGIN;
EXECUTE bump(2);
SELECT id, updated_at = now() AS stamped_now FROM twin_a WHERE id = 2;
COMMIT;
DEALLOCATE bump;

-- timestamp without time zone, typmods and domains.
CREATE DOMAIN stamp_d AS timestamptz CHECK (VALUE > '2000-01-01');
CREATE DOMAIN old_stamp_d AS timestamptz CHECK (VALUE < '2000-01-01');
CREATE TABLE kinds (id int PRIMARY KEY, v int,
                    local_ts timestamp, ts0 timestamptz(0), dom stamp_d, old_dom old_stamp_d);
SELECT steward.track_updated_at('kinds', 'local_ts');
INSERT INTO kinds VALUES (1, 0, '2000-01-01', '2000-01-01', '2001-01-01', '1999-01-01');
BEGIN;
UPDATE kinds SET v = 1;
SELECT local_ts = now()::timestamp AS local_is_session_time FROM kinds;
COMMIT;
SELECT steward.track_updated_at('kinds', 'ts0');        -- re-points the trigger
SELECT column_name FROM steward.tracked_tables WHERE table_name = 'kinds'::regclass;
BEGIN;
UPDATE kinds SET v = 2;
SELECT ts0 = now()::timestamptz(0) AS rounded_to_typmod FROM kinds;
COMMIT;
SELECT steward.track_updated_at('kinds', 'dom');
BEGIN;
UPDATE kinds SET v = 3;
SELECT dom = now() AS domain_stamped FROM kinds;
COMMIT;
-- a domain whose check rejects the stamp: the UPDATE fails in both paths
SELECT steward.track_updated_at('kinds', 'old_dom');
UPDATE kinds SET v = 4;
SET steward.updated_at_fast_path = off;
UPDATE kinds SET v = 4;
RESET steward.updated_at_fast_path;
SELECT v, old_dom FROM kinds;

-- Quoted, mixed-case and unicode names in a schema outside search_path.
CREATE SCHEMA "Other Schema";
CREATE TABLE "Other Schema"."Tâches ""x""" (id int PRIMARY KEY, "Geändert Am" timestamptz);
SELECT steward.track_updated_at('"Other Schema"."Tâches ""x"""', 'Geändert Am');
BEGIN;
INSERT INTO "Other Schema"."Tâches ""x""" VALUES (1, NULL);
UPDATE "Other Schema"."Tâches ""x""" SET id = 2;
SELECT id, "Geändert Am" = now() AS stamped_now FROM "Other Schema"."Tâches ""x""";
COMMIT;
SELECT table_name, schema_name, relation_name, column_name FROM steward.tracked_tables
 WHERE schema_name = 'Other Schema';

-- Dropped columns, columns added later, NULLs before the stamp column.
CREATE TABLE wide (a int, b text, c int, d text, updated_at timestamptz, e int);
SELECT steward.track_updated_at('wide');
INSERT INTO wide VALUES (1, 'one', NULL, repeat('x', 5000), '2000-01-01', 1);
ALTER TABLE wide DROP COLUMN b;
ALTER TABLE wide ADD COLUMN f text DEFAULT 'f';
INSERT INTO wide (a, c, d, updated_at, e) VALUES (2, 2, NULL, '2000-01-01', 2);
BEGIN;
UPDATE wide SET e = e + 1;
SELECT a, c, length(d) AS d_len, updated_at = now() AS stamped_now, e, f FROM wide ORDER BY a;
COMMIT;
ALTER TABLE wide DROP COLUMN updated_at;
UPDATE wide SET e = 0;                                 -- the trigger reports the missing column
ALTER TABLE wide ADD COLUMN updated_at timestamptz;
BEGIN;
UPDATE wide SET e = 0;
SELECT a, updated_at = now() AS stamped_now FROM wide ORDER BY a;
COMMIT;

-- Partitioned tables: partitions, partitions attached later (with another
-- column order), rows moving between partitions.
CREATE TABLE events (kind text, id int, updated_at timestamptz, note text) PARTITION BY LIST (kind);
CREATE TABLE events_a PARTITION OF events FOR VALUES IN ('a');
SELECT steward.track_updated_at('events');
CREATE TABLE events_b (note text, dropme int, updated_at timestamptz, id int, kind text);
ALTER TABLE events_b DROP COLUMN dropme;
ALTER TABLE events ATTACH PARTITION events_b FOR VALUES IN ('b');
SELECT table_name, column_name, inherited FROM steward.tracked_tables
 WHERE table_name::text LIKE 'events%' ORDER BY 1;
INSERT INTO events VALUES ('a', 1, '2000-01-01', 'n'), ('b', 2, '2000-01-01', 'n');
BEGIN;
UPDATE events SET note = 'm';
SELECT kind, id, updated_at = now() AS stamped_now FROM events ORDER BY id;
COMMIT;
BEGIN;
UPDATE events SET kind = 'b' WHERE id = 1;             -- moves to events_b
SET LOCAL steward.updated_at_fast_path = off;
UPDATE events_b SET note = 'direct' WHERE id = 2;      -- a partition directly, trigger path
SELECT tableoid::regclass, id, note, updated_at = now() AS stamped_now FROM events ORDER BY id;
COMMIT;
SELECT steward.untrack_updated_at('events_b');          -- inherited: refused
ALTER TABLE events ADD COLUMN seen_at timestamptz;
SELECT steward.track_updated_at('events_b', 'seen_at'); -- inherited: refused
SELECT steward.track_updated_at('events_b');            -- same column: nothing to change

-- Plain inheritance: a child without the trigger is not stamped by an
-- UPDATE of the parent (in both paths); UPDATE ONLY the parent is.
CREATE TABLE inh_parent (id int, updated_at timestamptz);
SELECT steward.track_updated_at('inh_parent');
CREATE TABLE inh_child () INHERITS (inh_parent);
INSERT INTO inh_parent VALUES (1, '2000-01-01');
INSERT INTO inh_child VALUES (2, '2000-01-01');
BEGIN;
UPDATE inh_parent SET id = id + 10;
SELECT tableoid::regclass, id, updated_at = now() AS stamped_now FROM inh_parent ORDER BY id;
ROLLBACK;
BEGIN;
UPDATE ONLY inh_parent SET id = id + 10;
SELECT tableoid::regclass, id, updated_at = now() AS stamped_now FROM inh_parent ORDER BY id;
ROLLBACK;

-- Through an updatable view, UPDATE ... FROM, and ON CONFLICT DO UPDATE.
CREATE VIEW open_tasks AS SELECT * FROM tasks WHERE status <> 'archived';
BEGIN;
UPDATE open_tasks SET title = 'via view' WHERE id = 2;
UPDATE tasks t SET title = s.t FROM (VALUES (1, 'from')) s(id, t) WHERE t.id = s.id;
INSERT INTO tasks (id, title, status) VALUES (1, 'upsert', 'new')
    ON CONFLICT (id) DO UPDATE SET title = excluded.title;
SELECT id, title, updated_at = now() AS stamped_now FROM tasks ORDER BY id;
COMMIT;
UPDATE tasks SET updated_at = '2000-01-01';
BEGIN;
MERGE INTO tasks t USING (VALUES (2, 'merged')) s(id, title) ON t.id = s.id
    WHEN MATCHED THEN UPDATE SET title = s.title;
SELECT id, title, updated_at = now() AS stamped_now FROM tasks ORDER BY id;
COMMIT;

-- Bad input: clear errors, nothing installed.
SELECT steward.track_updated_at('no_such_table');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.track_updated_at(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.track_updated_at('tasks', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.track_updated_at('tasks', 'no_such_column');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.track_updated_at('tasks', 'title');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.track_updated_at('open_tasks');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x;
SELECT steward.track_updated_at('mv');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE FOREIGN DATA WRAPPER dummy_fdw;
CREATE SERVER dummy_srv FOREIGN DATA WRAPPER dummy_fdw;
CREATE FOREIGN TABLE ft (id int, updated_at timestamptz) SERVER dummy_srv;
SELECT steward.track_updated_at('ft');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE gen (id int, t timestamptz GENERATED ALWAYS AS ('2000-01-01'::timestamptz) STORED);
SELECT steward.track_updated_at('gen', 't');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS triggers_on_rejected FROM pg_trigger
 WHERE tgrelid IN ('gen'::regclass, 'ft'::regclass) AND tgname = 'steward_updated_at';

-- The trigger function misused by hand.
SELECT steward.set_updated_at();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE misuse (id int, updated_at timestamptz, n int);
INSERT INTO misuse VALUES (1, NULL, 0);
CREATE TRIGGER t_after AFTER UPDATE ON misuse FOR EACH ROW EXECUTE FUNCTION steward.set_updated_at();
UPDATE misuse SET n = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER t_after ON misuse;
CREATE TRIGGER t_stmt BEFORE UPDATE ON misuse FOR EACH STATEMENT EXECUTE FUNCTION steward.set_updated_at();
UPDATE misuse SET n = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER t_stmt ON misuse;
CREATE TRIGGER t_del BEFORE DELETE ON misuse FOR EACH ROW EXECUTE FUNCTION steward.set_updated_at();
DELETE FROM misuse;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER t_del ON misuse;
CREATE TRIGGER t_args BEFORE UPDATE ON misuse FOR EACH ROW EXECUTE FUNCTION steward.set_updated_at('updated_at', 'n');
UPDATE misuse SET n = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER t_args ON misuse;
CREATE TRIGGER t_type BEFORE UPDATE ON misuse FOR EACH ROW EXECUTE FUNCTION steward.set_updated_at('n');
UPDATE misuse SET n = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER t_type ON misuse;
CREATE TRIGGER t_col BEFORE UPDATE ON misuse FOR EACH ROW EXECUTE FUNCTION steward.set_updated_at('nope');
UPDATE misuse SET n = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER t_col ON misuse;
SELECT n, updated_at FROM misuse;

-- Privileges: creating the trigger needs the TRIGGER privilege.
CREATE ROLE regress_ua_user;
GRANT USAGE ON SCHEMA ua TO regress_ua_user;
GRANT SELECT, UPDATE ON misuse TO regress_ua_user;
SET ROLE regress_ua_user;
SELECT steward.track_updated_at('misuse');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT TRIGGER ON misuse TO regress_ua_user;
SET ROLE regress_ua_user;
SELECT steward.track_updated_at('misuse');
-- Column privileges: stamping needs no UPDATE right on the stamp column.
RESET ROLE;
REVOKE UPDATE ON misuse FROM regress_ua_user;
GRANT UPDATE (n) ON misuse TO regress_ua_user;
SET ROLE regress_ua_user;
BEGIN;
UPDATE misuse SET n = 2;
SELECT n, updated_at = now() AS stamped_now FROM misuse;
COMMIT;
UPDATE misuse SET updated_at = now();                  -- but assigning it does
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP OWNED BY regress_ua_user;
DROP ROLE regress_ua_user;

RESET search_path;
DROP SCHEMA ua CASCADE;
DROP SCHEMA "Other Schema" CASCADE;
DROP SERVER dummy_srv;
DROP FOREIGN DATA WRAPPER dummy_fdw;
