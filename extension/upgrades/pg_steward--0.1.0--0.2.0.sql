-- pg_steward 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_steward UPDATE).
-- What changed, object by object; extension/*.sql holds the same objects
-- as a fresh 0.2.0 install creates them, and TAP test
-- 003_extension_update.pl checks that both end up identical.
\echo Use "ALTER EXTENSION pg_steward UPDATE" to load this file. \quit

-- Soft delete: concurrent syncs of the reference checks no longer fail
-- (two enable_soft_delete() calls on tables referenced by the same table
-- made the second fail with "trigger ... already exists"): a table whose
-- check is to change is locked first and its state read again, through
-- the new steward._soft_delete_reference_state().
-- The reference checks as they are and as they should be, one row per
-- table that has one or needs one (only_child: that table only): the
-- trigger it has (tgname, have_fks, have_enabled; NULL when none), the
-- trigger it needs (want_name, want_fks: the names of its foreign keys to
-- enabled tables; NULL when none), and fks, what the sync makes it name:
-- want_fks, or with only_grow the union of both. Read by
-- _soft_delete_sync_references() and the health check.
CREATE FUNCTION steward._soft_delete_reference_state(only_grow boolean, only_child regclass DEFAULT NULL)
RETURNS TABLE(child regclass, tgname name, have_fks text[], have_enabled boolean,
              want_name name, want_fks text[], fks text[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH fk AS (
        SELECT c.conrelid AS child, c.conname::text AS name
          FROM pg_catalog.pg_constraint c
          JOIN steward.soft_delete_tables s ON s.table_name = c.confrelid
         WHERE c.contype = 'f' AND c.conparentid = 0
           AND (only_child IS NULL OR c.conrelid = only_child)),
    wanted AS (
        SELECT f.child, pg_catalog.array_agg(f.name ORDER BY f.name) AS fks
          FROM fk f GROUP BY f.child),
    have AS (
        SELECT t.tgrelid AS child, t.tgname, steward._trigger_args(t.tgargs) AS fks, t.tgenabled <> 'D' AS enabled
          FROM pg_catalog.pg_trigger t
         WHERE t.tgname IN ('steward_soft_delete_parent', 'steward_soft_delete_parent_tree') AND t.tgparentid = 0
           AND t.tgfoid = 'steward._soft_delete_live_parent()'::regprocedure
           AND (only_child IS NULL OR t.tgrelid = only_child))
    SELECT COALESCE(w.child, h.child)::regclass, h.tgname, h.fks, h.enabled,
           (CASE WHEN c.relkind = 'p' THEN 'steward_soft_delete_parent_tree'
                 ELSE 'steward_soft_delete_parent' END)::name,
           w.fks,
           CASE WHEN only_grow AND h.tgname IS NOT NULL
                THEN ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(h.fks OPERATOR(pg_catalog.||) COALESCE(w.fks, '{}')) AS x
                            ORDER BY x)
                ELSE w.fks END
      FROM wanted w FULL JOIN have h ON h.child = w.child
      JOIN pg_catalog.pg_class c ON c.oid = COALESCE(w.child, h.child)
$$;

CREATE OR REPLACE FUNCTION steward._soft_delete_sync_references(from_ddl boolean DEFAULT false, narrow boolean DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    saved_lock_timeout constant text := pg_catalog.current_setting('lock_timeout');
    only_grow constant boolean := NOT COALESCE(narrow, NOT from_ddl);
BEGIN
    FOR r IN SELECT * FROM steward._soft_delete_reference_state(only_grow) s ORDER BY s.child::oid LOOP
        CONTINUE WHEN r.fks IS NOT NULL AND r.tgname IS NOT DISTINCT FROM r.want_name
                  AND r.have_fks IS NOT DISTINCT FROM r.fks;
        CONTINUE WHEN only_grow AND r.fks IS NULL;  -- after DDL: never dropped
        BEGIN
            IF from_ddl THEN
                PERFORM pg_catalog.set_config('lock_timeout', '1s', true);
            END IF;
            EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', r.child);
            SELECT * INTO r FROM steward._soft_delete_reference_state(only_grow, r.child) s;
            IF FOUND AND NOT (r.fks IS NOT NULL AND r.tgname IS NOT DISTINCT FROM r.want_name
                              AND r.have_fks IS NOT DISTINCT FROM r.fks)
               AND NOT (only_grow AND r.fks IS NULL) THEN
                IF r.tgname IS NOT NULL THEN
                    EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', r.tgname, r.child);
                END IF;
                IF r.fks IS NOT NULL THEN
                    EXECUTE pg_catalog.format(
                        'CREATE TRIGGER %I AFTER INSERT OR UPDATE ON %s '
                        'FOR EACH ROW EXECUTE FUNCTION steward._soft_delete_live_parent(%s)',
                        r.want_name, r.child,
                        (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(a.f), ', ' ORDER BY a.o)
                           FROM pg_catalog.unnest(r.fks) WITH ORDINALITY AS a(f, o)));
                END IF;
            END IF;
            PERFORM pg_catalog.set_config('lock_timeout', saved_lock_timeout, true);
        EXCEPTION WHEN OTHERS THEN
            PERFORM pg_catalog.set_config('lock_timeout', saved_lock_timeout, true);
            IF NOT from_ddl THEN
                RAISE;
            END IF;
            -- never fail someone's DDL for one table we cannot change now
            RAISE WARNING 'pg_steward could not update the soft delete reference check of "%": %',
                          steward._relation_name(r.child), SQLERRM
                USING HINT = 'SELECT steward.enable_soft_delete() of a soft-delete-enabled table again brings the checks in step; steward.health() lists the tables whose check is missing.';
        END;
    END LOOP;
END
$$;

-- Soft delete health: the new check soft_delete_unchecked_references.
CREATE OR REPLACE FUNCTION steward._health_checks_soft_delete()
RETURNS TABLE(check_name text, value numeric, warning numeric, critical numeric, status text, detail text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH unprotected AS (
        SELECT pg_catalog.count(*)::numeric AS n,
               pg_catalog.string_agg(s.table_name::text, ', ' ORDER BY s.table_name::text) AS names
          FROM steward.soft_delete_tables s
         WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_trigger t
                            WHERE t.tgrelid = s.table_name AND t.tgname = 'steward_soft_delete'
                              AND t.tgfoid = 'steward._soft_delete_trigger()'::regprocedure
                              AND t.tgenabled <> 'D')
    ), unchecked AS (
        SELECT pg_catalog.count(*)::numeric AS n,
               pg_catalog.string_agg(r.child::text, ', ' ORDER BY r.child::text) AS names
          FROM steward._soft_delete_reference_state(false) r
         WHERE r.want_fks IS NOT NULL
           AND (r.tgname IS NULL OR NOT r.have_enabled OR NOT r.have_fks OPERATOR(pg_catalog.@>) r.want_fks)
    )
    SELECT 'soft_delete_unprotected_tables', u.n, 1::numeric, 1::numeric,
           CASE WHEN u.n >= 1 THEN 'critical' ELSE 'ok' END,
           CASE WHEN u.n = 0 THEN 'Every soft-delete-enabled table has its enabled steward_soft_delete trigger.'
                ELSE 'DELETE really removes rows of these soft-delete-enabled tables (trigger missing or disabled): '
                     || u.names || '.' END
      FROM unprotected u
    UNION ALL
    SELECT 'soft_delete_unchecked_references', c.n, 0::numeric, NULL::numeric,
           CASE WHEN c.n > 0 THEN 'warning' ELSE 'ok' END,
           CASE WHEN c.n = 0 THEN 'Every foreign key to a soft-delete-enabled table is checked by steward_soft_delete_parent.'
                ELSE 'New references to soft-deleted rows are accepted in these tables (reference check missing, disabled or incomplete): '
                     || c.names || '. ALTER TABLE ... ENABLE TRIGGER re-enables a disabled one; SELECT steward.enable_soft_delete() of a soft-delete-enabled table again rebuilds missing and incomplete ones.' END
      FROM unchecked c
$$;

-- Health: the new check extension_update (health() finds
-- steward._health_checks_extension() by its name).
-- The version of the library this backend runs, and whether it was loaded
-- at the server's start (shared_preload_libraries) (src/module.cpp).
CREATE FUNCTION steward._library_version()
RETURNS text
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'steward_library_version';

CREATE FUNCTION steward._library_preloaded()
RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'steward_library_preloaded';

-- The extension itself, three versions that should be one: the installed
-- version of this database (pg_extension), the one the server's files
-- offer (the control file, pg_available_extensions) and the library this
-- session runs. After a new build is installed, the database runs the old
-- version's SQL until ALTER EXTENSION pg_steward UPDATE, and a preloaded
-- library stays the old one until a restart (a session that loaded it
-- before the files changed, until it reconnects): a warning whose detail
-- says what to do. preloaded: whether the library came with the server's
-- start.
CREATE FUNCTION steward._extension_update_check(installed text, available text, library text,
                                                preloaded boolean)
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
                pg_catalog.format('this session runs the library of pg_steward %s, the server''s files are %s: %s', library, available,
                                  CASE WHEN preloaded THEN 'restart the server to load the new library (it is preloaded)'
                                       ELSE 'reconnect (a session keeps the library it loaded first)' END)
            END AS problem
          FROM v
    )
    SELECT c.* FROM d, LATERAL steward._health_check('extension_update', CASE WHEN d.problem IS NULL THEN 0 ELSE 1 END, 0, NULL,
        COALESCE(d.problem, pg_catalog.format('pg_steward %s: installed, offered by the server''s files and running', installed))) c
$$;

CREATE FUNCTION steward._health_checks_extension()
RETURNS TABLE(check_name text, value numeric, warning numeric, critical numeric,
              status text, detail text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.* FROM steward._extension_update_check(
        (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_steward'),
        (SELECT a.default_version FROM pg_catalog.pg_available_extensions a WHERE a.name = 'pg_steward'),
        steward._library_version(), steward._library_preloaded()) c
$$;
REVOKE ALL ON FUNCTION steward._health_checks_extension() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward._health_checks_extension() TO steward_monitor, pg_monitor;
