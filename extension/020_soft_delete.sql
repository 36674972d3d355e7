-- soft delete (docs/soft_delete.md) ------------------------------------------
--
-- DELETE on an enabled table marks rows (column := transaction timestamp)
-- instead of removing them. The BEFORE DELETE trigger steward_soft_delete
-- (C, always present) does it row by row; when the library is loaded in the
-- session the planner rewrites the DELETE into the equivalent UPDATE so the
-- client gets the real row count and RETURNING. Children referencing a
-- soft-deleted row ON DELETE CASCADE are marked too (same timestamp), by the
-- AFTER UPDATE trigger steward_soft_delete_cascade on referenced tables.

-- Enabled tables. regclass columns: dumped by name, restored with the data.
CREATE TABLE steward.soft_delete_tables (
    table_name   regclass    PRIMARY KEY,
    column_name  name        NOT NULL,
    live_view    regclass,
    deleted_view regclass,
    enabled_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE steward.soft_delete_tables IS
'Tables with soft delete enabled (steward.enable_soft_delete); one row per table';
SELECT pg_catalog.pg_extension_config_dump('steward.soft_delete_tables', '');

-- Everyone may read the list; rows are written only by the SECURITY DEFINER
-- functions below, which accept exactly what the table's triggers say (no
-- row security on it: a non-superuser pg_dump must be able to read it).
REVOKE ALL ON steward.soft_delete_tables FROM PUBLIC;
GRANT SELECT ON steward.soft_delete_tables TO PUBLIC;

-- Drop trigger trigger_name of tbl when it exists, without the NOTICE of
-- DROP TRIGGER IF EXISTS.
CREATE FUNCTION steward._soft_delete_drop_trigger(tbl regclass, trigger_name name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = trigger_name) THEN
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', trigger_name, tbl);
    END IF;
END
$$;

-- Record tbl as enabled. Callable by anyone, harmless: tbl must carry our
-- trigger for exactly this column (creating it took the TRIGGER privilege),
-- and the views must be views over tbl.
CREATE FUNCTION steward._soft_delete_register(tbl regclass, col name, live regclass, deleted regclass)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger t
                    WHERE t.tgrelid = tbl AND t.tgname = 'steward_soft_delete'
                      AND t.tgfoid = 'steward._soft_delete_trigger()'::regprocedure
                      AND steward._trigger_first_arg(t.oid, NULL) = col)
       OR EXISTS (SELECT FROM (VALUES (live), (deleted)) AS v(view_oid)
                   WHERE v.view_oid IS NOT NULL
                     AND NOT EXISTS (SELECT FROM pg_catalog.pg_rewrite r
                                       JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass
                                                                  AND d.objid = r.oid
                                      WHERE r.ev_class = v.view_oid AND d.refobjid = tbl)) THEN
        RAISE EXCEPTION 'cannot register soft delete of "%"', steward._relation_name(tbl)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The table lacks its steward_soft_delete trigger, or a view is not over it.',
                  HINT = 'Call steward.enable_soft_delete().';
    END IF;
    INSERT INTO steward.soft_delete_tables (table_name, column_name, live_view, deleted_view)
    VALUES (tbl, col, live, deleted)
    ON CONFLICT (table_name) DO NOTHING;
END
$$;

-- Forget tbl once its trigger is gone (so only a stale entry can be removed).
CREATE FUNCTION steward._soft_delete_unregister(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_trigger t
                WHERE t.tgrelid = tbl AND t.tgname = 'steward_soft_delete'
                  AND t.tgfoid = 'steward._soft_delete_trigger()'::regprocedure) THEN
        RAISE EXCEPTION 'cannot unregister soft delete of "%" while its trigger exists', steward._relation_name(tbl)
            USING ERRCODE = 'object_in_use',
                  HINT = 'Call steward.disable_soft_delete().';
    END IF;
    DELETE FROM steward.soft_delete_tables s WHERE s.table_name = tbl;
END
$$;

CREATE FUNCTION steward._soft_delete_trigger()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'steward_soft_delete_trigger';
COMMENT ON FUNCTION steward._soft_delete_trigger() IS
'BEFORE DELETE row trigger of soft-delete-enabled tables: marks the row in the column named by its argument instead of deleting it';

CREATE FUNCTION steward._soft_delete_preloaded()
RETURNS boolean
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'steward_soft_delete_preloaded';

CREATE FUNCTION steward.soft_delete_mode()
RETURNS text
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'steward_soft_delete_mode';
COMMENT ON FUNCTION steward.soft_delete_mode() IS
'rewrite: DELETE on enabled tables reports real counts and RETURNING in this session; trigger: DELETE 0. Calling it loads pg_steward into the session.';

-- The enabled table's configuration, or a clean error.
CREATE FUNCTION steward._soft_delete_config(tbl regclass)
RETURNS steward.soft_delete_tables
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cfg steward.soft_delete_tables;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO cfg FROM steward.soft_delete_tables s WHERE s.table_name = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'soft delete is not enabled on "%"', steward._relation_name(tbl)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Call steward.enable_soft_delete() first.';
    END IF;
    RETURN cfg;
END
$$;

-- Raise PostgreSQL's own error unless the caller owns tbl (the functions
-- that add columns, views and indexes need it; checked before any change).
CREATE FUNCTION steward._soft_delete_check_owner(tbl regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = tbl), 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', tbl
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Soft delete changes the table definition (column, triggers, views, indexes).';
    END IF;
END
$$;

-- Soft delete and foreign keys (src/soft_delete/references.cpp): the checks
-- of ON DELETE RESTRICT / NO ACTION wait until the statement has run every
-- cascade, as a real DELETE's do.
CREATE FUNCTION steward._soft_delete_defer_check(fk oid, parent text)
RETURNS boolean
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'steward_soft_delete_defer_check';
COMMENT ON FUNCTION steward._soft_delete_defer_check(oid, text) IS
'Keeps the reference check of a soft-deleted row (jsonb text) through foreign key fk for the end of the statement; false when it must be checked now';

CREATE FUNCTION steward._soft_delete_cascade_update(sql text, parent anyelement)
RETURNS bigint
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'steward_soft_delete_cascade_update';
COMMENT ON FUNCTION steward._soft_delete_cascade_update(text, anyelement) IS
'Runs the cascade UPDATE of children ($1 = the parent row) with its AFTER triggers joining the current statement';

-- In the cascade trigger's WHEN clause: loads the library while the UPDATE
-- runs (so the end of the statement is seen, references.cpp). Immutable:
-- folded once per statement.
CREATE FUNCTION steward._soft_delete_load()
RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'steward_soft_delete_load';

