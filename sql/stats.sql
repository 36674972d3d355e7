-- Stats views, thresholds and health() (docs/stats.md).
-- The library is loaded explicitly so the steward.* thresholds are real GUCs
-- in both regress modes (plain sessions load it on first use otherwise; the
-- placeholder path without the library is covered by test/t/040_stats_standby.pl).
LOAD 'pg_steward';
CREATE SCHEMA regress_stats;
SET search_path = regress_stats, public;

-- == settings ==================================================================
-- The GUCs defined by the library and the SQL fallback defaults agree:
-- names, defaults, bounds (each bound taken, one beyond refused) and units
-- (a duration takes a unit, nothing else does).
SELECT pg_catalog.count(*) AS settings,
       pg_catalog.count(*) FILTER (WHERE s.name IS NULL) AS missing_gucs,
       pg_catalog.count(*) FILTER (WHERE s.boot_val::numeric <> d.default_value
                                      OR s.vartype <> 'string'
                                      OR s.context <> 'user') AS mismatches
  FROM steward._stats_setting_defaults() d
  LEFT JOIN pg_catalog.pg_settings s ON s.name = d.name;
CREATE FUNCTION regress_stats.takes(setting text, val text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config(setting, val, true);
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END $$;
BEGIN;
SELECT pg_catalog.count(*) FILTER (WHERE NOT regress_stats.takes(d.name, d.min_value::text)
                                      OR NOT regress_stats.takes(d.name, d.max_value::text)
                                      OR regress_stats.takes(d.name, (d.min_value - 1)::text)
                                      OR regress_stats.takes(d.name, (d.max_value + 0.5)::text)
                                      OR regress_stats.takes(d.name, '1s') <> (d.unit IN ('s', 'ms'))) AS bound_or_unit_mismatches
  FROM steward._stats_setting_defaults() d;
ROLLBACK;
DROP FUNCTION regress_stats.takes(text, text);
SELECT pg_catalog.count(*) AS gucs_without_sql_default
  FROM pg_catalog.pg_settings s
 WHERE s.name ~ '^steward\.' AND s.name <> 'steward.updated_at_fast_path'
   AND s.name NOT IN (SELECT d.name FROM steward._stats_setting_defaults() d)
   AND s.name ~ '_(warning|critical|min_rows|min_calls|min_mean)$';

-- Values in their base unit, whatever unit SET used.
SET steward.long_query_warning = '2min';
SET steward.slow_query_min_mean = '1s';
SET steward.cache_hit_warning = 98.5;
SELECT name, value, unit, default_value, source FROM steward.health_thresholds
 WHERE name IN ('steward.long_query_warning', 'steward.slow_query_min_mean',
                'steward.cache_hit_warning', 'steward.xid_age_warning')
 ORDER BY name;
RESET steward.long_query_warning;
RESET steward.slow_query_min_mean;
RESET steward.cache_hit_warning;
SELECT steward._stats_setting('steward.long_query_warning') AS reset_to_default;

-- Bad values are refused by the GUC (22023, the setting named, a hint with
-- the form it takes); unknown names by the reader.
SET steward.sequence_warning = 101;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET steward.lock_wait_warning = '5 parsecs';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET steward.slow_query_min_mean = 'fast';
SET steward.xid_age_warning = '1e9';
SET steward.dead_tuples_min_rows = '10s';

-- The audit log's and the queue's thresholds are listed and checked the
-- same way, and stored as plain numbers in their unit (their checks cast
-- them to numeric).
SELECT name, value, unit, default_value, source FROM steward.health_thresholds
 WHERE name ~ '^steward\.(queue|audit)_' ORDER BY name;
SET steward.audit_partitions_ahead_warning = '3 days';
SET steward.queue_expired_leases_warning = 'some';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET steward.queue_dead_jobs_1d_critical = 3000000000;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET steward.queue_oldest_ready_seconds_warning = '10min';
SET steward.queue_dead_jobs_1d_warning = ' 5 ';
SELECT pg_catalog.current_setting('steward.queue_oldest_ready_seconds_warning') AS stored,
       pg_catalog.current_setting('steward.queue_oldest_ready_seconds_warning')::numeric AS cast_by_the_queue,
       pg_catalog.current_setting('steward.queue_dead_jobs_1d_warning') AS dead_stored;
SELECT name, value, source FROM steward.health_thresholds
 WHERE name IN ('steward.queue_oldest_ready_seconds_warning', 'steward.queue_dead_jobs_1d_warning') ORDER BY name;
RESET steward.queue_oldest_ready_seconds_warning;
RESET steward.queue_dead_jobs_1d_warning;
SELECT steward._stats_setting('steward.no_such_threshold');

-- == classification ===========================================================
SELECT v, w, c, steward.health_status(v, w, c) AS status
  FROM (VALUES (50, 80, 95), (80, 80, 95), (81, 80, 95), (96, 80, 95),  -- higher is worse
               (99.5, 99, 95), (99, 99, 95), (98, 99, 95), (90, 99, 95), -- lower is worse
               (NULL, 80, 95), (1, 0, NULL), (0, 0, NULL), (5, NULL, NULL),
               ('NaN', 1, 2), (3, NULL, 2)) x(v, w, c);

-- == table_health ===============================================================
CREATE TABLE regress_stats.accounts (id integer PRIMARY KEY, owner text, note text)
  WITH (autovacuum_enabled = false);
CREATE INDEX accounts_owner ON regress_stats.accounts (owner);
ALTER TABLE regress_stats.accounts ALTER COLUMN note SET STORAGE EXTERNAL;
INSERT INTO regress_stats.accounts
SELECT g, 'owner ' || (g % 10), CASE WHEN g <= 3 THEN pg_catalog.repeat('x', 5000) END
  FROM pg_catalog.generate_series(1, 2000) g;
SELECT pg_catalog.pg_stat_force_next_flush();   -- counts the insert before ANALYZE resets them
ANALYZE regress_stats.accounts;
DELETE FROM regress_stats.accounts WHERE id > 1400;
SELECT pg_catalog.pg_stat_force_next_flush();
SELECT table_name, kind, estimated_rows, live_tuples, dead_tuples, dead_percent,
       last_analyze IS NOT NULL AS analyzed, last_vacuum IS NULL AS never_vacuumed,
       changes_since_analyze, xid_age BETWEEN 1 AND 1000000 AS young, xid_wraparound_percent
  FROM steward.table_health WHERE schema_name = 'regress_stats';
-- Rows inserted, updated (HOT among them) and deleted since the statistics
-- were reset: pg_stat_user_tables' n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del.
CREATE TABLE regress_stats.ledger (id integer PRIMARY KEY, amount integer);
INSERT INTO regress_stats.ledger SELECT g, g FROM pg_catalog.generate_series(1, 10) g;
UPDATE regress_stats.ledger SET amount = 0 WHERE id <= 3;
DELETE FROM regress_stats.ledger WHERE id > 8;
SELECT pg_catalog.pg_stat_force_next_flush();
SELECT h.table_name, h.tuples_inserted, h.tuples_updated, h.tuples_deleted,
       h.tuples_hot_updated = s.n_tup_hot_upd AND h.tuples_hot_updated <= h.tuples_updated AS hot_matches
  FROM steward.table_health h JOIN pg_catalog.pg_stat_user_tables s ON s.relid = h.relation
 WHERE h.schema_name = 'regress_stats' ORDER BY h.table_name;
-- The check's scan: the worst share of dead tuples among tables with enough rows.
SELECT w.relid::regclass AS worst, w.dead, w.live FROM steward._dead_tuples_worst(1000) w;
SELECT w.relid, w.dead, w.live FROM steward._dead_tuples_worst(2000000000) w;
-- Sizes without locks equal what pg_table_size()/pg_indexes_size() report.
SELECT table_bytes + toast_bytes = pg_catalog.pg_table_size(relation) AS table_and_toast_match,
       toast_bytes > 0 AS has_toast,
       index_bytes = pg_catalog.pg_indexes_size(relation) AS indexes_match,
       total_bytes = pg_catalog.pg_total_relation_size(relation) AS total_matches,
       total_size = pg_catalog.pg_size_pretty(pg_catalog.pg_total_relation_size(relation)) AS pretty_matches
  FROM steward.table_health WHERE relation = 'regress_stats.accounts'::regclass;
-- Reading the view takes no lock on the tables it reports.
BEGIN;
SELECT pg_catalog.count(*) > 0 AS listed FROM steward.table_health WHERE schema_name = 'regress_stats';
SELECT pg_catalog.count(*) AS locks_on_reported_tables
  FROM pg_catalog.pg_locks l
 WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation'
   AND l.relation IN (SELECT c.oid FROM pg_catalog.pg_class c
                       WHERE c.relnamespace = 'regress_stats'::regnamespace);
COMMIT;
-- Scans are counted per table and over its indexes.
SET enable_seqscan = off;
SELECT pg_catalog.count(*) FROM regress_stats.accounts WHERE id = 7;
RESET enable_seqscan;
SELECT pg_catalog.pg_stat_force_next_flush();
SELECT index_scans >= 1 AS index_scan_counted FROM steward.table_health
 WHERE relation = 'regress_stats.accounts'::regclass;
-- Sizes of relations without storage, unknown oids.
CREATE VIEW regress_stats.v AS SELECT 1 AS one;
SELECT steward._relation_bytes('regress_stats.v'::regclass) AS view_bytes,
       steward._relation_bytes(0) AS unknown_oid,
       steward._relation_bytes(NULL) AS null_oid,
       steward._relation_bytes('pg_catalog.pg_class'::regclass) = (SELECT pg_catalog.sum(pg_catalog.pg_relation_size('pg_catalog.pg_class', f))
           FROM pg_catalog.unnest('{main,fsm,vm,init}'::text[]) f) AS mapped_catalog,
       steward._relation_bytes('pg_catalog.pg_database'::regclass) = (SELECT pg_catalog.sum(pg_catalog.pg_relation_size('pg_catalog.pg_database', f))
           FROM pg_catalog.unnest('{main,fsm,vm,init}'::text[]) f) AS shared_catalog;
CREATE TEMP TABLE regress_stats_temp AS SELECT g FROM pg_catalog.generate_series(1, 1000) g;
SELECT steward._relation_bytes('regress_stats_temp'::regclass) = pg_catalog.pg_table_size('regress_stats_temp') AS own_temp_table,
       pg_catalog.count(*) FILTER (WHERE table_name = 'regress_stats_temp') AS temp_listed
  FROM steward.table_health;
DROP TABLE regress_stats_temp;

-- == index_health ===============================================================
CREATE TABLE regress_stats.orders (id bigint PRIMARY KEY, customer integer, status text, note text);
CREATE INDEX orders_customer ON regress_stats.orders (customer);
CREATE INDEX orders_customer_again ON regress_stats.orders (customer);             -- duplicate
CREATE INDEX orders_customer_desc ON regress_stats.orders (customer DESC);         -- other order
CREATE INDEX orders_customer_hash ON regress_stats.orders USING hash (customer);   -- other method
CREATE INDEX orders_customer_incl ON regress_stats.orders (customer) INCLUDE (status); -- other columns
CREATE INDEX orders_lower ON regress_stats.orders (lower(note));
CREATE INDEX orders_lower_again ON regress_stats.orders (  lower( note ) );        -- duplicate expression
CREATE INDEX orders_note_pattern ON regress_stats.orders (note text_pattern_ops);  -- other opclass
CREATE INDEX orders_note ON regress_stats.orders (note);
CREATE INDEX orders_open ON regress_stats.orders (customer) WHERE status = 'open';
CREATE INDEX orders_open_again ON regress_stats.orders (customer) WHERE (status = 'open'); -- duplicate predicate
CREATE INDEX orders_closed ON regress_stats.orders (customer) WHERE status = 'closed';    -- other predicate
CREATE UNIQUE INDEX orders_id_again ON regress_stats.orders (id);                  -- repeats the primary key
INSERT INTO regress_stats.orders VALUES (1, 1, 'open', 'a'), (2, 1, 'open', 'a');
CREATE UNIQUE INDEX CONCURRENTLY orders_note_unique ON regress_stats.orders (note); -- fails: invalid
SELECT index_name, issue, detail, fix, index_bytes > 0 AS has_size, scans
  FROM steward.index_health WHERE schema_name = 'regress_stats' AND issue <> 'unused'
 ORDER BY index_name, issue;
-- Unused: never scanned, not unique, backing no constraint (primary key and
-- unique indexes are not listed; the invalid index is listed as invalid only).
SELECT pg_catalog.string_agg(index_name, ', ' ORDER BY index_name) AS unused
  FROM steward.index_health WHERE schema_name = 'regress_stats' AND issue = 'unused';
SET enable_seqscan = off;
SELECT pg_catalog.count(*) FROM regress_stats.orders WHERE customer = 1 AND status = 'closed';
RESET enable_seqscan;
SELECT pg_catalog.pg_stat_force_next_flush();
SELECT pg_catalog.count(*) AS orders_closed_still_unused
  FROM steward.index_health WHERE index_name = 'orders_closed' AND issue = 'unused';
-- Asking for the problems alone does not compute the unused rows (each one
-- a statistics lookup per index): the filter reaches the view's branches.
CREATE FUNCTION regress_stats.plan_of(q text) RETURNS SETOF text LANGUAGE plpgsql
AS $$ BEGIN RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || q; END $$;
SELECT pg_catalog.count(*) FILTER (WHERE p ~ 'CTE Scan|pg_stat_get_numscans') AS per_index_work
  FROM regress_stats.plan_of($q$SELECT * FROM steward.index_health WHERE issue <> 'unused'$q$) p;
-- The suggested fix works and the index leaves the report.
DROP INDEX regress_stats.orders_customer_again;
SELECT pg_catalog.count(*) AS duplicates_left FROM steward.index_health
 WHERE schema_name = 'regress_stats' AND issue = 'duplicate';
-- pg_steward's own indexes (queue, audit log) are never listed as unused or
-- duplicate: no fix ever drops one. An index on a steward table that repeats
-- _job_ready and was never scanned would be both.
CREATE INDEX regress_job_ready_again ON steward._job (queue_id, prio, run_at, id) WHERE state = 'ready';
SELECT pg_catalog.count(*) AS listed FROM steward.index_health WHERE index_name = 'regress_job_ready_again';
SELECT pg_catalog.count(*) FILTER (WHERE issue IN ('unused', 'duplicate')) AS steward_unused_or_duplicate,
       pg_catalog.count(*) FILTER (WHERE fix ~ '^(DROP|ALTER TABLE)') AS steward_drop_fixes
  FROM steward.index_health WHERE schema_name = 'steward';
SELECT c->>'detail' !~ 'regress_job_ready_again' AS not_in_duplicate_check
  FROM pg_catalog.jsonb_array_elements(steward.health()->'checks') c WHERE c->>'name' = 'duplicate_indexes';
-- ... while table_health still shows pg_steward's tables (the audit log's growth)
SELECT pg_catalog.count(*) > 0 AS steward_tables_listed FROM steward.table_health WHERE schema_name = 'steward';
DROP INDEX steward.regress_job_ready_again;

