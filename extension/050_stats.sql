-- Stats, health views and health() (docs/stats.md) ---------------------------
--
-- Everything here reads catalogs and the cumulative statistics only: no view
-- scans a user table or waits for a lock on one; sizes come from
-- steward._relation_bytes(), which stats the files without locking the
-- relation, sequence values from steward._sequences(). Figures over every
-- object of a kind (sequences, indexes, tables' statistics) come from one
-- C pass over the catalog (src/stats/catalog_scan.cpp), so health() and the
-- aggregating views stay cheap on databases with thousands of tables. Views
-- are readable by steward_monitor and pg_monitor; health() runs as the extension owner so
-- its answer does not depend on who asks (it returns counts, never query
-- text).

-- steward_monitor gets pg_read_all_stats, and only that: without it
-- pg_stat_activity hides other sessions' state and query,
-- pg_stat_replication its standbys' positions and pg_stat_statements query
-- text. Not all of pg_monitor: nothing here needs pg_read_all_settings
-- (which reads superuser-only settings such as primary_conninfo, password
-- included) or pg_stat_scan_tables (functions that lock and read whole
-- tables, such as pgstattuple); members of pg_monitor get every view and
-- health() through their own grants below. Granted only when the installing
-- role may grant it; kept by DROP EXTENSION like the role.
DO $$
BEGIN
    IF NOT pg_catalog.pg_has_role('steward_monitor', 'pg_read_all_stats', 'MEMBER') THEN
        IF pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE WITH ADMIN OPTION') THEN
            GRANT pg_read_all_stats TO steward_monitor;
        ELSE
            RAISE NOTICE 'role "steward_monitor" was not made a member of "pg_read_all_stats"'
                USING HINT = 'A superuser can run: GRANT pg_read_all_stats TO steward_monitor;';
        END IF;
    END IF;
END
$$;

-- Settings -------------------------------------------------------------------

-- The thresholds with their defaults and bounds: the stats checks' (the
-- same list as src/core/stats_settings.cpp) and the queue checks'
-- (steward.queue_*, read by _health_checks_queue() in 040_queue.sql; the
-- same list as kQueueSettings in src/stats/settings.cpp). The library turns
-- both into GUCs. Units: percent, s, ms, count. sql/stats.sql checks the
-- lists agree.
-- This and the next two helpers run many times per health() call and carry
-- no SET search_path (which would cost a GUC save/restore per call and stop
-- inlining); everything in them is schema-qualified.
CREATE FUNCTION steward._stats_setting_defaults()
RETURNS TABLE(name text, unit text, default_value numeric, min_value numeric, max_value numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ VALUES
    ('steward.audit_partitions_ahead_critical', 'count', 1,         -2147483648, 2147483647),
    ('steward.audit_partitions_ahead_warning',  'count', 2,         -2147483648, 2147483647),
    ('steward.cache_hit_critical',           'percent', 95,         0, 100),
    ('steward.cache_hit_warning',            'percent', 99,         0, 100),
    ('steward.connections_critical',         'percent', 95,         0, 100),
    ('steward.connections_warning',          'percent', 80,         0, 100),
    ('steward.dead_tuples_critical',         'percent', 50,         0, 100),
    ('steward.dead_tuples_min_rows',         'count',   1000,       0, 2147483647),
    ('steward.dead_tuples_warning',          'percent', 20,         0, 100),
    ('steward.idle_in_transaction_critical', 's',       600,        0, 2147483647),
    ('steward.idle_in_transaction_warning',  's',       60,         0, 2147483647),
    ('steward.lock_wait_critical',           's',       300,        0, 2147483647),
    ('steward.lock_wait_warning',            's',       30,         0, 2147483647),
    ('steward.long_query_critical',          's',       300,        0, 2147483647),
    ('steward.long_query_warning',           's',       60,         0, 2147483647),
    ('steward.long_transaction_critical',    's',       1800,       0, 2147483647),
    ('steward.long_transaction_warning',     's',       300,        0, 2147483647),
    ('steward.queue_dead_jobs_1d_critical',  'count',   99,         -2147483648, 2147483647),
    ('steward.queue_dead_jobs_1d_warning',   'count',   0,          -2147483648, 2147483647),
    ('steward.queue_expired_leases_critical', 'count',  99,         -2147483648, 2147483647),
    ('steward.queue_expired_leases_warning', 'count',   0,          -2147483648, 2147483647),
    ('steward.queue_oldest_ready_seconds_critical', 's', 3600,      -2147483648, 2147483647),
    ('steward.queue_oldest_ready_seconds_warning',  's', 300,       -2147483648, 2147483647),
    ('steward.replication_lag_critical',     's',       600,        0, 2147483647),
    ('steward.replication_lag_warning',      's',       60,         0, 2147483647),
    ('steward.sequence_critical',            'percent', 98,         0, 100),
    ('steward.sequence_warning',             'percent', 90,         0, 100),
    ('steward.slow_query_min_calls',         'count',   100,        0, 2147483647),
    ('steward.slow_query_min_mean',          'ms',      20,         0, 2147483647),
    ('steward.xid_age_critical',             'count',   1500000000, 0, 2147483647),
    ('steward.xid_age_warning',              'count',   1000000000, 0, 2147483647)
$$;

-- The hint of a bad threshold value: the form the setting takes (the same
-- words as the GUCs' check hook, src/stats/settings.cpp).
CREATE FUNCTION steward._stats_setting_hint(unit text, min_value numeric, max_value numeric)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.format(CASE unit
        WHEN 'percent' THEN 'Use a percentage from %s to %s.'
        WHEN 's' THEN 'Use a number of seconds from %s to %s, or a number with one of the units ms, s, min, h, d.'
        WHEN 'ms' THEN 'Use a number of milliseconds from %s to %s, or a number with one of the units ms, s, min, h, d.'
        ELSE 'Use a number from %s to %s.' END, min_value, max_value) $$;

-- The current value of a threshold in its base unit (percent, seconds,
-- milliseconds or a count). Reads the GUC when the library defined it, a
-- session placeholder (SET before the library was loaded) otherwise, and
-- the default when neither is set; a placeholder is validated here the way
-- the GUC would validate it.
CREATE FUNCTION steward._stats_setting(setting_name text)
RETURNS numeric
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    d record;
    raw text;
    parts text[];
    v numeric;
BEGIN
    SELECT s.* INTO d FROM steward._stats_setting_defaults() s WHERE s.name = setting_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unrecognized stats setting "%"', setting_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'The settings are listed in steward.health_thresholds.';
    END IF;
    raw := pg_catalog.btrim(pg_catalog.current_setting(setting_name, true), E' \t\n\r\f\v');
    IF raw IS NULL OR raw = '' THEN
        RETURN d.default_value;
    END IF;
    -- the same form, errors and hints as the GUCs' check hook
    -- (src/stats/settings.cpp)
    parts := pg_catalog.regexp_match(raw, '^([-+]?[0-9]+(?:\.[0-9]+)?)\s*(ms|s|min|h|d)?$');
    IF parts IS NULL OR (parts[2] IS NOT NULL AND d.unit NOT IN ('s', 'ms')) THEN
        RAISE EXCEPTION 'invalid value for parameter "%": "%"', setting_name, raw
            USING ERRCODE = 'invalid_parameter_value', HINT = steward._stats_setting_hint(d.unit, d.min_value, d.max_value);
    END IF;
    v := parts[1]::numeric;
    IF parts[2] IS NOT NULL THEN
        v := v * CASE parts[2] WHEN 'ms' THEN 0.001 WHEN 's' THEN 1 WHEN 'min' THEN 60
                               WHEN 'h' THEN 3600 ELSE 86400 END
               * CASE d.unit WHEN 'ms' THEN 1000 ELSE 1 END;
    END IF;
    IF v < d.min_value OR v > d.max_value THEN
        RAISE EXCEPTION '% is outside the valid range for parameter "%" (% .. %)',
                        raw, setting_name, d.min_value, d.max_value
            USING ERRCODE = 'invalid_parameter_value', HINT = steward._stats_setting_hint(d.unit, d.min_value, d.max_value);
    END IF;
    RETURN pg_catalog.trim_scale(v);
END
$$;

CREATE VIEW steward.health_thresholds AS
SELECT d.name, steward._stats_setting(d.name) AS value, d.unit, d.default_value,
       CASE WHEN pg_catalog.current_setting(d.name, true) IS NULL
              OR pg_catalog.current_setting(d.name, true) = '' THEN 'default'
            WHEN EXISTS (SELECT FROM pg_catalog.pg_settings s WHERE s.name = d.name) THEN 'setting'
            ELSE 'placeholder' END AS source
  FROM steward._stats_setting_defaults() d;

COMMENT ON VIEW steward.health_thresholds IS
'Thresholds of steward.health() and the stats views: effective value, unit, default, and whether it comes from a setting, a placeholder SET before the library was loaded, or the default';

-- 'ok', 'warning' or 'critical': a value beyond (strictly) a threshold
-- reaches that level; lower is worse when warning > critical. NULLs are
-- never beyond anything. For features' _health_checks_<feature>() too.
CREATE FUNCTION steward.health_status(value numeric, warning numeric, critical numeric)
RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'steward_health_status';

COMMENT ON FUNCTION steward.health_status(numeric, numeric, numeric) IS
'Classifies a value against a warning and a critical threshold: ok, warning or critical';

-- Bytes of all forks of a relation, without opening or locking it.
CREATE FUNCTION steward._relation_bytes(rel oid)
RETURNS bigint
LANGUAGE c STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'steward_relation_bytes';

-- Schemas the views leave out: catalogs, TOAST and temporary schemas (the
-- C scans below use the same rule, src/core/stats_settings.cpp).
CREATE FUNCTION steward._is_user_schema(nsp name)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT nsp NOT IN ('pg_catalog', 'information_schema')
             AND nsp::text !~ '^pg_(toast|temp_|toast_temp_)' $$;

-- One pass over a catalog for the figures over every object of a kind
-- (src/stats/catalog_scan.cpp). The statistics are read as the
-- pg_stat_get_*() functions read them (hence PARALLEL RESTRICTED).

-- Invalid indexes (invalid), and valid live indexes sharing table and key
-- columns with another (the only candidates for duplicates); all schemas.
-- ROWS: they are few, callers join them to catalogs by index lookups.
CREATE FUNCTION steward._index_candidates()
RETURNS TABLE(indexrelid oid, indrelid oid, invalid boolean)
LANGUAGE c STABLE PARALLEL SAFE ROWS 10
AS 'MODULE_PATHNAME', 'steward_index_candidates';

-- Of the user tables with at least min_rows live + dead tuples, the one with
-- the largest share of dead tuples (NULLs when none).
CREATE FUNCTION steward._dead_tuples_worst(min_rows bigint, OUT relid oid, OUT dead bigint, OUT live bigint)
LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'steward_dead_tuples_worst';

-- Buffer hits and reads of user tables (and materialized views) and of
-- user indexes, summed.
CREATE FUNCTION steward._cache_hit_sums(OUT table_hits bigint, OUT table_reads bigint,
                                        OUT index_hits bigint, OUT index_reads bigint)
LANGUAGE c STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'steward_cache_hit_sums';

-- Tables ---------------------------------------------------------------------

CREATE VIEW steward.table_health AS
SELECT n.nspname                                                    AS schema_name,
       c.relname                                                    AS table_name,
       c.oid::pg_catalog.regclass                                   AS relation,
       CASE c.relkind WHEN 'm' THEN 'materialized view'
                      ELSE CASE WHEN c.relispartition THEN 'partition' ELSE 'table' END END AS kind,
       sz.table_bytes,
       sz.toast_bytes,
       ix.index_bytes,
       sz.table_bytes + sz.toast_bytes + ix.index_bytes              AS total_bytes,
       pg_catalog.pg_size_pretty(sz.table_bytes + sz.toast_bytes + ix.index_bytes) AS total_size,
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS estimated_rows,
       st.live_tuples,
       st.dead_tuples,
       pg_catalog.round(100.0 * st.dead_tuples / NULLIF(st.live_tuples + st.dead_tuples, 0), 2) AS dead_percent,
       pg_catalog.pg_stat_get_last_vacuum_time(c.oid)              AS last_vacuum,
       pg_catalog.pg_stat_get_last_autovacuum_time(c.oid)          AS last_autovacuum,
       pg_catalog.pg_stat_get_last_analyze_time(c.oid)             AS last_analyze,
       pg_catalog.pg_stat_get_last_autoanalyze_time(c.oid)         AS last_autoanalyze,
       pg_catalog.pg_stat_get_mod_since_analyze(c.oid)             AS changes_since_analyze,
       pg_catalog.pg_stat_get_tuples_inserted(c.oid)               AS tuples_inserted,
       pg_catalog.pg_stat_get_tuples_updated(c.oid)                AS tuples_updated,
       pg_catalog.pg_stat_get_tuples_hot_updated(c.oid)            AS tuples_hot_updated,
       pg_catalog.pg_stat_get_tuples_deleted(c.oid)                AS tuples_deleted,
       pg_catalog.pg_stat_get_numscans(c.oid)                      AS seq_scans,
       ix.index_scans,
       xa.xid_age,
       pg_catalog.round(100.0 * xa.xid_age / 2147483647, 2)          AS xid_wraparound_percent
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_class t ON t.oid = c.reltoastrelid
  CROSS JOIN LATERAL (
      SELECT pg_catalog.pg_stat_get_live_tuples(c.oid) AS live_tuples,
             pg_catalog.pg_stat_get_dead_tuples(c.oid) AS dead_tuples) st
  CROSS JOIN LATERAL (
      SELECT COALESCE(steward._relation_bytes(c.oid), 0) AS table_bytes,
             CASE WHEN c.reltoastrelid = 0 THEN 0
                  ELSE COALESCE(steward._relation_bytes(c.reltoastrelid), 0)
                       + COALESCE((SELECT pg_catalog.sum(steward._relation_bytes(ti.indexrelid))
                                     FROM pg_catalog.pg_index ti
                                    WHERE ti.indrelid = c.reltoastrelid), 0)::bigint
             END AS toast_bytes) sz
  CROSS JOIN LATERAL (
      SELECT COALESCE(pg_catalog.sum(steward._relation_bytes(i.indexrelid)), 0)::bigint AS index_bytes,
             COALESCE(pg_catalog.sum(pg_catalog.pg_stat_get_numscans(i.indexrelid)), 0)::bigint AS index_scans
        FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid) ix
  CROSS JOIN LATERAL (
      SELECT GREATEST(pg_catalog.age(c.relfrozenxid), pg_catalog.age(t.relfrozenxid)) AS xid_age) xa
 WHERE c.relkind IN ('r', 'm')
   AND c.relpersistence <> 't'
   AND steward._is_user_schema(n.nspname);

COMMENT ON VIEW steward.table_health IS
'Per table: sizes (table, TOAST, indexes), estimated rows, dead tuples, last (auto)vacuum/analyze, rows inserted/updated/deleted, scans, transaction ID age';

-- Indexes --------------------------------------------------------------------

-- Valid indexes that repeat another index of the same table: same method,
-- key and INCLUDE columns, operator classes, collations, options,
-- expressions and predicate. Of each group the index that backs a
-- constraint (primary key first), else a unique one, else the oldest is
-- kept; the others are listed with the one they repeat. Indexes in the
-- steward schema are pg_steward's own (queue, audit log): never listed, so
-- nothing here ever suggests dropping one. Only the candidates given are
-- compared: the valid indexes of steward._index_candidates() (a cheap C
-- pass over pg_index finds those sharing table and columns with another),
-- so the full signature is built for few indexes even on a database with
-- thousands.
-- PL/pgSQL, not SQL: its plan is kept for the session.
CREATE FUNCTION steward._duplicate_indexes_among(candidates oid[])
RETURNS TABLE(indexrelid oid, indrelid oid, keeper oid, backs_constraint boolean)
LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 10
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
RETURN QUERY
WITH candidates AS (
    SELECT i.* FROM pg_catalog.pg_index i WHERE i.indexrelid = ANY (candidates)
), keyed AS (
    SELECT i.indexrelid, i.indrelid, i.indisprimary, i.indisunique,
           -- a lookup by table per candidate (an EXISTS is planned as a
           -- hashed scan of all of pg_constraint)
           (SELECT true FROM pg_catalog.pg_constraint k
             WHERE k.conrelid = i.indrelid AND k.conindid = i.indexrelid LIMIT 1) IS NOT NULL AS backs_constraint,
           pg_catalog.concat_ws(' | ', c.relam, i.indnkeyatts, i.indkey, i.indclass, i.indcollation,
                                i.indoption, i.indnullsnotdistinct,
                                pg_catalog.pg_get_expr(i.indexprs, i.indrelid),
                                pg_catalog.pg_get_expr(i.indpred, i.indrelid)) AS signature
      FROM candidates i
      JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE steward._is_user_schema(n.nspname) AND n.nspname <> 'steward'
), ranked AS (
    SELECT k.*,
           pg_catalog.first_value(k.indexrelid) OVER w AS keeper,
           pg_catalog.row_number() OVER w AS rank
      FROM keyed k
    WINDOW w AS (PARTITION BY k.indrelid, k.signature
                 ORDER BY k.indisprimary DESC, k.backs_constraint DESC, k.indisunique DESC, k.indexrelid)
)
SELECT r.indexrelid, r.indrelid, r.keeper, r.backs_constraint
  FROM ranked r WHERE r.rank > 1;
END
$$;

CREATE VIEW steward._duplicate_indexes AS
SELECT d.* FROM steward._duplicate_indexes_among(ARRAY(
    SELECT x.indexrelid FROM steward._index_candidates() x WHERE NOT x.invalid)) d;

CREATE VIEW steward.index_health AS
WITH problems AS (
    SELECT i.indexrelid, i.indrelid, 'invalid'::text AS issue,
           CASE WHEN c.relkind = 'I'
                THEN 'the partitioned index is not valid: some partition has no attached index matching it'
                ELSE 'the index is not valid (left behind by a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY, unless one is running now): it slows writes and serves no query' END AS detail,
           CASE WHEN c.relkind = 'I'
                THEN pg_catalog.format('create the missing partition indexes and ALTER INDEX %s ATTACH PARTITION them', i.indexrelid::pg_catalog.regclass)
                ELSE pg_catalog.format('REINDEX INDEX CONCURRENTLY %s', i.indexrelid::pg_catalog.regclass) END AS fix
      FROM steward._index_candidates() i
      JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
     WHERE i.invalid
    UNION ALL
    SELECT d.indexrelid, d.indrelid, 'duplicate',
           pg_catalog.format('same definition as index %s', d.keeper::pg_catalog.regclass),
           CASE WHEN d.backs_constraint
                THEN (SELECT pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', d.indrelid::pg_catalog.regclass, k.conname)
                        FROM pg_catalog.pg_constraint k WHERE k.conindid = d.indexrelid AND k.conrelid = d.indrelid LIMIT 1)
                ELSE pg_catalog.format('DROP INDEX CONCURRENTLY %s', d.indexrelid::pg_catalog.regclass) END
      FROM steward._duplicate_indexes d
    UNION ALL
    SELECT i.indexrelid, i.indrelid, 'unused',
           'no scans since statistics were reset'
           || COALESCE(' (' || (SELECT pg_catalog.pg_stat_get_db_stat_reset_time(db.oid)::text
                                  FROM pg_catalog.pg_database db WHERE db.datname = pg_catalog.current_database()) || ')', ''),
           pg_catalog.format('DROP INDEX CONCURRENTLY %s', i.indexrelid::pg_catalog.regclass)
      FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
     WHERE i.indisvalid AND NOT i.indisunique AND c.relkind = 'i'
       AND c.relnamespace <> 'steward'::pg_catalog.regnamespace   -- pg_steward's own: never to drop
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid
                                                              AND k.conrelid = i.indrelid)
       AND pg_catalog.pg_stat_get_numscans(i.indexrelid) = 0
)
SELECT n.nspname                                           AS schema_name,
       t.relname                                           AS table_name,
       c.relname                                           AS index_name,
       p.indexrelid::pg_catalog.regclass                   AS index,
       p.issue,
       COALESCE(steward._relation_bytes(p.indexrelid), 0)  AS index_bytes,
       pg_catalog.pg_size_pretty(COALESCE(steward._relation_bytes(p.indexrelid), 0)) AS index_size,
       pg_catalog.pg_stat_get_numscans(p.indexrelid)      AS scans,
       -- (out here: a volatile function in "problems" would keep a filter on
       -- issue from reaching its branches)
       p.detail || CASE WHEN p.issue = 'unused' AND pg_catalog.pg_is_in_recovery()
                        THEN '; on a standby only scans on this server count' ELSE '' END AS detail,
       p.fix,
       pg_catalog.pg_get_indexdef(p.indexrelid)           AS definition
  FROM problems p
  JOIN pg_catalog.pg_class c ON c.oid = p.indexrelid
  JOIN pg_catalog.pg_class t ON t.oid = p.indrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relpersistence <> 't' AND steward._is_user_schema(n.nspname);

COMMENT ON VIEW steward.index_health IS
'Invalid, duplicate and unused indexes (one row per index and issue) with their size and a suggested fix';

-- Sessions -------------------------------------------------------------------

CREATE VIEW steward.connections AS
WITH states(state, ord) AS (
    VALUES ('active', 1), ('idle', 2), ('idle in transaction', 3),
           ('idle in transaction (aborted)', 4), ('fastpath function call', 5), ('disabled', 6)
), clients AS (
    -- time in the state; never negative: the reading session's own state
    -- changed just after its statement's timestamp
    SELECT COALESCE(a.state, 'unknown') AS state,
           CASE WHEN a.state_change > pg_catalog.statement_timestamp() THEN interval '0'
                ELSE pg_catalog.statement_timestamp() - a.state_change END AS in_state,
           a.datname = pg_catalog.current_database() AS here
      FROM pg_catalog.pg_stat_activity a
     WHERE a.backend_type = 'client backend'
), per_state AS (
    SELECT c.state, pg_catalog.count(*) AS n, pg_catalog.count(*) FILTER (WHERE c.here) AS n_here,
           pg_catalog.max(c.in_state) AS longest
      FROM clients c GROUP BY c.state
), all_states AS (
    SELECT s.state, s.ord FROM states s
    UNION ALL
    SELECT p.state, 7 FROM per_state p WHERE p.state NOT IN (SELECT s.state FROM states s)
    UNION ALL
    SELECT 'total', 8
), mx AS (
    SELECT pg_catalog.current_setting('max_connections')::integer AS max_connections
)
SELECT s.state,
       CASE WHEN s.state = 'total' THEN (SELECT pg_catalog.count(*) FROM clients)
            ELSE COALESCE(p.n, 0) END                                   AS connections,
       CASE WHEN s.state = 'total' THEN (SELECT pg_catalog.count(*) FROM clients c WHERE c.here)
            ELSE COALESCE(p.n_here, 0) END                              AS this_database,
       mx.max_connections,
       pg_catalog.round(100.0 * CASE WHEN s.state = 'total' THEN (SELECT pg_catalog.count(*) FROM clients)
                                      ELSE COALESCE(p.n, 0) END / mx.max_connections, 2) AS percent_of_max,
       CASE WHEN s.state = 'total' THEN (SELECT pg_catalog.max(c.in_state) FROM clients c)
            ELSE p.longest END                                          AS longest_in_state
  FROM all_states s
  CROSS JOIN mx
  LEFT JOIN per_state p ON p.state = s.state
 ORDER BY s.ord, s.state;

COMMENT ON VIEW steward.connections IS
'Client connections by state (idle in transaction separately), of all databases and of this one, against max_connections, with a total row';

CREATE VIEW steward.long_running AS
WITH t AS MATERIALIZED (
    SELECT pg_catalog.make_interval(secs => steward._stats_setting('steward.long_query_warning')) AS query_limit,
           pg_catalog.make_interval(secs => steward._stats_setting('steward.long_transaction_warning')) AS xact_limit,
           pg_catalog.make_interval(secs => steward._stats_setting('steward.idle_in_transaction_warning')) AS idle_limit
), sessions AS (
    SELECT a.*,
           pg_catalog.statement_timestamp() - a.query_start  AS query_age,
           pg_catalog.statement_timestamp() - a.xact_start   AS xact_age,
           pg_catalog.statement_timestamp() - a.state_change AS state_age
      FROM pg_catalog.pg_stat_activity a
     WHERE a.backend_type = 'client backend' AND a.pid <> pg_catalog.pg_backend_pid()
)
SELECT CASE WHEN s.state LIKE 'idle in transaction%' AND s.state_age > t.idle_limit THEN 'idle in transaction'
            WHEN s.state = 'active' AND s.query_age > t.query_limit THEN 'query'
            ELSE 'transaction' END                      AS kind,
       s.pid,
       s.usename                                       AS user_name,
       s.datname                                       AS database,
       s.application_name,
       s.client_addr,
       s.state,
       CASE WHEN s.state = 'active' THEN s.query_age END AS query_duration,
       s.xact_age                                      AS transaction_duration,
       s.state_age                                     AS state_duration,
       s.wait_event_type,
       s.wait_event,
       pg_catalog.age(s.backend_xmin)                  AS xmin_age,
       s.query
  FROM sessions s CROSS JOIN t
 WHERE (s.state = 'active' AND s.query_age > t.query_limit)
    OR (s.state LIKE 'idle in transaction%' AND s.state_age > t.idle_limit)
    OR (s.xact_age > t.xact_limit)
UNION ALL
SELECT 'prepared transaction', NULL, x.owner, x.database, NULL, NULL, 'prepared', NULL,
       pg_catalog.statement_timestamp() - x.prepared, NULL, NULL, NULL,
       pg_catalog.age(x.transaction), pg_catalog.format('PREPARE TRANSACTION %L', x.gid)
  FROM pg_catalog.pg_prepared_xacts x CROSS JOIN t
 WHERE pg_catalog.statement_timestamp() - x.prepared > t.xact_limit;

COMMENT ON VIEW steward.long_running IS
'Queries, transactions, idle-in-transaction sessions and prepared transactions older than the steward.*_warning thresholds';

CREATE VIEW steward.blocking AS
SELECT w.pid                                                  AS blocked_pid,
       w.usename                                              AS blocked_user,
       w.application_name                                     AS blocked_application,
       lw.waiting_for,
       pg_catalog.statement_timestamp() - lw.waitstart        AS wait_duration,
       w.query                                                AS blocked_query,
       b.pid                                                  AS blocking_pid,
       b.usename                                              AS blocking_user,
       b.application_name                                     AS blocking_application,
       b.state                                                AS blocking_state,
       pg_catalog.statement_timestamp() - b.xact_start        AS blocking_transaction_duration,
       b.query                                                AS blocking_query
  FROM pg_catalog.pg_stat_activity w
  CROSS JOIN LATERAL (
      SELECT l.waitstart,
             pg_catalog.concat_ws(' ', l.mode, 'on', l.locktype, l.relation::pg_catalog.regclass::text) AS waiting_for
        FROM pg_catalog.pg_locks l WHERE l.pid = w.pid AND NOT l.granted
       ORDER BY l.waitstart LIMIT 1) lw
  CROSS JOIN LATERAL pg_catalog.unnest(pg_catalog.pg_blocking_pids(w.pid)) AS bp(pid)
  LEFT JOIN pg_catalog.pg_stat_activity b ON b.pid = bp.pid
 WHERE w.wait_event_type = 'Lock';

COMMENT ON VIEW steward.blocking IS 'Sessions waiting for a lock, one row per session that blocks them';

-- Cache ----------------------------------------------------------------------

-- The table and index rows sum every user relation's statistics (one C
-- pass over pg_class); the database row is pg_stat_database's.
CREATE VIEW steward.cache_hit AS
WITH rel AS MATERIALIZED (
    SELECT * FROM steward._cache_hit_sums()
), sums AS (
    SELECT 1 AS ord, 'table'::text AS kind, r.table_hits AS hits, r.table_reads AS reads FROM rel r
    UNION ALL
    SELECT 2, 'index', r.index_hits, r.index_reads FROM rel r
    UNION ALL
    SELECT 3, 'database', d.blks_hit, d.blks_read
      FROM pg_catalog.pg_stat_database d WHERE d.datname = pg_catalog.current_database()
), t AS MATERIALIZED (
    SELECT steward._stats_setting('steward.cache_hit_warning') AS warning,
           steward._stats_setting('steward.cache_hit_critical') AS critical
)
SELECT s.kind,
       COALESCE(s.hits, 0)::bigint                                      AS hits,
       COALESCE(s.reads, 0)::bigint                                     AS reads,
       pg_catalog.round(100.0 * s.hits / NULLIF(s.hits + s.reads, 0), 2) AS hit_percent,
       -- judged only from 10,000 block accesses on: a freshly started or
       -- barely used server has a cold cache, not a problem
       CASE WHEN COALESCE(s.hits + s.reads, 0) < 10000 THEN 'ok'
            ELSE steward.health_status(pg_catalog.round(100.0 * s.hits / NULLIF(s.hits + s.reads, 0), 2),
                                       t.warning, t.critical) END AS status
  FROM sums s CROSS JOIN t
 ORDER BY s.ord;

