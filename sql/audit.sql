-- Audit trail (docs/audit.md): enable/disable, what each action records,
-- options, actor and context, types, schema changes, errors.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE SCHEMA regress_audit;
SET search_path = regress_audit, public;

CREATE TABLE accounts (
    id integer PRIMARY KEY,
    owner text NOT NULL,
    balance numeric(12,2) NOT NULL DEFAULT 0,
    password text,
    note text
);
-- enable: true when something changed, false when called again the same way
SELECT steward.enable_audit('accounts');
SELECT steward.enable_audit('accounts');
SELECT table_name, full_row, log_noop, log_statement, excluded, redacted, trigger_enabled
  FROM steward.audited_tables;
SELECT tgname, tgtype FROM pg_trigger WHERE tgrelid = 'accounts'::regclass ORDER BY tgname;

-- a helper to show the log without ids and times
CREATE FUNCTION show_log(after bigint DEFAULT 0)
RETURNS TABLE(action text, row_key jsonb, old_row_key jsonb, old_values jsonb, new_values jsonb,
              changed_columns text[], actor text, context jsonb)
LANGUAGE sql AS $$
    SELECT l.action, l.row_key, l.old_row_key, l.old_values, l.new_values, l.changed_columns,
           l.actor, l.context
      FROM steward.audit_log l WHERE l.id > after ORDER BY l.id $$;
CREATE FUNCTION last_id() RETURNS bigint LANGUAGE sql
AS $$ SELECT COALESCE(max(id), 0) FROM steward.audit_records $$;

-- INSERT stores the new row, UPDATE the key and the changed columns, DELETE the old row
BEGIN;
SET LOCAL steward.actor = 'user-42';
SET LOCAL steward.audit_context = '{"request": "r-1"}';
INSERT INTO accounts VALUES (1, 'ann', 10, 'secret', NULL), (2, 'bob', 20, NULL, 'x');
UPDATE accounts SET balance = balance + 5 WHERE id = 1;
DELETE FROM accounts WHERE id = 2;
COMMIT;
SELECT * FROM show_log();
-- the actor is transaction scoped; other columns of the record
SELECT txid = lead(txid) OVER (ORDER BY id) AS same_txid, role_name = current_user AS role_ok,
       session_role = session_user AS session_ok, application_name, statement IS NULL AS no_statement,
       table_oid = 'accounts'::regclass::oid AS oid_ok, schema_name, table_name
  FROM steward.audit_log ORDER BY id LIMIT 1;
-- logged_at is the transaction start time, for every statement of the transaction
CREATE TABLE tx_probe (id int PRIMARY KEY, v int);
SELECT steward.enable_audit('tx_probe');
BEGIN;
INSERT INTO tx_probe VALUES (1, 1);
UPDATE tx_probe SET v = 2;
SELECT count(*) AS entries, bool_and(l.logged_at = now()) AS transaction_time,
       bool_and(l.logged_at < statement_timestamp()) AS not_statement_time
  FROM steward.audit_log l WHERE l.table_name = 'tx_probe';
COMMIT;
SELECT last_id() AS before \gset
-- no-op UPDATE: not recorded
UPDATE accounts SET owner = owner WHERE id = 1;
UPDATE accounts SET id = id;
SELECT count(*) AS logged FROM show_log(:before);
-- ... unless asked; options change with another call (nothing else changes)
SELECT steward.enable_audit('accounts', log_noop => true);
SELECT steward.enable_audit('accounts', log_noop => true);
UPDATE accounts SET owner = owner WHERE id = 1;
SELECT * FROM show_log(:before);
SELECT last_id() AS before \gset
-- full rows on UPDATE
SELECT steward.enable_audit('accounts', full_row => true, log_noop => false);
UPDATE accounts SET note = 'full' WHERE id = 1;
SELECT * FROM show_log(:before);
SELECT last_id() AS before \gset
-- excluded columns are never stored; redacted ones show that they changed
SELECT steward.enable_audit('accounts', full_row => false, excluded => '{note}', redacted => '{password}');
SELECT excluded, redacted FROM steward.audited_tables WHERE table_name = 'accounts'::regclass;
UPDATE accounts SET note = 'invisible' WHERE id = 1;
UPDATE accounts SET password = 'hunter2' WHERE id = 1;
INSERT INTO accounts VALUES (3, 'cy', 0, 'pw', 'hidden');
SELECT * FROM show_log(:before);
SELECT count(*) AS leaks FROM steward.audit_log
 WHERE (COALESCE(old_values, '{}') || COALESCE(new_values, '{}'))::text ~ 'hunter2|hidden|invisible|secret|"pw"';
SELECT last_id() AS before \gset
-- statement text only when asked per table
SELECT steward.enable_audit('accounts', log_statement => true);
UPDATE accounts SET balance = 1 WHERE id = 3;
SELECT statement FROM steward.audit_log WHERE id > :before;
SELECT steward.enable_audit('accounts', log_statement => false);
SELECT last_id() AS before \gset