-- == sequence_health ==========================================================
CREATE TABLE regress_stats.events (id serial PRIMARY KEY);
CREATE TABLE regress_stats.tiny (id smallint GENERATED BY DEFAULT AS IDENTITY);
CREATE SEQUENCE regress_stats.wide_seq;                              -- bigint sequence ...
CREATE TABLE regress_stats.narrow (id integer DEFAULT pg_catalog.nextval('regress_stats.wide_seq')); -- ... on an int column
CREATE SEQUENCE regress_stats.down_seq INCREMENT BY -1 MINVALUE -100 MAXVALUE -1;
CREATE SEQUENCE regress_stats.fresh_seq;
SELECT pg_catalog.setval('regress_stats.events_id_seq', 2040109465);   -- 95% of integer
SELECT pg_catalog.setval('regress_stats.tiny_id_seq', 32700);          -- 99.8% of smallint
SELECT pg_catalog.setval('regress_stats.wide_seq', 1073741824);        -- 50% of integer
SELECT pg_catalog.setval('regress_stats.down_seq', -50);
SELECT sequence_name, data_type, used_by, last_value, max_value, remaining_calls, percent_used, cycles, status
  FROM steward.sequence_health WHERE schema_name = 'regress_stats' ORDER BY sequence_name;
-- Reading them leaves no lock behind (pg_sequence_last_value() would keep one per sequence).
BEGIN;
SELECT pg_catalog.count(*) AS sequences, pg_catalog.count(last_value) AS called FROM steward.sequence_health WHERE schema_name = 'regress_stats';
SELECT pg_catalog.count(*) AS locks_on_sequences
  FROM pg_catalog.pg_locks l
 WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation'
   AND l.relation IN (SELECT s.seqrelid FROM pg_catalog.pg_sequence s);
