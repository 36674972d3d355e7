-- Soft delete: enable/disable, marking, reads, restore, hard delete, purge,
-- cascade, uniqueness, partitioned tables, names, errors.
-- Output must not depend on preloading: pg_regress shows no command tags,
-- and every RETURNING below runs after enable_soft_delete() has loaded the
-- library in this session. Counts per configuration: test/t/010_soft_delete_clients.pl.
SET client_min_messages = warning;

CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL CONSTRAINT users_email_key UNIQUE, name text);
INSERT INTO users SELECT g, 'u' || g || '@example.com', 'user ' || g FROM generate_series(1, 6) g;

-- enable: adds the column, creates the trigger and the two views
SELECT steward.enable_soft_delete('users');
SELECT steward.enable_soft_delete('users');                -- idempotent: false
SELECT steward.enable_soft_delete('users', 'removed_at');  -- another column: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT a.attname, a.atttypid::regtype, a.attnotnull FROM pg_attribute a
 WHERE a.attrelid = 'users'::regclass AND a.attname = 'deleted_at';
SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'users'::regclass ORDER BY tgname;
SELECT table_name, column_name, live_view, deleted_view FROM steward.soft_delete_tables;
SELECT steward.soft_delete_mode();

-- DELETE marks; RETURNING returns the rows as marked
DELETE FROM users WHERE id IN (1, 2) RETURNING id, deleted_at = now() AS marked_now;
SELECT id, deleted_at IS NOT NULL AS deleted FROM users ORDER BY id;
SELECT id FROM users_live ORDER BY id;
SELECT id FROM users_deleted ORDER BY id;
-- deleting a deleted row keeps its first mark (and reports nothing)
UPDATE users SET deleted_at = '2020-01-01 00:00:00+00' WHERE id = 1;
DELETE FROM users WHERE id = 1 RETURNING id;
SELECT deleted_at = '2020-01-01 00:00:00+00' AS first_mark_kept FROM users WHERE id = 1;
-- DELETE through the live view marks as well
DELETE FROM users_live WHERE id = 3 RETURNING id, deleted_at IS NOT NULL AS marked;
-- a DELETE in WITH is rewritten too
WITH d AS (DELETE FROM users WHERE id = 4 RETURNING id) SELECT count(*) AS deleted_in_cte FROM d;
SELECT id, deleted_at IS NOT NULL AS deleted FROM users ORDER BY id;
-- EXPLAIN shows the UPDATE the DELETE becomes
EXPLAIN (COSTS OFF) DELETE FROM users WHERE id = 5;

-- the trigger path (what a session without the rewrite does): same rows
-- marked, nothing returned
SET steward.soft_delete_rewrite = off;
DELETE FROM users WHERE id = 5 RETURNING id;
SELECT id, deleted_at IS NOT NULL AS deleted FROM users ORDER BY id;
RESET steward.soft_delete_rewrite;

-- UPDATE triggers see a soft delete the same in both paths: statement
-- triggers once per statement, row triggers after every row is marked; the
-- trigger path adds the DELETE statement triggers
CREATE TABLE fired (id int PRIMARY KEY);
INSERT INTO fired SELECT generate_series(1, 4);
SELECT steward.enable_soft_delete('fired', create_views => false);
CREATE FUNCTION note_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE '% % %: % marked', TG_WHEN, TG_LEVEL, TG_OP, (SELECT count(*) FROM fired WHERE deleted_at IS NOT NULL);
    RETURN NULL;
END $$;
CREATE TRIGGER note_bs BEFORE UPDATE ON fired FOR EACH STATEMENT EXECUTE FUNCTION note_trigger();
CREATE TRIGGER note_ar AFTER UPDATE ON fired FOR EACH ROW EXECUTE FUNCTION note_trigger();
CREATE TRIGGER note_as AFTER UPDATE ON fired FOR EACH STATEMENT EXECUTE FUNCTION note_trigger();
CREATE TRIGGER note_ds AFTER DELETE ON fired FOR EACH STATEMENT EXECUTE FUNCTION note_trigger();
SET client_min_messages = notice;
DELETE FROM fired WHERE id IN (1, 2);
SET steward.soft_delete_rewrite = off;
DELETE FROM fired WHERE id IN (3, 4);
RESET steward.soft_delete_rewrite;
SET client_min_messages = warning;
DROP TABLE fired;
DROP FUNCTION note_trigger();