-- the actor: too long is a clear error and nothing is written
BEGIN;
SELECT set_config('steward.actor', repeat('x', 257), true) IS NOT NULL AS set;
UPDATE accounts SET balance = 2 WHERE id = 3;
ROLLBACK;
SELECT balance FROM accounts WHERE id = 3;
BEGIN;
SET LOCAL steward.audit_context = 'not json';
UPDATE accounts SET balance = 2 WHERE id = 3;
ROLLBACK;
SELECT count(*) AS logged FROM show_log(:before);
-- 256 bytes is fine, and so is an empty actor (not recorded)
BEGIN;
SELECT set_config('steward.actor', repeat('y', 256), true) IS NOT NULL AS set;
UPDATE accounts SET balance = 3 WHERE id = 3;
SET LOCAL steward.actor = '';
UPDATE accounts SET balance = 4 WHERE id = 3;
COMMIT;
SELECT length(actor), new_values FROM steward.audit_log WHERE id > :before ORDER BY id;
SELECT last_id() AS before \gset

-- TRUNCATE is recorded (as one entry, no row data)
CREATE TABLE scratch (k text PRIMARY KEY);
SELECT steward.enable_audit('scratch');
INSERT INTO scratch VALUES ('a'), ('b');
TRUNCATE scratch;
SELECT * FROM show_log(:before);
SELECT last_id() AS before \gset

-- soft delete (contract with the soft-delete feature): a trigger named
-- steward_soft_delete whose first argument is the column
CREATE TABLE docs (id int PRIMARY KEY, title text, deleted_at timestamptz);
CREATE FUNCTION noop_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER steward_soft_delete BEFORE UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION noop_trigger('deleted_at');
SELECT steward.enable_audit('docs');
INSERT INTO docs VALUES (1, 'one', NULL);
UPDATE docs SET deleted_at = '2024-05-01 12:00+00' WHERE id = 1;
UPDATE docs SET title = 'uno' WHERE id = 1;
UPDATE docs SET deleted_at = NULL WHERE id = 1;
SELECT action, changed_columns FROM show_log(:before);
SELECT last_id() AS before \gset
-- ... and with the soft-delete feature itself: DELETE and steward.restore()
CREATE TABLE notes (id int PRIMARY KEY, body text);
SELECT steward.enable_soft_delete('notes', create_views => false);
SELECT steward.enable_audit('notes');
INSERT INTO notes VALUES (1, 'note');
DELETE FROM notes WHERE id = 1;
SELECT steward.restore('notes', '1');
SELECT action, changed_columns, new_values->>'deleted_at' IS NOT NULL AS deleted_at_set
  FROM steward.history('notes', 1);
SELECT last_id() AS before \gset

-- types: numeric, arrays, json/jsonb, bytea, enums, domains, composites,
-- timestamps, NULLs, TOASTed values; quoted and unicode names
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE TABLE "Typed ünï" (
    "Key Col" text,
    n2 int2, n8 int8, num numeric, f float8, flag boolean,
    arr int[], tarr text[], js json, jb jsonb, raw bytea,
    m mood, marr mood[], d posint, p pair, ts timestamptz, tsz timestamp, dt date,
    iv interval, u uuid, big text,
    PRIMARY KEY ("Key Col")
);
SELECT steward.enable_audit('"Typed ünï"');
INSERT INTO "Typed ünï" VALUES
    ('ключ 1', 1, 9007199254740993, 1.50, 'NaN', true, '{1,NULL,3}', '{"a b",c}', '{"x": [1, 2]}',
     '{"y": {"z": null}}', '\x00ff', 'happy', '{sad,ok}', 7, '(1,"two")', '2024-01-02 03:04:05+00',
     '2024-01-02 03:04:05', '2024-02-29', '1 day 2 hours', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
     NULL),
    ('nulls', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL);
SELECT row_key, new_values FROM show_log(:before);
-- a TOASTed value (compressed and out of line) is stored in full
UPDATE "Typed ünï" SET big = (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 2000) i)
 WHERE "Key Col" = 'nulls';
UPDATE "Typed ünï" SET m = 'sad' WHERE "Key Col" = 'nulls';
SELECT changed_columns, length(new_values->>'big') AS big_length,
       new_values->>'big' = (SELECT big FROM "Typed ünï" WHERE "Key Col" = 'nulls') AS big_equal
  FROM show_log(:before) WHERE action = 'UPDATE';
-- the log replays into exactly the table's rows (types round trip through jsonb)
SELECT k, jsonb_populate_record(NULL::"Typed ünï", steward.row_as_of('"Typed ünï"', k, now()))::text
           = (SELECT t::text FROM "Typed ünï" t WHERE "Key Col" = k) AS same
  FROM unnest(ARRAY['ключ 1', 'nulls']) k;