-- Raise PostgreSQL's foreign key error (23503) when live rows still
-- reference one of `parents` (soft-deleted rows, a jsonb array of objects
-- holding at least the referenced columns) through foreign key fk (ON
-- DELETE RESTRICT / NO ACTION). Live rows: in an enabled child table those
-- with its column NULL, otherwise every row.
CREATE FUNCTION steward._soft_delete_check_references(fk oid, parents jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    key_text text;
BEGIN
    SELECT con.conname, con.conrelid::regclass AS child, ch.relname AS child_name, chn.nspname AS child_schema,
           ch.relkind AS child_kind, s.column_name AS child_column,
           con.confrelid::regclass AS parent, pc.relname AS parent_name,
           pg_catalog.string_agg(pg_catalog.format('c.%I = p.%I', ca.attname, pa.attname), ' AND ' ORDER BY k.n) AS cond,
           pg_catalog.string_agg(pg_catalog.quote_ident(pa.attname), ', ' ORDER BY k.n) AS key_columns,
           pg_catalog.string_agg(pg_catalog.format('p.%I::text', pa.attname), ', ' ORDER BY k.n) AS key_values
      INTO c
      FROM pg_catalog.pg_constraint con
     CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(child_att, parent_att, n)
      JOIN pg_catalog.pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.child_att
      JOIN pg_catalog.pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.parent_att
      JOIN pg_catalog.pg_class ch ON ch.oid = con.conrelid
      JOIN pg_catalog.pg_namespace chn ON chn.oid = ch.relnamespace
      JOIN pg_catalog.pg_class pc ON pc.oid = con.confrelid
      LEFT JOIN steward.soft_delete_tables s ON s.table_name = con.conrelid
     WHERE con.oid = fk AND con.contype = 'f'
     GROUP BY con.oid, con.conname, con.conrelid, ch.relname, chn.nspname, ch.relkind, s.column_name,
              con.confrelid, pc.relname;
    IF NOT FOUND OR parents IS NULL THEN
        RETURN;                                    -- the foreign key is gone
    END IF;
    -- as PostgreSQL's own check: ONLY the referencing table unless partitioned
    EXECUTE pg_catalog.format(
        'SELECT pg_catalog.concat_ws('', '', %s) FROM pg_catalog.jsonb_populate_recordset(NULL::%s, $1) AS p '
        'WHERE EXISTS (SELECT FROM %s%s AS c WHERE %s%s) LIMIT 1',
        c.key_values, c.parent, CASE WHEN c.child_kind = 'p' THEN '' ELSE 'ONLY ' END, c.child, c.cond,
        CASE WHEN c.child_column IS NULL THEN '' ELSE pg_catalog.format(' AND c.%I IS NULL', c.child_column) END)
      INTO key_text USING parents;
    IF key_text IS NOT NULL THEN
        RAISE EXCEPTION 'soft delete on table "%" violates foreign key constraint "%" on table "%"',
                        c.parent_name, c.conname, c.child_name
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = pg_catalog.format('Key (%s)=(%s) is still referenced by live rows of table "%s".',
                                             c.key_columns, key_text, c.child_name),
                  HINT = 'Delete the referencing rows first, or make the foreign key ON DELETE CASCADE.',
                  CONSTRAINT = c.conname, TABLE = c.child_name, SCHEMA = c.child_schema;
    END IF;
END
$$;

-- AFTER UPDATE OF <column> row trigger, fired when a row goes from live to
-- deleted: marks live children that reference it ON DELETE CASCADE in
-- soft-delete-enabled tables with the same timestamp (so restore() can bring
-- them back together), and refuses the soft delete while live rows reference
-- it ON DELETE RESTRICT / NO ACTION, as a real DELETE would: checked once
-- the statement has run all its cascades, whatever their order.
CREATE FUNCTION steward._soft_delete_cascade()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fk record;
    locked boolean := false;
    parent text;
BEGIN
    FOR fk IN
        SELECT c.oid, c.conrelid::regclass AS child, c.confdeltype, s.column_name AS child_column,
               pg_catalog.string_agg(pg_catalog.format('c.%I = ($1).%I', ca.attname, pa.attname), ' AND ' ORDER BY k.n) AS cond,
               pg_catalog.string_agg(pg_catalog.format('p.%I = ($1).%I', pa.attname, pa.attname), ' AND ' ORDER BY k.n) AS self_cond,
               pg_catalog.array_agg(pa.attname::text ORDER BY k.n) AS key_names
          FROM pg_catalog.pg_constraint c
         CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(child_att, parent_att, n)
          JOIN pg_catalog.pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child_att
          JOIN pg_catalog.pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_att
          LEFT JOIN steward.soft_delete_tables s ON s.table_name = c.conrelid
         WHERE c.contype = 'f' AND c.conparentid = 0
           AND (c.confdeltype IN ('r', 'a') OR c.confdeltype = 'c' AND s.column_name IS NOT NULL)
           AND (c.confrelid = TG_RELID
                OR c.confrelid IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(TG_RELID) a))
         GROUP BY c.oid, c.conrelid, c.confdeltype, s.column_name
         ORDER BY c.oid
    LOOP
        IF NOT locked THEN
            -- FOR UPDATE conflicts with the FOR KEY SHARE lock that the
            -- foreign key check of a concurrent child INSERT holds: wait for
            -- it, so that the cascade and the check see that child.
            EXECUTE pg_catalog.format('SELECT FROM ONLY %s AS p WHERE %s FOR UPDATE', TG_RELID::regclass, fk.self_cond)
              USING NEW;
            locked := true;
        END IF;
        IF fk.confdeltype = 'c' THEN
            PERFORM steward._soft_delete_cascade_update(
                pg_catalog.format('UPDATE %s AS c SET %I = ($1).%I WHERE %s AND c.%I IS NULL',
                                  fk.child, fk.child_column, TG_ARGV[0], fk.cond, fk.child_column),
                NEW);
        ELSE
            parent := (SELECT pg_catalog.jsonb_object_agg(e.key, e.value)
                         FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(NEW)) AS e
                        WHERE e.key = ANY (fk.key_names))::text;
            IF NOT steward._soft_delete_defer_check(fk.oid, parent) THEN
                PERFORM steward._soft_delete_check_references(fk.oid, pg_catalog.jsonb_build_array(parent::jsonb));
            END IF;
        END IF;
        -- ON DELETE SET NULL / SET DEFAULT, and CASCADE into tables without
        -- soft delete: the referencing rows are left alone (the row they
        -- reference still exists); a real delete (purge) applies the action.
    END LOOP;
    RETURN NULL;