-- a soft delete is an UPDATE: updated_at moves (fast path or trigger)
ALTER TABLE users ADD COLUMN updated_at timestamptz NOT NULL DEFAULT '2000-01-01';
SELECT steward.track_updated_at('users');
DELETE FROM users WHERE id = 6;
SELECT id, updated_at > '2000-01-01' AS stamped FROM users WHERE id = 6;
UPDATE users SET updated_at = '2000-01-01';
SET steward.soft_delete_rewrite = off;
SELECT steward.restore('users', '6');
DELETE FROM users WHERE id = 6;
SELECT id, updated_at > '2000-01-01' AS stamped, deleted_at IS NOT NULL AS deleted FROM users WHERE id = 6;
RESET steward.soft_delete_rewrite;

-- restore by key: scalar, object, array; errors for rows that are not deleted
SELECT steward.restore('users', '1');
SELECT steward.restore('users', '{"id": 2}');
SELECT steward.restore('users', '[3, {"id": 4}]');
SELECT id FROM users_live ORDER BY id;
SELECT steward.restore('users', '1');                      -- live row: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.restore('users', '99');                     -- no such row: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.restore('users', '[5, 1]');                 -- one of them live: error, nothing restored
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT id FROM users_deleted ORDER BY id;
SELECT steward.restore('users', '{"email": "x"}');         -- key lacks the column
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.restore('users', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.restore(NULL, '1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.restore('users', '5', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- restore by condition (alias t)
SELECT steward.restore_where('users', 't.email LIKE ''u5%''');
SELECT steward.restore_where('users', 'id > 100');         -- nothing matches: 0
SELECT steward.restore_where('users', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.restore_where('users', 'no_such_column = 1');

-- uniqueness: a deleted row's email can be used again
SELECT steward.soft_delete_unique('users', 'users_email_key');
SELECT pg_get_indexdef('users_email_key'::regclass);
DELETE FROM users WHERE id = 6;
INSERT INTO users (id, email, name) VALUES (7, 'u6@example.com', 'again');
INSERT INTO users (id, email, name) VALUES (8, 'u6@example.com', 'dup');              -- live duplicate: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO users (id, email, name) VALUES (8, 'u6@example.com', 'upsert')
    ON CONFLICT (email) WHERE deleted_at IS NULL DO UPDATE SET name = excluded.name;
SELECT id, email, name, deleted_at IS NOT NULL AS deleted FROM users WHERE email = 'u6@example.com' ORDER BY id;
-- restoring user 6 now clashes with the live user 7: a clear error and a hint
SELECT steward.restore('users', '6');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT id, deleted_at IS NOT NULL AS deleted FROM users WHERE id = 6;
-- a unique index over live rows that exists already is kept, not doubled
CREATE TABLE accts (id int PRIMARY KEY, email text CONSTRAINT accts_email_key UNIQUE);
SELECT steward.soft_delete_unique('accts', 'accts_email_key');       -- not enabled: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.enable_soft_delete('accts', create_views => false);
CREATE UNIQUE INDEX accts_email_live ON accts (email) WHERE deleted_at IS NULL;
SET client_min_messages = notice;
SELECT steward.soft_delete_unique('accts', 'accts_email_key');
SET client_min_messages = warning;
SELECT indexrelid::regclass AS index, pg_get_expr(indpred, indrelid) AS predicate
  FROM pg_index WHERE indrelid = 'accts'::regclass ORDER BY 1;
DROP TABLE accts;
SELECT steward.soft_delete_unique('users', 'users_pkey');            -- primary key: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.soft_delete_unique('users', 'nope');                  -- missing: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ALTER TABLE users ADD CONSTRAINT users_name_check CHECK (name <> '');
SELECT steward.soft_delete_unique('users', 'users_name_check');      -- not unique: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ALTER TABLE users ADD CONSTRAINT users_name_key UNIQUE (name) DEFERRABLE;
SELECT steward.soft_delete_unique('users', 'users_name_key');        -- deferrable: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ALTER TABLE users DROP CONSTRAINT users_name_key, DROP CONSTRAINT users_name_check;
ALTER TABLE users ADD CONSTRAINT users_name_key UNIQUE (name);
CREATE TABLE refs (name text CONSTRAINT refs_name_fkey REFERENCES users (name));
SELECT steward.soft_delete_unique('users', 'users_name_key');        -- referenced: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE refs;
ALTER TABLE users DROP CONSTRAINT users_name_key;

-- hard delete: the only way past the soft delete
TRUNCATE users;                                                      -- refused
\echo SQLSTATE :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL steward.hard_delete = on;
TRUNCATE users;                                                      -- on purpose
SELECT count(*) AS rows_after_truncate FROM users;
ROLLBACK;
SELECT count(*) > 0 AS rows_back FROM users;
SELECT steward.hard_delete('users', '7');
SELECT steward.hard_delete('users', '7');                            -- gone: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.hard_delete_where('users', 't.deleted_at IS NOT NULL');
SELECT id, deleted_at IS NOT NULL AS deleted FROM users ORDER BY id;
SELECT current_setting('steward.hard_delete') AS hard_delete_after;  -- back to off
DELETE FROM users WHERE id = 5;                                      -- soft again
SELECT id, deleted_at IS NOT NULL AS deleted FROM users WHERE id = 5;
SELECT steward.hard_delete_where('users', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.hard_delete_where('users', 't.id = 5; DELETE FROM public.users');  -- one statement only
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.hard_delete('users', NULL);

-- purge: rows deleted before the cutoff, in batches
UPDATE users SET deleted_at = now() - interval '40 days' WHERE id = 5;
DELETE FROM users WHERE id = 1;
SELECT steward.purge_deleted_batch('users', '30 days');
SELECT id, deleted_at IS NOT NULL AS deleted FROM users ORDER BY id;
UPDATE users SET deleted_at = now() - interval '40 days' WHERE id IN (1, 2, 3);
CALL steward.purge_deleted('users', '30 days', 2);
SELECT id FROM users ORDER BY id;
SELECT steward.purge_deleted_batch('users', '-1 day');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.purge_deleted_batch('users', '1 day', 0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.purge_deleted_batch('users', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CALL steward.purge_deleted('users', '-1 day');

-- cascade: ON DELETE CASCADE children in enabled tables follow (same mark),
-- RESTRICT / NO ACTION refuse while live rows reference the parent
CREATE TABLE accounts (id int PRIMARY KEY, name text);
CREATE TABLE sessions (id int PRIMARY KEY, account_id int NOT NULL REFERENCES accounts ON DELETE CASCADE);
CREATE TABLE tokens (id int PRIMARY KEY, session_id int REFERENCES sessions ON DELETE CASCADE);
CREATE TABLE notes (id int PRIMARY KEY, account_id int REFERENCES accounts ON DELETE SET NULL);
CREATE TABLE logins (id int PRIMARY KEY, account_id int REFERENCES accounts ON DELETE CASCADE);  -- not enabled
INSERT INTO accounts VALUES (1, 'a'), (2, 'b'), (3, 'c');
INSERT INTO sessions VALUES (10, 1), (11, 1), (20, 2);
INSERT INTO tokens VALUES (100, 10), (101, 11), (200, 20);
INSERT INTO notes VALUES (1, 1);
INSERT INTO logins VALUES (1, 1);
SELECT steward.enable_soft_delete('accounts'), steward.enable_soft_delete('sessions'),
       steward.enable_soft_delete('tokens', create_views => false);
SELECT table_name, cascades FROM steward.soft_delete_summary ORDER BY table_name::text;
DELETE FROM accounts WHERE id = 1;
SELECT 'sessions' AS t, id, deleted_at = (SELECT deleted_at FROM accounts WHERE id = 1) AS same_mark FROM sessions
UNION ALL
SELECT 'tokens', id, deleted_at = (SELECT deleted_at FROM accounts WHERE id = 1) FROM tokens ORDER BY 1, 2;
SELECT id, account_id FROM notes;      -- SET NULL: left alone
SELECT id, account_id FROM logins;     -- child without soft delete: left alone
-- a child deleted on its own earlier keeps its own mark through restore
UPDATE tokens SET deleted_at = '2021-01-01' WHERE id = 101;
SELECT steward.restore('accounts', '1');
SELECT 'sessions' AS t, id, deleted_at IS NOT NULL AS deleted FROM sessions
UNION ALL SELECT 'tokens', id, deleted_at IS NOT NULL FROM tokens ORDER BY 1, 2;
-- restore without the children
DELETE FROM accounts WHERE id = 2;
SELECT steward.restore('accounts', '2', recursive => false);
SELECT id, deleted_at IS NOT NULL AS deleted FROM sessions WHERE id = 20;
-- restoring the session brings back its token (same mark); then the
-- trigger path cascades the same way
SELECT steward.restore('sessions', '20');
SET steward.soft_delete_rewrite = off;
DELETE FROM accounts WHERE id = 2;
RESET steward.soft_delete_rewrite;
SELECT 'accounts' AS t, id, deleted_at IS NOT NULL AS deleted FROM accounts WHERE id = 2
UNION ALL SELECT 'sessions', id, deleted_at IS NOT NULL FROM sessions WHERE id = 20
UNION ALL SELECT 'tokens', id, deleted_at IS NOT NULL FROM tokens WHERE id = 200 ORDER BY 1, 2;
-- RESTRICT / NO ACTION
CREATE TABLE invoices (id int PRIMARY KEY, account_id int REFERENCES accounts ON DELETE RESTRICT);
INSERT INTO invoices VALUES (1, 3);
SELECT table_name, cascades FROM steward.soft_delete_summary WHERE table_name = 'accounts'::regclass;
DELETE FROM accounts WHERE id = 3;                                   -- live invoice: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET steward.soft_delete_rewrite = off;
DELETE FROM accounts WHERE id = 3;                                   -- same error in the trigger path
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET steward.soft_delete_rewrite;
SELECT steward.enable_soft_delete('invoices');
DELETE FROM invoices WHERE id = 1;
DELETE FROM accounts WHERE id = 3;                                   -- invoice deleted: allowed
SELECT id, deleted_at IS NOT NULL AS deleted FROM accounts ORDER BY id;
-- a real delete of the parent really deletes cascaded children
SELECT steward.hard_delete('accounts', '1');
SELECT count(*) AS sessions_of_1 FROM sessions WHERE account_id = 1;
SELECT count(*) AS logins_of_1 FROM logins WHERE account_id = 1;
-- dropping the foreign keys removes the cascade trigger again
DROP TABLE invoices, notes, logins, tokens, sessions CASCADE;
SELECT table_name, cascades FROM steward.soft_delete_summary ORDER BY table_name::text;

-- a self-referencing tree: the cascade and the restore recurse
CREATE TABLE tree (id int PRIMARY KEY, parent_id int REFERENCES tree ON DELETE CASCADE);
INSERT INTO tree VALUES (1, NULL), (2, 1), (3, 2), (4, 1), (5, NULL);
SELECT steward.enable_soft_delete('tree', create_views => false);
DELETE FROM tree WHERE id = 1 RETURNING id;
SELECT id, deleted_at IS NOT NULL AS deleted FROM tree ORDER BY id;
SELECT steward.restore('tree', '1');
SELECT count(*) AS deleted FROM tree WHERE deleted_at IS NOT NULL;
DROP TABLE tree;

-- partitioned table, schema outside search_path, quoted names, composite key
CREATE SCHEMA "Sales Data";
CREATE TABLE "Sales Data"."Order Lines" (
    "Tenant" int, "Line No" int, amount numeric, PRIMARY KEY ("Tenant", "Line No")
) PARTITION BY LIST ("Tenant");
CREATE TABLE "Sales Data"."Order Lines 1" PARTITION OF "Sales Data"."Order Lines" FOR VALUES IN (1);
CREATE TABLE "Sales Data"."Order Lines 2" PARTITION OF "Sales Data"."Order Lines" FOR VALUES IN (2);
INSERT INTO "Sales Data"."Order Lines" SELECT t, l, l * 10 FROM generate_series(1, 2) t, generate_series(1, 3) l;
SELECT steward.enable_soft_delete('"Sales Data"."Order Lines 1"');  -- a partition: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.enable_soft_delete('"Sales Data"."Order Lines"', 'Gone At');
DELETE FROM "Sales Data"."Order Lines" WHERE "Line No" = 1 RETURNING "Tenant", "Line No", "Gone At" IS NOT NULL AS marked;
DELETE FROM "Sales Data"."Order Lines 2" WHERE "Line No" = 2 RETURNING "Tenant", "Line No";
SELECT tableoid::regclass, "Tenant", "Line No" FROM "Sales Data"."Order Lines" WHERE "Gone At" IS NOT NULL ORDER BY 2, 3;
SELECT "Tenant", "Line No" FROM "Sales Data"."Order Lines_live" ORDER BY 1, 2;
TRUNCATE "Sales Data"."Order Lines 2";                               -- a partition: refused too
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE "Sales Data"."Order Lines 3" PARTITION OF "Sales Data"."Order Lines" FOR VALUES IN (3);
SELECT tgrelid::regclass, tgname FROM pg_trigger
 WHERE tgrelid = '"Sales Data"."Order Lines 3"'::regclass ORDER BY tgname;  -- new partition guarded
ALTER TABLE "Sales Data"."Order Lines" DETACH PARTITION "Sales Data"."Order Lines 3";
TRUNCATE "Sales Data"."Order Lines 3";                               -- detached: free again
DROP TABLE "Sales Data"."Order Lines 3";
SELECT steward.restore('"Sales Data"."Order Lines"', '{"Tenant": 2, "Line No": 1}');
SELECT steward.restore('"Sales Data"."Order Lines"', '2');           -- composite key needs an object
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.restore_where('"Sales Data"."Order Lines"', 't."Tenant" = 1');
SELECT "Tenant", "Line No" FROM "Sales Data"."Order Lines_deleted" ORDER BY 1, 2;
SET steward.soft_delete_rewrite = off;
DELETE FROM "Sales Data"."Order Lines" WHERE "Tenant" = 1 AND "Line No" = 3;
RESET steward.soft_delete_rewrite;
SELECT "Tenant", "Line No" FROM "Sales Data"."Order Lines_deleted" ORDER BY 1, 2;
SELECT steward.hard_delete('"Sales Data"."Order Lines"', '[{"Tenant": 2, "Line No": 2}]');
DELETE FROM "Sales Data"."Order Lines" WHERE "Line No" = 3;
UPDATE "Sales Data"."Order Lines" SET "Gone At" = now() - interval '2 days' WHERE "Gone At" IS NOT NULL;
SELECT steward.purge_deleted_batch('"Sales Data"."Order Lines"', '1 day', 1);  -- one row per batch, across partitions
SELECT count(*) AS still_deleted FROM "Sales Data"."Order Lines" WHERE "Gone At" IS NOT NULL;
-- a child of the partitioned table: the cascade fires from the partition
CREATE TABLE "Sales Data"."Line Notes" (id int PRIMARY KEY, "Tenant" int, "Line No" int,
    FOREIGN KEY ("Tenant", "Line No") REFERENCES "Sales Data"."Order Lines" ON DELETE CASCADE);
INSERT INTO "Sales Data"."Line Notes" VALUES (1, 1, 2), (2, 2, 3);  -- (2, 3) is soft-deleted: refused
INSERT INTO "Sales Data"."Line Notes" VALUES (1, 1, 2), (2, NULL, NULL);
SELECT steward.enable_soft_delete('"Sales Data"."Line Notes"', create_views => false);
DELETE FROM "Sales Data"."Order Lines" WHERE "Line No" = 2;
SELECT id, deleted_at IS NOT NULL AS deleted FROM "Sales Data"."Line Notes" ORDER BY id;
SELECT steward.restore('"Sales Data"."Order Lines"', '{"Tenant": 1, "Line No": 2}');
SELECT id, deleted_at IS NOT NULL AS deleted FROM "Sales Data"."Line Notes" ORDER BY id;
SELECT table_name, column_name, live_rows, deleted_rows, counts_exact, counts FROM steward.soft_delete_summary
 WHERE table_name = '"Sales Data"."Order Lines"'::regclass;

-- the summary counts small tables (counts = exact), counts the deleted rows
-- through an index limited to them when there are few (deleted exact), and
-- estimates otherwise (estimate); the limit decides. 100 rows, 10 deleted,
-- analyzed; then 5 more deleted rows the statistics do not know about yet
CREATE TABLE summary_counts (id int PRIMARY KEY, deleted_at timestamptz);
INSERT INTO summary_counts SELECT g, CASE WHEN g % 10 = 0 THEN now() END FROM generate_series(1, 100) g;
SELECT steward.enable_soft_delete('summary_counts', create_views => false);
CREATE INDEX summary_counts_deleted ON summary_counts (id) WHERE deleted_at IS NOT NULL;
ANALYZE summary_counts;
INSERT INTO summary_counts SELECT g, now() FROM generate_series(101, 105) g;
SHOW steward.soft_delete_summary_exact_limit;
SELECT live_rows, deleted_rows, counts FROM steward.soft_delete_summary WHERE table_name = 'summary_counts'::regclass;
SET steward.soft_delete_summary_exact_limit = 100;  -- estimated 100 rows: not above
SELECT live_rows, deleted_rows, counts FROM steward.soft_delete_summary WHERE table_name = 'summary_counts'::regclass;
SET steward.soft_delete_summary_exact_limit = 99;   -- above; the index holds an estimated 10
SELECT live_rows, deleted_rows, counts_exact, counts FROM steward.soft_delete_summary WHERE table_name = 'summary_counts'::regclass;
SET steward.soft_delete_summary_exact_limit = 9;    -- the index is above too
SELECT live_rows, deleted_rows, counts FROM steward.soft_delete_summary WHERE table_name = 'summary_counts'::regclass;
SET steward.soft_delete_summary_exact_limit = 99;
DROP INDEX summary_counts_deleted;                  -- no index on the deleted rows
SELECT live_rows, deleted_rows, counts FROM steward.soft_delete_summary WHERE table_name = 'summary_counts'::regclass;
SET steward.soft_delete_summary_exact_limit = 'lots';
SET steward.soft_delete_summary_exact_limit = -1;
RESET steward.soft_delete_summary_exact_limit;
-- never analyzed: sized by the planner's estimate
CREATE TABLE summary_fresh (id int, deleted_at timestamptz);
INSERT INTO summary_fresh VALUES (1, NULL), (2, now());
SELECT steward.enable_soft_delete('summary_fresh', create_views => false);
SELECT live_rows, deleted_rows, counts FROM steward.soft_delete_summary WHERE table_name = 'summary_fresh'::regclass;
SET steward.soft_delete_summary_exact_limit = 0;
SELECT live_rows, deleted_rows, counts FROM steward.soft_delete_summary WHERE table_name = 'summary_fresh'::regclass;
RESET steward.soft_delete_summary_exact_limit;
DROP TABLE summary_counts, summary_fresh;

-- a long multibyte name: the view names keep their suffixes
CREATE TABLE "ÄäÖöÜüßÄäÖöÜüßÄäÖöÜüßÄäÖöÜüßx" (id int);
SELECT steward.enable_soft_delete('"ÄäÖöÜüßÄäÖöÜüßÄäÖöÜüßÄäÖöÜüßx"');
SELECT c.relname LIKE '%\_live' AS live_suffix, octet_length(c.relname) <= 63 AS fits,
       d.relname LIKE '%\_deleted' AS deleted_suffix, octet_length(d.relname) <= 63 AS fits
  FROM steward.soft_delete_tables s JOIN pg_class c ON c.oid = s.live_view JOIN pg_class d ON d.oid = s.deleted_view
 WHERE s.table_name = '"ÄäÖöÜüßÄäÖöÜüßÄäÖöÜüßÄäÖöÜüßx"'::regclass;
DROP TABLE "ÄäÖöÜüßÄäÖöÜüßÄäÖöÜüßÄäÖöÜüßx" CASCADE;

-- the longest names, all quote characters (quoting doubles them)
CREATE SCHEMA """""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""";
CREATE TABLE """"""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""."""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""" (id int PRIMARY KEY);
SELECT steward.enable_soft_delete('"""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""".""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""', create_views => false);
INSERT INTO """"""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""."""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""" VALUES (1), (2);
SET steward.soft_delete_rewrite = off;
DELETE FROM """"""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""."""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""" WHERE id = 1;
RESET steward.soft_delete_rewrite;
DELETE FROM """"""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""."""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""" WHERE id = 2 RETURNING id;
SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL) AS marked FROM """"""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""."""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""";
DROP SCHEMA """""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""""" CASCADE;

-- plain inheritance: the parent is left to the trigger (children without it
-- really lose their rows, as they would without the rewrite)
CREATE TABLE events (id int, deleted_at timestamptz);
CREATE TABLE events_2024 () INHERITS (events);
INSERT INTO events VALUES (1); INSERT INTO events_2024 VALUES (2);
SELECT steward.enable_soft_delete('events', create_views => false);
DELETE FROM events RETURNING id;
SELECT tableoid::regclass, id, deleted_at IS NOT NULL AS deleted FROM events ORDER BY id;
SELECT steward.restore('events', '1');                               -- no primary key: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.restore_where('events', 't.id = 1');
-- purge on a plain-inheritance parent names rows by (table, ctid): a ctid
-- repeats in the children, whose live rows must stay (found in review)
CREATE TABLE ev (id int, deleted_at timestamptz);
CREATE TABLE ev_child () INHERITS (ev);
INSERT INTO ev VALUES (1, now() - interval '40 days'), (2, now() - interval '40 days');
INSERT INTO ev_child VALUES (101), (102), (103);
SELECT steward.enable_soft_delete('ev', create_views => false);
SELECT steward.purge_deleted_batch('ev', '30 days');
SELECT tableoid::regclass, id, deleted_at IS NOT NULL AS deleted FROM ev ORDER BY id;
-- old marks in a child go too, batch by batch across the tables
INSERT INTO ev VALUES (3, now() - interval '40 days');
UPDATE ev_child SET deleted_at = now() - interval '40 days' WHERE id = 102;
CALL steward.purge_deleted('ev', '30 days', 1);
SELECT tableoid::regclass, id, deleted_at IS NOT NULL AS deleted FROM ev ORDER BY id;
DROP TABLE ev CASCADE;

-- bad input
CREATE VIEW users_view AS SELECT * FROM users;
SELECT steward.enable_soft_delete('users_view');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE MATERIALIZED VIEW users_mat AS SELECT 1 AS x;
SELECT steward.enable_soft_delete('users_mat');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE FOREIGN DATA WRAPPER regress_soft_delete_fdw;
CREATE SERVER regress_soft_delete_srv FOREIGN DATA WRAPPER regress_soft_delete_fdw;
CREATE FOREIGN TABLE remote_users (id int) SERVER regress_soft_delete_srv;
SELECT steward.enable_soft_delete('remote_users');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.enable_soft_delete(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TEMP TABLE temp_users (id int PRIMARY KEY, deleted_at timestamptz);
SELECT steward.enable_soft_delete('temp_users');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS registered FROM steward.soft_delete_tables WHERE table_name = 'temp_users'::regclass;
DROP TABLE temp_users;
SELECT steward.enable_soft_delete('users', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE wrong_type (id int, deleted_at date);
SELECT steward.enable_soft_delete('wrong_type');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE not_null (id int, deleted_at timestamptz NOT NULL);
SELECT steward.enable_soft_delete('not_null');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE generated (id int, deleted_at timestamptz GENERATED ALWAYS AS ('2020-01-01'::timestamptz) STORED);
SELECT steward.enable_soft_delete('generated');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE clash (id int);
CREATE VIEW clash_live AS SELECT 1 AS x;
SELECT steward.enable_soft_delete('clash');                          -- view name taken: error, nothing done
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS columns_added FROM pg_attribute WHERE attrelid = 'clash'::regclass AND attname = 'deleted_at';
CREATE FUNCTION other_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;
CREATE TRIGGER steward_soft_delete BEFORE DELETE ON clash FOR EACH ROW EXECUTE FUNCTION other_trigger();
SELECT steward.enable_soft_delete('clash', create_views => false);  -- someone else's trigger name: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- the list cannot be forged: registering needs the trigger, and only
-- entries whose trigger is gone can be removed
SELECT steward._soft_delete_register('clash', 'deleted_at', NULL, NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward._soft_delete_register('events', 'deleted_at', 'users_view', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward._soft_delete_unregister('events');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.restore('clash', '1');                                -- not enabled
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.purge_deleted_batch('clash', '1 day');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- the trigger function used by hand
SELECT steward._soft_delete_trigger();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE misuse (id int, deleted_at timestamptz);
INSERT INTO misuse VALUES (1);
CREATE TRIGGER t AFTER DELETE ON misuse FOR EACH ROW EXECUTE FUNCTION steward._soft_delete_trigger('deleted_at');
DELETE FROM misuse;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;
CREATE TRIGGER t BEFORE DELETE ON misuse FOR EACH ROW EXECUTE FUNCTION steward._soft_delete_trigger('nope');
DELETE FROM misuse;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;
CREATE TRIGGER t BEFORE DELETE ON misuse FOR EACH ROW EXECUTE FUNCTION steward._soft_delete_trigger();
DELETE FROM misuse;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;
CREATE TRIGGER t BEFORE DELETE ON misuse FOR EACH ROW EXECUTE FUNCTION steward._soft_delete_trigger('id');
DELETE FROM misuse;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER t ON misuse;

-- privileges: a soft delete is an UPDATE of the column
INSERT INTO users (id, email) VALUES (8, 'u8@example.com'), (9, 'u9@example.com');
CREATE ROLE regress_soft_delete_user;
GRANT SELECT, DELETE ON users TO regress_soft_delete_user;
SET ROLE regress_soft_delete_user;
DELETE FROM users WHERE id = 8;                                      -- no UPDATE privilege: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET steward.soft_delete_rewrite = off;
DELETE FROM users WHERE id = 8;                                      -- same in the trigger path
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET steward.soft_delete_rewrite;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted FROM users WHERE id = 8;
GRANT UPDATE (deleted_at) ON users TO regress_soft_delete_user;
SET ROLE regress_soft_delete_user;
DELETE FROM users WHERE id = 8 RETURNING id;
SELECT steward.disable_soft_delete('users');                         -- not the owner
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO steward.soft_delete_tables VALUES ('users', 'x');          -- the list is read-only
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.enable_soft_delete('users');                          -- not the owner
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
-- the TRIGGER privilege without ownership is not enough: enabling changes
-- the table (column, views)
CREATE TABLE trigger_only (id int PRIMARY KEY);
GRANT TRIGGER ON trigger_only TO regress_soft_delete_user;
SET ROLE regress_soft_delete_user;
SELECT steward.enable_soft_delete('trigger_only');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS columns_added FROM pg_attribute WHERE attrelid = 'trigger_only'::regclass AND attname = 'deleted_at';
DROP TABLE trigger_only;
-- steward_monitor reads the summary
GRANT steward_monitor TO regress_soft_delete_user;
SET ROLE regress_soft_delete_user;
SELECT table_name, live_rows, deleted_rows FROM steward.soft_delete_summary WHERE table_name = 'users'::regclass;
SELECT * FROM steward._soft_delete_counts('pg_authid', 'rolname');     -- not an enabled table: nothing
RESET ROLE;
REVOKE ALL ON users FROM regress_soft_delete_user;
DROP ROLE regress_soft_delete_user;

-- health check: a disabled trigger means DELETE really deletes
SELECT check_name, value, status, detail FROM steward._health_checks_soft_delete();
ALTER TABLE users DISABLE TRIGGER steward_soft_delete;
SELECT check_name, value, status, detail FROM steward._health_checks_soft_delete();
SELECT table_name, trigger_enabled FROM steward.soft_delete_summary WHERE table_name = 'users'::regclass;
ALTER TABLE users ENABLE TRIGGER steward_soft_delete;

-- a table owner without superuser rights uses every function
CREATE ROLE regress_soft_delete_owner;
CREATE SCHEMA regress_owned AUTHORIZATION regress_soft_delete_owner;
SET ROLE regress_soft_delete_owner;
CREATE TABLE regress_owned.parent (id int PRIMARY KEY);
CREATE TABLE regress_owned.child (id int PRIMARY KEY, parent_id int REFERENCES regress_owned.parent ON DELETE CASCADE);
INSERT INTO regress_owned.parent VALUES (1), (2);
INSERT INTO regress_owned.child VALUES (1, 1);
SELECT steward.enable_soft_delete('regress_owned.parent'), steward.enable_soft_delete('regress_owned.child');
DELETE FROM regress_owned.parent WHERE id = 1 RETURNING id;
SELECT count(*) AS children_deleted FROM regress_owned.child_deleted;
SELECT steward.restore('regress_owned.parent', '1');
DELETE FROM regress_owned.parent WHERE id = 2;
SELECT steward.hard_delete_where('regress_owned.parent', 't.id = 2');
SELECT steward.disable_soft_delete('regress_owned.child'), steward.disable_soft_delete('regress_owned.parent');
RESET ROLE;
DROP SCHEMA regress_owned CASCADE;
DROP ROLE regress_soft_delete_owner;

-- disable refuses while a view is built on the table's live view (nothing done)
CREATE TABLE reported (id int PRIMARY KEY);
SELECT steward.enable_soft_delete('reported');
CREATE VIEW reported_count AS SELECT count(*) AS n FROM reported_live;
SELECT steward.disable_soft_delete('reported');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS triggers_kept FROM pg_trigger WHERE tgrelid = 'reported'::regclass AND tgname LIKE 'steward%';
DROP VIEW reported_count;
SELECT steward.disable_soft_delete('reported');
DROP TABLE reported;

-- disable: DELETE removes rows again; column and marks stay; idempotent
SELECT steward.disable_soft_delete('users');
SELECT steward.disable_soft_delete('users');
SELECT to_regclass('users_live') AS live_view, count(*) FILTER (WHERE deleted_at IS NOT NULL) AS still_marked FROM users;
DELETE FROM users WHERE id = 9;                                      -- really removed
SELECT id FROM users ORDER BY id;
SELECT steward.disable_soft_delete(NULL);

-- dropping an enabled table or its column takes it off the list
DROP TABLE accounts CASCADE;
ALTER TABLE events DROP COLUMN deleted_at CASCADE;
SELECT table_name FROM steward.soft_delete_tables ORDER BY table_name::text;
SELECT count(*) AS leftover_triggers FROM pg_trigger WHERE tgname = 'steward_soft_delete' AND tgrelid = 'events'::regclass;

DROP SCHEMA "Sales Data" CASCADE;
DROP TABLE users, events, wrong_type, not_null, generated, clash, misuse CASCADE;
DROP FUNCTION other_trigger();
DROP MATERIALIZED VIEW users_mat;
DROP FOREIGN DATA WRAPPER regress_soft_delete_fdw CASCADE;
SELECT count(*) AS left_enabled FROM steward.soft_delete_tables;

-- steward.hard_delete cannot be made permanent
CREATE ROLE regress_soft_delete_role;
ALTER ROLE regress_soft_delete_role SET steward.hard_delete = on;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP ROLE regress_soft_delete_role;
SET steward.hard_delete = on;                                        -- in a session: allowed
RESET steward.hard_delete;

-- The views' names: the table name shortened to keep the suffix; a suffix
-- no name could hold is refused (it looped until cancelled)
SELECT steward._soft_delete_view_name(repeat('t', 63)::name, '_live') AS shortened;
SELECT steward._soft_delete_view_name('t', repeat('x', 63));

-- The internal helpers refuse bad calls with their own errors, before
-- running anything (they are called by pg_steward's functions and triggers)
SELECT steward._soft_delete_execute_hard(NULL, NULL, NULL, NULL);
SELECT steward._soft_delete_execute_hard('SELECT 1', NULL, NULL, NULL);
SELECT steward._soft_delete_cascade_update(NULL, 1);
SELECT steward._soft_delete_cascade_update('SELECT $1', 1);
-- outside a data-modifying statement, a cascade whose UPDATE fires AFTER
-- triggers cannot join the statement's triggers
CREATE TABLE sd_helper (id int PRIMARY KEY, deleted_at timestamptz);
INSERT INTO sd_helper VALUES (1);
CREATE FUNCTION sd_helper_after() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER sd_helper_after AFTER UPDATE ON sd_helper FOR EACH ROW EXECUTE FUNCTION sd_helper_after();
SELECT steward._soft_delete_cascade_update('UPDATE public.sd_helper SET deleted_at = now() WHERE id = $1', 1);
DROP TABLE sd_helper;
DROP FUNCTION sd_helper_after();
