-- pg_steward 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_steward UPDATE).
-- What changed, object by object; extension/*.sql holds the same objects
-- as a fresh 0.2.0 install creates them, and TAP test
-- 003_extension_update.pl checks that both end up identical. No new C
-- function: this script may run while the 0.1.0 library is still loaded
-- (preloaded, until the restart), which lacks any new symbol.
\echo Use "ALTER EXTENSION pg_steward UPDATE" to load this file. \quit

-- Soft delete: concurrent syncs of the reference checks no longer fail
-- (two enable_soft_delete() calls on tables referenced by the same table
-- made the second fail with "trigger ... already exists"): the tables to
-- change are locked first, in oid order, and their state read again,
-- through the new steward._soft_delete_reference_state(). Under REPEATABLE
-- READ or SERIALIZABLE, a sync whose snapshot predates another sync's
-- change of the same table fails with 40001 instead of undoing that change
-- (the new steward._soft_delete_reference_syncs).
-- The reference checks as they are and as they should be, one row per
-- table that has one or needs one: the trigger it has (tgname, have_fks;
-- have_enabled: it and, on a partitioned table, its clones fire in normal
-- sessions; NULL when none), the trigger it needs (want_name, want_fks: the
-- names of its foreign keys to enabled tables; NULL when none), fks, what
-- the sync makes it name (want_fks, or with only_grow the union of both),
-- and in_step: nothing for the sync to do. Read by
-- _soft_delete_sync_references() and the health check.
CREATE FUNCTION steward._soft_delete_reference_state(only_grow boolean)
RETURNS TABLE(child regclass, tgname name, have_fks text[], have_enabled boolean,
              want_name name, want_fks text[], fks text[], in_step boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH fk AS (
        SELECT c.conrelid AS child, c.conname::text AS name
          FROM pg_catalog.pg_constraint c
          JOIN steward.soft_delete_tables s ON s.table_name = c.confrelid
         WHERE c.contype = 'f' AND c.conparentid = 0),
    wanted AS (
        SELECT f.child, pg_catalog.array_agg(f.name ORDER BY f.name) AS fks
          FROM fk f GROUP BY f.child),
    have AS (
        SELECT t.tgrelid AS child, t.tgname, steward._trigger_args(t.tgargs) AS fks,
               t.tgenabled IN ('O', 'A')
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_partition_tree(t.tgrelid) m
                                 JOIN pg_catalog.pg_trigger k ON k.tgrelid = m.relid AND k.tgname = t.tgname
                                WHERE m.relid <> t.tgrelid AND k.tgparentid <> 0
                                  AND k.tgenabled NOT IN ('O', 'A')) AS enabled
          FROM pg_catalog.pg_trigger t
         WHERE t.tgname IN ('steward_soft_delete_parent', 'steward_soft_delete_parent_tree') AND t.tgparentid = 0
           AND t.tgfoid = 'steward._soft_delete_live_parent()'::pg_catalog.regprocedure),
    state AS (
        SELECT COALESCE(w.child, h.child)::pg_catalog.regclass AS child, h.tgname, h.fks AS have_fks,
               h.enabled AS have_enabled,
               (CASE WHEN c.relkind = 'p' THEN 'steward_soft_delete_parent_tree'
                     ELSE 'steward_soft_delete_parent' END)::name AS want_name,
               w.fks AS want_fks,
               CASE WHEN only_grow AND h.tgname IS NOT NULL
                    THEN ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(h.fks OPERATOR(pg_catalog.||) COALESCE(w.fks, '{}')) AS x
                                ORDER BY x)
                    ELSE w.fks END AS fks
          FROM wanted w FULL JOIN have h ON h.child = w.child
          JOIN pg_catalog.pg_class c ON c.oid = COALESCE(w.child, h.child))
    SELECT s.*, (s.fks IS NOT NULL AND s.tgname IS NOT DISTINCT FROM s.want_name
                 AND s.have_fks IS NOT DISTINCT FROM s.fks)
                OR (only_grow AND s.fks IS NULL)   -- after DDL: never dropped
      FROM state s
$$;

-- One row per table whose reference check a sync has changed: every sync
-- that changes a table's check first writes the table's row, so two syncs
-- of the same table meet on it as two updates of one row do. Under
-- REPEATABLE READ or SERIALIZABLE, a sync whose snapshot is older than
-- another sync's committed change of the table (it read the catalog as it
-- was before) fails with serialization_failure (40001), instead of
-- replacing that change by what its old snapshot shows: a trigger without
-- the other transaction's foreign key, which would go unchecked. (READ
-- COMMITTED reads the state again once its locks are held.) Rows of tables
-- dropped since stay (an oid and a count); not dumped: no data of anyone's.
CREATE TABLE steward._soft_delete_reference_syncs (
    child oid PRIMARY KEY,
    syncs bigint NOT NULL DEFAULT 1
);
REVOKE ALL ON steward._soft_delete_reference_syncs FROM PUBLIC;

CREATE OR REPLACE FUNCTION steward._soft_delete_sync_references(from_ddl boolean DEFAULT false, narrow boolean DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    m record;
    todo oid[] := '{}';      -- tables whose check changes
    drops oid[] := '{}';     -- of those, the ones whose trigger is dropped (not replaced)
    skipped oid[] := '{}';   -- after DDL: tables that could not be locked
    tbl regclass;
    lock_sql text;
    -- the hint of the warning after DDL (a table that could not be changed)
    warning_hint constant text := 'SELECT steward.enable_soft_delete() of a soft-delete-enabled table again brings the checks in step; steward.health() lists the tables whose check is missing.';
    saved_lock_timeout constant text := pg_catalog.current_setting('lock_timeout');
    only_grow constant boolean := NOT COALESCE(narrow, NOT from_ddl);
BEGIN
    FOR r IN SELECT * FROM steward._soft_delete_reference_state(only_grow) s WHERE NOT s.in_step ORDER BY s.child::oid LOOP
        todo := todo OPERATOR(pg_catalog.||) r.child::oid;
        IF r.tgname IS NOT NULL AND (r.fks IS NULL OR r.tgname OPERATOR(pg_catalog.<>) r.want_name) THEN
            drops := drops OPERATOR(pg_catalog.||) r.child::oid;
        END IF;
    END LOOP;
    IF pg_catalog.cardinality(todo) = 0 THEN
        RETURN;
    END IF;
    FOR m IN SELECT p.relid, steward._relation_label(p.relid::pg_catalog.regclass) AS label,
                    pg_catalog.bool_or(d.child IS NOT NULL) AS dropping,
                    pg_catalog.array_agg(DISTINCT t.child) AS roots
               FROM pg_catalog.unnest(todo) AS t(child)
               LEFT JOIN pg_catalog.unnest(drops) AS d(child) ON d.child OPERATOR(pg_catalog.=) t.child,
                    LATERAL (SELECT t.child AS relid    -- (pg_partition_tree() of a plain table is empty)
                             UNION SELECT x.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree(t.child::pg_catalog.regclass) x) p
              GROUP BY p.relid ORDER BY p.relid
    LOOP
        -- (a table dropped meanwhile has nothing left to check; locked by
        -- name, one dropped right now fails with "does not exist")
        CONTINUE WHEN m.label IS NULL OR NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) m.relid);
        lock_sql := pg_catalog.format('LOCK TABLE ONLY %s IN %s MODE', m.label,
                                      CASE WHEN m.dropping THEN 'ACCESS EXCLUSIVE' ELSE 'SHARE ROW EXCLUSIVE' END);
        IF NOT from_ddl THEN
            EXECUTE lock_sql;   -- waits as DDL does (the caller's lock_timeout)
            CONTINUE;
        END IF;
        CONTINUE WHEN m.roots OPERATOR(pg_catalog.<@) skipped;
        BEGIN
            PERFORM pg_catalog.set_config('lock_timeout', '1s', true);
            EXECUTE lock_sql;
            PERFORM pg_catalog.set_config('lock_timeout', saved_lock_timeout, true);
        EXCEPTION WHEN OTHERS THEN
            PERFORM pg_catalog.set_config('lock_timeout', saved_lock_timeout, true);
            FOREACH tbl IN ARRAY m.roots::pg_catalog.regclass[] LOOP
                CONTINUE WHEN tbl::oid OPERATOR(pg_catalog.=) ANY (skipped);
                skipped := skipped OPERATOR(pg_catalog.||) tbl::oid;
                -- never fail someone's DDL for one table we cannot change now
                RAISE WARNING 'pg_steward could not update the soft delete reference check of "%": %',
                              steward._relation_name(tbl), SQLERRM
                    USING HINT = warning_hint;
            END LOOP;
        END;
    END LOOP;
    -- read again, with the locks held: what a sync we waited for committed
    FOR r IN SELECT s.* FROM steward._soft_delete_reference_state(only_grow) s
               JOIN pg_catalog.unnest(todo) AS t(child) ON t.child OPERATOR(pg_catalog.=) s.child::oid
               LEFT JOIN pg_catalog.unnest(skipped) AS k(child) ON k.child OPERATOR(pg_catalog.=) t.child
              WHERE NOT s.in_step AND k.child IS NULL
              ORDER BY t.child
    LOOP
        tbl := r.child;
        BEGIN
            IF from_ddl THEN
                PERFORM pg_catalog.set_config('lock_timeout', '1s', true);
            END IF;
            -- (the table's row: see steward._soft_delete_reference_syncs)
            INSERT INTO steward._soft_delete_reference_syncs AS y (child) VALUES (r.child::pg_catalog.oid)
                ON CONFLICT (child) DO UPDATE SET syncs = y.syncs OPERATOR(pg_catalog.+) 1;
            -- replaced in place where the name stays (CREATE OR REPLACE
            -- TRIGGER takes SHARE ROW EXCLUSIVE, DROP TRIGGER ACCESS EXCLUSIVE)
            IF r.tgname IS NOT NULL AND (r.fks IS NULL OR r.tgname OPERATOR(pg_catalog.<>) r.want_name) THEN
                EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', r.tgname, r.child);
            END IF;
            IF r.fks IS NOT NULL THEN
                EXECUTE pg_catalog.format(
                    'CREATE OR REPLACE TRIGGER %I AFTER INSERT OR UPDATE ON %s '
                    'FOR EACH ROW EXECUTE FUNCTION steward._soft_delete_live_parent(%s)',
                    r.want_name, r.child,
                    (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(a.f), ', ' ORDER BY a.o)
                       FROM pg_catalog.unnest(r.fks) WITH ORDINALITY AS a(f, o)));
            END IF;
            PERFORM pg_catalog.set_config('lock_timeout', saved_lock_timeout, true);
        EXCEPTION WHEN OTHERS THEN
            PERFORM pg_catalog.set_config('lock_timeout', saved_lock_timeout, true);
            IF NOT from_ddl AND SQLSTATE OPERATOR(pg_catalog.=) '40001' THEN
                RAISE EXCEPTION 'could not update the soft delete reference check of "%"', steward._relation_name(tbl)
                    USING ERRCODE = 'serialization_failure',
                          DETAIL = pg_catalog.format('Another transaction changed it after this transaction''s snapshot was taken (%s).', SQLERRM),
                          HINT = 'Retry the transaction, or run it in READ COMMITTED.';
            ELSIF NOT from_ddl THEN
                RAISE;
            END IF;
            RAISE WARNING 'pg_steward could not update the soft delete reference check of "%": %',
                          steward._relation_name(tbl), SQLERRM
                USING HINT = warning_hint;
        END;
    END LOOP;
END
$$;

-- Soft delete health: the new check soft_delete_unchecked_references;
-- replica-only triggers no longer count as protecting; at most 10 names.
CREATE OR REPLACE FUNCTION steward._health_checks_soft_delete()
RETURNS TABLE(check_name text, value numeric, warning numeric, critical numeric, status text, detail text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH unprotected AS (
        SELECT s.table_name::text AS name
          FROM steward.soft_delete_tables s
         WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_trigger t
                            WHERE t.tgrelid = s.table_name AND t.tgname = 'steward_soft_delete'
                              AND t.tgfoid = 'steward._soft_delete_trigger()'::regprocedure
                              AND t.tgenabled IN ('O', 'A'))   -- fires in normal sessions
    ), unchecked AS (
        SELECT r.child::text AS name
          FROM steward._soft_delete_reference_state(false) r
         WHERE r.want_fks IS NOT NULL
           AND (r.tgname IS NULL OR NOT r.have_enabled OR NOT r.have_fks OPERATOR(pg_catalog.@>) r.want_fks)
    ), counted AS (
        -- at most 10 names in a detail
        SELECT 'unprotected' AS k, pg_catalog.count(*)::numeric AS n,
               pg_catalog.string_agg(u.name, ', ' ORDER BY u.name) FILTER (WHERE u.i <= 10) AS names
          FROM (SELECT x.name, pg_catalog.row_number() OVER (ORDER BY x.name) AS i FROM unprotected x) u
        UNION ALL
        SELECT 'unchecked', pg_catalog.count(*)::numeric,
               pg_catalog.string_agg(c.name, ', ' ORDER BY c.name) FILTER (WHERE c.i <= 10)
          FROM (SELECT x.name, pg_catalog.row_number() OVER (ORDER BY x.name) AS i FROM unchecked x) c
    ), listed AS (
        SELECT c.k, c.n, c.names || CASE WHEN c.n > 10 THEN pg_catalog.format(' and %s more', c.n - 10) ELSE '' END AS names
          FROM counted c
    )
    SELECT 'soft_delete_unprotected_tables', u.n, 1::numeric, 1::numeric,
           CASE WHEN u.n >= 1 THEN 'critical' ELSE 'ok' END,
           CASE WHEN u.n = 0 THEN 'Every soft-delete-enabled table has its enabled steward_soft_delete trigger.'
                ELSE 'DELETE really removes rows of these soft-delete-enabled tables (trigger missing or disabled): '
                     || u.names || '.' END
      FROM listed u WHERE u.k = 'unprotected'
    UNION ALL
    SELECT 'soft_delete_unchecked_references', c.n, 0::numeric, NULL::numeric,
           CASE WHEN c.n > 0 THEN 'warning' ELSE 'ok' END,
           CASE WHEN c.n = 0 THEN 'Every foreign key to a soft-delete-enabled table is checked by steward_soft_delete_parent.'
                ELSE 'New references to soft-deleted rows are accepted in these tables (reference check missing, disabled or incomplete): '
                     || c.names || '. ALTER TABLE ... ENABLE TRIGGER re-enables a disabled one; SELECT steward.enable_soft_delete() of a soft-delete-enabled table again rebuilds missing and incomplete ones.' END
      FROM listed c WHERE c.k = 'unchecked'
$$;

-- Soft delete refuses temporary tables (as auditing does): one goes at the
-- end of its session without any event trigger seeing it, and its row
-- stayed behind, reported by the health check as an unprotected table.
-- Rows 0.1.0 left behind that way are removed.
CREATE OR REPLACE FUNCTION steward.enable_soft_delete(tbl regclass, column_name name DEFAULT 'deleted_at',
                                           create_views boolean DEFAULT true)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('enable soft delete');
    existing steward.soft_delete_tables;
    rel record;
    col record;
    other record;
    live_name name;
    deleted_name name;
    live regclass;
    deleted regclass;
BEGIN
    PERFORM steward._check_trigger_target(tbl, 'soft delete');
    PERFORM steward._soft_delete_check_owner(tbl);
    IF column_name IS NULL OR create_views IS NULL THEN
        RAISE EXCEPTION 'column name and create_views must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relname, c.relnamespace, n.nspname, c.relispartition, c.relpersistence INTO rel
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = tbl;
    -- A temporary table goes at the end of its session without any event
    -- trigger seeing it: its row would name a table that is gone (and the
    -- health check would report it unprotected).
    IF rel.relpersistence = 't' THEN
        RAISE EXCEPTION 'cannot enable soft delete on temporary table "%"', steward._relation_name(tbl)
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Temporary tables are dropped at the end of the session without notice to pg_steward.',
                  HINT = 'Enable it on a permanent or unlogged table.';
    END IF;
    IF rel.relispartition THEN
        RAISE EXCEPTION 'cannot enable soft delete on partition "%"', steward._relation_name(tbl)
            USING ERRCODE = 'wrong_object_type',
                  HINT = pg_catalog.format('Enable it on the partitioned table %s; its partitions follow.',
                                           pg_catalog.pg_partition_root(tbl));
    END IF;

    SELECT * INTO existing FROM steward.soft_delete_tables s WHERE s.table_name = tbl;
    IF FOUND THEN
        IF existing.column_name = column_name THEN
            PERFORM steward._soft_delete_sync_references(); RETURN false;  -- already enabled (the reference checks are synced)
        END IF;
        RAISE EXCEPTION 'soft delete is already enabled on "%" with column "%"', steward._relation_name(tbl), existing.column_name
            USING ERRCODE = 'object_in_use',
                  HINT = 'Call steward.disable_soft_delete() first to switch to another column.';
    END IF;

    SELECT a.atttypid::regtype AS typ, a.attnotnull, a.attgenerated INTO col
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = column_name AND a.attnum > 0 AND NOT a.attisdropped;
    IF FOUND THEN
        IF steward._base_type(col.typ) <> 'timestamptz'::regtype THEN
            RAISE EXCEPTION 'column "%" of relation "%" must be of type timestamptz', column_name, steward._relation_name(tbl)
                USING ERRCODE = 'datatype_mismatch',
                      DETAIL = pg_catalog.format('The column is of type %s.', col.typ);
        END IF;
        IF col.attgenerated <> '' THEN
            RAISE EXCEPTION 'column "%" of relation "%" is a generated column', column_name, steward._relation_name(tbl)
                USING ERRCODE = 'wrong_object_type';
        END IF;
        IF col.attnotnull THEN
            RAISE EXCEPTION 'column "%" of relation "%" must allow null', column_name, steward._relation_name(tbl)
                USING ERRCODE = 'invalid_table_definition',
                      DETAIL = 'NULL marks a live row.',
                      HINT = pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I DROP NOT NULL;', tbl, column_name);
        END IF;
    END IF;

    SELECT t.tgfoid::regprocedure AS fn INTO other
      FROM pg_catalog.pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = 'steward_soft_delete';
    IF FOUND AND other.fn <> 'steward._soft_delete_trigger()'::regprocedure THEN
        RAISE EXCEPTION 'table "%" already has a trigger named "steward_soft_delete"', steward._relation_name(tbl)
            USING ERRCODE = 'duplicate_object',
                  DETAIL = pg_catalog.format('It calls %s.', other.fn);
    END IF;

    IF create_views THEN
        live_name := steward._soft_delete_view_name(rel.relname, '_live');
        deleted_name := steward._soft_delete_view_name(rel.relname, '_deleted');
        IF EXISTS (SELECT FROM pg_catalog.pg_class c
                    WHERE c.relnamespace = rel.relnamespace AND c.relname IN (live_name, deleted_name)) THEN
            RAISE EXCEPTION 'relation "%" or "%" already exists in schema "%"', live_name, deleted_name, rel.nspname
                USING ERRCODE = 'duplicate_table',
                      HINT = 'Pass create_views => false and write your own views.';
        END IF;
    END IF;

    -- Everything checked: now change things (one transaction, all or nothing).
    IF col IS NULL THEN
        EXECUTE pg_catalog.format('ALTER TABLE %s ADD COLUMN %I timestamptz', tbl, column_name);
    END IF;
    IF other IS NOT NULL THEN                       -- stale trigger of ours (no config row)
        EXECUTE pg_catalog.format('DROP TRIGGER steward_soft_delete ON %s', tbl);
    END IF;
    EXECUTE pg_catalog.format(
        'CREATE TRIGGER steward_soft_delete BEFORE DELETE ON %s FOR EACH ROW EXECUTE FUNCTION steward._soft_delete_trigger(%L)',
        tbl, column_name);
    PERFORM steward._soft_delete_drop_trigger(tbl, 'steward_soft_delete_truncate');
    EXECUTE pg_catalog.format(
        'CREATE TRIGGER steward_soft_delete_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION steward._soft_delete_truncate()',
        tbl);
    IF create_views THEN
        EXECUTE pg_catalog.format('CREATE VIEW %I.%I WITH (security_invoker = true) AS SELECT * FROM %s WHERE %I IS NULL',
                                  rel.nspname, live_name, tbl, column_name);
        EXECUTE pg_catalog.format('CREATE VIEW %I.%I WITH (security_invoker = true) AS SELECT * FROM %s WHERE %I IS NOT NULL',
                                  rel.nspname, deleted_name, tbl, column_name);
        live := pg_catalog.format('%I.%I', rel.nspname, live_name)::regclass;
        deleted := pg_catalog.format('%I.%I', rel.nspname, deleted_name)::regclass;
        EXECUTE pg_catalog.format('COMMENT ON VIEW %s IS %L', live,
                                  pg_catalog.format('Live rows of %s (pg_steward soft delete)', tbl));
        EXECUTE pg_catalog.format('COMMENT ON VIEW %s IS %L', deleted,
                                  pg_catalog.format('Soft-deleted rows of %s (pg_steward soft delete)', tbl));
    END IF;
    PERFORM steward._soft_delete_register(tbl, column_name, live, deleted);
    PERFORM steward._soft_delete_sync(tbl);
    PERFORM steward._soft_delete_sync_references();
    PERFORM steward.soft_delete_mode();            -- loads the library: this session rewrites
    IF NOT steward._soft_delete_preloaded() THEN
        RAISE NOTICE 'pg_steward is not preloaded: a session reports DELETE 0 for soft deletes until it has loaded the library'
            USING DETAIL = 'Rows are marked either way; only the row count and RETURNING seen by the client differ.',
                  HINT = 'Preload it (shared_preload_libraries, or ALTER DATABASE ... SET session_preload_libraries = ''pg_steward''), or run SELECT steward.soft_delete_mode() when a connection opens.';
    END IF;
    RETURN true;
END
$$;
DELETE FROM steward.soft_delete_tables s
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) s.table_name::pg_catalog.oid);

-- Health: the new check extension_update (health() finds
-- steward._health_checks_extension() by its name).
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
REVOKE ALL ON FUNCTION steward._health_checks_extension() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward._health_checks_extension() TO steward_monitor, pg_monitor;

-- Queue: the job history's partitions lose their BRIN index on finished_at
-- (the stats views, health checks and the purge filter by queue and take
-- the (queue_id, finished_at) index; the BRIN entry cost every completion
-- about 4,000 instructions). New
-- partitions are made without it, existing ones (the default partition and
-- those queue_maintenance() made) drop it. The queue stats read the
-- completions of the last 5 minutes through the (queue_id, finished_at)
-- index, as before (only its comment changed).
CREATE OR REPLACE FUNCTION steward._job_history_indexes(part regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    base text := (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = part);
BEGIN
    EXECUTE pg_catalog.format('CREATE INDEX IF NOT EXISTS %I ON %s (id)', base || '_id', part);
    -- a queue's recent completions (stats views, health), steward.jobs
    -- within a queue's retention, the purge of the default partition. No
    -- index on finished_at alone: every index costs every completion (0.1.0's
    -- BRIN one about 4,000 instructions per job), and
    -- the readers that must be cheap filter by queue (a steward.jobs query
    -- by finished_at alone reads the partitions of its time range).
    EXECUTE pg_catalog.format('CREATE INDEX IF NOT EXISTS %I ON %s (queue_id, finished_at)', base || '_queue_finished', part);
END
$$;
CREATE OR REPLACE FUNCTION steward._queue_stats()
RETURNS TABLE (queue text, paused boolean, ready bigint, scheduled bigint, running bigint,
               expired_leases bigint, oldest_ready_age interval, completed_last_5min bigint,
               failed_last_5min bigint, dead_last_5min bigint, jobs_per_second_5min numeric,
               avg_wait interval, avg_run interval, counts_exact boolean,
               dead bigint, dead_last_1d bigint, dead_exact boolean)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET jit = off
AS $$
DECLARE
    q record;
    c record;
    exact boolean;
    many_prios boolean;
    cap constant integer := 1000;
    completed_cap constant integer := 1000;
    completed_estimate bigint;
    completed_limit integer;
    max_prios constant integer := 1000;
    since constant timestamptz := now() - interval '5 minutes';
    -- errors recorded since %L (steward._job_error), and those that made a
    -- job dead
    errors_sql constant text := 'SELECT 1 FROM steward._job_error WHERE queue_id = %s AND at >= %L';
    dead_sql constant text := errors_sql || ' AND dead';
BEGIN
    FOR q IN SELECT * FROM steward._queue ORDER BY name LOOP
        queue := q.name; paused := q.paused; exact := true;
        SELECT * INTO c FROM steward._capped_count(format(
            'SELECT 1 FROM steward._job WHERE queue_id = %s AND state = ''ready''', q.id), cap);
        ready := c.n; exact := exact AND c.exact;
        SELECT * INTO c FROM steward._capped_count(format(
            'SELECT 1 FROM steward._job WHERE queue_id = %s AND state = ''scheduled''', q.id), cap);
        scheduled := c.n; exact := exact AND c.exact;
        SELECT * INTO c FROM steward._capped_count(format(
            'SELECT 1 FROM steward._job WHERE queue_id = %s AND state = ''running''', q.id), cap);
        running := c.n; exact := exact AND c.exact;
        SELECT * INTO c FROM steward._capped_count(format(
            'SELECT 1 FROM steward._job WHERE queue_id = %s AND state = ''running'' AND lease_expires_at < now()', q.id), cap);
        expired_leases := c.n; exact := exact AND c.exact;
        -- the oldest ready job: the first entry of each priority in the ready
        -- index (queue_id, prio, run_at, id) is that priority's oldest, so a
        -- skip scan (one index descent per distinct priority, at most
        -- max_prios + 1) finds the exact minimum; beyond max_prios
        -- priorities it is the minimum over the highest ones (a lower bound)
        WITH RECURSIVE p(prio, run_at, n) AS (
            (SELECT j.prio, j.run_at, 1 FROM steward._job j
              WHERE j.queue_id = q.id AND j.state = 'ready' ORDER BY j.prio, j.run_at LIMIT 1)
            UNION ALL
            SELECT x.prio, x.run_at, p.n + 1
              FROM p, LATERAL (SELECT j.prio, j.run_at FROM steward._job j
                                WHERE j.queue_id = q.id AND j.state = 'ready' AND j.prio > p.prio
                                ORDER BY j.prio, j.run_at LIMIT 1) x
             WHERE p.n <= max_prios)
        SELECT now() - min(p.run_at), count(*) > max_prios INTO oldest_ready_age, many_prios FROM p;
        exact := exact AND NOT many_prios;
        -- scheduled jobs that are already due count as ready
        SELECT greatest(oldest_ready_age, now() - min(j.run_at)) INTO oldest_ready_age
          FROM steward._job j WHERE j.queue_id = q.id AND j.state = 'scheduled' AND j.run_at <= now();
        -- completions of the last 5 minutes (the partitions' (queue_id,
        -- finished_at) index), and the averages over the same rows: the first
        -- completed_cap of the window when there are more
        -- (estimate first, as in _capped_count: over the cap, the averages
        -- are over the first steward._count_probe() completions of the window)
        completed_estimate := steward._estimated_rows(format(
            'SELECT 1 FROM steward._job_history WHERE queue_id = %s AND finished_at >= %L AND state = ''completed''',
            q.id, since));
        completed_limit := CASE WHEN completed_estimate > completed_cap THEN steward._count_probe()
                                ELSE completed_cap + 1 END;
        -- (dynamic: planned with the values, so that the (queue_id,
        -- finished_at) index is taken when other queues fill the window)
        EXECUTE format(
            'SELECT count(*), avg(h.claimed_at - greatest(h.run_at, h.enqueued_at)), avg(h.finished_at - h.claimed_at)
               FROM (SELECT h.run_at, h.enqueued_at, h.claimed_at, h.finished_at FROM steward._job_history h
                      WHERE h.queue_id = %s AND h.finished_at >= %L AND h.state = %L LIMIT %s) h',
            q.id, since, 'completed', completed_limit)
          INTO completed_last_5min, avg_wait, avg_run;
        IF completed_last_5min >= completed_limit THEN
            exact := false;
            completed_last_5min := greatest(completed_last_5min, completed_cap + 1, completed_estimate);
        END IF;
        SELECT * INTO c FROM steward._capped_count(format(dead_sql, q.id, since), cap);
        dead_last_5min := c.n; exact := exact AND c.exact;
        -- failed runs: every error recorded in the window, wherever the job
        -- is now (waiting for its retry, completed since, dead, cancelled)
        SELECT * INTO c FROM steward._capped_count(format(errors_sql, q.id, since), cap);
        failed_last_5min := c.n; exact := exact AND c.exact;
        jobs_per_second_5min := round(completed_last_5min / 300.0, 2);
        counts_exact := exact;
        -- dead jobs still kept (within the queue's retention, as steward.jobs
        -- shows them) and of the last day (the health check)
        SELECT * INTO c FROM steward._capped_count(format(dead_sql, q.id, now() - q.retention), cap);
        dead := c.n; dead_exact := c.exact;
        SELECT * INTO c FROM steward._capped_count(format(dead_sql, q.id, now() - interval '1 day'), cap);
        dead_last_1d := c.n;
        RETURN NEXT;
    END LOOP;
END
$$;
-- Only the indexes 0.1.0 made (BRIN, named <partition>_finished), not one
-- a user added (nor a partition's part of an index on the whole history).
-- The history is locked first, as a whole: the DROP INDEXes lock every
-- partition until the update commits anyway, and taking them one by one
-- under a weaker lock on the parent could deadlock with a reader of the
-- history (which locks the parent, then its partitions); it also keeps a
-- queue_maintenance() of another session (still running 0.1.0's code)
-- from adding a partition meanwhile. Completions and readers of the
-- history wait until the update commits.
DO $upgrade$
DECLARE
    r record;
BEGIN
    LOCK TABLE steward._job_history IN ACCESS EXCLUSIVE MODE;
    FOR r IN
        SELECT x.indexrelid::pg_catalog.regclass AS idx
          FROM pg_catalog.pg_inherits i
          JOIN pg_catalog.pg_class p ON p.oid OPERATOR(pg_catalog.=) i.inhrelid
          JOIN pg_catalog.pg_index x ON x.indrelid OPERATOR(pg_catalog.=) i.inhrelid
          JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) x.indexrelid
          JOIN pg_catalog.pg_am a ON a.oid OPERATOR(pg_catalog.=) c.relam
         WHERE i.inhparent OPERATOR(pg_catalog.=) 'steward._job_history'::pg_catalog.regclass
           AND a.amname OPERATOR(pg_catalog.=) 'brin'
           AND c.relname OPERATOR(pg_catalog.=) (p.relname OPERATOR(pg_catalog.||) '_finished')
           AND NOT c.relispartition
    LOOP
        EXECUTE pg_catalog.format('DROP INDEX %s', r.idx);
    END LOOP;
END
$upgrade$;

-- Queue: the refusal of a job that waits to run names a failure waiting for
-- its retry too (0.1.0's detail named only an expired lease and a release).
CREATE OR REPLACE FUNCTION steward._job_not_yours(job_id bigint, lease_token integer, action text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j record;
    h record;
BEGIN
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF lease_token IS NULL THEN
        RAISE EXCEPTION 'lease token must not be null' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass the lease_token column of the row steward.dequeue() returned.';
    END IF;
    SELECT x.state, x.lease_token AS token, x.worker INTO j FROM steward._job x WHERE x.id = job_id;
    IF NOT FOUND THEN
        SELECT x.state INTO h FROM steward._job_history x WHERE x.id = job_id LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'cannot % job %: it is already %', action, job_id, h.state
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        RAISE EXCEPTION 'job % does not exist', job_id USING ERRCODE = 'undefined_object';
    END IF;
    IF j.state <> 'running' THEN
        RAISE EXCEPTION 'cannot % job %: it is not claimed', action, job_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = CASE WHEN j.token = 0 THEN 'The job has not been claimed yet.'
                                ELSE 'The job waits to run again: it failed and waits for its retry, or it was released.' END;
    END IF;
    RAISE EXCEPTION 'cannot % job %: lease token % is not the current lease', action, job_id, lease_token
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = pg_catalog.format('The job was claimed again (lease %s, worker %s) after this lease expired or was released.',
                                         j.token, coalesce(pg_catalog.quote_literal(j.worker), 'unnamed')),
              HINT = 'Only the worker holding the current lease may finish the job; this worker should drop it.';
END
$$;

-- Stats: steward.connections' longest_in_state is never negative (0.1.0's
-- could show the reading session's own state as -00:00:00.000001).
CREATE OR REPLACE VIEW steward.connections AS
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

-- Queue: fail() and release() lower the queue's cursor to the job's old key
-- too (a dequeue whose snapshot predates the change may reach the job
-- through its old ready entry and claim its new version: the floor must not
-- then pass the jobs between the two keys), and cancel() asks for the
-- cursor's reset on abort before it locks the job, not after.
CREATE OR REPLACE FUNCTION steward.fail(job_id bigint, lease_token integer, error text, retry_in interval DEFAULT NULL,
                             retry boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('fail a job');
    failed_at constant timestamptz := clock_timestamp();
    j steward._job;
    q steward._queue;
    entry jsonb;
    next_run timestamptz;
    dead boolean;
BEGIN
    IF retry IS NULL THEN
        RAISE EXCEPTION 'retry must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF retry_in IS NOT NULL AND retry_in < interval '0' THEN
        RAISE EXCEPTION 'retry_in must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF retry_in IS NOT NULL AND NOT retry THEN
        RAISE EXCEPTION 'retry_in cannot be given with retry => false' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A job failed without retry is dead at once; pass one of them.';
    END IF;
    SELECT * INTO j FROM steward._job x
     WHERE x.id = job_id AND x.lease_token = fail.lease_token AND fail.lease_token > 0 FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM steward._job_not_yours(job_id, lease_token, 'fail');
    END IF;
    dead := j.attempt >= j.max_attempts OR NOT retry;
    entry := jsonb_build_object('attempt', j.attempt, 'at', failed_at, 'worker', j.worker,
                                'error', coalesce(error, 'unknown error'));
    -- a dead job's error row has at = its finished_at (steward.retry() finds it so)
    INSERT INTO steward._job_error (queue_id, job_id, at, attempt, error, dead)
    VALUES (j.queue_id, j.id, failed_at, j.attempt, coalesce(error, 'unknown error'), dead);
    IF dead THEN
        UPDATE steward._job x SET errors = coalesce(x.errors, '[]') || entry WHERE x.id = j.id;
        PERFORM steward._job_finish(ARRAY[j.id], ARRAY[j.lease_token], 'dead', NULL, failed_at);
        RETURN 'dead';
    END IF;
    SELECT * INTO q FROM steward._queue WHERE id = j.queue_id;
    next_run := failed_at + coalesce(retry_in, steward._queue_backoff(j.attempt, q.backoff_base, q.backoff_max, q.backoff_jitter));
    UPDATE steward._job x
       SET state = CASE WHEN next_run <= failed_at THEN 'ready'::steward._job_state ELSE 'scheduled' END, run_at = next_run,
           worker = NULL, lease_expires_at = NULL, lease_token = -x.lease_token,
           errors = coalesce(x.errors, '[]') || entry
     WHERE x.id = j.id;
    -- the old key too: a dequeue may reach the job through its old ready entry
    PERFORM steward._queue_ready_hint(j.queue_id, j.prio, LEAST(j.run_at, next_run), j.id);
    IF q.notify AND next_run <= failed_at THEN
        PERFORM pg_catalog.pg_notify(steward._queue_channel(q.name), '');
    END IF;
    RETURN 'ready';
END
$$;

CREATE OR REPLACE FUNCTION steward.release(job_id bigint, lease_token integer, delay interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('release a job');
    released_at constant timestamptz := clock_timestamp();
    j record;
BEGIN
    IF delay IS NOT NULL AND delay < interval '0' THEN
        RAISE EXCEPTION 'delay must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE steward._job x
       SET state = CASE WHEN delay IS NULL OR delay = interval '0' THEN 'ready'::steward._job_state ELSE 'scheduled' END,
           attempt = x.attempt - 1, worker = NULL, lease_expires_at = NULL, lease_token = -x.lease_token,
           run_at = CASE WHEN delay IS NULL THEN x.run_at ELSE released_at + delay END
      FROM (SELECT y.id, y.run_at FROM steward._job y WHERE y.id = job_id) old
     WHERE x.id = job_id AND old.id = x.id AND x.lease_token = release.lease_token AND release.lease_token > 0
    RETURNING x.queue_id, x.prio, x.run_at, x.id, LEAST(old.run_at, x.run_at) AS hint_at INTO j;
    IF NOT FOUND THEN
        PERFORM steward._job_not_yours(job_id, lease_token, 'release');
    END IF;
    PERFORM steward._queue_ready_hint(j.queue_id, j.prio, j.hint_at, j.id);
    PERFORM pg_catalog.pg_notify(steward._queue_channel(q.name), '')
       FROM steward._queue q WHERE q.id = j.queue_id AND q.notify AND j.run_at <= released_at;
END
$$;

CREATE OR REPLACE FUNCTION steward.cancel(job_id bigint)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('cancel a job');
    j record;
BEGIN
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- before the row lock: if anything fails once the job is locked, the
    -- floor other dequeues raised past it must go
    PERFORM steward._queue_reset_on_abort(x.queue_id) FROM steward._job x WHERE x.id = job_id;
    SELECT x.id, x.queue_id INTO j FROM steward._job x WHERE x.id = job_id FOR UPDATE;
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM steward._job_history h WHERE h.id = job_id) THEN
            RETURN false;
        END IF;
        RAISE EXCEPTION 'job % does not exist', job_id USING ERRCODE = 'undefined_object';
    END IF;
    WITH moved AS (DELETE FROM steward._job x WHERE x.id = job_id RETURNING x.*)
    INSERT INTO steward._job_history (id, queue_id, state, priority, run_at, payload, attempt, max_attempts, lease_token, worker,
                                      claimed_at, enqueued_at, finished_at, dedup_key, errors, progress, log)
    SELECT m.id, m.queue_id, 'cancelled', -m.prio, m.run_at, m.payload, m.attempt, m.max_attempts, m.lease_token, m.worker,
           m.claimed_at, m.enqueued_at, clock_timestamp(), m.dedup_key, m.errors, m.progress, m.log
      FROM moved m;
    RETURN true;
END
$$;

-- Audit: images store in binary form only the types the reader checks for
-- damage (src/audit/value_check.cpp); ranges, multiranges, tsvector, path,
-- polygon and the like as text from a table's next version on (versions
-- written before keep their form: their binary values of such types can be
-- decoded by superusers only).
CREATE OR REPLACE FUNCTION steward._audit_storage_type(typ regtype)
RETURNS regtype
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN b.oid < 10000 AND b.typtype = 'b'
             AND b.typcategory NOT IN ('C', 'P')
             AND b.oid NOT IN ('regclass'::regtype, 'regtype'::regtype, 'regproc'::regtype,
                               'regprocedure'::regtype, 'regoper'::regtype,
                               'regoperator'::regtype, 'regconfig'::regtype,
                               'regdictionary'::regtype, 'regnamespace'::regtype,
                               'regrole'::regtype, 'regcollation'::regtype,
                               'aclitem'::regtype, 'pg_node_tree'::regtype,
                               'int2vector'::regtype, 'oidvector'::regtype)
             AND (b.typlen > 0 OR b.typelem <> 0
                  OR b.oid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'bytea'::regtype,
                               'json'::regtype, 'xml'::regtype, 'jsonb'::regtype, 'numeric'::regtype,
                               'inet'::regtype, 'cidr'::regtype, 'bit'::regtype, 'varbit'::regtype))
             AND (b.typelem = 0 OR b.typlen > 0
                  OR e.oid < 10000 AND e.typtype = 'b'
                  AND e.typcategory NOT IN ('C', 'P')
                  AND e.oid NOT IN ('regclass'::regtype, 'regtype'::regtype,
                                    'regproc'::regtype, 'regprocedure'::regtype,
                                    'regoper'::regtype, 'regoperator'::regtype,
                                    'regconfig'::regtype, 'regdictionary'::regtype,
                                    'regnamespace'::regtype, 'regrole'::regtype,
                                    'regcollation'::regtype, 'aclitem'::regtype,
                                    'int2vector'::regtype, 'oidvector'::regtype)
                  AND (e.typlen > 0
                       OR e.oid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'bytea'::regtype,
                                    'json'::regtype, 'xml'::regtype, 'jsonb'::regtype, 'numeric'::regtype,
                                    'inet'::regtype, 'cidr'::regtype, 'bit'::regtype, 'varbit'::regtype)))
        THEN b.oid::regtype ELSE 'text'::regtype END
      FROM pg_catalog.pg_type b
      LEFT JOIN pg_catalog.pg_type e ON e.oid = b.typelem
     WHERE b.oid = steward._base_type(typ)
$$;

-- Soft delete: a view name suffix longer than a name could hold looped
-- until cancelled (found by TAP 050_function_fuzz); now refused.
CREATE OR REPLACE FUNCTION steward._soft_delete_view_name(relname name, suffix text)
RETURNS name
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    base text := relname::text;
BEGIN
    IF pg_catalog.octet_length(suffix) > 62 THEN
        RAISE EXCEPTION 'view name suffix must be at most 62 bytes' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WHILE pg_catalog.octet_length(base || suffix) > 63 LOOP
        base := pg_catalog.left(base, -1);
    END LOOP;
    RETURN (base || suffix)::name;
END
$$;