END
$$;

-- Is hard delete in force (steward.hard_delete)? C: calling it loads the
-- library, which refuses a value that configuration gave the setting as a
-- placeholder before (current_setting() would read that placeholder).
CREATE FUNCTION steward._soft_delete_hard_delete_on()
RETURNS boolean
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'steward_soft_delete_hard_delete_on';

-- BEFORE TRUNCATE statement trigger of enabled tables: TRUNCATE would remove
-- every row, deleted or not, past the soft delete; it must be asked for.
CREATE FUNCTION steward._soft_delete_truncate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT steward._soft_delete_hard_delete_on()
       AND EXISTS (SELECT FROM pg_catalog.pg_trigger t        -- a detached partition is free again
                    WHERE t.tgrelid = TG_RELID AND t.tgname = 'steward_soft_delete'
                      AND t.tgfoid = 'steward._soft_delete_trigger()'::regprocedure) THEN
        RAISE EXCEPTION 'cannot truncate "%": soft delete is enabled on it', steward._relation_name(TG_RELID)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'TRUNCATE removes every row, live or deleted, and cannot be restored.',
                  HINT = 'To do it on purpose: BEGIN; SET LOCAL steward.hard_delete = on; TRUNCATE ...; COMMIT;';
    END IF;
    RETURN NULL;
END
$$;

-- Keep steward_soft_delete_cascade on an enabled table exactly when some
-- foreign key references it (called on enable/disable and after DDL). It is
-- not installed on unreferenced tables: an AFTER row trigger costs every
-- soft-deleted row an event, which a plain table does not need.
CREATE FUNCTION steward._soft_delete_sync(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col name;
    has_trigger boolean;
    referenced boolean;
    part regclass;
BEGIN
    SELECT s.column_name INTO col FROM steward.soft_delete_tables s WHERE s.table_name = tbl;
    -- only ever our own triggers (callable by anyone, runs as the owner)
    has_trigger := EXISTS (SELECT FROM pg_catalog.pg_trigger t
                            WHERE t.tgrelid = tbl AND t.tgname = 'steward_soft_delete_cascade' AND t.tgparentid = 0
                              AND t.tgfoid = 'steward._soft_delete_cascade()'::regprocedure);
    referenced := col IS NOT NULL
              AND EXISTS (SELECT FROM pg_catalog.pg_constraint c
                           WHERE c.contype = 'f' AND c.conparentid = 0 AND c.confrelid = tbl);
    IF referenced AND NOT has_trigger THEN
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER steward_soft_delete_cascade AFTER UPDATE OF %I ON %s FOR EACH ROW '
            'WHEN (OLD.%I IS NULL AND NEW.%I IS NOT NULL AND steward._soft_delete_load()) '
            'EXECUTE FUNCTION steward._soft_delete_cascade(%L)',
            col, tbl, col, col, col);
    ELSIF has_trigger AND NOT referenced THEN
        EXECUTE pg_catalog.format('DROP TRIGGER steward_soft_delete_cascade ON %s', tbl);
    END IF;
    -- Partitions get the TRUNCATE guard too: statement triggers are not
    -- inherited, and TRUNCATE may name a partition. Only partitions that
    -- already carry the inherited row trigger: while pg_restore runs, the
    -- guards come from the dump, after that trigger.
    FOR part IN SELECT p.relid FROM pg_catalog.pg_partition_tree(tbl) AS p WHERE p.relid <> tbl LOOP
        has_trigger := EXISTS (SELECT FROM pg_catalog.pg_trigger t
                                WHERE t.tgrelid = part AND t.tgname = 'steward_soft_delete_truncate'
                                  AND t.tgfoid = 'steward._soft_delete_truncate()'::regprocedure);
        IF col IS NOT NULL AND NOT has_trigger
           AND EXISTS (SELECT FROM pg_catalog.pg_trigger t
                        WHERE t.tgrelid = part AND t.tgname = 'steward_soft_delete') THEN
            EXECUTE pg_catalog.format('CREATE TRIGGER steward_soft_delete_truncate BEFORE TRUNCATE ON %s '
                                      'FOR EACH STATEMENT EXECUTE FUNCTION steward._soft_delete_truncate()', part);
        ELSIF col IS NULL AND has_trigger THEN
            EXECUTE pg_catalog.format('DROP TRIGGER steward_soft_delete_truncate ON %s', part);
        END IF;
    END LOOP;
END
$$;

