-- pg_steward demo: stats views and the one-call health check (docs/stats.md)
\echo
\echo '== Stats and health: a table with a few classic problems'
CREATE SCHEMA demo_stats;
CREATE TABLE demo_stats.orders (id serial PRIMARY KEY, customer int, note text);
CREATE INDEX orders_customer ON demo_stats.orders (customer);
CREATE INDEX orders_customer_copy ON demo_stats.orders (customer);   -- a duplicate
INSERT INTO demo_stats.orders (customer, note)
SELECT g % 100, 'order ' || g FROM generate_series(1, 5000) g;
SELECT setval('demo_stats.orders_id_seq', 2040109465) AS "sequence set to";   -- 95% of integer
ANALYZE demo_stats.orders;

\echo
\echo '-- steward.table_health: sizes, rows, dead tuples, vacuum, wraparound age (no locks taken)'
SELECT table_name, total_size, table_bytes, index_bytes, estimated_rows, last_analyze IS NOT NULL AS analyzed, xid_age
  FROM steward.table_health WHERE schema_name = 'demo_stats';

\echo
\echo '-- steward.index_health: duplicate / invalid / unused indexes, with the fix'
SELECT index_name, issue, index_size, detail, fix
  FROM steward.index_health WHERE schema_name = 'demo_stats' ORDER BY index_name, issue;

\echo
\echo '-- steward.sequence_health: the serial key is 95% of the way to integer overflow'
SELECT sequence_name, used_by, last_value, max_value, remaining_calls, percent_used, status
  FROM steward.sequence_health WHERE schema_name = 'demo_stats';

\echo
\echo '-- steward.connections: by state against max_connections'
SELECT state, connections, percent_of_max FROM steward.connections;

\echo
\echo '-- steward.health(): one call for a health endpoint'
SELECT h->>'status' AS status, h->'failing' AS failing, h->>'is_standby' AS is_standby,
       h->'connections' AS connections
  FROM steward.health() h;
SELECT c->>'name' AS check, c->>'status' AS status, c->>'value' AS value,
       c->>'warning' AS warning, c->>'detail' AS detail
  FROM jsonb_array_elements(steward.health()->'checks') c
 WHERE c->>'feature' = 'stats';

\echo
\echo '-- thresholds are settings: raise the sequence warning and the check turns ok'
SET steward.sequence_warning = 96;
SELECT c->>'status' AS sequences_status FROM jsonb_array_elements(steward.health()->'checks') c
 WHERE c->>'name' = 'sequences';
RESET steward.sequence_warning;

SET client_min_messages = warning;
DROP SCHEMA demo_stats CASCADE;
RESET client_min_messages;