COMMENT ON VIEW steward.cache_hit IS
'Buffer cache hit percentage of user tables, user indexes and the whole database (healthy: 99 and above)';

-- Database -------------------------------------------------------------------

-- The current database's row of pg_stat_database (one row, no per-table
-- work), with the rates a dashboard wants. Counters since stats_reset.
CREATE VIEW steward.database_activity AS
SELECT d.datname                                                                  AS database,
       d.numbackends                                                              AS connections,
       d.xact_commit,
       d.xact_rollback,
       pg_catalog.round(100.0 * d.xact_rollback / NULLIF(d.xact_commit + d.xact_rollback, 0), 2) AS rollback_percent,
       d.blks_read,
       d.blks_hit,
       pg_catalog.round(100.0 * d.blks_hit / NULLIF(d.blks_hit + d.blks_read, 0), 2) AS hit_percent,
       d.tup_returned,
       d.tup_fetched,
       d.tup_inserted,
       d.tup_updated,
       d.tup_deleted,
       d.conflicts,
       d.temp_files,
       d.temp_bytes,
       d.deadlocks,
       d.checksum_failures,
       d.blk_read_time,
       d.blk_write_time,
       d.session_time,
       d.active_time,
       d.idle_in_transaction_time,
       d.sessions,
       d.sessions_abandoned,
       d.sessions_fatal,
       d.sessions_killed,
       d.stats_reset
  FROM pg_catalog.pg_stat_database d
 WHERE d.datname = pg_catalog.current_database();