COMMIT;
SELECT steward._sequence_last_value('regress_stats.events'::regclass) AS not_a_sequence,
       steward._sequence_last_value(0) AS unknown_oid,
       steward._sequence_last_value('regress_stats.fresh_seq'::regclass) AS never_called;
SET steward.sequence_warning = 96;
SET steward.sequence_critical = 99.9;
SELECT sequence_name, percent_used, status FROM steward.sequence_health
 WHERE schema_name = 'regress_stats' AND percent_used > 0 ORDER BY sequence_name;
RESET steward.sequence_warning;
RESET steward.sequence_critical;
-- The smallest integer column a sequence feeds limits it, domains resolved;
-- health()'s summary agrees with the view.
CREATE DOMAIN regress_stats.small_id AS smallint;
CREATE SEQUENCE regress_stats.shared_seq;
CREATE TABLE regress_stats.two_users (a bigint DEFAULT pg_catalog.nextval('regress_stats.shared_seq'),
                                      b regress_stats.small_id DEFAULT pg_catalog.nextval('regress_stats.shared_seq'));
SELECT pg_catalog.setval('regress_stats.shared_seq', 16384);
SELECT sequence_name, data_type, used_by, max_value, remaining_calls, percent_used
  FROM steward.sequence_health WHERE sequence = 'regress_stats.shared_seq'::regclass;