SELECT last_id() AS before \gset

-- composite keys, a key that changes, history and row_as_of
CREATE TABLE lines (order_id int, line int, qty int, PRIMARY KEY (order_id, line));
SELECT steward.enable_audit('lines');
INSERT INTO lines VALUES (1, 1, 5), (1, 2, 6);
UPDATE lines SET qty = 7 WHERE (order_id, line) = (1, 1);
UPDATE lines SET line = 3 WHERE (order_id, line) = (1, 2);
SELECT action, row_key, old_row_key, new_values, changed_columns FROM steward.history('lines', 1, 1);
SELECT action, row_key, old_row_key FROM steward.history('lines', 1, 2);
SELECT action, row_key, old_row_key FROM steward.history('lines', '1', '3');
SELECT steward.row_as_of('lines', 1, 3, now()) AS moved_row,
       steward.row_as_of('lines', 1, 2, now()) AS gone,
       steward.row_as_of('lines', 1, 1, '-infinity'::timestamptz) AS before_it_existed;
-- key errors
SELECT * FROM steward.history('lines', 1);
SELECT * FROM steward.history('lines', 1, 'x');
SELECT * FROM steward.history('lines', 1, '2024-01-01'::date);
SELECT * FROM steward.history('lines', 1, NULL::int);
SELECT * FROM steward.history(NULL, 1);
SELECT * FROM steward.history('pg_class', 1);
SELECT steward.row_as_of('lines', 1, 1);
SELECT steward.row_as_of('lines', 1, 1, 42);
SELECT steward.row_as_of('lines', 1, 1, '2024-01-01');
SELECT steward.row_as_of('lines', 1, 1, NULL::timestamptz);

-- schema changes keep auditing working and old history readable
ALTER TABLE lines ADD COLUMN price numeric;
UPDATE lines SET price = 9.5 WHERE (order_id, line) = (1, 1);
ALTER TABLE lines RENAME COLUMN qty TO quantity;
UPDATE lines SET quantity = 8 WHERE (order_id, line) = (1, 1);
ALTER TABLE lines ALTER COLUMN price TYPE text;
UPDATE lines SET price = 'ten' WHERE (order_id, line) = (1, 1);
ALTER TABLE lines DROP COLUMN price;
UPDATE lines SET quantity = 9 WHERE (order_id, line) = (1, 1);
SELECT action, old_values, new_values, changed_columns FROM steward.history('lines', 1, 1);
SELECT steward.row_as_of('lines', 1, 1, now());
-- a renamed redacted column stays redacted
ALTER TABLE accounts RENAME COLUMN password TO pw;
UPDATE accounts SET pw = 'renamed-secret' WHERE id = 1;
SELECT new_values FROM steward.audit_log WHERE table_name = 'accounts' ORDER BY id DESC LIMIT 1;
SELECT redacted FROM steward.audited_tables WHERE table_name = 'accounts'::regclass;
-- renaming the table: the log keeps the names as they were
ALTER TABLE scratch RENAME TO scratch2;
INSERT INTO scratch2 VALUES ('c');
SELECT table_name, action FROM steward.audit_log WHERE table_name LIKE 'scratch%' ORDER BY id;