-- Soft delete and new references (src/soft_delete/live_parent.cpp): a
-- foreign key accepts a reference to a soft-deleted row, which still
-- exists. Every table with a foreign key to an enabled table carries
-- steward_soft_delete_parent (AFTER INSERT OR UPDATE, its arguments the
-- foreign keys' names), which refuses a new or changed reference to a
-- deleted row with 23503.
CREATE FUNCTION steward._soft_delete_live_parent()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'steward_soft_delete_live_parent';

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

-- Keep steward_soft_delete_parent on exactly the tables that reference an
-- enabled table, naming exactly those foreign keys (called by enable and
-- disable, by the DDL event trigger with from_ddl, and by the sql_drop event
-- trigger with from_ddl and narrow; only ever our own triggers, changed only
-- when they differ: DROP TRIGGER locks the table). AFTER INSERT OR UPDATE
-- without a column list: a trigger UPDATE OF the referencing columns would
-- block ALTER COLUMN TYPE of them and miss a key that a BEFORE trigger
-- changes (the trigger itself skips an UPDATE that keeps the key). On a
-- partitioned table the trigger is steward_soft_delete_parent_tree (its
-- partitions get clones of it), so that a table with its own trigger can
-- still be attached as a partition, and a partition can have its own for
-- foreign keys of its own. After DDL a trigger only ever gains foreign keys
-- (pg_restore creates triggers before the foreign keys they name), except
-- when the DDL dropped a foreign key or a table (narrow), and a table that
-- cannot be changed now (say, locked) gets a warning instead of failing the
-- DDL.
-- Concurrency: the tables whose checks are to change, with every member of
-- their partition trees, are locked first, in one pass in oid order, in the
-- mode the change takes (ACCESS EXCLUSIVE where a trigger is dropped, as
-- DROP TRIGGER takes, else SHARE ROW EXCLUSIVE, as CREATE OR REPLACE
-- TRIGGER takes: a check that changes its foreign keys is replaced), so
-- two syncs do not deadlock over tables both change; then the state is read
-- again, once, with the locks held: a sync that waited for another one sees
-- what that one committed (READ COMMITTED; under REPEATABLE READ or
-- SERIALIZABLE it keeps its snapshot, and fails with 40001 when another
-- sync changed one of its tables after that snapshot: see
-- steward._soft_delete_reference_syncs). Tables dropped meanwhile are
-- skipped. A sync that changes nothing locks nothing.
CREATE FUNCTION steward._soft_delete_sync_references(from_ddl boolean DEFAULT false, narrow boolean DEFAULT NULL)
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

-- <relname><suffix>, the relation name shortened (by whole characters) so
-- the result fits in a name (63 bytes) and keeps its suffix.
CREATE FUNCTION steward._soft_delete_view_name(relname name, suffix text)
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

CREATE FUNCTION steward.enable_soft_delete(tbl regclass, column_name name DEFAULT 'deleted_at',
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

COMMENT ON FUNCTION steward.enable_soft_delete(regclass, name, boolean) IS
'Makes DELETE on the table mark rows in a timestamptz column (added when missing) instead of removing them; returns false when already enabled';

CREATE FUNCTION steward.disable_soft_delete(tbl regclass)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('disable soft delete');
    cfg steward.soft_delete_tables;
    err_detail text;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO cfg FROM steward.soft_delete_tables s WHERE s.table_name = tbl;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM steward._soft_delete_check_owner(tbl);
    BEGIN
        IF cfg.live_view IS NOT NULL THEN
            EXECUTE pg_catalog.format('DROP VIEW %s', cfg.live_view);
        END IF;
        IF cfg.deleted_view IS NOT NULL THEN
            EXECUTE pg_catalog.format('DROP VIEW %s', cfg.deleted_view);
        END IF;
    EXCEPTION WHEN dependent_objects_still_exist THEN
        GET STACKED DIAGNOSTICS err_detail = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION 'cannot disable soft delete on "%": other objects depend on its views',
                        steward._relation_name(tbl)
            USING ERRCODE = 'dependent_objects_still_exist', DETAIL = err_detail,
                  HINT = 'Drop those objects or base them on the table, then disable soft delete again (it drops the views).';
    END;
    PERFORM steward._soft_delete_drop_trigger(tbl, 'steward_soft_delete');
    PERFORM steward._soft_delete_drop_trigger(tbl, 'steward_soft_delete_truncate');
    PERFORM steward._soft_delete_unregister(tbl);
    PERFORM steward._soft_delete_sync(tbl);
    PERFORM steward._soft_delete_sync_references();
    RETURN true;
END
$$;

COMMENT ON FUNCTION steward.disable_soft_delete(regclass) IS
'Makes DELETE remove rows again; the column and the marked rows stay. Returns false when it was not enabled';

-- SQL condition (over alias t, parameter $1 = array of key objects) that
-- matches the rows whose primary key is in `key`: a scalar (one-column key),
-- an object {"col": value, ...}, or an array of either.
CREATE FUNCTION steward._soft_delete_key_condition(tbl regclass, key jsonb, OUT cond text, OUT keys jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pk name[];
    item jsonb;
    missing name;
BEGIN
    IF key IS NULL OR key = 'null'::jsonb THEN
        RAISE EXCEPTION 'key must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT pg_catalog.array_agg(a.attname ORDER BY k.n) INTO pk
      FROM pg_catalog.pg_index i
     CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = tbl AND i.indisprimary;
    IF pk IS NULL THEN
        RAISE EXCEPTION 'table "%" has no primary key', steward._relation_name(tbl)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Pass a condition instead: steward.restore_where() or steward.hard_delete_where().';
    END IF;
    keys := '[]';
    FOR item IN SELECT e FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(key) = 'array'
                                                                   THEN key ELSE pg_catalog.jsonb_build_array(key) END) AS e
    LOOP
        IF pg_catalog.jsonb_typeof(item) <> 'object' THEN
            IF pg_catalog.array_length(pk, 1) > 1 THEN
                RAISE EXCEPTION 'key of table "%" must be an object', steward._relation_name(tbl)
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = pg_catalog.format('The primary key has columns %s.', pg_catalog.array_to_string(pk, ', ')),
                          HINT = 'Pass {"column": value, ...} for each row.';
            END IF;
            item := pg_catalog.jsonb_build_object(pk[1], item);
        END IF;
        SELECT c INTO missing FROM pg_catalog.unnest(pk) AS c WHERE NOT item ? c LIMIT 1;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'key % lacks primary key column "%" of table "%"', item, missing, steward._relation_name(tbl)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        keys := keys || pg_catalog.jsonb_build_array(item);
    END LOOP;
    cond := pg_catalog.format('(%s) IN (SELECT %s FROM pg_catalog.jsonb_populate_recordset(NULL::%s, $1) AS k)',
                              (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', c), ', ') FROM pg_catalog.unnest(pk) AS c),
                              (SELECT pg_catalog.string_agg(pg_catalog.format('k.%I', c), ', ') FROM pg_catalog.unnest(pk) AS c),
                              tbl);
END
$$;

-- A key passed as text: JSON as for the jsonb functions (an object, an array,
-- a JSON string, null), any other text the value of a one-column key as
-- written ('1111...-uuid', 'ann@example.com', '42', '1e5' for a text key).
CREATE FUNCTION steward._soft_delete_key_from_text(key text)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parsed jsonb;
BEGIN
    IF key IS NULL THEN
        RETURN NULL;
    END IF;
    BEGIN
        parsed := key::pg_catalog.jsonb;
    EXCEPTION WHEN invalid_text_representation THEN
        RETURN pg_catalog.to_jsonb(key);           -- not JSON: the value itself
    END;
    IF pg_catalog.jsonb_typeof(parsed) IN ('number', 'boolean') AND parsed::text <> key THEN
        RETURN pg_catalog.to_jsonb(key);           -- '1e5', ' 43 ': the text as written, not the number
    END IF;
    RETURN parsed;
END
$$;

-- Bring back the deleted rows of tbl matching cond (over alias t, with $1 =
-- arg), then, when recursive, the children marked with them by the cascade
-- (same foreign key, same timestamp). Returns the rows restored in tbl.
CREATE FUNCTION steward._soft_delete_restore(tbl regclass, col name, cond text, arg jsonb, recursive boolean)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_rows jsonb;
    oids oid[];
    tids tid[];
    n bigint;
    fk record;
    err_message text;
    err_detail text;
    err_constraint text;
    err_table text;
    err_schema text;
BEGIN
    -- Lock first (READ COMMITTED re-checks rows changed meanwhile), keeping
    -- each row as it was, mark included: the children's mark equals it.
    EXECUTE pg_catalog.format(
        'SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(s.r)), pg_catalog.array_agg(s.o), pg_catalog.array_agg(s.c) '
        'FROM (SELECT t AS r, t.tableoid AS o, t.ctid AS c FROM %s AS t WHERE (%s) AND t.%I IS NOT NULL FOR UPDATE OF t) AS s',
        tbl, cond, col)
      INTO old_rows, oids, tids USING arg;
    IF old_rows IS NULL THEN
        RETURN 0;
    END IF;
    BEGIN
        EXECUTE pg_catalog.format(
            'UPDATE %s AS t SET %I = NULL WHERE t.ctid = ANY ($2) '
            'AND (t.tableoid, t.ctid) IN (SELECT u.o, u.c FROM unnest($1, $2) AS u(o, c))',
            tbl, col)
          USING oids, tids;
    EXCEPTION WHEN unique_violation THEN
        -- a live row took the value meanwhile (steward.soft_delete_unique)
        GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT, err_detail = PG_EXCEPTION_DETAIL,
                                err_constraint = CONSTRAINT_NAME, err_table = TABLE_NAME, err_schema = SCHEMA_NAME;
        RAISE EXCEPTION 'cannot restore rows of "%": %', steward._relation_name(tbl), err_message
            USING ERRCODE = 'unique_violation', DETAIL = err_detail, CONSTRAINT = err_constraint,
                  TABLE = err_table, SCHEMA = err_schema,
                  HINT = pg_catalog.format('A live row now holds the same value. Change or delete that row first, '
                                           'or bring this one back with another value: UPDATE %s SET %I = NULL, ... WHERE ...;',
                                           tbl, col);
    END;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF recursive THEN
        FOR fk IN
            SELECT c.conrelid::regclass AS child, s.column_name AS child_column,
                   pg_catalog.string_agg(pg_catalog.format('t.%I = p.%I', ca.attname, pa.attname), ' AND ' ORDER BY k.n) AS cond
              FROM pg_catalog.pg_constraint c
             CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(child_att, parent_att, n)
              JOIN pg_catalog.pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child_att
              JOIN pg_catalog.pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_att
              JOIN steward.soft_delete_tables s ON s.table_name = c.conrelid
             WHERE c.contype = 'f' AND c.conparentid = 0 AND c.confrelid = tbl AND c.confdeltype = 'c'
             GROUP BY c.oid, c.conrelid, s.column_name
        LOOP
            PERFORM steward._soft_delete_restore(
                fk.child, fk.child_column,
                pg_catalog.format('EXISTS (SELECT FROM pg_catalog.jsonb_populate_recordset(NULL::%s, $1) AS p WHERE %s AND t.%I = p.%I)',
                                  tbl, fk.cond, fk.child_column, col),
                old_rows, true);
        END LOOP;
    END IF;
    RETURN n;
END
$$;

CREATE FUNCTION steward.restore(tbl regclass, key jsonb, recursive boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('restore rows');
    cfg steward.soft_delete_tables := steward._soft_delete_config(tbl);
    k record;
    unmatched jsonb;
    live boolean;
BEGIN
    IF recursive IS NULL THEN
        RAISE EXCEPTION 'recursive must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    k := steward._soft_delete_key_condition(tbl, key);
    -- Every key must name a deleted row: restoring a live row is a mistake.
    EXECUTE pg_catalog.format(
        'SELECT e FROM pg_catalog.jsonb_array_elements($1) AS e WHERE NOT EXISTS '
        '(SELECT FROM %s AS t WHERE (%s) AND t.%I IS NOT NULL) LIMIT 1',
        tbl, pg_catalog.replace(k.cond, '$1', 'pg_catalog.jsonb_build_array(e)'), cfg.column_name)
      INTO unmatched USING k.keys;
    IF unmatched IS NOT NULL THEN
        EXECUTE pg_catalog.format('SELECT EXISTS (SELECT FROM %s AS t WHERE %s)', tbl, k.cond)
          INTO live USING pg_catalog.jsonb_build_array(unmatched);
        RAISE EXCEPTION 'no soft-deleted row of "%" has key %', steward._relation_name(tbl), unmatched
            USING ERRCODE = 'no_data_found',
                  DETAIL = CASE WHEN live THEN 'The row is not deleted.' ELSE 'No row has this key.' END;
    END IF;
    RETURN steward._soft_delete_restore(tbl, cfg.column_name, k.cond, k.keys, recursive);
END
$$;

COMMENT ON FUNCTION steward.restore(regclass, jsonb, boolean) IS
'Brings back soft-deleted rows by primary key (scalar, {"col": value}, or an array of them), with the children the cascade marked with them; returns the rows restored in the table';

CREATE FUNCTION steward.restore(tbl regclass, key text, recursive boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN steward.restore(tbl, steward._soft_delete_key_from_text(key), recursive);
END
$$;

COMMENT ON FUNCTION steward.restore(regclass, text, boolean) IS
'steward.restore() with the key as text: the value of a one-column key as written (''1111...-uuid''), or the JSON forms';

CREATE FUNCTION steward.restore_where(tbl regclass, condition text, recursive boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('restore rows');
    cfg steward.soft_delete_tables := steward._soft_delete_config(tbl);
BEGIN
    IF condition IS NULL OR recursive IS NULL THEN
        RAISE EXCEPTION 'condition and recursive must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN steward._soft_delete_restore(tbl, cfg.column_name, condition, NULL, recursive);
END
$$;

COMMENT ON FUNCTION steward.restore_where(regclass, text, boolean) IS
'Brings back the soft-deleted rows matching a SQL condition over the table (alias t), with their cascaded children; returns the rows restored in the table';

-- Run one DELETE with hard delete in force (C: no switching of
-- steward.hard_delete, the plan cache is reset only when needed).
CREATE FUNCTION steward._soft_delete_execute_hard(sql text, key jsonb, oids oid[], tids tid[])
RETURNS bigint
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'steward_soft_delete_execute_hard';

-- Really delete the rows of tbl matching cond (alias t, $1 = arg, $2 =
-- oids, $3 = tids): the only way past the soft delete, scoped to this one
-- statement.
CREATE FUNCTION steward._soft_delete_hard_delete(tbl regclass, cond text, arg jsonb,
                                                 oids oid[] DEFAULT NULL, tids tid[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN steward._soft_delete_execute_hard(pg_catalog.format('DELETE FROM %s AS t WHERE %s', tbl, cond),
                                             arg, oids, tids);
END
$$;

CREATE FUNCTION steward.hard_delete(tbl regclass, key jsonb)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('hard-delete rows');
    k record;
    n bigint;
BEGIN
    PERFORM steward._soft_delete_config(tbl);
    k := steward._soft_delete_key_condition(tbl, key);
    n := steward._soft_delete_hard_delete(tbl, k.cond, k.keys);
    IF n = 0 THEN
        RAISE EXCEPTION 'no row of "%" has key %', steward._relation_name(tbl), key USING ERRCODE = 'no_data_found';
    END IF;
    RETURN n;
END
$$;

COMMENT ON FUNCTION steward.hard_delete(regclass, jsonb) IS
'Really deletes rows (live or soft-deleted) by primary key; foreign keys act as for any DELETE';

CREATE FUNCTION steward.hard_delete(tbl regclass, key text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN steward.hard_delete(tbl, steward._soft_delete_key_from_text(key));
END
$$;

COMMENT ON FUNCTION steward.hard_delete(regclass, text) IS
'steward.hard_delete() with the key as text: the value of a one-column key as written, or the JSON forms';

CREATE FUNCTION steward.hard_delete_where(tbl regclass, condition text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('hard-delete rows');
BEGIN
    PERFORM steward._soft_delete_config(tbl);
    IF condition IS NULL THEN
        RAISE EXCEPTION 'condition must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN steward._soft_delete_hard_delete(tbl, condition, NULL);
END
$$;

COMMENT ON FUNCTION steward.hard_delete_where(regclass, text) IS
'Really deletes the rows matching a SQL condition over the table (alias t); returns how many';

-- One purge batch: really delete up to batch_size rows soft-deleted before
-- now() - older_than, skipping rows locked by others.
CREATE FUNCTION steward.purge_deleted_batch(tbl regclass, older_than interval, batch_size integer DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('purge deleted rows');
    cfg steward.soft_delete_tables := steward._soft_delete_config(tbl);
    oids oid[];
    tids tid[];
BEGIN
    IF older_than IS NULL OR batch_size IS NULL THEN
        RAISE EXCEPTION 'older_than and batch_size must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must not be negative'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('older_than is %s.', older_than),
                  HINT = 'Pass how long deleted rows are kept, e.g. interval ''30 days''.';
    END IF;
    IF batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the batch: old marks, locked here (rows locked by others wait for the
    -- next call), named by (table, ctid): a ctid repeats across partitions
    -- and inheritance children. The DELETE finds them by TID scan.
    EXECUTE pg_catalog.format(
        'SELECT pg_catalog.array_agg(b.tableoid), pg_catalog.array_agg(b.ctid) FROM '
        '(SELECT x.tableoid, x.ctid FROM %s AS x WHERE x.%I < pg_catalog.now() - $1 LIMIT %s FOR UPDATE SKIP LOCKED) AS b',
        tbl, cfg.column_name, batch_size)
      INTO oids, tids USING older_than;
    IF oids IS NULL THEN
        RETURN 0;
    END IF;
    RETURN steward._soft_delete_hard_delete(tbl,
        't.ctid = ANY ($3) AND (t.tableoid, t.ctid) IN (SELECT u.o, u.c FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u(o, c))',
        NULL, oids, tids);
END
$$;

COMMENT ON FUNCTION steward.purge_deleted_batch(regclass, interval, integer) IS
'Really deletes up to batch_size rows soft-deleted more than older_than ago; returns how many (0: done)';

-- Purge in batches, committing after each so no batch holds its row locks
-- long. A procedure (CALL) because only procedures may commit; procedures
-- that commit cannot carry SET search_path, so every name is qualified.
-- Inside a transaction block pass commit_each_batch => false.
CREATE PROCEDURE steward.purge_deleted(tbl regclass, older_than interval, batch_size integer DEFAULT 10000,
                                       commit_each_batch boolean DEFAULT true, INOUT purged bigint DEFAULT 0)
LANGUAGE plpgsql
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('purge deleted rows');
    n bigint;
BEGIN
    purged := 0;
    LOOP
        n := steward.purge_deleted_batch(tbl, older_than, batch_size);
        purged := purged OPERATOR(pg_catalog.+) n;
        IF commit_each_batch THEN
            COMMIT;
        END IF;
        EXIT WHEN n OPERATOR(pg_catalog.<) batch_size;
    END LOOP;
END
$$;

COMMENT ON PROCEDURE steward.purge_deleted(regclass, interval, integer, boolean, bigint) IS
'Really deletes rows soft-deleted more than older_than ago, batch_size rows per transaction; returns how many';

-- Turn a unique constraint into a unique index over live rows, so a value
-- of a soft-deleted row can be used again.
CREATE FUNCTION steward.soft_delete_unique(tbl regclass, constraint_name name)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('change a unique constraint');
    cfg steward.soft_delete_tables := steward._soft_delete_config(tbl);
    con record;
    fk name;
    nsp name;
    existing regclass;
    existing_name name;
BEGIN
    IF constraint_name IS NULL THEN
        RAISE EXCEPTION 'constraint name must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM steward._soft_delete_check_owner(tbl);
    SELECT c.contype, c.condeferrable, c.conindid, i.indnullsnotdistinct,
           (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.n)
              FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS columns
      INTO con
      FROM pg_catalog.pg_constraint c LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.conindid
     WHERE c.conrelid = tbl AND c.conname = constraint_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'constraint "%" of relation "%" does not exist', constraint_name, steward._relation_name(tbl)
            USING ERRCODE = 'undefined_object';
    END IF;
    IF con.contype = 'p' THEN
        RAISE EXCEPTION 'cannot limit primary key "%" to live rows', constraint_name
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'A primary key identifies deleted rows too.';
    END IF;
    IF con.contype <> 'u' THEN
        RAISE EXCEPTION 'constraint "%" of relation "%" is not a unique constraint', constraint_name, steward._relation_name(tbl)
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF con.condeferrable THEN
        RAISE EXCEPTION 'cannot limit deferrable constraint "%" to live rows', constraint_name
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'A partial unique index cannot be deferred.';
    END IF;
    SELECT f.conname INTO fk FROM pg_catalog.pg_constraint f
     WHERE f.contype = 'f' AND f.conindid = con.conindid LIMIT 1;
    IF fk IS NOT NULL THEN
        RAISE EXCEPTION 'cannot limit constraint "%" to live rows', constraint_name
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = pg_catalog.format('Foreign key "%s" references it.', fk);
    END IF;
    -- a unique index that already does it (same columns, operator classes,
    -- collations and NULLS [NOT] DISTINCT, over live rows): keep that one
    -- rather than add an exact duplicate
    SELECT i.indexrelid::regclass, ic.relname INTO existing, existing_name
      FROM pg_catalog.pg_index ci
      JOIN pg_catalog.pg_class cc ON cc.oid = ci.indexrelid
      JOIN pg_catalog.pg_index i ON i.indrelid = ci.indrelid AND i.indexrelid <> ci.indexrelid
      JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
     WHERE ci.indexrelid = con.conindid
       AND i.indisunique AND i.indisvalid AND i.indimmediate AND i.indexprs IS NULL
       AND ic.relam = cc.relam AND i.indnkeyatts = ci.indnkeyatts AND i.indnatts = ci.indnatts
       AND i.indkey::pg_catalog.int2[] = ci.indkey::pg_catalog.int2[]
       AND i.indclass::pg_catalog.oid[] = ci.indclass::pg_catalog.oid[]
       AND i.indcollation::pg_catalog.oid[] = ci.indcollation::pg_catalog.oid[]
       AND i.indnullsnotdistinct = ci.indnullsnotdistinct
       AND pg_catalog.pg_get_expr(i.indpred, i.indrelid) = pg_catalog.format('(%I IS NULL)', cfg.column_name)
     ORDER BY i.indexrelid
     LIMIT 1;
    SELECT n.nspname INTO nsp FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = tbl;
    EXECUTE pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', tbl, constraint_name);
    IF existing IS NOT NULL THEN
        RAISE NOTICE 'unique index "%" already limits (%) to live rows: kept, constraint "%" dropped',
                     existing_name, con.columns, constraint_name
            USING DETAIL = 'No second index was created.';
        RETURN existing;
    END IF;
    EXECUTE pg_catalog.format('CREATE UNIQUE INDEX %I ON %s (%s)%s WHERE %I IS NULL', constraint_name, tbl,
                              con.columns, CASE WHEN con.indnullsnotdistinct THEN ' NULLS NOT DISTINCT' ELSE '' END,
                              cfg.column_name);
    RETURN pg_catalog.format('%I.%I', nsp, constraint_name)::regclass;
END
$$;

COMMENT ON FUNCTION steward.soft_delete_unique(regclass, name) IS
'Replaces a unique constraint by a unique index of the same name over live rows (WHERE <column> IS NULL), or by such an index that exists already; returns the index';

-- The deleted rows of a soft-delete table, counted through an index limited
-- to them (steward._soft_delete_counts checked there is one): no sequential
-- scan, an index-only scan where the visibility map allows.
CREATE FUNCTION steward._soft_delete_count_deleted(tbl regclass, col name)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s WHERE %I IS NOT NULL', tbl, col) INTO n;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION steward._soft_delete_count_deleted(regclass, name) FROM PUBLIC;

-- Row counts for the summary, and how they were got (counts): 'exact' when
-- the table is small (its rows, estimated from reltuples, at most
-- steward.soft_delete_summary_exact_limit: default 10000) and so cheap to
-- count; else 'deleted exact' when a valid index limited to the deleted rows
-- (WHERE <column> IS NOT NULL) holds at most that many of them (counted
-- through the index, the live rows estimated); else 'estimate' from
-- reltuples and each partition's null_frac of the column (no statistics on
-- the column: all rows taken as live). A table never analyzed (reltuples -1)
-- is sized by the planner's estimate (EXPLAIN: from its current size). So
-- the view never scans a large table.
CREATE FUNCTION steward._soft_delete_counts(tbl regclass, col name,
                                            OUT live_rows bigint, OUT deleted_rows bigint, OUT counts text)
LANGUAGE plpgsql VOLATILE   -- EXPLAIN (a never-analyzed table) is refused in a STABLE function
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    estimate float8;
    deleted_estimate float8;
    never_analyzed boolean;
    raw text := pg_catalog.btrim(pg_catalog.current_setting('steward.soft_delete_summary_exact_limit', true));
    exact_limit bigint;
    plan json;
    rels oid[];
BEGIN
    IF raw IS NULL OR raw = '' THEN
        exact_limit := 10000;
    ELSIF raw ~ '^\+?[0-9]{1,10}$' AND raw::bigint <= 2147483647 THEN
        exact_limit := raw::bigint;
    ELSE
        RAISE EXCEPTION 'invalid value for parameter "steward.soft_delete_summary_exact_limit": "%"', raw
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a whole number of rows from 0 to 2147483647.';
    END IF;
    -- SECURITY DEFINER: count only what the summary shows, enabled tables
    IF NOT EXISTS (SELECT FROM steward.soft_delete_tables s WHERE s.table_name = tbl AND s.column_name = col) THEN
        RETURN;
    END IF;
    -- the table's (or its partitions') rows, and of them the deleted ones
    -- (NULL when a partition has no statistics on the column); a plain
    -- table has no partition tree
    rels := ARRAY[tbl::oid] || ARRAY(SELECT t.relid FROM pg_catalog.pg_partition_tree(tbl) AS t WHERE t.isleaf);
    SELECT pg_catalog.sum(GREATEST(c.reltuples, 0)), pg_catalog.bool_or(c.reltuples < 0),
           pg_catalog.sum(GREATEST(c.reltuples, 0) * (1 - COALESCE(st.null_frac, 1)))
      INTO estimate, never_analyzed, deleted_estimate
      FROM pg_catalog.pg_class c
      LEFT JOIN LATERAL (SELECT s.stanullfrac AS null_frac FROM pg_catalog.pg_statistic s
                          WHERE s.starelid = c.oid AND NOT s.stainherit
                            AND s.staattnum = (SELECT a.attnum FROM pg_catalog.pg_attribute a
                                                WHERE a.attrelid = c.oid AND a.attname = col)) st ON true
     WHERE c.oid = ANY (rels) AND c.relkind = 'r';   -- index lookups: no scan of pg_class
    IF never_analyzed THEN
        EXECUTE pg_catalog.format('EXPLAIN (FORMAT JSON) SELECT FROM %s', tbl) INTO plan;
        estimate := (plan -> 0 -> 'Plan' ->> 'Plan Rows')::float8;
    END IF;
    IF estimate IS NULL OR estimate <= exact_limit THEN
        EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FILTER (WHERE %I IS NULL), '
                                  'pg_catalog.count(*) FILTER (WHERE %I IS NOT NULL) FROM %s', col, col, tbl)
          INTO live_rows, deleted_rows;
        counts := 'exact';
        RETURN;
    END IF;
    IF NOT never_analyzed AND deleted_estimate <= exact_limit AND EXISTS (
        SELECT FROM pg_catalog.pg_index i
         WHERE i.indrelid = tbl AND i.indisvalid
           AND pg_catalog.pg_get_expr(i.indpred, i.indrelid) = pg_catalog.format('(%I IS NOT NULL)', col)) THEN
        deleted_rows := steward._soft_delete_count_deleted(tbl, col);
        live_rows := GREATEST(pg_catalog.round(estimate) - deleted_rows, 0);
        counts := 'deleted exact';
        RETURN;
    END IF;
    deleted_rows := pg_catalog.round(COALESCE(deleted_estimate, 0));
    live_rows := pg_catalog.round(estimate) - deleted_rows;
    counts := 'estimate';
END
$$;
REVOKE ALL ON FUNCTION steward._soft_delete_counts(regclass, name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward._soft_delete_counts(regclass, name) TO steward_monitor, pg_monitor;

CREATE VIEW steward.soft_delete_summary AS
SELECT s.table_name, s.column_name, c.live_rows, c.deleted_rows, c.counts = 'exact' AS counts_exact, c.counts,
       EXISTS (SELECT FROM pg_catalog.pg_trigger t
                WHERE t.tgrelid = s.table_name AND t.tgname = 'steward_soft_delete' AND t.tgenabled <> 'D') AS trigger_enabled,
       EXISTS (SELECT FROM pg_catalog.pg_trigger t
                WHERE t.tgrelid = s.table_name AND t.tgname = 'steward_soft_delete_cascade') AS cascades,
       s.live_view, s.deleted_view, s.enabled_at
  FROM steward.soft_delete_tables s
 CROSS JOIN LATERAL steward._soft_delete_counts(s.table_name, s.column_name) AS c;
COMMENT ON VIEW steward.soft_delete_summary IS
'Soft-delete-enabled tables with live and deleted row counts (counts: exact for small tables, deleted exact through an index on the deleted rows, else estimate; counts_exact: both exact)';
REVOKE ALL ON steward.soft_delete_summary FROM PUBLIC;
GRANT SELECT ON steward.soft_delete_summary TO steward_monitor, pg_monitor;

-- DDL follow-up: foreign keys added or dropped change which enabled tables
-- need the cascade trigger and which tables the reference check; dropped
-- tables, views and columns leave the list. Not while pg_restore runs
-- (check_function_bodies = off, as pg_restore sets it): the triggers come
-- from the dump, and one made here first would make the dump's CREATE
-- TRIGGER fail (pg_restore -j restores foreign keys and triggers in any
-- order).
CREATE FUNCTION steward._soft_delete_on_ddl()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tbl regclass;
BEGIN
    IF pg_catalog.current_setting('check_function_bodies') = 'off' THEN
        RETURN;
    END IF;
    FOR tbl IN SELECT s.table_name FROM steward.soft_delete_tables s LOOP
        BEGIN
            PERFORM steward._soft_delete_sync(tbl);
        EXCEPTION WHEN OTHERS THEN
            -- never let a problem with one table fail someone's unrelated DDL
            RAISE WARNING 'pg_steward could not update the soft delete cascade of "%": %', steward._relation_name(tbl), SQLERRM;
        END;
    END LOOP;
    IF EXISTS (SELECT FROM steward.soft_delete_tables)
       OR EXISTS (SELECT FROM pg_catalog.pg_trigger t
                   WHERE t.tgname IN ('steward_soft_delete_parent', 'steward_soft_delete_parent_tree')) THEN
        BEGIN
            PERFORM steward._soft_delete_sync_references(from_ddl => true);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pg_steward could not update the soft delete reference checks: %', SQLERRM;
        END;
    END IF;
END
$$;

CREATE FUNCTION steward._soft_delete_on_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    gone record;
BEGIN
    IF NOT EXISTS (SELECT FROM steward.soft_delete_tables) THEN
        RETURN;
    END IF;
    FOR gone IN SELECT d.objid, d.objsubid FROM pg_catalog.pg_event_trigger_dropped_objects() AS d
                 WHERE d.classid = 'pg_catalog.pg_class'::regclass
    LOOP
        IF gone.objsubid = 0 THEN
            DELETE FROM steward.soft_delete_tables s WHERE s.table_name::oid = gone.objid;
            UPDATE steward.soft_delete_tables s SET live_view = NULL WHERE s.live_view::oid = gone.objid;
            UPDATE steward.soft_delete_tables s SET deleted_view = NULL WHERE s.deleted_view::oid = gone.objid;
        ELSE
            -- the soft-delete column itself was dropped: soft delete ends
            DELETE FROM steward.soft_delete_tables s
             WHERE s.table_name::oid = gone.objid
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                                WHERE a.attrelid = gone.objid AND a.attname = s.column_name AND NOT a.attisdropped);
            IF FOUND THEN
                PERFORM steward._soft_delete_drop_trigger(gone.objid::regclass, 'steward_soft_delete');
            END IF;
        END IF;
    END LOOP;
    -- a foreign key or a table went: the reference checks that named it
    -- are narrowed or dropped (after other DDL they only ever grow)
    IF pg_catalog.current_setting('check_function_bodies') <> 'off'  -- (not while pg_restore runs)
       AND EXISTS (SELECT FROM pg_catalog.pg_event_trigger_dropped_objects() AS d
                    WHERE d.object_type IN ('table constraint', 'table')) THEN
        BEGIN
            PERFORM steward._soft_delete_sync_references(from_ddl => true, narrow => true);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'pg_steward could not update the soft delete reference checks: %', SQLERRM;
        END;
    END IF;
END
$$;

CREATE EVENT TRIGGER steward_soft_delete_ddl ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'CREATE TABLE', 'DROP TABLE')
    EXECUTE FUNCTION steward._soft_delete_on_ddl();
CREATE EVENT TRIGGER steward_soft_delete_drop ON sql_drop
    EXECUTE FUNCTION steward._soft_delete_on_drop();

-- Health checks read by steward.health() (issue 6): catalog lookups only.
-- An enabled table whose steward_soft_delete trigger is missing or disabled
-- really deletes rows on DELETE: critical. A table whose reference check is
-- missing, disabled or lacks one of its foreign keys to enabled tables
-- (a sync after DDL warned, or someone dropped the trigger) accepts new
-- references to soft-deleted rows: warning.
CREATE FUNCTION steward._health_checks_soft_delete()
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
REVOKE ALL ON FUNCTION steward._health_checks_soft_delete() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward._health_checks_soft_delete() TO steward_monitor, pg_monitor;