SELECT s.highest_percent = (SELECT pg_catalog.max(percent_used) FROM steward.sequence_health) AS highest_matches,
       s.highest = (SELECT sequence FROM steward.sequence_health
                     ORDER BY percent_used DESC, sequence::oid LIMIT 1) AS sequence_matches,
       s.above_warning = (SELECT pg_catalog.count(*) FROM steward.sequence_health WHERE percent_used > 49.99) AS count_matches
  FROM steward._sequence_summary(4999) s;
ALTER TABLE regress_stats.two_users ALTER COLUMN b DROP DEFAULT;   -- only the bigint column is left
SELECT sequence_name, used_by, max_value, percent_used
  FROM steward.sequence_health WHERE sequence = 'regress_stats.shared_seq'::regclass;
DROP TABLE regress_stats.two_users;
DROP SEQUENCE regress_stats.shared_seq;
DROP DOMAIN regress_stats.small_id;

-- == sessions ====================================================================
SELECT state, connections >= CASE state WHEN 'active' THEN 1 WHEN 'total' THEN 1 ELSE 0 END AS plausible,
       max_connections = pg_catalog.current_setting('max_connections')::integer AS max_ok
  FROM steward.connections;
SELECT (SELECT connections FROM steward.connections WHERE state = 'total')
     = (SELECT pg_catalog.sum(connections) FROM steward.connections WHERE state <> 'total') AS total_is_sum;
-- this_database: the same counts for the current database only (one
-- statement: pg_stat_activity is read once per transaction)
SELECT (SELECT this_database FROM steward.connections WHERE state = 'total')
       = (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity a
           WHERE a.backend_type = 'client backend' AND a.datname = pg_catalog.current_database()) AS this_database_total,
       (SELECT this_database FROM steward.connections WHERE state = 'total')
       = (SELECT pg_catalog.sum(this_database) FROM steward.connections WHERE state <> 'total') AS this_database_is_sum,
       (SELECT this_database >= 1 FROM steward.connections WHERE state = 'active') AS counts_itself,
       (SELECT pg_catalog.bool_and(this_database <= connections) FROM steward.connections) AS at_most_all;