COMMENT ON VIEW steward.database_activity IS
'This database: transactions committed and rolled back, blocks read and hit, rows returned/fetched/inserted/updated/deleted, temp files, deadlocks, conflicts, sessions (pg_stat_database)';

-- Sequences ------------------------------------------------------------------

-- The last value of a sequence without keeping a lock on it (see
-- src/stats/sequence_value.cpp); NULL if never called or being altered.
-- Needs no privilege on the sequence, so only the monitoring roles may call it.
CREATE FUNCTION steward._sequence_last_value(seq oid)
RETURNS bigint
LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'steward_sequence_last_value';

-- Every user sequence with its last value (read as _sequence_last_value
-- does), its effective limit (its own bound or the largest value of the
-- smallest integer column it feeds: serial and identity columns and
-- columns whose default calls it, the same columns as _sequence_columns)
-- and the share of the way from 0 to that limit used, round(100 * last /
-- limit, 2), 0 when never called or of the other sign. One C pass over
-- pg_sequence and pg_depend.
CREATE FUNCTION steward._sequences()
RETURNS TABLE(seqrelid oid, last_value bigint, limit_value bigint, percent_used numeric)
LANGUAGE c VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'steward_sequences';

-- For health(): the highest percent_used of _sequences() and its sequence,
-- and how many are above a threshold given in hundredths of a percent
-- (floor(100 * threshold)), without a row per sequence.
CREATE FUNCTION steward._sequence_summary(warning_hundredths bigint, OUT highest_percent numeric,
                                          OUT above_warning integer, OUT highest oid)
LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'steward_sequence_summary';

-- Columns fed by each sequence: serial and identity columns (owned), and any
-- column whose default calls it (an int column on a bigint sequence is
-- limited by the column). Read with a seqrelid filter: it is pushed down to
-- index lookups.
CREATE VIEW steward._sequence_columns AS
SELECT d.objid AS seqrelid, d.refobjid AS relid, d.refobjsubid AS attnum
  FROM pg_catalog.pg_depend d
 WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
   AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
UNION ALL
SELECT d.refobjid, ad.adrelid, ad.adnum
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_attrdef ad ON ad.oid = d.objid
 WHERE d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass
   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass;

-- Every user sequence with its last value, its effective limit and the
-- share of it used (steward._sequences()).
CREATE VIEW steward._sequence_usage AS
SELECT s.seqrelid, s.seqtypid, s.seqstart, s.seqincrement, s.seqcycle, u.last_value, u.limit_value,
       u.percent_used
  FROM steward._sequences() u
  JOIN pg_catalog.pg_sequence s ON s.seqrelid = u.seqrelid;

CREATE VIEW steward.sequence_health AS
WITH t AS MATERIALIZED (
    SELECT steward._stats_setting('steward.sequence_warning') AS warning,
           steward._stats_setting('steward.sequence_critical') AS critical
)
SELECT n.nspname                                      AS schema_name,
       c.relname                                      AS sequence_name,
       u.seqrelid::pg_catalog.regclass                AS sequence,
       u.seqtypid::pg_catalog.regtype                 AS data_type,
       (SELECT pg_catalog.string_agg(DISTINCT pg_catalog.format('%s.%I', col.relid::pg_catalog.regclass, a.attname), ', ')
          FROM steward._sequence_columns col
          JOIN pg_catalog.pg_attribute a ON a.attrelid = col.relid AND a.attnum = col.attnum AND NOT a.attisdropped
         WHERE col.seqrelid = u.seqrelid)             AS used_by,
       u.last_value,
       u.limit_value                                  AS max_value,
       pg_catalog.floor((u.limit_value::numeric - COALESCE(u.last_value, u.seqstart - u.seqincrement))
                        / u.seqincrement)::bigint       AS remaining_calls,
       u.percent_used,
       u.seqcycle                                     AS cycles,
       steward.health_status(u.percent_used, t.warning, t.critical) AS status
  FROM steward._sequence_usage u
  JOIN pg_catalog.pg_class c ON c.oid = u.seqrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN t;