-- partitioned tables: writes through the partitioned table, and to any of
-- its partitions directly, are recorded under the partitioned table, once
CREATE TABLE events (id int, region text, payload text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
CREATE TABLE events_us (payload text, region text NOT NULL, id int NOT NULL);
ALTER TABLE events ATTACH PARTITION events_us FOR VALUES IN ('us');
SELECT steward.enable_audit('events');
SELECT steward.enable_audit('events_eu');
INSERT INTO events VALUES (1, 'eu', 'a'), (2, 'us', 'b');
UPDATE events SET payload = 'c' WHERE id = 2;
UPDATE events SET region = 'us' WHERE id = 1;
SELECT table_name, action, row_key, old_row_key, new_values FROM steward.audit_log
 WHERE table_name = 'events' ORDER BY id;
SELECT last_id() AS before \gset
INSERT INTO events_us VALUES ('direct', 'us', 3);
UPDATE events_us SET payload = 'direct 2' WHERE id = 3;
DELETE FROM events_us WHERE id = 2;
INSERT INTO events_eu VALUES (9, 'eu', 'to be truncated');
-- partitions created or attached later, and sub-partitions, at any level
CREATE TABLE events_asia PARTITION OF events FOR VALUES IN ('asia') PARTITION BY RANGE (id);
CREATE TABLE events_asia_lo PARTITION OF events_asia FOR VALUES FROM (0) TO (100);
CREATE TABLE events_sa (id int NOT NULL, region text NOT NULL, payload text);
ALTER TABLE events ATTACH PARTITION events_sa FOR VALUES IN ('sa');
SELECT p.relid, steward._audit_trigger_count(p.relid, true) AS triggers
  FROM pg_partition_tree('events') p ORDER BY p.relid::text;
INSERT INTO events_asia_lo VALUES (4, 'asia', 'leaf');
INSERT INTO events_asia VALUES (5, 'asia', 'middle');
INSERT INTO events_sa VALUES (6, 'sa', 'attached');
-- TRUNCATE of a partition: one entry per row it removes (the history of
-- the other partitions' rows goes on)
TRUNCATE events_eu;
SELECT table_name, action, row_key, old_values, new_values FROM steward.audit_log
 WHERE id > :before ORDER BY id;
SELECT action, new_values FROM steward.history('events', 3, 'us');
SELECT steward.row_as_of('events', 9, 'eu', now()) AS truncated,
       steward.row_as_of('events', 3, 'us', now()) AS kept;
-- a detached partition is no longer audited (its copies of the triggers go)
ALTER TABLE events DETACH PARTITION events_sa;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'events_sa'::regclass;
SELECT last_id() AS before \gset
INSERT INTO events_sa VALUES (7, 'sa', 'detached');
SELECT count(*) AS logged FROM steward.audit_log WHERE id > :before;
-- the partitions' triggers cannot be dropped on their own
DROP TRIGGER steward_audit_insert ON events_us;

-- a table audited on its own and then attached as a partition of an
-- audited table: from then on its writes are recorded under the
-- partitioned table (its own history stays)
CREATE TABLE events_old (id int NOT NULL, region text NOT NULL, payload text, PRIMARY KEY (id, region));
SELECT steward.enable_audit('events_old');
INSERT INTO events_old VALUES (6, 'old', 'own');
ALTER TABLE events ATTACH PARTITION events_old FOR VALUES IN ('old');
INSERT INTO events_old VALUES (7, 'old', 'direct');
INSERT INTO events VALUES (8, 'old', 'through the parent');
SELECT table_name, action, row_key FROM steward.audit_log WHERE row_key->>'region' = 'old' ORDER BY id;
SELECT relation_name, trigger_enabled FROM steward.audited_tables WHERE relation_name LIKE 'events%';
-- TRUNCATE of the partitioned table: one entry, none from its partitions
SELECT last_id() AS before \gset
TRUNCATE events;
SELECT action, row_key FROM steward.audit_log WHERE id > :before;

-- tables without a primary key: the replica identity index, else a clear refusal
CREATE TABLE nokey (a int NOT NULL, b text);
SELECT steward.enable_audit('nokey');
CREATE UNIQUE INDEX nokey_a ON nokey (a);
ALTER TABLE nokey REPLICA IDENTITY USING INDEX nokey_a;
SELECT steward.enable_audit('nokey');
INSERT INTO nokey VALUES (1, 'x');
SELECT row_key FROM steward.history('nokey', 1);

-- dropping the key makes writes fail (the log identifies records by it)
CREATE TABLE keyed (id int PRIMARY KEY, v int);
SELECT steward.enable_audit('keyed');
INSERT INTO keyed VALUES (1, 1);
ALTER TABLE keyed DROP CONSTRAINT keyed_pkey;
INSERT INTO keyed VALUES (2, 2);
ALTER TABLE keyed ADD PRIMARY KEY (id);
INSERT INTO keyed VALUES (2, 2);
SELECT action, row_key FROM steward.history('keyed', 2);

-- bad input
SELECT steward.enable_audit(NULL);
SELECT steward.disable_audit(NULL);
CREATE TEMP TABLE temp_t (id int PRIMARY KEY);
SELECT steward.enable_audit('temp_t');
CREATE VIEW v AS SELECT 1 AS x;
SELECT steward.enable_audit('v');
CREATE FOREIGN DATA WRAPPER regress_audit_fdw;
CREATE SERVER regress_audit_server FOREIGN DATA WRAPPER regress_audit_fdw;
CREATE FOREIGN TABLE ft (a int) SERVER regress_audit_server;
SELECT steward.enable_audit('ft');
SELECT steward.enable_audit('steward.audit_records');
SELECT steward.enable_audit('steward.audit_tables');
SELECT steward.enable_audit('accounts', excluded => '{nope}');
SELECT steward.enable_audit('accounts', redacted => '{id}');
SELECT steward.enable_audit('accounts', excluded => '{note}', redacted => '{note}');
-- nothing half-done: options unchanged
SELECT excluded, redacted FROM steward.audited_tables WHERE table_name = 'accounts'::regclass;
-- the trigger outside its protocol
SELECT steward.audit_trigger();
CREATE TABLE plain (id int PRIMARY KEY);
CREATE TRIGGER t BEFORE INSERT ON plain FOR EACH ROW EXECUTE FUNCTION steward.audit_trigger();
INSERT INTO plain VALUES (1);
DROP TRIGGER t ON plain;
CREATE TRIGGER t AFTER INSERT ON plain FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_trigger();
INSERT INTO plain VALUES (1);
DROP TRIGGER t ON plain;
CREATE TRIGGER t AFTER INSERT ON plain FOR EACH ROW EXECUTE FUNCTION steward.audit_trigger();
INSERT INTO plain VALUES (1);
DROP TRIGGER t ON plain;
CREATE TRIGGER t AFTER INSERT ON accounts FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_trigger();
INSERT INTO accounts VALUES (99, 'nobody', 0);
DROP TRIGGER t ON accounts;

-- the key hash, for queries of your own on steward.audit_log
SELECT count(*) = (SELECT count(*) FROM steward.history('accounts', 1)) AS same_entries
  FROM steward.audit_log WHERE row_hash = steward.audit_key_hash('accounts', 1);

-- disable: history stays; idempotent
SELECT steward.disable_audit('scratch2');
SELECT steward.disable_audit('scratch2');
INSERT INTO scratch2 VALUES ('not logged');
SELECT count(*) FROM steward.audit_log WHERE new_values->>'k' = 'not logged';
SELECT count(*) AS tables FROM steward.audited_tables WHERE table_name = 'scratch2'::regclass;
-- re-enabling continues the same history
SELECT steward.enable_audit('scratch2');
SELECT count(DISTINCT table_id) FROM steward.audit_log WHERE table_name LIKE 'scratch%';
-- a new table shape first seen inside a rolled-back subtransaction: its
-- version row is rolled back, and the next write records a valid one
ALTER TABLE scratch2 ADD COLUMN extra int;
BEGIN;
SAVEPOINT a;
INSERT INTO scratch2 VALUES ('sp1', 1);
ROLLBACK TO a;
INSERT INTO scratch2 VALUES ('sp2', 2);
COMMIT;
SELECT action, new_values FROM steward.audit_log WHERE new_values->>'k' LIKE 'sp%';
-- dropping an audited table keeps its history
SELECT last_id() AS before \gset
DROP TABLE lines;
SELECT count(*) AS lines_history FROM steward.audit_log WHERE table_name = 'lines';
SELECT tbl, dropped_at IS NOT NULL AS dropped FROM steward.audit_tables WHERE table_name = 'lines';
-- ... whatever drops it: here DROP TYPE ... CASCADE of a typed table's type
CREATE TYPE row_type AS (id int, label text);
CREATE TABLE typed OF row_type (PRIMARY KEY (id));
SELECT steward.enable_audit('typed');
INSERT INTO typed VALUES (1, 'a');
DROP TYPE row_type CASCADE;
SELECT tbl, dropped_at IS NOT NULL AS dropped FROM steward.audit_tables WHERE table_name = 'typed';

-- retention: whole partitions; the creation function is idempotent
SELECT steward._audit_partition_for('2001-02-03')::text;
SELECT steward._audit_partition_for('2001-02-03')::text;
SELECT steward.audit_create_partitions(3) >= 0 AS ok;
SELECT steward.audit_create_partitions(-1);
-- steward.audit_key_index = deferred: a new partition gets its key index
-- once its day is over (audit_create_partitions builds it)
SET steward.audit_key_index = 'deferred';
SELECT steward._audit_partition_for('2001-02-04')::text;
SELECT to_regclass('steward.audit_records_p20010204_key') IS NULL AS no_key_index_yet;
SELECT steward.audit_create_partitions(0) >= 0 AS ok;
SELECT to_regclass('steward.audit_records_p20010204_key') IS NOT NULL AS key_index_built;
SET steward.audit_key_index = 'sometimes';
SELECT steward._audit_partition_for('2001-02-05');
RESET steward.audit_key_index;
SELECT steward.purge_audit('-1 day');
SELECT steward.purge_audit(NULL);
SELECT steward.purge_audit('1000 days');
SELECT to_regclass('steward.audit_records_p20010203') IS NULL AS purged;
SELECT steward.purge_audit('1 day') AS purged_recent;

-- monitoring: summaries and health checks
SELECT action, count(*) > 0 AS seen FROM steward.recent_activity GROUP BY action ORDER BY action;
SELECT table_name, action, sum(changes) FROM steward.audit_summary
 WHERE table_name = 'accounts' GROUP BY 1, 2 ORDER BY 1, 2;
SELECT check_name, value, warning, critical, status FROM steward._health_checks_audit();
ALTER TABLE accounts DISABLE TRIGGER steward_audit_update;
SELECT check_name, status, detail FROM steward._health_checks_audit() WHERE check_name = 'audit_triggers_missing';
ALTER TABLE accounts ENABLE TRIGGER steward_audit_update;

-- privileges: application roles write audited tables but cannot touch the log
CREATE ROLE regress_audit_app;
CREATE ROLE regress_audit_reader IN ROLE steward_auditor;
CREATE ROLE regress_audit_monitor IN ROLE steward_monitor;
GRANT USAGE ON SCHEMA regress_audit TO regress_audit_app, regress_audit_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON accounts TO regress_audit_app;
SET ROLE regress_audit_app;
INSERT INTO accounts VALUES (10, 'app', 1);
UPDATE accounts SET balance = 2 WHERE id = 10;
INSERT INTO steward.audit_records (id) VALUES (1);
UPDATE steward.audit_records SET actor = 'x';
DELETE FROM steward.audit_records;
TRUNCATE steward.audit_records;
SELECT count(*) FROM steward.audit_log;
SELECT * FROM steward.history('accounts', 10);
SELECT steward.enable_audit('accounts', full_row => true);
SELECT steward.disable_audit('accounts');
UPDATE steward.audit_tables SET excluded = '{balance}';
SELECT count(*) AS rows_changed FROM steward.audit_tables WHERE excluded = '{balance}';
SELECT steward.purge_audit('0');
RESET ROLE;
SET ROLE regress_audit_reader;
SELECT action, role_name, new_values FROM steward.history('accounts', 10);
INSERT INTO steward.audit_records (id) VALUES (1);
RESET ROLE;
SET ROLE regress_audit_monitor;
SELECT count(*) > 0 AS reads_activity FROM steward.recent_activity;
SELECT count(*) AS checks FROM steward._health_checks_audit();
RESET ROLE;

-- a table owner changes its own table's options only, with true stamps and
-- names, and the new options apply to the next write of the same session
CREATE ROLE regress_audit_owner;
CREATE SCHEMA regress_audit_own AUTHORIZATION regress_audit_owner;
GRANT USAGE ON SCHEMA regress_audit TO regress_audit_owner;
SET ROLE regress_audit_owner;
CREATE TABLE regress_audit_own.mine (id int PRIMARY KEY, secret text);
SELECT steward.enable_audit('regress_audit_own.mine');
INSERT INTO regress_audit_own.mine VALUES (1, 'visible');
UPDATE steward.audit_tables SET excluded = '{secret}', changed_by = 'alice', changed_at = '2000-01-01',
       schema_name = 'public', table_name = 'accounts'
 WHERE tbl = 'regress_audit_own.mine'::regclass;
UPDATE steward.audit_tables SET changed_by = 'alice' WHERE tbl = 'regress_audit_own.mine'::regclass;
UPDATE steward.audit_tables SET schema_name = 'public' WHERE tbl = 'regress_audit_own.mine'::regclass;
UPDATE steward.audit_tables SET excluded = '{nope}' WHERE tbl = 'regress_audit_own.mine'::regclass;
UPDATE steward.audit_tables SET redacted = '{id}' WHERE tbl = 'regress_audit_own.mine'::regclass;
BEGIN;
UPDATE steward.audit_tables SET excluded = '{secret}' WHERE tbl = 'regress_audit_own.mine'::regclass;
SELECT schema_name, table_name, excluded, changed_by = current_user AS by_me, changed_at = now() AS now
  FROM steward.audit_tables WHERE tbl = 'regress_audit_own.mine'::regclass;
COMMIT;
INSERT INTO regress_audit_own.mine VALUES (2, 'excluded now');
UPDATE steward.audit_tables SET excluded = '{}', redacted = '{secret}' WHERE tbl = 'regress_audit_own.mine'::regclass;
INSERT INTO regress_audit_own.mine VALUES (3, 'redacted now');
-- a row for another table, or with false names
INSERT INTO steward.audit_tables (tbl, schema_name, table_name) VALUES ('regress_audit.accounts', 'x', 'y');
CREATE TABLE regress_audit_own.other (id int PRIMARY KEY);
INSERT INTO steward.audit_tables (tbl, schema_name, table_name) VALUES ('regress_audit_own.other', 'public', 'accounts');
SELECT schema_name, table_name, changed_by = current_user AS by_me FROM steward.audit_tables
 WHERE tbl = 'regress_audit_own.other'::regclass;
RESET ROLE;
SELECT new_values FROM steward.audit_log WHERE schema_name = 'regress_audit_own' ORDER BY id;
DROP SCHEMA regress_audit_own CASCADE;

-- a statement of 16 rows or more packs its entries: sorted by key hash, many
-- to a log row (below 8 kB, in the heap page), found by their key range;
-- every reader sees them as single entries
SET search_path = regress_audit, public;
CREATE TABLE bulk (id int PRIMARY KEY, v int, note text);
SELECT steward.enable_audit('bulk', log_statement => true);
SELECT last_id() AS before \gset
INSERT INTO bulk SELECT g, g, 'n' || g FROM generate_series(1, 200) g;
UPDATE bulk SET v = v + 1 WHERE id % 2 = 0;
DELETE FROM bulk WHERE id > 180;
INSERT INTO bulk VALUES (1000, 0, 'single');
UPDATE bulk SET id = id + 500 WHERE id <= 20;  -- key moves: single entries
SELECT count(*) FILTER (WHERE entries IS NULL) AS single_rows,
       count(*) FILTER (WHERE entries IS NOT NULL) BETWEEN 3 AND 40 AS few_packed_rows,
       sum(cardinality(hashes)) AS packed_entries,
       bool_and(pg_column_size(r.*) < 8160) FILTER (WHERE entries IS NOT NULL) AS in_page,
       bool_and(hashes = (SELECT array_agg(h ORDER BY h::numeric + CASE WHEN h < 0 THEN 18446744073709551616 ELSE 0 END)
                          FROM unnest(hashes) h)) FILTER (WHERE entries IS NOT NULL) AS sorted_by_hash
  FROM steward.audit_records r
 WHERE id > :before AND table_id = (SELECT table_id FROM steward.audit_tables WHERE tbl = 'bulk'::regclass);
SELECT action, count(*), count(DISTINCT statement) AS statements,
       bool_and(row_hash = steward.audit_key_hash('bulk', (row_key->>'id')::int)) AS hash_of_key
  FROM steward.audit_log WHERE id > :before AND table_name = 'bulk' GROUP BY action ORDER BY action;
-- each packed entry's key point lies in its row's range, and its hash in its row's list
SELECT bool_and(r.key_range @> steward._audit_key_point(r.table_id, e.row_hash)
                AND e.row_hash = ANY (r.hashes)) AS covered
  FROM steward.audit_records r,
       steward._audit_entries(r.id, r.row_hash, r.old_hash, r.stored, r.changed, r.old_image, r.new_image, r.entries) e
 WHERE r.entries IS NOT NULL AND r.id > :before;
-- one record's history (through the key indexes: sequential scans off)
BEGIN;
SET LOCAL enable_seqscan = off;
SELECT action, old_values, new_values FROM steward.history('bulk', 2);
SELECT action, new_values FROM steward.history('bulk', 190);
SELECT action, row_key, old_row_key FROM steward.history('bulk', 503);
SELECT steward.row_as_of('bulk', 503, now()) AS moved, steward.row_as_of('bulk', 3, now()) AS gone,
       steward.row_as_of('bulk', 40, now()) AS updated;
COMMIT;
SELECT id, v FROM bulk WHERE id IN (3, 40, 503) ORDER BY id;
-- the summaries count entries, not log rows
SELECT action, changes FROM steward.audit_summary WHERE table_name = 'bulk' ORDER BY action;
SELECT count(*) FILTER (WHERE table_name = 'bulk') AS bulk_entries,
       bool_and(id > :before) AS newest FROM steward.recent_activity;
-- whole-row images are the rows' own tuples where the layout allows it:
-- rows written before ADD COLUMN (fewer attributes: the default is filled
-- in), a table with a dropped column, TOASTed values all decode the same
CREATE TABLE shapes (id int PRIMARY KEY, a int, big text);
SELECT steward.enable_audit('shapes');
INSERT INTO shapes SELECT g, g, CASE WHEN g = 1 THEN repeat(md5(g::text), 4000) END FROM generate_series(1, 20) g;
ALTER TABLE shapes ADD COLUMN b int DEFAULT 7;
SELECT last_id() AS before \gset
DELETE FROM shapes WHERE id <= 10;
SELECT count(*) AS deleted, bool_and((old_values->>'b')::int = 7) AS default_filled,
       bool_and(old_values->>'a' = old_values->>'id') AS values_kept,
       max(length(old_values->>'big')) AS toasted_length
  FROM steward.audit_log WHERE id > :before AND table_name = 'shapes';
ALTER TABLE shapes DROP COLUMN a;
SELECT last_id() AS before \gset
INSERT INTO shapes (id, big, b) SELECT g, 'x', g FROM generate_series(101, 120) g;
DELETE FROM shapes WHERE id BETWEEN 11 AND 20;
SELECT action, count(*), bool_and(COALESCE(new_values, old_values) ? 'a') AS has_dropped,
       bool_and((COALESCE(new_values, old_values)->>'b')::int IN (7) OR action = 'INSERT') AS b_ok,
       bool_and(action = 'DELETE' OR (new_values->>'b')::int = (new_values->>'id')::int) AS b_new
  FROM steward.audit_log WHERE id > :before AND table_name = 'shapes' GROUP BY action ORDER BY action;
SELECT steward.row_as_of('shapes', 105, now()) AS inserted_after_drop;
-- a new session's first write finds the table's latest version current
-- (one query, no new version); a change made meanwhile makes a new one
SELECT max(version_id) AS versions_before FROM steward.audit_versions \gset
\c
SET track_functions = 'all';       -- (the fast path reads the version in C: no _audit_prepare() call)
BEGIN;
INSERT INTO regress_audit.bulk VALUES (2000, 1, 'fresh session');
SELECT count(*) AS prepare_calls FROM pg_stat_xact_user_functions WHERE funcname = '_audit_prepare';
COMMIT;
SELECT max(version_id) = :versions_before AS same_version FROM steward.audit_versions;
ALTER TABLE regress_audit.bulk RENAME COLUMN note TO remark;
\c
SET track_functions = 'all';       -- (a renamed column: _audit_prepare() records a new version)
BEGIN;
INSERT INTO regress_audit.bulk VALUES (2001, 1, 'after rename');
SELECT calls AS prepare_calls FROM pg_stat_xact_user_functions WHERE funcname = '_audit_prepare';
COMMIT;
SELECT max(version_id) = :versions_before + 1 AS new_version, columns
  FROM steward.audit_versions WHERE version_id = (SELECT max(version_id) FROM steward.audit_versions) GROUP BY columns;
SELECT new_values FROM steward.audit_log WHERE table_name = 'bulk' AND (row_key->>'id')::int IN (2000, 2001) ORDER BY id;
\c
ALTER TABLE regress_audit.bulk ALTER COLUMN v TYPE bigint;
SELECT steward.enable_audit('regress_audit.bulk', redacted => '{remark}');
\c
INSERT INTO regress_audit.bulk VALUES (2002, 1, 'redacted now');
SELECT max(version_id) = :versions_before + 2 AS one_more_version, types, redacted
  FROM steward.audit_versions WHERE version_id = (SELECT max(version_id) FROM steward.audit_versions) GROUP BY types, redacted;
\c
INSERT INTO regress_audit.bulk VALUES (2003, 1, 'same again');
SELECT max(version_id) = :versions_before + 2 AS still_that_version FROM steward.audit_versions;
SELECT new_values FROM steward.audit_log WHERE table_name = 'bulk' AND (row_key->>'id')::int IN (2002, 2003) ORDER BY id;
SET search_path = regress_audit, public;
-- malformed packed data is an error, not a crash
SELECT * FROM steward._audit_entries(1, 1, NULL, NULL, NULL, NULL, NULL, '\x0102'::bytea);
SELECT * FROM steward._audit_entries(1, 1, NULL, NULL, NULL, NULL, NULL,
    ('\x' || repeat('00', 16) || 'fbff0000' || repeat('00', 12))::bytea);
SELECT * FROM steward._audit_entries(1, 1, NULL, NULL, NULL, NULL, NULL,
    ('\x' || repeat('00', 16) || 'ffffffff' || '08000000' || '00000000' || repeat('00', 4) || '0000000000000000')::bytea);
SELECT * FROM steward._audit_entries(1, 1, NULL, NULL, NULL, NULL, NULL,
    ('\x' || repeat('00', 16) || 'ffffffff' || 'ffff0000' || '00000000' || repeat('00', 4))::bytea);
-- a single entry passes through
SELECT * FROM steward._audit_entries(7, 8, 9, '{1}', '{2}', '\x01', NULL, NULL);
RESET search_path;

-- updated_at and audit on one table: an UPDATE that changes only excluded
-- columns moves the stamp but is a no-op for the log (unless log_noop);
-- a real change logs the stamp with it
SET search_path = regress_audit, public;
CREATE TABLE sessions (id int PRIMARY KEY, user_name text, last_seen_at timestamptz,
                       updated_at timestamptz NOT NULL DEFAULT '2000-01-01');
SELECT steward.track_updated_at('sessions');
SELECT steward.enable_audit('sessions', excluded => '{last_seen_at}');
INSERT INTO sessions VALUES (1, 'ann', now(), '2000-01-01');
SELECT last_id() AS before \gset
UPDATE sessions SET last_seen_at = now() + interval '1 minute';
SELECT updated_at > '2000-01-01' AS stamped FROM sessions;
SELECT count(*) AS logged FROM show_log(:before);
UPDATE sessions SET user_name = 'bea';
SELECT action, changed_columns, new_values - 'updated_at' AS new_values,
       new_values ? 'updated_at' AS stamp_logged FROM show_log(:before);
SELECT last_id() AS before \gset
-- with log_noop the stamp-only change is recorded
SELECT steward.enable_audit('sessions', log_noop => true);
UPDATE sessions SET last_seen_at = now() + interval '2 minutes';
SELECT action, changed_columns FROM show_log(:before);
SELECT last_id() AS before \gset
-- without updated_at tracking, a change of updated_at alone is a change
SELECT steward.enable_audit('sessions', log_noop => false);
SELECT steward.untrack_updated_at('sessions');
UPDATE sessions SET updated_at = '2001-01-01';
SELECT action, changed_columns, new_values FROM show_log(:before);
RESET search_path;

DROP SCHEMA regress_audit CASCADE;
DROP SERVER regress_audit_server;
DROP FOREIGN DATA WRAPPER regress_audit_fdw;
DROP OWNED BY regress_audit_app, regress_audit_reader, regress_audit_monitor, regress_audit_owner;
DROP ROLE regress_audit_app, regress_audit_reader, regress_audit_monitor, regress_audit_owner;