-- Time in a state is never negative, also for the reading session itself
-- (its state changed just after its statement's timestamp).
SELECT pg_catalog.bool_and(longest_in_state >= interval '0') AS never_negative,
       (SELECT longest_in_state IS NOT NULL FROM steward.connections WHERE state = 'active') AS active_has_one
  FROM steward.connections WHERE longest_in_state IS NOT NULL;
-- The monitoring session itself is never listed, even at zero thresholds.
SET steward.long_query_warning = 0;
SET steward.long_transaction_warning = 0;
SET steward.idle_in_transaction_warning = 0;
BEGIN;
SELECT pg_catalog.count(*) AS self_listed FROM steward.long_running WHERE pid = pg_catalog.pg_backend_pid();
COMMIT;
RESET steward.long_query_warning;
RESET steward.long_transaction_warning;
RESET steward.idle_in_transaction_warning;
SELECT pg_catalog.count(*) AS blocked FROM steward.blocking;

-- == cache_hit ===================================================================
SELECT kind, hit_percent BETWEEN 0 AND 100 AS in_range,
       status = CASE WHEN hits + reads < 10000 THEN 'ok'
                     ELSE steward.health_status(hit_percent, 99, 95) END AS status_follows_thresholds
  FROM steward.cache_hit WHERE hits + reads > 0;
SELECT pg_catalog.array_agg(kind ORDER BY kind) AS kinds FROM steward.cache_hit;
-- Counters that move as expected: in a database of its own (no other
-- session, no other user table touched), after pg_stat_reset() the table and
-- index rows start at zero; each sequential scan of a controlled table adds
-- exactly its pages as hits (all in shared buffers: no reads); an index scan
-- moves the index row; the database row holds at least the sum.
SELECT pg_catalog.current_database() AS regress_db \gset
CREATE DATABASE regress_stats_cache;
\c regress_stats_cache
SET client_min_messages = warning;
CREATE EXTENSION pg_steward;
RESET client_min_messages;
CREATE TABLE cache_probe (id integer PRIMARY KEY, pad text) WITH (autovacuum_enabled = false);
INSERT INTO cache_probe SELECT g, pg_catalog.repeat('x', 200) FROM pg_catalog.generate_series(1, 300) g;
SELECT pg_catalog.pg_relation_size('cache_probe') / 8192 AS pages;
SELECT pg_catalog.pg_stat_force_next_flush();   -- the insert's counts, before the reset
SELECT pg_catalog.pg_stat_reset();
SELECT kind, hits, reads, hit_percent, status FROM steward.cache_hit WHERE kind <> 'database';
SELECT pg_catalog.count(*) FROM cache_probe;
SELECT pg_catalog.pg_stat_force_next_flush();
SELECT kind, hits, reads, hit_percent, status FROM steward.cache_hit WHERE kind <> 'database';
SELECT pg_catalog.count(*) FROM cache_probe;
SELECT pg_catalog.pg_stat_force_next_flush();
SELECT kind, hits, reads, hit_percent, status FROM steward.cache_hit WHERE kind <> 'database';
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT id FROM cache_probe WHERE id = 150;
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT pg_catalog.pg_stat_force_next_flush();
SELECT kind, hits, reads FROM steward.cache_hit WHERE kind = 'table';
SELECT (SELECT hits FROM steward.cache_hit WHERE kind = 'index') > 0 AS index_hits_moved,
       (SELECT reads FROM steward.cache_hit WHERE kind = 'index') AS index_reads,
       (SELECT hits FROM steward.cache_hit WHERE kind = 'database')
         >= (SELECT pg_catalog.sum(hits) FROM steward.cache_hit WHERE kind <> 'database') AS database_holds_the_sum;
-- a table created after the backend's first call counts too (the view
-- keeps which relation is what per backend, and learns new ones); a
-- temporary table does not
CREATE TABLE cache_probe2 (id integer) WITH (autovacuum_enabled = false);
INSERT INTO cache_probe2 VALUES (1);
CREATE TEMPORARY TABLE cache_probe_temp (id integer);
INSERT INTO cache_probe_temp VALUES (1);
SELECT pg_catalog.pg_stat_force_next_flush();
SELECT pg_catalog.pg_stat_reset_single_table_counters('cache_probe2'::regclass);
SELECT pg_catalog.count(*) FROM cache_probe2, cache_probe_temp;
SELECT pg_catalog.pg_stat_force_next_flush();
SELECT kind, hits, reads FROM steward.cache_hit WHERE kind = 'table';
DROP TABLE cache_probe2;
SELECT kind, hits, reads FROM steward.cache_hit WHERE kind = 'table';
-- the table and index rows are the sums of every user relation's counters
-- (read here in a database nobody else touches: the view reads the current
-- shared counters, pg_stat_get_blocks_*() the transaction's snapshot)
SELECT c.kind, c.hits = s.hits AND c.reads = s.reads AS sums_match
  FROM steward.cache_hit c
  JOIN (SELECT CASE WHEN r.relkind = 'i' THEN 'index' ELSE 'table' END AS kind,
               pg_catalog.sum(pg_catalog.pg_stat_get_blocks_hit(r.oid)) AS hits,
               pg_catalog.sum(pg_catalog.pg_stat_get_blocks_fetched(r.oid) - pg_catalog.pg_stat_get_blocks_hit(r.oid)) AS reads
          FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
         WHERE r.relkind IN ('r', 'm', 'i') AND steward._is_user_schema(n.nspname)
         GROUP BY 1) s ON s.kind = c.kind
 ORDER BY c.kind;
\c :regress_db
DROP DATABASE regress_stats_cache;
SET search_path = regress_stats, public;

-- == database_activity ===========================================================
-- One row: this database's pg_stat_database counters and their rates.
SELECT pg_catalog.count(*) AS rows, pg_catalog.bool_and(database = pg_catalog.current_database()) AS this_database
  FROM steward.database_activity;
SELECT a.xact_commit = d.xact_commit AND a.xact_rollback = d.xact_rollback AND a.blks_read = d.blks_read
       AND a.blks_hit = d.blks_hit AND a.tup_returned = d.tup_returned AND a.tup_fetched = d.tup_fetched
       AND a.tup_inserted = d.tup_inserted AND a.tup_updated = d.tup_updated
       AND a.tup_deleted = d.tup_deleted AND a.deadlocks = d.deadlocks AND a.temp_bytes = d.temp_bytes AS matches,
       a.rollback_percent = pg_catalog.round(100.0 * d.xact_rollback / NULLIF(d.xact_commit + d.xact_rollback, 0), 2) AS rollback_percent_ok,
       a.hit_percent = pg_catalog.round(100.0 * d.blks_hit / NULLIF(d.blks_hit + d.blks_read, 0), 2) AS hit_percent_ok,
       a.connections >= 1 AS connections_ok
  FROM steward.database_activity a JOIN pg_catalog.pg_stat_database d ON d.datname = a.database;
-- a rolled-back transaction and inserted rows are counted
CREATE TEMP TABLE regress_stats_before AS SELECT * FROM steward.database_activity;
BEGIN; INSERT INTO regress_stats.ledger VALUES (11, 0); ROLLBACK;
INSERT INTO regress_stats.ledger VALUES (12, 0);
SELECT pg_catalog.pg_stat_force_next_flush();
SELECT a.xact_rollback > b.xact_rollback AS rollback_counted, a.tup_inserted >= b.tup_inserted + 2 AS inserts_counted
  FROM steward.database_activity a, regress_stats_before b;
DROP TABLE regress_stats_before;

-- == slow_queries ===============================================================
SELECT queryid, calls, mean_ms, stddev_ms, query, note FROM steward.slow_queries;
CREATE SCHEMA regress_stats_pgss;
CREATE EXTENSION pg_stat_statements SCHEMA regress_stats_pgss;
SELECT queryid, calls, mean_ms, stddev_ms, query, note FROM steward.slow_queries;
DROP EXTENSION pg_stat_statements;   -- nothing of ours depends on it
DROP SCHEMA regress_stats_pgss;

-- == health() ====================================================================
-- A feature's checks join health() by existing; statuses it gets wrong are
-- recomputed from its thresholds and said so.
CREATE FUNCTION steward._health_checks_regress()
RETURNS TABLE(check_name text, value numeric, warning numeric, critical numeric, status text, detail text)
LANGUAGE sql AS $$
    VALUES ('fine', 1::numeric, 10::numeric, 20::numeric, 'ok', 'all good'),
           ('busy', 15, 10, 20, 'warning', 'getting busy'),
           ('no_status', 25, 10, 20, NULL, 'status left to health()'),
           ('bad_status', 5, 10, 20, 'green', 'unknown status word')
$$;
SET steward.sequence_warning = 99.9;       -- leave the sequences above out of it
SET steward.sequence_critical = 100;
SELECT c->>'feature' AS feature, c->>'name' AS name, c->>'status' AS status, c->>'value' AS value,
       c->>'warning' AS warning, c->>'critical' AS critical, c->>'detail' AS detail
  FROM pg_catalog.jsonb_array_elements(steward.health()->'checks') c
 WHERE c->>'feature' = 'regress' OR c->>'name' IN ('invalid_indexes', 'duplicate_indexes', 'sequences', 'dead_tuples');
SELECT h->>'status' AS status,
       (SELECT pg_catalog.jsonb_agg(f) FROM pg_catalog.jsonb_array_elements_text(h->'failing') f
         WHERE f LIKE 'stats.%' OR f LIKE 'regress%') AS failing   -- other features' checks left out
  FROM steward.health() h;
-- The document's fields.
SELECT pg_catalog.array_agg(k ORDER BY k) AS keys FROM pg_catalog.jsonb_object_keys(steward.health()) k;
SELECT h->>'version' = pg_catalog.current_setting('server_version') AS version_ok,
       (h->>'version_num')::integer = pg_catalog.current_setting('server_version_num')::integer AS version_num_ok,
       h->>'extension_version' AS extension_version,
       h->>'database' = pg_catalog.current_database() AS database_ok,
       (h->>'uptime_seconds')::numeric >= 0 AS uptime_ok,
       h->'is_standby' AS is_standby, h->'replay_lag_seconds' AS replay_lag,
       (h->'connections'->>'used')::integer >= 1 AS connections_used,
       (h->'connections'->>'max')::integer = pg_catalog.current_setting('max_connections')::integer AS max_ok,
       (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements(h->'checks') c
         WHERE c->>'feature' = 'stats' OR c->>'feature' LIKE 'regress%') AS checks  -- other features add their own
  FROM steward.health() h;
SELECT pg_catalog.array_agg(c->>'name' ORDER BY ord) AS stats_checks
  FROM pg_catalog.jsonb_array_elements(steward.health()->'checks') WITH ORDINALITY x(c, ord)
 WHERE c->>'feature' = 'stats';
-- The extension's own check: the installed version against the one the
-- installed files offer (a database not yet updated warns, saying what to run).
SELECT c->>'feature' AS feature, c->>'name' AS name, c->>'status' AS status, c->>'value' AS value,
       c->>'detail' = pg_catalog.format('pg_steward %s: installed, offered by the server''s files and running',
                                        h->>'extension_version') AS detail_ok
  FROM steward.health() h, pg_catalog.jsonb_array_elements(h->'checks') c WHERE c->>'name' = 'extension_update';
-- the library's version: a read-only setting
SELECT pg_catalog.current_setting('steward.library_version') = h->>'extension_version' AS library_matches
  FROM steward.health() h;
SET steward.library_version = '9.9.9';
SELECT v.installed, v.available, v.library, c.value, c.status, c.detail
  FROM (VALUES ('0.1.0', '0.2.0', '0.2.0'),     -- files updated, SQL not yet
               ('0.2.0', '0.1.0', '0.1.0'),     -- files older than the SQL
               ('0.10.0', '0.9.0', '0.9.0'),    -- compared part by part
               ('0.2.0', NULL, '0.2.0'),        -- control file gone
               ('0.2.0', '0.2.0', '0.1.9'),     -- an older library still loaded
               ('0.2.0', '0.2.0', NULL),        -- a library from before 0.2.0
               ('1.0-beta', '1.0', '1.0'),      -- not numeric: unequal is all
               ('0.2.0', '0.2.0', '0.2.0')) AS v(installed, available, library),
       LATERAL steward._extension_update_check(v.installed, v.available, v.library) c;
-- A threshold change moves a check's status and the overall status.
DROP FUNCTION steward._health_checks_regress();
DROP INDEX regress_stats.orders_lower_again, regress_stats.orders_open_again, regress_stats.orders_id_again;
DROP INDEX regress_stats.orders_note_unique;
SELECT c->>'name' AS name, c->>'status' AS status
  FROM pg_catalog.jsonb_array_elements(steward.health()->'checks') c
 WHERE c->>'name' IN ('connections', 'invalid_indexes', 'duplicate_indexes');
SET steward.connections_warning = 0;
SELECT c->>'status' AS connections_status, steward.health()->>'status' AS overall
  FROM pg_catalog.jsonb_array_elements(steward.health()->'checks') c WHERE c->>'name' = 'connections';
SET steward.connections_critical = 0;
SELECT c->>'status' AS connections_status, steward.health()->>'status' AS overall
  FROM pg_catalog.jsonb_array_elements(steward.health()->'checks') c WHERE c->>'name' = 'connections';
RESET steward.connections_warning;
RESET steward.connections_critical;
-- A feature's check that fails is reported, not raised.
CREATE FUNCTION steward._health_checks_regress_broken()
RETURNS TABLE(check_name text, value numeric, warning numeric, critical numeric, status text, detail text)
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'queue table is missing'; END $$;
SELECT c->>'feature' AS feature, c->>'name' AS name, c->>'status' AS status, c->>'detail' AS detail
  FROM pg_catalog.jsonb_array_elements(steward.health()->'checks') c WHERE c->>'feature' = 'regress_broken';
SELECT pg_catalog.jsonb_agg(f) AS failing
  FROM pg_catalog.jsonb_array_elements_text(steward.health()->'failing') f
 WHERE f LIKE 'stats.%' OR f LIKE 'regress%';
DROP FUNCTION steward._health_checks_regress_broken();
-- Functions with arguments or another shape are not health checks.
CREATE FUNCTION steward._health_checks_regress_args(x int) RETURNS SETOF int LANGUAGE sql AS 'SELECT 1';
SELECT pg_catalog.count(*) AS picked_up
  FROM pg_catalog.jsonb_array_elements(steward.health()->'checks') c WHERE c->>'feature' LIKE 'regress%';
DROP FUNCTION steward._health_checks_regress_args(int);
RESET steward.sequence_warning;
RESET steward.sequence_critical;

-- == standby guard ================================================================
SELECT steward._require_primary('enqueue jobs') AS on_primary;

-- == roles =======================================================================
-- steward_monitor holds pg_read_all_stats only (not all of pg_monitor);
-- a role with only steward_monitor and a role with only pg_monitor both
-- read every view, the features' summaries and health().
SELECT r.rolname, pg_catalog.pg_has_role('steward_monitor', r.oid, 'MEMBER') AS steward_monitor_has
  FROM pg_catalog.pg_roles r
 WHERE r.rolname IN ('pg_monitor', 'pg_read_all_stats', 'pg_read_all_settings', 'pg_stat_scan_tables')
 ORDER BY r.rolname;
CREATE ROLE regress_stats_pgmon LOGIN IN ROLE pg_monitor;
CREATE ROLE regress_stats_stmon LOGIN IN ROLE steward_monitor;
CREATE ROLE regress_stats_nobody LOGIN;
GRANT USAGE ON SCHEMA regress_stats TO PUBLIC;
-- every view and health(), read with the caller's rights
CREATE FUNCTION regress_stats.read_everything(
    OUT tables bigint, OUT unused bigint, OUT events_seq numeric, OUT states bigint, OUT long_running boolean,
    OUT blocked bigint, OUT cache_rows bigint, OUT database_rows bigint, OUT slow_rows bigint,
    OUT thresholds bigint, OUT health boolean, OUT own_checks_direct bigint, OUT sees_itself text)
LANGUAGE sql AS $$
SELECT (SELECT pg_catalog.count(*) FROM steward.table_health WHERE schema_name = 'regress_stats'),
       (SELECT pg_catalog.count(*) FROM steward.index_health WHERE schema_name = 'regress_stats' AND issue = 'unused'),
       (SELECT percent_used FROM steward.sequence_health WHERE sequence_name = 'events_id_seq'),
       (SELECT pg_catalog.count(*) FROM steward.connections),
       (SELECT pg_catalog.count(*) FROM steward.long_running) >= 0,
       (SELECT pg_catalog.count(*) FROM steward.blocking),
       (SELECT pg_catalog.count(*) FROM steward.cache_hit),
       (SELECT pg_catalog.count(*) FROM steward.database_activity),
       (SELECT pg_catalog.count(*) FROM steward.slow_queries),
       (SELECT pg_catalog.count(*) FROM steward.health_thresholds),
       steward.health()->>'status' IN ('ok', 'warning', 'critical'),
       (SELECT pg_catalog.count(*) FROM steward._health_checks_stats()),
       (SELECT state FROM steward.connections WHERE state = 'active' AND connections > 0)
$$;
-- the features' summaries and checks
CREATE FUNCTION regress_stats.read_summaries(
    OUT queue_summary boolean, OUT queue_errors boolean, OUT queue_stats boolean, OUT soft_delete_summary boolean,
    OUT recent_activity boolean, OUT audit_summary boolean, OUT feature_checks boolean)
LANGUAGE sql AS $$
SELECT (SELECT pg_catalog.count(*) FROM steward.queue_summary) >= 0,
       (SELECT pg_catalog.count(*) FROM steward.queue_error_summary) >= 0,
       (SELECT pg_catalog.count(*) FROM steward.queue_stats) >= 0,
       (SELECT pg_catalog.count(*) FROM steward.soft_delete_summary) >= 0,
       (SELECT pg_catalog.count(*) FROM steward.recent_activity) >= 0,
       (SELECT pg_catalog.count(*) FROM steward.audit_summary) >= 0,
       (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements(steward.health()->'checks') c
         WHERE c->>'feature' IN ('queue', 'audit', 'soft_delete')) >= 0
$$;
SET ROLE regress_stats_pgmon;
SELECT * FROM regress_stats.read_everything();
SELECT * FROM regress_stats.read_summaries();
SELECT pg_catalog.current_setting('data_directory') <> '' AS reads_superuser_settings;
RESET ROLE;
SET ROLE regress_stats_stmon;
SELECT * FROM regress_stats.read_everything();
SELECT * FROM regress_stats.read_summaries();
SELECT pg_catalog.current_setting('data_directory') <> '' AS reads_superuser_settings;
RESET ROLE;
-- the extension's own check, for both monitoring roles and nobody else
SET ROLE regress_stats_pgmon;
SELECT check_name, status FROM steward._health_checks_extension();
SET ROLE regress_stats_stmon;
SELECT check_name, status FROM steward._health_checks_extension();
SET ROLE regress_stats_nobody;
SELECT check_name, status FROM steward._health_checks_extension();
SELECT pg_catalog.count(*) FROM steward.table_health;
SELECT pg_catalog.count(*) FROM steward.database_activity;
SELECT steward.health();
RESET ROLE;
REVOKE USAGE ON SCHEMA regress_stats FROM PUBLIC;
DROP FUNCTION regress_stats.read_everything(), regress_stats.read_summaries();

-- == cleanup =====================================================================
DROP ROLE regress_stats_pgmon, regress_stats_stmon, regress_stats_nobody;
DROP SCHEMA regress_stats CASCADE;