COMMENT ON VIEW steward.sequence_health IS
'Every user sequence: how much of its range (limited by the type of the columns it feeds) is used; warning above 90% by default';

-- Slow queries ---------------------------------------------------------------

-- Rows of pg_stat_statements (wherever it is installed) for this database
-- with at least steward.slow_query_min_calls calls and a mean of at least
-- steward.slow_query_min_mean ms. Without the extension, or when its library
-- is not preloaded, one row whose note says how to enable it: the view never
-- depends on pg_stat_statements, so it can be installed and dropped freely.
-- SECURITY DEFINER because pg_stat_statements may live in a schema the
-- monitoring roles have no USAGE on; only they may call it (pg_monitor,
-- which steward_monitor is a member of, may read all query text anyway).
CREATE FUNCTION steward._slow_queries()
RETURNS TABLE(queryid bigint, user_name name, calls bigint, total_ms numeric, mean_ms numeric,
              stddev_ms numeric, rows bigint, percent_of_total numeric, query text, note text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pgss_schema name;
    time_prefix text;
BEGIN
    SELECT n.nspname INTO pgss_schema
      FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_stat_statements';
    IF pgss_schema IS NULL THEN
        RETURN QUERY SELECT NULL::bigint, NULL::name, NULL::bigint, NULL::numeric, NULL::numeric,
                            NULL::numeric, NULL::bigint, NULL::numeric, NULL::text,
                            'pg_stat_statements is not installed: add it to shared_preload_libraries, restart, and run CREATE EXTENSION pg_stat_statements'::text;
        RETURN;
    END IF;
    -- 1.8 (PostgreSQL 13) renamed total_time to total_exec_time.
    time_prefix := CASE WHEN EXISTS (
                            SELECT FROM pg_catalog.pg_attribute a
                             WHERE a.attrelid = pg_catalog.format('%I.pg_stat_statements', pgss_schema)::pg_catalog.regclass
                               AND a.attname = 'total_exec_time')
                        THEN 'exec_' ELSE '' END;
    BEGIN
        RETURN QUERY EXECUTE pg_catalog.format($q$
            WITH s AS (
                SELECT p.queryid, p.userid, p.calls, p.total_%1$stime AS total, p.mean_%1$stime AS mean,
                       p.stddev_%1$stime AS stddev, p.rows, p.query,
                       pg_catalog.sum(p.total_%1$stime) OVER () AS grand_total
                  FROM %2$I.pg_stat_statements p
                 WHERE p.dbid = (SELECT d.oid FROM pg_catalog.pg_database d
                                  WHERE d.datname = pg_catalog.current_database())
            )
            SELECT s.queryid, r.rolname, s.calls,
                   pg_catalog.round(s.total::numeric, 2), pg_catalog.round(s.mean::numeric, 2),
                   pg_catalog.round(s.stddev::numeric, 2), s.rows,
                   pg_catalog.round((100.0 * s.total / NULLIF(s.grand_total, 0))::numeric, 2),
                   s.query, NULL::text
              FROM s LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.userid
             WHERE s.calls >= $1 AND s.mean >= $2
        $q$, time_prefix, pgss_schema)
        USING steward._stats_setting('steward.slow_query_min_calls'),
              steward._stats_setting('steward.slow_query_min_mean');
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        -- "pg_stat_statements must be loaded via shared_preload_libraries"
        RETURN QUERY SELECT NULL::bigint, NULL::name, NULL::bigint, NULL::numeric, NULL::numeric,
                            NULL::numeric, NULL::bigint, NULL::numeric, NULL::text,
                            pg_catalog.format('pg_stat_statements is installed in schema %I but its library is not loaded: add pg_stat_statements to shared_preload_libraries and restart', pgss_schema);
    END;
END
$$;

-- Most total time first (the statements worth optimising), then queryid.
CREATE VIEW steward.slow_queries AS
SELECT s.queryid, s.user_name, s.calls, s.total_ms, s.mean_ms, s.stddev_ms, s.rows, s.percent_of_total, s.query, s.note
  FROM steward._slow_queries() s
 ORDER BY s.total_ms DESC NULLS LAST, s.queryid, s.user_name;

COMMENT ON VIEW steward.slow_queries IS
'Statements of this database from pg_stat_statements with at least steward.slow_query_min_calls calls and steward.slow_query_min_mean ms mean time, most total time first; a note row when pg_stat_statements is missing';

-- Health ---------------------------------------------------------------------

-- One check row (the contract of every _health_checks_<feature>()).
CREATE FUNCTION steward._health_check(name text, val numeric, warn numeric,
                                      crit numeric, info text)
RETURNS TABLE(check_name text, value numeric, warning numeric, critical numeric,
              status text, detail text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT name, val, warn, crit, steward.health_status(val, warn, crit), info $$;

-- The stats feature's own checks, under the same contract as every
-- feature's: health() finds this function the way it finds theirs.
CREATE FUNCTION steward._health_checks_stats()
RETURNS TABLE(check_name text, value numeric, warning numeric, critical numeric,
              status text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text := 'steward.';
    n bigint;
    v numeric;
    d text;
    warn numeric;
    invalid_ids oid[];
    candidate_ids oid[];
    standby constant boolean := pg_catalog.pg_is_in_recovery();
    nowts constant timestamptz := pg_catalog.statement_timestamp();
BEGIN
    -- connections against max_connections
    SELECT pg_catalog.count(*),
           pg_catalog.round(100.0 * pg_catalog.count(*) / pg_catalog.current_setting('max_connections')::integer, 2),
           pg_catalog.format('%s of %s connections in use, %s idle in transaction',
                             pg_catalog.count(*), pg_catalog.current_setting('max_connections'),
                             pg_catalog.count(*) FILTER (WHERE a.state LIKE 'idle in transaction%'))
      INTO n, v, d
      FROM pg_catalog.pg_stat_activity a WHERE a.backend_type = 'client backend';
    RETURN QUERY SELECT * FROM steward._health_check('connections', v,
        steward._stats_setting(s || 'connections_warning'), steward._stats_setting(s || 'connections_critical'), d);

    -- sessions: longest query, transaction, idle in transaction (seconds)
    RETURN QUERY
    WITH a AS (
        SELECT x.pid, x.state,
               CASE WHEN x.state = 'active' THEN EXTRACT(epoch FROM nowts - x.query_start) END AS q,
               EXTRACT(epoch FROM nowts - x.xact_start) AS t,
               CASE WHEN x.state LIKE 'idle in transaction%' THEN EXTRACT(epoch FROM nowts - x.state_change) END AS i
          FROM pg_catalog.pg_stat_activity x
         WHERE x.backend_type = 'client backend' AND x.pid <> pg_catalog.pg_backend_pid()
        UNION ALL
        SELECT NULL, 'prepared', NULL, EXTRACT(epoch FROM nowts - p.prepared), NULL
          FROM pg_catalog.pg_prepared_xacts p
    ), top AS (
        SELECT (SELECT pg_catalog.round(a.q, 1) || 's, pid ' || a.pid FROM a WHERE a.q IS NOT NULL ORDER BY a.q DESC LIMIT 1) AS q_top,
               (SELECT pg_catalog.round(a.t, 1) || 's, ' || COALESCE('pid ' || a.pid, 'a prepared transaction') FROM a WHERE a.t IS NOT NULL ORDER BY a.t DESC LIMIT 1) AS t_top,
               (SELECT pg_catalog.round(a.i, 1) || 's, pid ' || a.pid FROM a WHERE a.i IS NOT NULL ORDER BY a.i DESC LIMIT 1) AS i_top,
               COALESCE(pg_catalog.round(pg_catalog.max(a.q), 1), 0) AS q,
               COALESCE(pg_catalog.round(pg_catalog.max(a.t), 1), 0) AS t,
               COALESCE(pg_catalog.round(pg_catalog.max(a.i), 1), 0) AS i
          FROM a
    )
    SELECT c.* FROM top,
    LATERAL (
        SELECT * FROM steward._health_check('long_queries', top.q,
            steward._stats_setting(s || 'long_query_warning'), steward._stats_setting(s || 'long_query_critical'),
            COALESCE('longest running query: ' || top.q_top, 'no query running'))
        UNION ALL
        SELECT * FROM steward._health_check('long_transactions', top.t,
            steward._stats_setting(s || 'long_transaction_warning'), steward._stats_setting(s || 'long_transaction_critical'),
            COALESCE('oldest open transaction: ' || top.t_top, 'no open transaction'))
        UNION ALL
        SELECT * FROM steward._health_check('idle_in_transaction', top.i,
            steward._stats_setting(s || 'idle_in_transaction_warning'), steward._stats_setting(s || 'idle_in_transaction_critical'),
            COALESCE('longest idle in transaction: ' || top.i_top, 'no session idle in transaction'))) c;

    -- lock waits: pg_locks only when some session waits for a lock
    v := 0; d := 'no session waits for a lock';
    IF EXISTS (SELECT FROM pg_catalog.pg_stat_activity a WHERE a.wait_event_type = 'Lock') THEN
        SELECT pg_catalog.round(EXTRACT(epoch FROM nowts - l.waitstart), 1),
               pg_catalog.format('pid %s has waited longest, blocked by pid %s', l.pid,
                                 pg_catalog.array_to_string(pg_catalog.pg_blocking_pids(l.pid), ', '))
          INTO v, d
          FROM pg_catalog.pg_locks l WHERE NOT l.granted AND l.waitstart IS NOT NULL
         ORDER BY l.waitstart LIMIT 1;
        v := COALESCE(v, 0);
    END IF;
    RETURN QUERY SELECT * FROM steward._health_check('lock_waits', v,
        steward._stats_setting(s || 'lock_wait_warning'), steward._stats_setting(s || 'lock_wait_critical'), d);

    -- cache hit rate of this database (pg_stat_database: no per-table work;
    -- steward.cache_hit splits tables and indexes); judged from 10,000
    -- block accesses on, a cold cache after a restart is no problem
    SELECT db.blks_hit + db.blks_read,
           pg_catalog.round(100.0 * db.blks_hit / NULLIF(db.blks_hit + db.blks_read, 0), 2)
      INTO n, v
      FROM pg_catalog.pg_stat_database db WHERE db.datname = pg_catalog.current_database();
    RETURN QUERY SELECT * FROM steward._health_check('cache_hit', CASE WHEN n >= 10000 THEN v END,
        steward._stats_setting(s || 'cache_hit_warning'), steward._stats_setting(s || 'cache_hit_critical'),
        CASE WHEN n < 10000
             THEN pg_catalog.format('%s block accesses so far: too few to judge (10000 needed)', n)
             ELSE pg_catalog.format('%s%% of %s block accesses were hits', v, n) END);

    -- sequences closest to their limit
    warn := steward._stats_setting(s || 'sequence_warning');
    SELECT q.highest_percent,
           pg_catalog.format('sequences above the warning threshold: %s; highest: %s at %s%%',
               q.above_warning, q.highest::pg_catalog.regclass, q.highest_percent)
      INTO v, d
      FROM steward._sequence_summary(pg_catalog.floor(100 * warn)::bigint) q;
    RETURN QUERY SELECT * FROM steward._health_check('sequences', COALESCE(v, 0),
        warn, steward._stats_setting(s || 'sequence_critical'),
        CASE WHEN v IS NULL THEN 'no sequences' ELSE d END);

    -- transaction ID wraparound: the oldest database of the cluster
    SELECT pg_catalog.age(db.datfrozenxid),
           pg_catalog.format('database %I: oldest unfrozen transaction ID is %s transactions old, %s%% of the way to wraparound',
               db.datname, pg_catalog.age(db.datfrozenxid),
               pg_catalog.round(100.0 * pg_catalog.age(db.datfrozenxid) / 2147483647, 2))
      INTO v, d
      FROM pg_catalog.pg_database db ORDER BY pg_catalog.age(db.datfrozenxid) DESC LIMIT 1;
    RETURN QUERY SELECT * FROM steward._health_check('xid_age', v,
        steward._stats_setting(s || 'xid_age_warning'), steward._stats_setting(s || 'xid_age_critical'), d);

    -- dead tuples: the worst table with enough rows to matter
    warn := steward._stats_setting(s || 'dead_tuples_min_rows');
    SELECT x.pct, pg_catalog.format('%s has %s%% dead tuples (%s of %s)', x.relid::pg_catalog.regclass, x.pct, x.dead, x.dead + x.live)
      INTO v, d
      FROM (SELECT w.relid, w.dead, w.live,
                   pg_catalog.round(100.0 * w.dead / NULLIF(w.dead + w.live, 0), 2) AS pct
              FROM steward._dead_tuples_worst(warn::bigint) w WHERE w.relid IS NOT NULL) x;
    RETURN QUERY SELECT * FROM steward._health_check('dead_tuples', COALESCE(v, 0),
        steward._stats_setting(s || 'dead_tuples_warning'), steward._stats_setting(s || 'dead_tuples_critical'),
        COALESCE(d, 'no table with enough rows to judge'));

    -- invalid and duplicate indexes (counts; any is a warning), from one
    -- pass over pg_index
    SELECT pg_catalog.array_agg(x.indexrelid) FILTER (WHERE x.invalid),
           COALESCE(pg_catalog.array_agg(x.indexrelid) FILTER (WHERE NOT x.invalid), '{}')
      INTO invalid_ids, candidate_ids
      FROM steward._index_candidates() x;
    SELECT pg_catalog.count(*), pg_catalog.string_agg(c.oid::pg_catalog.regclass::text, ', ' ORDER BY c.oid::pg_catalog.regclass::text)
      INTO n, d
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
     WHERE c.oid = ANY (invalid_ids) AND steward._is_user_schema(ns.nspname);
    RETURN QUERY SELECT * FROM steward._health_check('invalid_indexes', n, 0, NULL,
        COALESCE('invalid: ' || d, 'no invalid index'));
    SELECT pg_catalog.count(*), pg_catalog.string_agg(x.indexrelid::pg_catalog.regclass::text, ', ' ORDER BY x.indexrelid::pg_catalog.regclass::text)
      INTO n, d
      FROM steward._duplicate_indexes_among(candidate_ids) x;
    RETURN QUERY SELECT * FROM steward._health_check('duplicate_indexes', n, 0, NULL,
        COALESCE('duplicates: ' || d, 'no duplicate index'));

    -- replication: a standby's own replay lag, or a primary's worst standby
    IF standby THEN
        SELECT CASE WHEN pg_catalog.pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_catalog.pg_last_wal_replay_lsn() THEN 0
                    ELSE pg_catalog.round(EXTRACT(epoch FROM nowts - pg_catalog.pg_last_xact_replay_timestamp()), 1) END
          INTO v;
        d := pg_catalog.format('standby: received %s, replayed %s', pg_catalog.pg_last_wal_receive_lsn(), pg_catalog.pg_last_wal_replay_lsn());
    ELSE
        SELECT pg_catalog.round(pg_catalog.max(EXTRACT(epoch FROM COALESCE(r.replay_lag, '0'::interval))), 1),
               CASE pg_catalog.count(*) WHEN 0 THEN 'no standby streaming'
                    WHEN 1 THEN '1 standby streaming'
                    ELSE pg_catalog.format('%s standbys streaming', pg_catalog.count(*)) END
          INTO v, d
          FROM pg_catalog.pg_stat_replication r;
    END IF;
    RETURN QUERY SELECT * FROM steward._health_check('replication_lag', v,
        steward._stats_setting(s || 'replication_lag_warning'), steward._stats_setting(s || 'replication_lag_critical'), d);

    -- replication slots nobody uses keep WAL (and on the primary, old rows)
    SELECT pg_catalog.count(*),
           pg_catalog.string_agg(pg_catalog.format('%I%s', r.slot_name,
               CASE WHEN standby OR r.restart_lsn IS NULL THEN ''
                    ELSE ' (retains ' || pg_catalog.pg_size_pretty(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.restart_lsn)) || ' of WAL)' END),
               ', ' ORDER BY r.slot_name)
      INTO n, d
      FROM pg_catalog.pg_replication_slots r WHERE NOT r.active;
    RETURN QUERY SELECT * FROM steward._health_check('inactive_replication_slots', n, 0, NULL,
        COALESCE('inactive: ' || d, 'no inactive replication slot'));
END
$$;

-- The extension itself, three versions that should be one: the installed
-- version of this database (pg_extension), the one the server's files
-- offer (the control file, pg_available_extensions) and the library this
-- session runs (the read-only setting steward.library_version, defined by
-- libraries since 0.2.0: NULL means an older one). After a new build is
-- installed, the database runs the old version's SQL until ALTER EXTENSION
-- pg_steward UPDATE, and a preloaded library stays the old one until a
-- restart (a session that loaded it before the files changed, until it
-- reconnects): a warning whose detail says what to do.
CREATE FUNCTION steward._extension_update_check(installed text, available text, library text)
RETURNS TABLE(check_name text, value numeric, warning numeric, critical numeric,
              status text, detail text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH v AS (
        -- numeric versions compare part by part (0.10.0 > 0.9.0); others only for equality
        SELECT CASE WHEN installed ~ '^[0-9]+(\.[0-9]+)*$' AND available ~ '^[0-9]+(\.[0-9]+)*$'
                    THEN pg_catalog.btarraycmp(pg_catalog.string_to_array(installed, '.')::integer[],
                                               pg_catalog.string_to_array(available, '.')::integer[])
               END AS installed_vs_available
    ), d AS (
        SELECT CASE
            WHEN available IS NULL THEN
                pg_catalog.format('pg_steward %s is installed, but the server''s files do not offer pg_steward (pg_steward.control is missing)', installed)
            WHEN installed IS DISTINCT FROM available AND v.installed_vs_available > 0 THEN
                pg_catalog.format('pg_steward %s is installed in this database, but the server''s files are the older %s: install the build of %s', installed, available, installed)
            WHEN installed IS DISTINCT FROM available THEN
                pg_catalog.format('pg_steward %s is installed in this database, the server''s files offer %s: run ALTER EXTENSION pg_steward UPDATE', installed, available)
            WHEN library IS DISTINCT FROM available THEN
                pg_catalog.format('this session runs the library of pg_steward %s, the server''s files are %s: restart the server if shared_preload_libraries loads pg_steward, reconnect otherwise',
                                  COALESCE(library, 'older than 0.2.0'), available)
            END AS problem
          FROM v
    )
    SELECT c.* FROM d, LATERAL steward._health_check('extension_update', CASE WHEN d.problem IS NULL THEN 0 ELSE 1 END, 0, NULL,
        COALESCE(d.problem, pg_catalog.format('pg_steward %s: installed, offered by the server''s files and running', installed))) c
$$;

CREATE FUNCTION steward._health_checks_extension()
RETURNS TABLE(check_name text, value numeric, warning numeric, critical numeric,
              status text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- a C function of every version: loads the library into this session
    -- if nothing has yet, so that its steward.library_version exists
    PERFORM steward.health_status(0, 0, 0);
    RETURN QUERY SELECT c.* FROM steward._extension_update_check(
        (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_steward'),
        (SELECT a.default_version FROM pg_catalog.pg_available_extensions a WHERE a.name = 'pg_steward'),
        -- (pg_settings: a placeholder of that name, set before an older
        -- library loaded, is not a setting and not shown there)
        (SELECT g.setting FROM pg_catalog.pg_settings g WHERE g.name = 'steward.library_version')) c;
END
$$;

-- One call for a health endpoint: overall status, server facts and every
-- check of every feature (each steward._health_checks_<feature>() found in
-- pg_proc; stats first). SECURITY DEFINER so any caller gets the same
-- answer; it returns counts, thresholds and statuses, never query text. A
-- feature whose check function fails shows up as a warning, not an error.
CREATE FUNCTION steward.health()
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f record;
    r record;
    checks jsonb := '[]';
    failing jsonb := '[]';
    worst integer := 0;
    st text;
    note text;
    conn record;
    lag numeric;
BEGIN
    FOR f IN
        SELECT p.proname, pg_catalog.substr(p.proname, 16) AS feature
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'steward'::pg_catalog.regnamespace
           AND p.proname ~ '^_health_checks_[a-z0-9_]+$'
           AND p.pronargs = 0 AND p.proretset
         ORDER BY p.proname <> '_health_checks_stats', p.proname
    LOOP
        BEGIN
            FOR r IN EXECUTE pg_catalog.format(
                'SELECT check_name::text, value::numeric, warning::numeric, critical::numeric, status::text, detail::text FROM steward.%I()',
                f.proname)
            LOOP
                st := r.status;
                note := r.detail;
                IF st IS NULL OR st NOT IN ('ok', 'warning', 'critical') THEN
                    st := steward.health_status(r.value, r.warning, r.critical);
                    note := pg_catalog.concat_ws('; ', note,
                        pg_catalog.format('status %s replaced by %s from the thresholds', COALESCE(pg_catalog.quote_literal(r.status), 'NULL'), st));
                END IF;
                checks := checks || pg_catalog.jsonb_build_object(
                    'feature', f.feature, 'name', r.check_name, 'status', st, 'value', r.value,
                    'warning', r.warning, 'critical', r.critical, 'detail', note);
                IF st <> 'ok' THEN
                    failing := failing || pg_catalog.to_jsonb(f.feature || '.' || r.check_name);
                END IF;
                worst := GREATEST(worst, CASE st WHEN 'critical' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END);
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS note = MESSAGE_TEXT;
            checks := checks || pg_catalog.jsonb_build_object(
                'feature', f.feature, 'name', 'check_failed', 'status', 'warning', 'value', NULL,
                'warning', NULL, 'critical', NULL,
                'detail', pg_catalog.format('steward.%I() failed: %s', f.proname, note));
            failing := failing || pg_catalog.to_jsonb(f.feature || '.check_failed');
            worst := GREATEST(worst, 1);
        END;
    END LOOP;

    SELECT pg_catalog.count(*) AS used,
           pg_catalog.current_setting('max_connections')::integer AS max,
           pg_catalog.count(*) FILTER (WHERE a.state LIKE 'idle in transaction%') AS idle_in_transaction
      INTO conn
      FROM pg_catalog.pg_stat_activity a WHERE a.backend_type = 'client backend';
    SELECT (c->>'value')::numeric INTO lag
      FROM pg_catalog.jsonb_array_elements(checks) c
     WHERE c->>'feature' = 'stats' AND c->>'name' = 'replication_lag';

    RETURN pg_catalog.jsonb_build_object(
        'status', CASE worst WHEN 2 THEN 'critical' WHEN 1 THEN 'warning' ELSE 'ok' END,
        'checked_at', pg_catalog.statement_timestamp(),
        'database', pg_catalog.current_database(),
        'version', pg_catalog.current_setting('server_version'),
        'version_num', pg_catalog.current_setting('server_version_num')::integer,
        'extension_version', (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_steward'),
        'started_at', pg_catalog.pg_postmaster_start_time(),
        'uptime_seconds', pg_catalog.round(EXTRACT(epoch FROM pg_catalog.statement_timestamp() - pg_catalog.pg_postmaster_start_time())),
        'is_standby', pg_catalog.pg_is_in_recovery(),
        'replay_lag_seconds', CASE WHEN pg_catalog.pg_is_in_recovery() THEN lag END,
        'connections', pg_catalog.jsonb_build_object(
            'used', conn.used, 'max', conn.max,
            'percent', pg_catalog.round(100.0 * conn.used / conn.max, 2),
            'idle_in_transaction', conn.idle_in_transaction),
        'failing', failing,
        'checks', checks);
END
$$;

COMMENT ON FUNCTION steward.health() IS
'Overall status (ok, warning, critical), server facts and every health check of every pg_steward feature, as jsonb';

-- Privileges -----------------------------------------------------------------

REVOKE ALL ON FUNCTION steward.health() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward._health_checks_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward._health_checks_extension() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward._health_checks_extension() TO steward_monitor, pg_monitor;
REVOKE ALL ON FUNCTION steward._sequence_last_value(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION steward._slow_queries() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward._relation_bytes(oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION steward._sequences(), steward._sequence_summary(bigint), steward._index_candidates(),
    steward._duplicate_indexes_among(oid[]), steward._dead_tuples_worst(bigint),
    steward._cache_hit_sums() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward.health(), steward._health_checks_stats(),
    steward._sequence_last_value(oid), steward._slow_queries(), steward._relation_bytes(oid),
    steward._sequences(), steward._sequence_summary(bigint), steward._index_candidates(),
    steward._duplicate_indexes_among(oid[]),
    steward._dead_tuples_worst(bigint), steward._cache_hit_sums()
    TO steward_monitor, pg_monitor;
-- the internal views too: _health_checks_stats() reads them as its caller
REVOKE ALL ON steward.health_thresholds, steward.table_health, steward._duplicate_indexes,
    steward.index_health, steward.connections, steward.long_running, steward.blocking,
    steward.cache_hit, steward.database_activity, steward._sequence_columns, steward._sequence_usage,
    steward.sequence_health, steward.slow_queries FROM PUBLIC;
GRANT SELECT ON steward.health_thresholds, steward.table_health, steward._duplicate_indexes,
    steward.index_health, steward.connections, steward.long_running, steward.blocking,
    steward.cache_hit, steward.database_activity, steward._sequence_columns, steward._sequence_usage,
    steward.sequence_health, steward.slow_queries TO steward_monitor, pg_monitor;
