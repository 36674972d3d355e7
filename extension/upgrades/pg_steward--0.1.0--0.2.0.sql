-- pg_steward 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_steward UPDATE).
-- What changed, object by object; extension/*.sql holds the same objects
-- as a fresh 0.2.0 install creates them, and TAP test
-- 003_extension_update.pl checks that both end up identical.
\echo Use "ALTER EXTENSION pg_steward UPDATE" to load this file. \quit

-- Soft delete: concurrent syncs of the reference checks are serialised (two
-- enable_soft_delete() calls on tables referenced by the same table made
-- the second fail with "trigger ... already exists").
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
    locked boolean := false;
BEGIN
  <<sync>>
  LOOP
    FOR r IN
        WITH fk AS (
            SELECT c.conrelid AS child, c.conname::text AS name, c.conkey
              FROM pg_catalog.pg_constraint c
              JOIN steward.soft_delete_tables s ON s.table_name = c.confrelid
             WHERE c.contype = 'f' AND c.conparentid = 0),
        wanted AS (
            SELECT f.child, pg_catalog.array_agg(f.name ORDER BY f.name) AS fks
              FROM fk f GROUP BY f.child),
        have AS (
            SELECT t.tgrelid AS child, t.tgname, steward._trigger_args(t.tgargs) AS fks
              FROM pg_catalog.pg_trigger t
             WHERE t.tgname IN ('steward_soft_delete_parent', 'steward_soft_delete_parent_tree') AND t.tgparentid = 0
               AND t.tgfoid = 'steward._soft_delete_live_parent()'::regprocedure)
        SELECT COALESCE(w.child, h.child)::regclass AS child, h.tgname, h.fks AS have_fks,
               CASE WHEN c.relkind = 'p' THEN 'steward_soft_delete_parent_tree'
                    ELSE 'steward_soft_delete_parent' END AS want_name,
               -- after DDL the union of what is there and what is wanted
               CASE WHEN only_grow AND h.tgname IS NOT NULL
                    THEN ARRAY(SELECT DISTINCT x FROM pg_catalog.unnest(h.fks OPERATOR(pg_catalog.||) COALESCE(w.fks, '{}')) AS x
                                ORDER BY x)
                    ELSE w.fks END AS fks
          FROM wanted w FULL JOIN have h ON h.child = w.child
          JOIN pg_catalog.pg_class c ON c.oid = COALESCE(w.child, h.child)
    LOOP
        CONTINUE WHEN r.fks IS NOT NULL AND r.tgname IS NOT DISTINCT FROM r.want_name
                  AND r.have_fks IS NOT DISTINCT FROM r.fks;
        CONTINUE WHEN only_grow AND r.fks IS NULL;  -- after DDL: never dropped
        IF NOT locked THEN
            -- something to change: wait for any other sync to end (as DDL
            -- waits for a table lock; a deadlock with DDL that holds a
            -- table lock fails one side, after DDL with a warning), then
            -- start over from what it committed
            PERFORM pg_catalog.pg_advisory_xact_lock(1937007991, 1);
            locked := true;
            CONTINUE sync;
        END IF;
        BEGIN
            IF from_ddl THEN
                PERFORM pg_catalog.set_config('lock_timeout', '1s', true);
            END IF;
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
            PERFORM pg_catalog.set_config('lock_timeout', saved_lock_timeout, true);
        EXCEPTION WHEN OTHERS THEN
            PERFORM pg_catalog.set_config('lock_timeout', saved_lock_timeout, true);
            IF NOT from_ddl THEN
                RAISE;
            END IF;
            -- never fail someone's DDL for one table we cannot change now
            RAISE WARNING 'pg_steward could not update the soft delete reference check of "%": %',
                          steward._relation_name(r.child), SQLERRM;
        END;
    END LOOP;
    EXIT sync;
  END LOOP;
END
$$;

-- Health: the new check extension_update (health() finds
-- steward._health_checks_extension() by its name).
-- The extension itself: installed (pg_extension) against the version the
-- installed files offer (pg_available_extensions: the control file). After
-- a new build is installed the library is new while the database still
-- runs the old version's SQL until ALTER EXTENSION pg_steward UPDATE: a
-- warning, whose detail says what to run.
CREATE FUNCTION steward._extension_update_check(installed text, available text)
RETURNS TABLE(check_name text, value numeric, warning numeric, critical numeric,
              status text, detail text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM steward._health_check('extension_update',
        CASE WHEN installed IS NOT DISTINCT FROM available THEN 0 ELSE 1 END, 0, NULL,
        CASE WHEN installed IS NOT DISTINCT FROM available
             THEN pg_catalog.format('pg_steward %s is installed, the version the server''s files offer', installed)
             WHEN available IS NULL
             THEN pg_catalog.format('pg_steward %s is installed, but the server''s files do not offer pg_steward (pg_steward.control is missing)', installed)
             ELSE pg_catalog.format('pg_steward %s is installed in this database, the server''s files offer %s: run ALTER EXTENSION pg_steward UPDATE',
                                    installed, available) END)
$$;

CREATE FUNCTION steward._health_checks_extension()
RETURNS TABLE(check_name text, value numeric, warning numeric, critical numeric,
              status text, detail text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.* FROM steward._extension_update_check(
        (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_steward'),
        (SELECT a.default_version FROM pg_catalog.pg_available_extensions a WHERE a.name = 'pg_steward')) c
$$;
REVOKE ALL ON FUNCTION steward._health_checks_extension() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward._health_checks_extension() TO steward_monitor, pg_monitor;
