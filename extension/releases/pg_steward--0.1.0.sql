-- pg_steward: the extension script is assembled at build time from the
-- files in extension/ in name order (one file per feature).
\echo Use "CREATE EXTENSION pg_steward" to load this file. \quit

-- All objects live in the schema `steward`, created here so that it belongs
-- to the extension (DROP EXTENSION removes it; CREATE EXTENSION fails
-- cleanly if a schema of that name already exists). PUBLIC may look up
-- names in it; what each object allows is granted feature by feature.
CREATE SCHEMA steward;
REVOKE ALL ON SCHEMA steward FROM PUBLIC;
GRANT USAGE ON SCHEMA steward TO PUBLIC;

-- Quote a (possibly schema-qualified) relation for messages and DDL.
CREATE FUNCTION steward._relation_label(tbl regclass)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE c.oid = tbl $$;

-- A relation as messages name it, PostgreSQL's way: schema.name (just the
-- name for a temporary table, whose schema pg_temp_N means nothing to the
-- reader), for the message to put in double quotes (the names are not
-- quoted again). Every feature's messages use it.
CREATE FUNCTION steward._relation_name(tbl regclass)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE((SELECT CASE WHEN c.relpersistence OPERATOR(pg_catalog.=) 't' THEN c.relname::text
                                 ELSE n.nspname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) c.relname END
                       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                      WHERE c.oid = tbl), tbl::text)
$$;

-- Raise a clean error unless tbl is a plain or partitioned table the
-- caller may put triggers on. `feature` names the caller in messages.
CREATE FUNCTION steward._check_trigger_target(tbl regclass, feature text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind "char";
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid = tbl;
    IF kind IS NULL THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid
            USING ERRCODE = 'undefined_table';
    END IF;
    IF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'cannot enable % on "%"', feature, steward._relation_name(tbl)
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = pg_catalog.format('"%s" is %s.', steward._relation_name(tbl),
                      CASE kind WHEN 'v' THEN 'a view' WHEN 'm' THEN 'a materialized view'
                                WHEN 'f' THEN 'a foreign table' WHEN 'S' THEN 'a sequence'
                                WHEN 'i' THEN 'an index' WHEN 'I' THEN 'a partitioned index'
                                WHEN 'c' THEN 'a composite type' WHEN 't' THEN 'a TOAST table'
                                ELSE 'not a table' END),
                  HINT = pg_catalog.format('%s works on plain and partitioned tables.', feature);
    END IF;
    IF NOT pg_catalog.has_table_privilege(tbl, 'TRIGGER') THEN
        RAISE EXCEPTION 'permission denied to enable % on "%"', feature, steward._relation_name(tbl)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Creating the trigger needs the TRIGGER privilege on the table.',
                  HINT = 'Ask the table owner to run it or to GRANT TRIGGER.';
    END IF;
END
$$;

-- Refuse to `action` on a hot standby, naming the primary as the place to
-- run it (SQLSTATE 25006); true on a primary. Every steward function that
-- writes calls it first (src/standby/primary.cpp).
CREATE FUNCTION steward._require_primary(action text)
RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'steward_require_primary';

-- The base type of a type (itself unless it is a domain).
CREATE FUNCTION steward._base_type(typ regtype)
RETURNS regtype
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE d(oid, base) AS (
        SELECT t.oid, t.typbasetype FROM pg_catalog.pg_type t WHERE t.oid = typ
        UNION ALL
        SELECT t.oid, t.typbasetype FROM pg_catalog.pg_type t JOIN d ON t.oid = d.base
    )
    SELECT d.oid::regtype FROM d WHERE d.base = 0
$$;

-- The arguments of a trigger (pg_trigger.tgargs: each NUL-terminated).
CREATE FUNCTION steward._trigger_args(args bytea)
RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result text[] := '{}';
    start integer := 0;
BEGIN
    FOR i IN 0 .. pg_catalog.length(args) - 1 LOOP
        IF pg_catalog.get_byte(args, i) = 0 THEN
            result := result OPERATOR(pg_catalog.||) pg_catalog.convert_from(
                pg_catalog.substr(args, start + 1, i - start), pg_catalog.getdatabaseencoding());
            start := i + 1;
        END IF;
    END LOOP;
    RETURN result;
END
$$;

-- The first argument of a trigger, or if_none when it has none.
CREATE FUNCTION steward._trigger_first_arg(trigger_oid oid, if_none name)
RETURNS name
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN t.tgnargs = 0 THEN if_none ELSE (steward._trigger_args(t.tgargs))[1]::name END
      FROM pg_catalog.pg_trigger t WHERE t.oid = trigger_oid
$$;

-- Role for monitoring (stats views, health(), queue/audit summaries). Roles
-- are cluster-wide: created once, kept by DROP EXTENSION (docs/stats.md).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'steward_monitor') THEN
        CREATE ROLE steward_monitor NOLOGIN;
    END IF;
END
$$;
-- updated_at maintenance (docs/updated_at.md) --------------------------------

CREATE FUNCTION steward.set_updated_at()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'steward_set_updated_at';

COMMENT ON FUNCTION steward.set_updated_at() IS
'BEFORE INSERT OR UPDATE row trigger: stamps the column named by its argument (default updated_at) with the transaction timestamp';

-- Name of the trigger pg_steward creates; fixed so the helpers can find it.
CREATE FUNCTION steward._updated_at_trigger_name()
RETURNS name LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 'steward_updated_at'::name $$;

CREATE FUNCTION steward.track_updated_at(tbl regclass, column_name name DEFAULT 'updated_at')
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('track updated_at');
    trigger_name constant name := steward._updated_at_trigger_name();
    col record;
    existing record;
    base_type regtype;
BEGIN
    PERFORM steward._check_trigger_target(tbl, 'updated_at tracking');
    IF column_name IS NULL THEN
        RAISE EXCEPTION 'column name must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT a.attnum, a.atttypid::regtype AS typ, a.attgenerated
      INTO col
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = column_name AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation "%" does not exist', column_name, steward._relation_name(tbl)
            USING ERRCODE = 'undefined_column',
                  HINT = pg_catalog.format('Add it first: ALTER TABLE %s ADD COLUMN %I timestamptz NOT NULL DEFAULT now();',
                                           tbl, column_name);
    END IF;
    base_type := steward._base_type(col.typ);
    IF base_type NOT IN ('timestamptz'::regtype, 'timestamp'::regtype) THEN
        RAISE EXCEPTION 'column "%" of relation "%" must be of type timestamptz or timestamp', column_name, steward._relation_name(tbl)
            USING ERRCODE = 'datatype_mismatch',
                  DETAIL = pg_catalog.format('The column is of type %s.', col.typ);
    END IF;
    IF col.attgenerated <> '' THEN
        RAISE EXCEPTION 'column "%" of relation "%" is a generated column', column_name, steward._relation_name(tbl)
            USING ERRCODE = 'wrong_object_type';
    END IF;

    SELECT t.tgparentid, steward._trigger_first_arg(t.oid, 'updated_at') AS column_name
      INTO existing
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid = tbl AND t.tgname = trigger_name;
    IF FOUND THEN
        IF existing.column_name = column_name THEN
            RETURN false;                          -- already tracked: nothing changes
        END IF;
        IF existing.tgparentid <> 0 THEN
            RAISE EXCEPTION 'cannot change updated_at tracking of partition "%"', steward._relation_name(tbl)
                USING ERRCODE = 'object_in_use',
                      DETAIL = 'Its trigger is inherited from the partitioned table.',
                      HINT = 'Call steward.track_updated_at() on the partitioned table.';
        END IF;
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', trigger_name, tbl);
    END IF;
    EXECUTE pg_catalog.format(
        'CREATE TRIGGER %I BEFORE INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION steward.set_updated_at(%L)',
        trigger_name, tbl, column_name);
    RETURN true;
END
$$;

COMMENT ON FUNCTION steward.track_updated_at(regclass, name) IS
'Installs the updated_at trigger on a table (idempotent); returns false when nothing changed';

CREATE FUNCTION steward.untrack_updated_at(tbl regclass)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('untrack updated_at');
    trigger_name constant name := steward._updated_at_trigger_name();
    parent oid;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT t.tgparentid INTO parent
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid = tbl AND t.tgname = trigger_name
       AND t.tgfoid = 'steward.set_updated_at()'::regprocedure;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF parent <> 0 THEN
        RAISE EXCEPTION 'cannot stop updated_at tracking of partition "%"', steward._relation_name(tbl)
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'Its trigger is inherited from the partitioned table.',
                  HINT = 'Call steward.untrack_updated_at() on the partitioned table.';
    END IF;
    EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', trigger_name, tbl);
    RETURN true;
END
$$;

COMMENT ON FUNCTION steward.untrack_updated_at(regclass) IS
'Removes the updated_at trigger from a table; returns false when it was not tracked';

CREATE VIEW steward.tracked_tables AS
SELECT t.tgrelid::regclass                       AS table_name,
       n.nspname                                 AS schema_name,
       c.relname                                 AS relation_name,
       steward._trigger_first_arg(t.oid, 'updated_at')            AS column_name,
       t.tgparentid <> 0                         AS inherited,
       t.tgenabled <> 'D'                        AS enabled
  FROM pg_catalog.pg_trigger t
  JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE t.tgfoid = 'steward.set_updated_at()'::regprocedure;

COMMENT ON VIEW steward.tracked_tables IS 'Tables whose updated_at column pg_steward maintains';
GRANT SELECT ON steward.tracked_tables TO PUBLIC;
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
CREATE FUNCTION steward._soft_delete_sync_references(from_ddl boolean DEFAULT false, narrow boolean DEFAULT NULL)
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
    SELECT c.relname, c.relnamespace, n.nspname, c.relispartition INTO rel
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = tbl;
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

-- Health check read by steward.health() (issue 6): catalog lookups only. An
-- enabled table whose steward_soft_delete trigger is missing or disabled
-- really deletes rows on DELETE: critical.
CREATE FUNCTION steward._health_checks_soft_delete()
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
    )
    SELECT 'soft_delete_unprotected_tables', u.n, 1::numeric, 1::numeric,
           CASE WHEN u.n >= 1 THEN 'critical' ELSE 'ok' END,
           CASE WHEN u.n = 0 THEN 'Every soft-delete-enabled table has its enabled steward_soft_delete trigger.'
                ELSE 'DELETE really removes rows of these soft-delete-enabled tables (trigger missing or disabled): '
                     || u.names || '.' END
      FROM unprotected u
$$;
REVOKE ALL ON FUNCTION steward._health_checks_soft_delete() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward._health_checks_soft_delete() TO steward_monitor, pg_monitor;
-- Audit trail (docs/audit.md) ------------------------------------------------
--
-- Storage: steward.audit_records, partitioned by day on logged_at (the
-- transaction start time), written only by the C trigger
-- steward.audit_trigger() at the heap level (no table privilege is used, so
-- application roles need none and get none). Row images are stored in a
-- compact binary form (a tuple of the audited columns, built-in types in
-- their binary form, other types as text); steward.audit_log decodes them
-- into jsonb when read. Column lists, types and names "as they were" live in
-- steward.audit_versions: one row per shape of an audited table.

-- Readers of the log (auditors). Roles are cluster-wide: created once, kept
-- by DROP EXTENSION.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'steward_auditor') THEN
        CREATE ROLE steward_auditor NOLOGIN;
    END IF;
END
$$;

-- One row per table that is or was audited. table_id is the identity the
-- log uses (stable across pg_dump/pg_restore, unlike the oid).
CREATE TABLE steward.audit_tables (
    table_id      integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    tbl           regclass UNIQUE,          -- NULL once the table is dropped
    schema_name   text NOT NULL,            -- last known names
    table_name    text NOT NULL,
    enabled       boolean NOT NULL DEFAULT true,
    full_row      boolean NOT NULL DEFAULT false,
    log_noop      boolean NOT NULL DEFAULT false,
    log_statement boolean NOT NULL DEFAULT false,
    excluded      name[] NOT NULL DEFAULT '{}',
    redacted      name[] NOT NULL DEFAULT '{}',
    changed_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    changed_by    name NOT NULL DEFAULT CURRENT_USER,
    dropped_at    timestamptz
);
SELECT pg_catalog.pg_extension_config_dump('steward.audit_tables', '');
SELECT pg_catalog.pg_extension_config_dump('steward.audit_tables_table_id_seq', '');

-- The columns named in excluded/redacted options must exist and must not be
-- key columns (the log identifies each record by its key).
CREATE FUNCTION steward._audit_check_columns(tbl regclass, names name[])
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    col name;
    key name[] := steward._audit_key_columns(tbl);
BEGIN
    FOREACH col IN ARRAY COALESCE(names, '{}') LOOP
        IF col IS NULL OR NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                       WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'column "%" of relation "%" does not exist', col, steward._relation_name(tbl)
                USING ERRCODE = 'undefined_column',
                      DETAIL = 'Columns named in excluded or redacted must exist.';
        END IF;
        IF col = ANY (key) THEN
            RAISE EXCEPTION 'cannot exclude or redact key column "%" of relation "%"', col, steward._relation_name(tbl)
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'The audit log identifies each record by its key.';
        END IF;
    END LOOP;
END
$$;

-- Who may write a table's options: whoever may create triggers on it. A
-- guard trigger checks it as the writing role, so steward.enable_audit()
-- runs with the caller's rights. (Row security would express the same, but
-- pg_dump runs with row_security = off and refuses a table with policies in
-- force, so a non-superuser backup role, e.g. one granted pg_read_all_data,
-- could no longer dump the database.) The extension owner (the SECURITY
-- DEFINER paths), superusers and BYPASSRLS roles pass, as they would past
-- row security.
--
-- Whoever writes, the guard keeps the row true: changed_at/changed_by are
-- stamped with now() and the writing role on every insert and option
-- change (the only exception: pg_steward's own follow-up of a column
-- rename, made by the log's owner from inside the audit trigger), the names
-- of a new row are those of its table, and options naming columns are
-- checked as enable_audit() checks them. The AFTER trigger below drops every
-- backend's cached options of the table and its partitions.
CREATE FUNCTION steward._audit_tables_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    owner_or_superuser constant boolean :=
        pg_catalog.pg_has_role(CURRENT_USER,
            (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = TG_RELID), 'USAGE')
        OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER);
    added name[];
    stamp boolean;
BEGIN
    IF NOT (owner_or_superuser
            OR (SELECT r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)) THEN
        IF (TG_OP = 'UPDATE' AND NOT coalesce(OLD.tbl IS NOT NULL AND pg_catalog.has_table_privilege(OLD.tbl, 'TRIGGER'), false))
           OR NOT coalesce(NEW.tbl IS NOT NULL AND pg_catalog.has_table_privilege(NEW.tbl, 'TRIGGER'), false) THEN
            RAISE EXCEPTION 'permission denied to change the audit options of "%"', coalesce(OLD.tbl, NEW.tbl)
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Audit options of a table may be changed by roles that may create triggers on it.',
                      HINT = 'Use steward.enable_audit() or steward.disable_audit() as the table owner.';
        END IF;
        IF TG_OP = 'INSERT' THEN
            SELECT n.nspname, c.relname INTO NEW.schema_name, NEW.table_name
              FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE c.oid = NEW.tbl;
        END IF;
    END IF;
    IF TG_OP = 'INSERT' THEN
        added := NEW.excluded OPERATOR(pg_catalog.||) NEW.redacted;
    ELSE
        added := ARRAY(SELECT pg_catalog.unnest(NEW.excluded OPERATOR(pg_catalog.||) NEW.redacted)
                       EXCEPT SELECT pg_catalog.unnest(OLD.excluded OPERATOR(pg_catalog.||) OLD.redacted));
    END IF;
    IF NEW.tbl IS NOT NULL AND added <> '{}' THEN
        PERFORM steward._audit_check_columns(NEW.tbl, added);
        IF NEW.excluded OPERATOR(pg_catalog.&&) NEW.redacted THEN
            RAISE EXCEPTION 'a column cannot be both excluded and redacted'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    IF TG_OP = 'INSERT' THEN
        stamp := true;
    ELSE
        stamp := (NEW.enabled, NEW.full_row, NEW.log_noop, NEW.log_statement, NEW.excluded, NEW.redacted)
                 IS DISTINCT FROM (OLD.enabled, OLD.full_row, OLD.log_noop, OLD.log_statement, OLD.excluded, OLD.redacted)
                 AND NOT (owner_or_superuser AND pg_catalog.pg_trigger_depth() > 1);
    END IF;
    IF stamp THEN
        NEW.changed_at := pg_catalog.now();
        NEW.changed_by := CURRENT_USER;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_tables_guard BEFORE INSERT OR UPDATE ON steward.audit_tables
    FOR EACH ROW EXECUTE FUNCTION steward._audit_tables_guard();
-- Cached options (the trigger's, per backend) of the table and its
-- partitions are dropped when its row changes, whoever changes it.
CREATE FUNCTION steward._audit_tables_changed()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'steward_audit_tables_changed';
CREATE TRIGGER audit_tables_changed AFTER INSERT OR UPDATE OR DELETE ON steward.audit_tables
    FOR EACH ROW EXECUTE FUNCTION steward._audit_tables_changed();
REVOKE ALL ON steward.audit_tables FROM PUBLIC;
GRANT SELECT ON steward.audit_tables TO PUBLIC;
GRANT INSERT (tbl, schema_name, table_name, enabled, full_row, log_noop, log_statement,
              excluded, redacted)
    ON steward.audit_tables TO PUBLIC;
-- Names and stamps are written by pg_steward only (SECURITY DEFINER paths
-- and the guard).
GRANT UPDATE (enabled, full_row, log_noop, log_statement, excluded, redacted)
    ON steward.audit_tables TO PUBLIC;
GRANT USAGE ON SEQUENCE steward.audit_tables_table_id_seq TO PUBLIC;

-- One row per shape (columns, types, names, key) of an audited table.
-- Positions (1-based) in these arrays are what the log's int2[] columns
-- and row images refer to. Never updated once written.
CREATE TABLE steward.audit_versions (
    version_id    integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    table_id      integer NOT NULL REFERENCES steward.audit_tables,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    relid         oid NOT NULL,            -- the table's oid then (for rename detection)
    schema_name   text NOT NULL,
    table_name    text NOT NULL,
    columns       text[] NOT NULL,
    attnums       int2[] NOT NULL,         -- attnums in relid then
    types         regtype[] NOT NULL,      -- declared types
    storage       regtype[] NOT NULL,      -- how images store them (base type or text)
    redacted      boolean[] NOT NULL,
    key_positions int2[] NOT NULL
);
CREATE INDEX ON steward.audit_versions (table_id, version_id);
SELECT pg_catalog.pg_extension_config_dump('steward.audit_versions', '');
SELECT pg_catalog.pg_extension_config_dump('steward.audit_versions_version_id_seq', '');
REVOKE ALL ON steward.audit_versions FROM PUBLIC;

CREATE SEQUENCE steward.audit_records_id_seq;
SELECT pg_catalog.pg_extension_config_dump('steward.audit_records_id_seq', '');
REVOKE ALL ON SEQUENCE steward.audit_records_id_seq FROM PUBLIC;

-- The log. A row is one entry (row_hash ... new_image), or the packed
-- entries of a bulk statement (key_range, hashes, entries: see "Packed
-- entries" below and src/audit/writer.cpp); steward._audit_entries() reads
-- both kinds. Partitions (one per UTC day, steward.audit_records_pYYYYMMDD)
-- are created a week ahead by enable_audit(), purge_audit(),
-- audit_create_partitions() and a background worker that writers start
-- (src/audit/partition_worker.cpp); they are ordinary tables, not extension
-- members, so pg_dump dumps them with their data.
CREATE TABLE steward.audit_records (
    id               bigint NOT NULL,
    logged_at        timestamptz NOT NULL,
    txid             xid8 NOT NULL,
    action           "char" NOT NULL,       -- I U D T S(oft delete) R(estore)
    table_id         integer NOT NULL,
    version_id       integer NOT NULL,
    row_hash         bigint,                -- hash of the key values (NULL for TRUNCATE)
    old_hash         bigint,                -- UPDATE that changed the key: the old one's
    stored           int2[],                -- positions held by the images; NULL: all
    changed          int2[],                -- UPDATE: positions that changed
    old_image        bytea,
    new_image        bytea,
    actor            text,
    context          jsonb,
    role_name        text NOT NULL,
    session_role     text NOT NULL,
    application_name text,
    client_addr      inet,
    statement        text,
    key_range        int8range,             -- packed: steward._audit_key_point() of the lowest..highest hash
    hashes           bigint[],              -- packed: the entries' row_hash values
    entries          bytea                  -- packed: the entries (id, row_hash, stored, changed, images)
) PARTITION BY RANGE (logged_at);
REVOKE ALL ON steward.audit_records FROM PUBLIC;
GRANT SELECT ON steward.audit_records TO steward_auditor;

-- Name of the partition holding day d.
CREATE FUNCTION steward._audit_partition_name(d date)
RETURNS name LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ('audit_records_p' || pg_catalog.to_char(d, 'YYYYMMDD'))::name $$;

-- steward.audit_key_index: 'immediate' (default: new partitions get their
-- key index at once) or 'deferred' (built by audit_create_partitions() once
-- the day is over: cheaper writes, history() of today's entries reads
-- today's partition in full).
CREATE FUNCTION steward._audit_key_index_deferred()
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mode text := COALESCE(NULLIF(pg_catalog.current_setting('steward.audit_key_index', true), ''), 'immediate');
BEGIN
    IF mode NOT IN ('immediate', 'deferred') THEN
        RAISE EXCEPTION 'invalid value for parameter "steward.audit_key_index": "%"', mode
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Available values: immediate, deferred.';
    END IF;
    RETURN mode = 'deferred';
END
$$;

-- The key index of a log partition (idempotent).
CREATE FUNCTION steward._audit_create_key_index(part name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE pg_catalog.format('CREATE INDEX IF NOT EXISTS %I ON steward.%I USING hash (row_hash)',
                              part || '_key', part);
    EXECUTE pg_catalog.format('CREATE INDEX IF NOT EXISTS %I ON steward.%I USING gist (key_range) WHERE key_range IS NOT NULL',
                              part || '_key_range', part);
END
$$;
REVOKE ALL ON FUNCTION steward._audit_create_key_index(name) FROM PUBLIC;

-- Create the partition of day d (UTC) unless it exists; returns it.
-- SECURITY DEFINER: partitions belong to the extension owner like the log.
CREATE FUNCTION steward._audit_partition_for(d date)
RETURNS regclass
LANGUAGE plpgsql STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part name := steward._audit_partition_name(d);
    found regclass;
    today date := (pg_catalog.now() AT TIME ZONE 'UTC')::date;
BEGIN
    -- Anyone may cause today's partition to exist (the trigger path runs as
    -- the writing role); other days only superusers (retention tooling).
    IF (d < today - 1 OR d > today + 366)
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = SESSION_USER) THEN
        RAISE EXCEPTION 'cannot create the audit log partition of %', d
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Only partitions from yesterday to a year ahead are created on demand.';
    END IF;
    found := pg_catalog.to_regclass(pg_catalog.format('steward.%I', part));
    IF found IS NOT NULL THEN
        RETURN found;
    END IF;
    -- Serialise creators; LOCK also makes us see partitions created meanwhile.
    -- SHARE UPDATE EXCLUSIVE is all ATTACH PARTITION takes on the log: readers
    -- and writers of the log go on (CREATE TABLE ... PARTITION OF would lock
    -- every reader out until this transaction ends).
    LOCK TABLE steward.audit_records IN SHARE UPDATE EXCLUSIVE MODE;
    found := pg_catalog.to_regclass(pg_catalog.format('steward.%I', part));
    IF found IS NOT NULL THEN
        RETURN found;
    END IF;
    -- toast_tuple_target: a packed row of up to ~8 kB stays in the heap page,
    -- uncompressed (the writer keeps them below that).
    EXECUTE pg_catalog.format('CREATE TABLE steward.%I (LIKE steward.audit_records) WITH (toast_tuple_target = 8160)', part);
    -- Indexes per partition, not on the partitioned table: a restored
    -- partition is attached before its indexes are created (pg_dump order),
    -- which an index on the parent would break. One record's entries are
    -- found by the hash of its key (a hash index: the cheapest to maintain
    -- for equality lookups), unless steward.audit_key_index = 'deferred'
    -- (then steward.audit_create_partitions() builds it once the day is
    -- over). Packed rows (a bulk statement's entries, sorted by key hash) are
    -- found by the range of their hashes (GiST over key_range: one index
    -- entry per ~30 entries). Key moves and TRUNCATE entries: small partial
    -- indexes. No index on id: the latest entries are at the end of the
    -- newest partition.
    IF NOT steward._audit_key_index_deferred() THEN
        PERFORM steward._audit_create_key_index(part);
    END IF;
    EXECUTE pg_catalog.format('CREATE INDEX %I ON steward.%I (old_hash) WHERE old_hash IS NOT NULL',
                              part || '_old_key', part);
    EXECUTE pg_catalog.format('CREATE INDEX %I ON steward.%I (table_id) WHERE action = ''T''',
                              part || '_truncate', part);
    EXECUTE pg_catalog.format('REVOKE ALL ON steward.%I FROM PUBLIC', part);
    -- (an empty table: ATTACH has nothing to validate)
    EXECUTE pg_catalog.format(
        'ALTER TABLE steward.audit_records ATTACH PARTITION steward.%I FOR VALUES FROM (%L) TO (%L)',
        part, (d::timestamp AT TIME ZONE 'UTC'), ((d + 1)::timestamp AT TIME ZONE 'UTC'));
    RETURN pg_catalog.format('steward.%I', part)::regclass;
END
$$;
REVOKE ALL ON FUNCTION steward._audit_partition_for(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward._audit_partition_for(date) TO PUBLIC;

-- The missing partitions of the days from_day to to_day (UTC); returns how
-- many were created. Also run by the background worker that writers start
-- when a partition they need soon is missing (src/audit/partition_worker.cpp:
-- today's, or the one 3 days ahead; it creates up to 7 days ahead), in a
-- transaction of its own: only partitions, nothing that could wait on a
-- writer's locks.
CREATE FUNCTION steward._audit_partitions_ahead(from_day date, to_day date)
RETURNS integer
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d date := from_day;
    created integer := 0;
BEGIN
    WHILE d <= to_day LOOP
        IF pg_catalog.to_regclass(pg_catalog.format('steward.%I', steward._audit_partition_name(d))) IS NULL THEN
            PERFORM steward._audit_partition_for(d);
            created := created + 1;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN created;
END
$$;

CREATE FUNCTION steward.audit_create_partitions(days_ahead integer DEFAULT 7)
RETURNS integer
LANGUAGE plpgsql STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('create audit log partitions');
    today date := (pg_catalog.now() AT TIME ZONE 'UTC')::date;
    created integer := 0;
BEGIN
    IF days_ahead < 0 OR days_ahead > 366 THEN
        RAISE EXCEPTION 'days_ahead must be between 0 and 366'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The value given was %s.', days_ahead);
    END IF;
    created := steward._audit_partitions_ahead(today, today + days_ahead);
    -- Key indexes deferred (steward.audit_key_index) on days that are over.
    PERFORM steward._audit_create_key_index(c.relname)
       FROM pg_catalog.pg_inherits inh JOIN pg_catalog.pg_class c ON c.oid = inh.inhrelid
      WHERE inh.inhparent = 'steward.audit_records'::regclass
        AND c.relname ~ '^audit_records_p[0-9]{8}$'
        AND c.relname < steward._audit_partition_name(today)
        AND pg_catalog.to_regclass(pg_catalog.format('steward.%I', c.relname || '_key')) IS NULL;
    RETURN created;
END
$$;
COMMENT ON FUNCTION steward.audit_create_partitions(integer) IS
'Creates the audit log partitions of today and the next days_ahead days (UTC), and deferred key indexes of past days; returns how many partitions were new';
REVOKE ALL ON FUNCTION steward.audit_create_partitions(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward.audit_create_partitions(integer) TO PUBLIC;

CREATE FUNCTION steward.purge_audit(older_than interval)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('purge the audit log');
    cutoff timestamptz;
    p record;
    dropped integer := 0;
BEGIN
    IF older_than IS NULL THEN
        RAISE EXCEPTION 'older_than must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must not be negative'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The value given was %s.', older_than);
    END IF;
    cutoff := pg_catalog.now() - older_than;
    -- Only whole partitions whose every row is older than the cutoff.
    FOR p IN
        SELECT c.oid::regclass AS part
          FROM pg_catalog.pg_inherits i
          JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'steward.audit_records'::regclass
           AND c.relname ~ '^audit_records_p[0-9]{8}$'
           AND (pg_catalog.to_date(pg_catalog.substr(c.relname, 16), 'YYYYMMDD') + 1)::timestamp
               AT TIME ZONE 'UTC' <= cutoff
         ORDER BY c.relname
    LOOP
        EXECUTE pg_catalog.format('DROP TABLE %s', p.part);
        dropped := dropped + 1;
    END LOOP;
    -- a scheduled moment: keep partitions a week ahead too
    PERFORM steward._audit_partitions_ahead((pg_catalog.now() AT TIME ZONE 'UTC')::date,
                                            (pg_catalog.now() AT TIME ZONE 'UTC')::date + 7);
    RETURN dropped;
END
$$;
COMMENT ON FUNCTION steward.purge_audit(interval) IS
'Drops the audit log partitions whose rows are all older than now() - older_than; returns how many';
REVOKE ALL ON FUNCTION steward.purge_audit(interval) FROM PUBLIC;

-- The key columns of a table: its primary key, else its replica identity
-- index; NULL when it has neither.
CREATE FUNCTION steward._audit_key_columns(tbl regclass)
RETURNS name[]
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.array_agg(a.attname ORDER BY k.ord)
      FROM (SELECT i.indexrelid, i.indkey FROM pg_catalog.pg_index i
             WHERE i.indrelid = tbl AND (i.indisprimary OR i.indisreplident)
             ORDER BY i.indisprimary DESC LIMIT 1) ix
      CROSS JOIN LATERAL pg_catalog.unnest(ix.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
      JOIN pg_catalog.pg_attribute a ON a.attrelid = tbl AND a.attnum = k.attnum
$$;

-- How images store a type: built-in types whose binary form holds no oids
-- are stored as they are (their base type for domains); everything else
-- (enums, composites, user types, reg* and arrays of those) as text, which
-- survives pg_dump/pg_restore.
CREATE FUNCTION steward._audit_storage_type(typ regtype)
RETURNS regtype
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN b.oid < 10000 AND b.typtype IN ('b', 'r', 'm')
             AND b.typcategory NOT IN ('C', 'P')
             AND b.oid NOT IN ('regclass'::regtype, 'regtype'::regtype, 'regproc'::regtype,
                               'regprocedure'::regtype, 'regoper'::regtype,
                               'regoperator'::regtype, 'regconfig'::regtype,
                               'regdictionary'::regtype, 'regnamespace'::regtype,
                               'regrole'::regtype, 'regcollation'::regtype,
                               'aclitem'::regtype, 'pg_node_tree'::regtype)
             AND (b.typelem = 0 OR e.oid < 10000 AND e.typtype IN ('b', 'r', 'm')
                  AND e.typcategory NOT IN ('C', 'P')
                  AND e.oid NOT IN ('regclass'::regtype, 'regtype'::regtype,
                                    'regproc'::regtype, 'regprocedure'::regtype,
                                    'regoper'::regtype, 'regoperator'::regtype,
                                    'regconfig'::regtype, 'regdictionary'::regtype,
                                    'regnamespace'::regtype, 'regrole'::regtype,
                                    'regcollation'::regtype, 'aclitem'::regtype))
        THEN b.oid::regtype ELSE 'text'::regtype END
      FROM pg_catalog.pg_type b
      LEFT JOIN pg_catalog.pg_type e ON e.oid = b.typelem
     WHERE b.oid = steward._base_type(typ)
$$;

-- Called by the trigger (once per backend and table shape): the version of
-- the audited table, created when the table's shape changed, and what the
-- trigger on relid needs (attnums: relid's attribute numbers of the
-- version's columns; audited: the audited table).
CREATE FUNCTION steward._audit_prepare(relid oid,
    OUT table_id integer, OUT version_id integer, OUT full_row boolean,
    OUT log_noop boolean, OUT log_statement boolean, OUT attnums int2[],
    OUT storage oid[], OUT redacted boolean[], OUT key_positions int2[],
    OUT soft_delete_position int2, OUT audited oid, OUT stamp_position int2)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    -- Statement triggers fire on the table named in the statement (a
    -- partitioned table's on itself, with its partitions' rows in its own
    -- row format; a partition's, when a statement names the partition). The
    -- audited table is relid itself or, for a partition, the topmost audited
    -- table it belongs to: writes to a partition are recorded under it.
    root regclass;
    cfg steward.audit_tables;
    last steward.audit_versions;
    cur record;
    key name[];
    sd name;
    renamed_excluded name[];
    renamed_redacted name[];
BEGIN
    IF (SELECT c.relispartition FROM pg_catalog.pg_class c WHERE c.oid = relid) THEN
        SELECT t.* INTO cfg
          FROM pg_catalog.pg_partition_ancestors(relid) WITH ORDINALITY a(rel, depth)
          JOIN steward.audit_tables t ON t.tbl = a.rel AND t.enabled
         ORDER BY a.depth DESC LIMIT 1;
    ELSE
        SELECT * INTO cfg FROM steward.audit_tables t WHERE t.tbl = relid AND t.enabled;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table "%" is not audited', relid::regclass::text
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Trigger steward.audit_trigger() fired on a table not enabled with steward.enable_audit().',
                  HINT = 'Use steward.enable_audit() to audit a table, or drop the trigger.';
    END IF;
    root := cfg.tbl;
    SELECT * INTO last FROM steward.audit_versions v
     WHERE v.table_id = cfg.table_id ORDER BY v.version_id DESC LIMIT 1;
    -- A column renamed since the last version keeps its exclusion/redaction
    -- (matched by attnum; only within the same table, not across a restore).
    -- Updated only when a name changed: the row is shared by all writers.
    IF last.relid = root THEN
        SELECT (SELECT COALESCE(pg_catalog.array_agg(COALESCE(a.attname, x.n) ORDER BY x.o), '{}')
                  FROM pg_catalog.unnest(cfg.excluded) WITH ORDINALITY x(n, o)
                  LEFT JOIN pg_catalog.pg_attribute a
                    ON a.attrelid = root AND NOT a.attisdropped
                   AND a.attnum = last.attnums[pg_catalog.array_position(last.columns, x.n::text)]),
               (SELECT COALESCE(pg_catalog.array_agg(COALESCE(a.attname, x.n) ORDER BY x.o), '{}')
                  FROM pg_catalog.unnest(cfg.redacted) WITH ORDINALITY x(n, o)
                  LEFT JOIN pg_catalog.pg_attribute a
                    ON a.attrelid = root AND NOT a.attisdropped
                   AND a.attnum = last.attnums[pg_catalog.array_position(last.columns, x.n::text)])
          INTO renamed_excluded, renamed_redacted;
        IF renamed_excluded IS DISTINCT FROM cfg.excluded OR renamed_redacted IS DISTINCT FROM cfg.redacted THEN
            UPDATE steward.audit_tables t SET excluded = renamed_excluded, redacted = renamed_redacted
             WHERE t.table_id = cfg.table_id
            RETURNING * INTO cfg;
        END IF;
    END IF;
    key := steward._audit_key_columns(root);
    IF key IS NULL THEN
        RAISE EXCEPTION 'table "%" has no primary key or replica identity index', root::text
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add a primary key, or ALTER TABLE ... REPLICA IDENTITY USING INDEX a unique index on NOT NULL columns.';
    END IF;
    SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) AS columns,
           pg_catalog.array_agg(a.attnum ORDER BY a.attnum) AS attnums,
           pg_catalog.array_agg(a.atttypid::regtype ORDER BY a.attnum) AS types,
           pg_catalog.array_agg(CASE WHEN a.attname = ANY (cfg.redacted) THEN 'text'::regtype
                                     ELSE steward._audit_storage_type(a.atttypid) END
                                ORDER BY a.attnum) AS storage,
           pg_catalog.array_agg(a.attname = ANY (cfg.redacted) ORDER BY a.attnum) AS redacted
      INTO cur
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = root AND a.attnum > 0 AND NOT a.attisdropped
       AND NOT a.attname = ANY (cfg.excluded);
    IF last.version_id IS NULL OR last.relid <> root
       OR last.schema_name <> (SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = root)
       OR last.table_name <> (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = root)
       OR last.columns <> cur.columns OR last.attnums <> cur.attnums
       OR last.types::oid[] <> cur.types::oid[] OR last.storage::oid[] <> cur.storage::oid[]
       OR last.redacted <> cur.redacted
       OR last.key_positions <> (SELECT pg_catalog.array_agg(pg_catalog.array_position(cur.columns, k::text)::int2)
                                   FROM pg_catalog.unnest(key) k) THEN
        INSERT INTO steward.audit_versions AS v (table_id, relid, schema_name, table_name, columns,
                                                 attnums, types, storage, redacted, key_positions)
        SELECT cfg.table_id, root, n.nspname, c.relname, cur.columns, cur.attnums, cur.types,
               cur.storage, cur.redacted,
               (SELECT pg_catalog.array_agg(pg_catalog.array_position(cur.columns, k::text)::int2)
                  FROM pg_catalog.unnest(key) k)
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid = root
        RETURNING * INTO last;
        UPDATE steward.audit_tables t SET schema_name = last.schema_name, table_name = last.table_name
         WHERE t.table_id = cfg.table_id
           AND (t.schema_name, t.table_name) IS DISTINCT FROM (last.schema_name, last.table_name);
    END IF;
    table_id := cfg.table_id;
    version_id := last.version_id;
    full_row := cfg.full_row;
    log_noop := cfg.log_noop;
    log_statement := cfg.log_statement;
    key_positions := last.key_positions;
    redacted := last.redacted;
    storage := last.storage::oid[];
    -- the version's columns in relid (a partition may number them differently)
    SELECT pg_catalog.array_agg(a.attnum ORDER BY c.ord) INTO attnums
      FROM pg_catalog.unnest(last.columns) WITH ORDINALITY c(name, ord)
      JOIN pg_catalog.pg_attribute a ON a.attrelid = relid AND a.attname = c.name AND NOT a.attisdropped;
    SELECT steward._trigger_first_arg(t.oid, '') INTO sd
      FROM pg_catalog.pg_trigger t WHERE t.tgrelid = relid AND t.tgname = 'steward_soft_delete';
    soft_delete_position := COALESCE(pg_catalog.array_position(last.columns, sd::text), 0);
    -- The column track_updated_at() stamps on relid: an UPDATE whose only
    -- audited change is that stamp is a no-op for the log (the stamp moved
    -- because the row was written, not because a value changed).
    SELECT steward._trigger_first_arg(t.oid, 'updated_at') INTO sd
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid = relid AND t.tgname = steward._updated_at_trigger_name() AND t.tgenabled <> 'D';
    stamp_position := COALESCE(pg_catalog.array_position(last.columns, sd::text), 0);
    audited := root;
END
$$;
REVOKE ALL ON FUNCTION steward._audit_prepare(oid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward._audit_prepare(oid) TO PUBLIC;

CREATE FUNCTION steward.audit_trigger()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'steward_audit_trigger';
COMMENT ON FUNCTION steward.audit_trigger() IS
'AFTER ... FOR EACH STATEMENT triggers with transition tables (INSERT, UPDATE, DELETE) and a BEFORE TRUNCATE statement trigger that write the audit log; installed by steward.enable_audit() on the table and its partitions';

-- The triggers steward.enable_audit() creates.
CREATE FUNCTION steward._audit_trigger_names()
RETURNS name[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT '{steward_audit_insert,steward_audit_update,steward_audit_delete,steward_audit_truncate}'::name[] $$;

-- How many of the audit triggers of rel are in place, as enable_audit()
-- creates them (name, kind, function); only enabled ones when only_enabled.
CREATE FUNCTION steward._audit_trigger_count(rel regclass, only_enabled boolean)
RETURNS integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.count(*)::integer FROM pg_catalog.pg_trigger g
     WHERE g.tgrelid = rel AND g.tgfoid = 'steward.audit_trigger()'::regprocedure
       AND (g.tgname, g.tgtype) IN (('steward_audit_insert', 4), ('steward_audit_update', 16),
                                    ('steward_audit_delete', 8), ('steward_audit_truncate', 34))
       AND (NOT only_enabled OR g.tgenabled <> 'D')
$$;

-- Does every table of tbl's partition tree (tbl itself and its partitions,
-- foreign ones aside) carry its four enabled audit triggers?
CREATE FUNCTION steward._audit_triggers_ok(tbl regclass)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE(pg_catalog.bool_and(steward._audit_trigger_count(p.relid, true) = 4), false)
      FROM (SELECT tbl AS relid UNION SELECT t.relid FROM pg_catalog.pg_partition_tree(tbl) t) p
      JOIN pg_catalog.pg_class c ON c.oid = p.relid
     WHERE c.relkind IN ('r', 'p')
$$;

-- Drop the audit triggers of tbl (and so their clones on its partitions);
-- true when there were any.
CREATE FUNCTION steward._audit_drop_triggers(tbl regclass)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    trigger_name name;
    found_any boolean := false;
BEGIN
    FOR trigger_name IN
        SELECT t.tgname FROM pg_catalog.pg_trigger t
         WHERE t.tgrelid = tbl AND t.tgname = ANY (steward._audit_trigger_names())
           AND t.tgfoid = 'steward.audit_trigger()'::regprocedure AND t.tgparentid = 0
    LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', trigger_name, tbl);
        found_any := true;
    END LOOP;
    RETURN found_any;
END
$$;

-- Copy a partitioned table's audit trigger to its partition part (C): a
-- clone, as PostgreSQL makes of row triggers (tgparentid is the parent's
-- trigger; pg_dump leaves clones out, DETACH PARTITION and DROP TRIGGER on
-- the parent remove them, the partition's owner cannot drop it alone).
CREATE FUNCTION steward._audit_clone_trigger(parent_trigger oid, part regclass)
RETURNS void
LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'steward_audit_clone_trigger';
REVOKE ALL ON FUNCTION steward._audit_clone_trigger(oid, regclass) FROM PUBLIC;

-- Give every partition of the audited table tbl, at any depth, tbl's audit
-- triggers: statement triggers are not inherited, and a statement that
-- names a partition fires only the partition's own. Writes through them are
-- recorded under tbl (steward._audit_prepare). Called by enable_audit() and
-- after CREATE TABLE ... PARTITION OF, ATTACH PARTITION and CREATE TRIGGER
-- (steward._audit_on_ddl, which also covers pg_restore: clones are not
-- dumped, and are made again when the restore creates the parent's
-- triggers). Callable by anyone: it only ever makes an audited table's
-- partitions carry its triggers.
CREATE FUNCTION steward._audit_sync_partitions(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part record;
    parent_trigger record;
    existing record;
BEGIN
    IF NOT EXISTS (SELECT FROM steward.audit_tables t WHERE t.tbl = _audit_sync_partitions.tbl AND t.enabled) THEN
        RETURN;
    END IF;
    FOR part IN
        SELECT p.relid, p.parentrelid FROM pg_catalog.pg_partition_tree(tbl) p
          JOIN pg_catalog.pg_class c ON c.oid = p.relid
         WHERE p.level > 0 AND c.relkind IN ('r', 'p')   -- foreign tables take no transition tables
         ORDER BY p.level
    LOOP
        -- Audited on its own before it became a partition: tbl's auditing
        -- takes over (its history stays under its own table_id).
        IF EXISTS (SELECT FROM steward.audit_tables t WHERE t.tbl = part.relid AND t.enabled) THEN
            PERFORM steward._audit_drop_triggers(part.relid);
            UPDATE steward.audit_tables t SET enabled = false WHERE t.tbl = part.relid;
        END IF;
        FOR parent_trigger IN
            SELECT g.oid, g.tgname FROM pg_catalog.pg_trigger g
             WHERE g.tgrelid = part.parentrelid AND g.tgname = ANY (steward._audit_trigger_names())
               AND g.tgfoid = 'steward.audit_trigger()'::regprocedure
        LOOP
            SELECT g.oid, g.tgparentid, g.tgfoid INTO existing FROM pg_catalog.pg_trigger g
             WHERE g.tgrelid = part.relid AND g.tgname = parent_trigger.tgname;
            CONTINUE WHEN existing.tgparentid = parent_trigger.oid;
            IF existing.oid IS NOT NULL THEN
                IF existing.tgfoid <> 'steward.audit_trigger()'::regprocedure THEN
                    RAISE EXCEPTION 'cannot audit partition "%" of "%"', part.relid::regclass, tbl
                        USING ERRCODE = 'duplicate_object',
                              DETAIL = pg_catalog.format('The partition has a trigger named "%s" of its own.',
                                                         parent_trigger.tgname),
                              HINT = 'Rename or drop that trigger.';
                END IF;
                -- ours, but not a copy of the parent's (left from before)
                EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', parent_trigger.tgname, part.relid::regclass);
            END IF;
            PERFORM steward._audit_clone_trigger(parent_trigger.oid, part.relid);
        END LOOP;
    END LOOP;
END
$$;

CREATE FUNCTION steward.enable_audit(tbl regclass,
    full_row boolean DEFAULT NULL, log_noop boolean DEFAULT NULL,
    log_statement boolean DEFAULT NULL, excluded name[] DEFAULT NULL,
    redacted name[] DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('enable auditing');
    cfg steward.audit_tables;
    key name[];
    changed boolean := false;
BEGIN
    PERFORM steward._check_trigger_target(tbl, 'auditing');
    IF tbl = 'steward.audit_records'::regclass OR tbl IN (
           SELECT i.inhrelid FROM pg_catalog.pg_inherits i
            WHERE i.inhparent = 'steward.audit_records'::regclass)
       OR (SELECT c.relnamespace FROM pg_catalog.pg_class c WHERE c.oid = tbl) = 'steward'::regnamespace THEN
        RAISE EXCEPTION 'cannot enable auditing on "%"', steward._relation_name(tbl)
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Tables of pg_steward itself cannot be audited.';
    END IF;
    -- A temporary table goes at the end of its session without any event
    -- trigger seeing it: its row would name a table that is gone.
    IF (SELECT c.relpersistence FROM pg_catalog.pg_class c WHERE c.oid = tbl) = 't' THEN
        RAISE EXCEPTION 'cannot enable auditing on temporary table "%"', steward._relation_name(tbl)
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Temporary tables are dropped at the end of the session without notice to pg_steward.',
                  HINT = 'Audit a permanent or unlogged table.';
    END IF;
    IF COALESCE(pg_catalog.pg_partition_root(tbl), tbl) <> tbl THEN
        RAISE EXCEPTION 'cannot enable auditing on partition "%"', steward._relation_name(tbl)
            USING ERRCODE = 'wrong_object_type',
                  HINT = pg_catalog.format('Enable it on the partitioned table %s.', pg_catalog.pg_partition_root(tbl));
    END IF;
    key := steward._audit_key_columns(tbl);
    IF key IS NULL THEN
        RAISE EXCEPTION 'table "%" has no primary key or replica identity index', steward._relation_name(tbl)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The audit log identifies each record by its key.',
                  HINT = 'Add a primary key, or ALTER TABLE ... REPLICA IDENTITY USING INDEX a unique index on NOT NULL columns.';
    END IF;
    PERFORM steward._audit_check_columns(tbl, COALESCE(excluded, '{}') || COALESCE(redacted, '{}'));
    IF excluded && redacted THEN
        RAISE EXCEPTION 'a column cannot be both excluded and redacted'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- (the guard trigger stamps changed_at/changed_by; a change of the row
    -- drops every backend's cached options of the table and its partitions)
    SELECT * INTO cfg FROM steward.audit_tables t WHERE t.tbl = enable_audit.tbl;
    IF NOT FOUND THEN
        INSERT INTO steward.audit_tables AS t (tbl, schema_name, table_name, full_row, log_noop,
                                               log_statement, excluded, redacted)
        SELECT enable_audit.tbl, n.nspname, c.relname,
               COALESCE(enable_audit.full_row, false),
               COALESCE(enable_audit.log_noop, false),
               COALESCE(enable_audit.log_statement, false),
               COALESCE(enable_audit.excluded, '{}'),
               COALESCE(enable_audit.redacted, '{}')
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid = enable_audit.tbl;
        changed := true;
    ELSE
        UPDATE steward.audit_tables t
           SET enabled = true,
               full_row = COALESCE(enable_audit.full_row, t.full_row),
               log_noop = COALESCE(enable_audit.log_noop, t.log_noop),
               log_statement = COALESCE(enable_audit.log_statement, t.log_statement),
               excluded = COALESCE(enable_audit.excluded, t.excluded),
               redacted = COALESCE(enable_audit.redacted, t.redacted)
         WHERE t.table_id = cfg.table_id
           AND (t.enabled, t.full_row, t.log_noop, t.log_statement, t.excluded, t.redacted)
               IS DISTINCT FROM
               (true, COALESCE(enable_audit.full_row, t.full_row),
                COALESCE(enable_audit.log_noop, t.log_noop),
                COALESCE(enable_audit.log_statement, t.log_statement),
                COALESCE(enable_audit.excluded, t.excluded),
                COALESCE(enable_audit.redacted, t.redacted));
        changed := FOUND;
    END IF;

    IF steward._audit_trigger_count(tbl, false) <> 4 THEN
        PERFORM steward._audit_drop_triggers(tbl);
        EXECUTE pg_catalog.format('CREATE TRIGGER steward_audit_insert AFTER INSERT ON %s '
                                  'REFERENCING NEW TABLE AS steward_new '
                                  'FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_trigger()', tbl);
        EXECUTE pg_catalog.format('CREATE TRIGGER steward_audit_update AFTER UPDATE ON %s '
                                  'REFERENCING OLD TABLE AS steward_old NEW TABLE AS steward_new '
                                  'FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_trigger()', tbl);
        EXECUTE pg_catalog.format('CREATE TRIGGER steward_audit_delete AFTER DELETE ON %s '
                                  'REFERENCING OLD TABLE AS steward_old '
                                  'FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_trigger()', tbl);
        -- BEFORE: a partition's TRUNCATE logs the rows it removes
        EXECUTE pg_catalog.format('CREATE TRIGGER steward_audit_truncate BEFORE TRUNCATE ON %s '
                                  'FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_trigger()', tbl);
        changed := true;
    END IF;
    PERFORM steward._audit_sync_partitions(tbl);
    PERFORM steward.audit_create_partitions(7);
    -- Record the table's shape now (a new version if it changed), so that
    -- each session's first write finds it current (the trigger's one-query
    -- fast path) instead of recording it.
    PERFORM steward._audit_prepare(tbl);
    RETURN changed;
END
$$;
COMMENT ON FUNCTION steward.enable_audit(regclass, boolean, boolean, boolean, name[], name[]) IS
'Audits a table (idempotent; NULL options keep their current value); returns false when nothing changed';

CREATE FUNCTION steward.disable_audit(tbl regclass)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('disable auditing');
    had_trigger boolean;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    had_trigger := steward._audit_drop_triggers(tbl);   -- and their clones on partitions
    UPDATE steward.audit_tables t SET enabled = false
     WHERE t.tbl = disable_audit.tbl AND t.enabled;
    RETURN FOUND OR COALESCE(had_trigger, false);
END
$$;
COMMENT ON FUNCTION steward.disable_audit(regclass) IS
'Stops auditing a table (its history stays); returns false when it was not audited';

CREATE VIEW steward.audited_tables AS
SELECT t.tbl AS table_name, t.schema_name, t.table_name AS relation_name, t.full_row,
       t.log_noop, t.log_statement, t.excluded, t.redacted, t.changed_at, t.changed_by,
       steward._audit_triggers_ok(t.tbl) AS trigger_enabled
  FROM steward.audit_tables t
 WHERE t.enabled AND t.tbl IS NOT NULL;
COMMENT ON VIEW steward.audited_tables IS 'Tables pg_steward audits, with their options';
GRANT SELECT ON steward.audited_tables TO PUBLIC;

-- A dropped audited table keeps its history: its row in audit_tables stays
-- (tbl becomes NULL, dropped_at is set). Whatever the command: DROP TABLE,
-- DROP SCHEMA/OWNED ... CASCADE, DROP TYPE ... CASCADE of a typed table's
-- type, DROP EXTENSION of an extension owning it, ...
CREATE FUNCTION steward._audit_on_drop()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE steward.audit_tables t SET tbl = NULL, enabled = false, dropped_at = pg_catalog.now()
      FROM pg_catalog.pg_event_trigger_dropped_objects() d
     WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
       AND d.objid = t.tbl::oid;
END
$$;
CREATE EVENT TRIGGER steward_audit_on_drop ON sql_drop
    EXECUTE FUNCTION steward._audit_on_drop();

-- Partitions created or attached later get the audit triggers (see
-- steward._audit_sync_partitions), and so do the partitions of a restored
-- audited table once the restore creates its triggers.
CREATE FUNCTION steward._audit_on_ddl()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    root regclass;
BEGIN
    IF NOT EXISTS (SELECT FROM steward.audit_tables t WHERE t.enabled) THEN
        RETURN;
    END IF;
    FOR root IN
        SELECT DISTINCT t.tbl
          FROM pg_catalog.pg_event_trigger_ddl_commands() d
          CROSS JOIN LATERAL (SELECT CASE d.classid
                   WHEN 'pg_catalog.pg_trigger'::regclass
                       THEN (SELECT g.tgrelid FROM pg_catalog.pg_trigger g WHERE g.oid = d.objid)
                   WHEN 'pg_catalog.pg_class'::regclass THEN d.objid END AS relid) r
          CROSS JOIN LATERAL pg_catalog.pg_partition_ancestors(r.relid) a
          JOIN steward.audit_tables t ON t.tbl = a.relid AND t.enabled
         WHERE r.relid IS NOT NULL
    LOOP
        PERFORM steward._audit_sync_partitions(root);
    END LOOP;
END
$$;
CREATE EVENT TRIGGER steward_audit_on_ddl ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE TRIGGER')
    EXECUTE FUNCTION steward._audit_on_ddl();

-- Decode a stored image into jsonb (only the given positions, or all
-- stored ones when NULL).
CREATE FUNCTION steward._audit_decode(version_id integer, image bytea, positions int2[])
RETURNS jsonb
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'steward_audit_decode';
-- Only the log's readers need it (the views call it with their privileges).
REVOKE ALL ON FUNCTION steward._audit_decode(integer, bytea, int2[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward._audit_decode(integer, bytea, int2[]) TO steward_auditor, steward_monitor, pg_monitor;

CREATE FUNCTION steward._audit_action_name(action "char")
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT CASE action WHEN 'I' THEN 'INSERT' WHEN 'U' THEN 'UPDATE' WHEN 'D' THEN 'DELETE'
                         WHEN 'T' THEN 'TRUNCATE' WHEN 'S' THEN 'SOFT_DELETE'
                         WHEN 'R' THEN 'RESTORE' END $$;

-- Packed entries ------------------------------------------------------------
-- A bulk statement's entries (16 rows or more, no key moves) are packed:
-- sorted by key hash, ~30 to a log row (below 8 kB), whose key_range covers
-- their hashes as points of steward._audit_key_point() (the table id, then
-- the hash's upper 32 bits), and whose hashes lists them. One record's
-- entries are found by the hash index on row_hash (single entries) or the
-- GiST index on key_range and then hashes (packed ones).
CREATE FUNCTION steward._audit_key_point(table_id integer, hash bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT (table_id::bigint OPERATOR(pg_catalog.<<) 32)
             OPERATOR(pg_catalog.|) ((hash OPERATOR(pg_catalog.>>) 32) OPERATOR(pg_catalog.&) 4294967295) $$;

-- How many entries a log row holds.
CREATE FUNCTION steward._audit_entry_count(hashes bigint[], entries bytea)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN entries IS NULL THEN 1 ELSE pg_catalog.cardinality(hashes) END $$;

-- The entries of a log row: the row itself, or its packed entries.
CREATE FUNCTION steward._audit_entries(id bigint, row_hash bigint, old_hash bigint, stored int2[],
                                       changed int2[], old_image bytea, new_image bytea, entries bytea)
RETURNS TABLE(id bigint, row_hash bigint, old_hash bigint, stored int2[], changed int2[],
              old_image bytea, new_image bytea)
LANGUAGE c IMMUTABLE PARALLEL SAFE ROWS 1
AS 'MODULE_PATHNAME', 'steward_audit_entries';

-- The log's entries decoded, all of them (tid and hash NULL) or one
-- record's (key hash `hash` of table tid, found through the key indexes).
-- LANGUAGE sql without SET or SECURITY DEFINER, so that it is inlined into
-- the query calling it and the planner sees its conditions.
CREATE FUNCTION steward._audit_log_rows(tid integer, hash bigint)
RETURNS TABLE(id bigint, logged_at timestamptz, txid xid8, action text, table_id integer,
              table_oid oid, schema_name text, table_name text, row_key jsonb, old_row_key jsonb,
              old_values jsonb, new_values jsonb, changed_columns text[], actor text, context jsonb,
              role_name text, session_role text, application_name text, client_addr inet,
              statement text, version_id integer, row_hash bigint, old_hash bigint)
LANGUAGE sql STABLE
AS $$
SELECT e.id, r.logged_at, r.txid, steward._audit_action_name(r.action),
       r.table_id, v.relid, v.schema_name, v.table_name,
       steward._audit_decode(r.version_id, COALESCE(e.new_image, e.old_image), v.key_positions),
       CASE WHEN e.old_hash IS NOT NULL
            THEN steward._audit_decode(r.version_id, e.old_image, v.key_positions) END,
       steward._audit_decode(r.version_id, e.old_image, e.stored),
       steward._audit_decode(r.version_id, e.new_image, e.stored),
       (SELECT pg_catalog.array_agg(v.columns[c] ORDER BY c) FROM pg_catalog.unnest(e.changed) c),
       r.actor, r.context, r.role_name, r.session_role, r.application_name, r.client_addr,
       r.statement, r.version_id, e.row_hash, e.old_hash
  FROM steward.audit_records r
  CROSS JOIN LATERAL steward._audit_entries(r.id, r.row_hash, r.old_hash, r.stored, r.changed,
                                            r.old_image, r.new_image, r.entries) e
  JOIN steward.audit_versions v ON v.version_id = r.version_id
 WHERE hash IS NULL
    OR (r.table_id OPERATOR(pg_catalog.=) tid
        AND (r.row_hash OPERATOR(pg_catalog.=) hash OR r.old_hash OPERATOR(pg_catalog.=) hash
             OR (r.key_range OPERATOR(pg_catalog.@>) steward._audit_key_point(tid, hash)
                 AND hash OPERATOR(pg_catalog.=) ANY (r.hashes)))
        AND (e.row_hash OPERATOR(pg_catalog.=) hash OR e.old_hash OPERATOR(pg_catalog.=) hash))
$$;
REVOKE ALL ON FUNCTION steward._audit_log_rows(integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward._audit_log_rows(integer, bigint) TO steward_auditor;

CREATE VIEW steward.audit_log AS
SELECT * FROM steward._audit_log_rows(NULL, NULL);
COMMENT ON VIEW steward.audit_log IS 'The audit log, row images decoded to jsonb';
REVOKE ALL ON steward.audit_log FROM PUBLIC;
GRANT SELECT ON steward.audit_log TO steward_auditor;
GRANT SELECT ON steward.audit_versions TO steward_auditor;
GRANT SELECT ON steward.audit_tables TO steward_auditor;

-- The hash (row_hash in steward.audit_records) of a record of tbl, for
-- queries on the log by key: WHERE row_hash = steward.audit_key_hash('t', 42).
CREATE FUNCTION steward.audit_key_hash(tbl regclass, VARIADIC key "any")
RETURNS bigint
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'steward_audit_key_hash';

-- One record's changes in order. Key values in the key's column order.
CREATE FUNCTION steward.history(tbl regclass, VARIADIC key "any")
RETURNS SETOF steward.audit_log
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'steward_audit_history';
COMMENT ON FUNCTION steward.history(regclass, "any") IS
'The audit log of one record (key values in key column order), oldest first';

-- Fold one log entry into a row state (jsonb, NULL = absent).
CREATE FUNCTION steward._audit_apply(state jsonb, action text, new_values jsonb)
RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN action IN ('DELETE', 'TRUNCATE') THEN NULL
                  WHEN action = 'INSERT' THEN new_values
                  ELSE COALESCE(state, '{}'::jsonb) OPERATOR(pg_catalog.||) new_values END $$;

-- A row state (jsonb) of version from_v reshaped to version to_v: renamed
-- columns follow (same attnum of the same table), dropped ones go.
CREATE FUNCTION steward._audit_reshape(state jsonb, from_v integer, to_v integer)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN state IS NULL OR from_v = to_v THEN state ELSE (
        SELECT COALESCE(pg_catalog.jsonb_object_agg(t.col, state OPERATOR(pg_catalog.->) f.col), '{}')
          FROM steward.audit_versions fv
          CROSS JOIN steward.audit_versions tv
          CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(fv.columns), pg_catalog.unnest(fv.attnums)) f(col, att)
          JOIN LATERAL ROWS FROM (pg_catalog.unnest(tv.columns), pg_catalog.unnest(tv.attnums)) t(col, att)
            ON CASE WHEN fv.relid = tv.relid THEN t.att = f.att ELSE t.col = f.col END
         WHERE fv.version_id = from_v AND tv.version_id = to_v
           AND state OPERATOR(pg_catalog.?) f.col) END
$$;

-- The state of the record with key hash `hash` as of `at` (and before
-- entry before_id), in the shape of version to_version (default: the
-- table's latest version at `at`). The log knows when each transaction
-- started (logged_at), not when it committed, and a record's entries are in
-- the order of its changes (a second writer of a row waits for the first
-- one's commit). So the entries are applied in that order for as long as
-- their transactions started at or before `at`; the first one that started
-- later ends it (cut), even if entries after it started earlier: they were
-- made on top of it. The result is always a state the record had: the
-- latest one that may have been committed at `at`.
CREATE FUNCTION steward._row_as_of(tbl regclass, hash bigint, at timestamptz,
                                   before_id bigint DEFAULT NULL, to_version integer DEFAULT NULL,
                                   OUT state jsonb, OUT cut boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    state_version integer;
    e record;
    moved record;
    tid integer := (SELECT t.table_id FROM steward.audit_tables t WHERE t.tbl = _row_as_of.tbl);
BEGIN
    cut := false;
    FOR e IN
        SELECT x.id, r.logged_at, r.version_id, x.row_hash = hash AS here, x.old_hash,
               steward._audit_action_name(r.action) AS action,
               steward._audit_decode(r.version_id, x.new_image, x.stored) AS new_values
          FROM steward.audit_records r
         CROSS JOIN LATERAL steward._audit_entries(r.id, r.row_hash, r.old_hash, r.stored, r.changed,
                                                   r.old_image, r.new_image, r.entries) x
         WHERE (r.row_hash = hash OR r.old_hash = hash
                OR (r.key_range @> steward._audit_key_point(tid, hash) AND hash = ANY (r.hashes))
                OR (r.table_id = tid AND r.action = 'T' AND r.row_hash IS NULL AND r.entries IS NULL))
           AND r.table_id = tid
           AND (x.row_hash = hash OR x.old_hash = hash OR x.row_hash IS NULL)
           AND (before_id IS NULL OR x.id < before_id)
         ORDER BY x.id
    LOOP
        IF e.logged_at > at THEN
            cut := true;
            EXIT;
        END IF;
        state := steward._audit_reshape(state, state_version, e.version_id);
        IF e.action <> 'TRUNCATE' AND NOT e.here THEN
            state := NULL;                      -- the record moved to another key
        ELSIF e.old_hash IS NOT NULL THEN      -- it moved here: start from its old state
            moved := steward._row_as_of(tbl, e.old_hash, at, e.id, e.version_id);
            IF moved.cut THEN                  -- its past ended before the move
                cut := true;
                EXIT;
            END IF;
            state := steward._audit_apply(moved.state, e.action, e.new_values);
        ELSE
            state := steward._audit_apply(state, e.action, e.new_values);
        END IF;
        state_version := e.version_id;
    END LOOP;
    IF to_version IS NULL THEN
        SELECT v.version_id INTO to_version FROM steward.audit_versions v
         WHERE v.table_id = tid AND v.created_at <= at ORDER BY v.version_id DESC LIMIT 1;
    END IF;
    state := steward._audit_reshape(state, state_version, COALESCE(to_version, state_version));
END
$$;

CREATE FUNCTION steward.row_as_of(tbl regclass, VARIADIC key_and_time "any")
RETURNS jsonb
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'steward_audit_row_as_of';
COMMENT ON FUNCTION steward.row_as_of(regclass, "any") IS
'The record (key values, then a timestamptz) as it was at that time, rebuilt from the audit log; NULL when it did not exist';

REVOKE ALL ON FUNCTION steward.history(regclass, "any") FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.row_as_of(regclass, "any") FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward.history(regclass, "any") TO steward_auditor;
GRANT EXECUTE ON FUNCTION steward.row_as_of(regclass, "any") TO steward_auditor;

-- Summaries for monitoring (issue 6) -----------------------------------------

-- The latest n log entries, read from the last pages of the newest
-- partitions (TID range scans: the log is append-only, so the newest rows
-- are at the end), never a whole partition unless it is small.
CREATE FUNCTION steward._audit_recent(n integer)
RETURNS TABLE(id bigint, logged_at timestamptz, schema_name text, table_name text,
              action text, actor text, role_name text, row_key jsonb)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
    blocks bigint;
    first_block bigint;
    span bigint;
    found bigint;
    got bigint := 0;
    tail text;
BEGIN
    FOR p IN
        SELECT c.oid::regclass AS part
          FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'steward.audit_records'::regclass
           AND c.relname ~ '^audit_records_p[0-9]{8}$'
         ORDER BY c.relname DESC
    LOOP
        blocks := pg_catalog.pg_relation_size(p.part) / pg_catalog.current_setting('block_size')::integer;
        CONTINUE WHEN blocks = 0;
        span := 4;
        LOOP
            first_block := GREATEST(blocks - span, 0);
            tail := pg_catalog.format('(%s,0)', first_block);
            EXECUTE pg_catalog.format(
                'SELECT COALESCE(pg_catalog.sum(steward._audit_entry_count(r.hashes, r.entries)), 0)
                   FROM %s r WHERE r.ctid >= %L::tid', p.part, tail)
               INTO found;
            EXIT WHEN found >= n - got OR first_block = 0;
            span := span * 8;
        END LOOP;
        RETURN QUERY EXECUTE pg_catalog.format(
            'SELECT e.id, r.logged_at, v.schema_name, v.table_name, steward._audit_action_name(r.action),
                    r.actor, r.role_name,
                    steward._audit_decode(r.version_id, COALESCE(e.new_image, e.old_image), v.key_positions)
               FROM %s r
              CROSS JOIN LATERAL steward._audit_entries(r.id, r.row_hash, r.old_hash, r.stored, r.changed,
                                                        r.old_image, r.new_image, r.entries) e
               JOIN steward.audit_versions v ON v.version_id = r.version_id
              WHERE r.ctid >= %L::tid ORDER BY e.id DESC LIMIT %s', p.part, tail, n - got);
        got := got + LEAST(found, n - got);
        EXIT WHEN got >= n;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION steward._audit_recent(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward._audit_recent(integer) TO steward_monitor, pg_monitor, steward_auditor;

-- The latest changes (up to 100): table, action, actor, key.
CREATE VIEW steward.recent_activity AS
SELECT * FROM steward._audit_recent(100) ORDER BY id DESC;
COMMENT ON VIEW steward.recent_activity IS 'The latest audited changes (up to 100)';

-- Changes per table, action and hour over the last 24 hours.
CREATE VIEW steward.audit_summary AS
SELECT pg_catalog.date_trunc('hour', r.logged_at) AS hour, t.schema_name, t.table_name,
       steward._audit_action_name(r.action) AS action,
       pg_catalog.sum(steward._audit_entry_count(r.hashes, r.entries))::bigint AS changes,
       pg_catalog.count(DISTINCT r.actor) AS actors
  FROM steward.audit_records r
  JOIN steward.audit_tables t ON t.table_id = r.table_id
 WHERE r.logged_at > pg_catalog.now() - interval '24 hours'
 GROUP BY 1, 2, 3, 4;
COMMENT ON VIEW steward.audit_summary IS 'Audited changes per table, action and hour over the last 24 hours';
GRANT SELECT ON steward.recent_activity, steward.audit_summary TO steward_monitor, pg_monitor, steward_auditor;

-- Health checks read by steward.health() (issue 6): catalog lookups only.
CREATE FUNCTION steward._health_checks_audit()
RETURNS TABLE(check_name text, value numeric, warning numeric, critical numeric, status text, detail text)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH ahead AS (
        SELECT pg_catalog.count(*)::numeric AS days
          FROM pg_catalog.generate_series(0, 30) g(i)
         WHERE pg_catalog.to_regclass(pg_catalog.format('steward.%I',
                   steward._audit_partition_name((pg_catalog.now() AT TIME ZONE 'UTC')::date + g.i))) IS NOT NULL
    ), thresholds AS (
        SELECT COALESCE(NULLIF(pg_catalog.current_setting('steward.audit_partitions_ahead_warning', true), '')::numeric, 2) AS w,
               COALESCE(NULLIF(pg_catalog.current_setting('steward.audit_partitions_ahead_critical', true), '')::numeric, 1) AS c
    ), missing AS (
        SELECT pg_catalog.count(*)::numeric AS n,
               pg_catalog.string_agg(pg_catalog.format('%I.%I', t.schema_name, t.table_name), ', ' ORDER BY t.table_id) AS names
          FROM steward.audit_tables t
         WHERE t.enabled AND t.tbl IS NOT NULL AND NOT steward._audit_triggers_ok(t.tbl)
    )
    SELECT 'audit_partitions_ahead', a.days, th.w, th.c,
           CASE WHEN NOT EXISTS (SELECT FROM steward.audit_tables t WHERE t.enabled) THEN 'ok'
                WHEN a.days < th.c THEN 'critical' WHEN a.days < th.w THEN 'warning' ELSE 'ok' END,
           CASE WHEN NOT EXISTS (SELECT FROM steward.audit_tables t WHERE t.enabled)
                THEN 'No table is audited; partitions are created when auditing is enabled.'
                ELSE 'Days of audit log partitions that exist from today on (writers have them created a week ahead; or schedule steward.audit_create_partitions()).' END
      FROM ahead a, thresholds th
    UNION ALL
    SELECT 'audit_triggers_missing', m.n, 1, 1,
           CASE WHEN m.n >= 1 THEN 'critical' ELSE 'ok' END,
           CASE WHEN m.n = 0 THEN 'Every audited table has its enabled audit trigger.'
                ELSE 'Audited tables whose audit trigger (or a partition''s) is missing or disabled: ' || m.names || '.' END
      FROM missing m
$$;
REVOKE ALL ON FUNCTION steward._health_checks_audit() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION steward._health_checks_audit() TO steward_monitor, pg_monitor, steward_auditor;
-- Job queue (docs/queue.md) ---------------------------------------------------
--
-- Live jobs (waiting or running) sit in steward._job; a finished job
-- (completed, dead, cancelled) is moved in the same statement into
-- steward._job_history, partitioned by day of finishing, so retention drops
-- whole partitions instead of deleting rows. The claim (steward.dequeue) is
-- C++ (src/queue/dequeue.cpp).

CREATE SEQUENCE steward._queue_id_seq AS integer;
CREATE SEQUENCE steward._job_id_seq AS bigint;

CREATE TABLE steward._queue (
    id            integer PRIMARY KEY DEFAULT pg_catalog.nextval('steward._queue_id_seq'),
    name          text NOT NULL UNIQUE,
    max_attempts  integer NOT NULL,
    lease         interval NOT NULL,
    backoff_base  interval NOT NULL,
    backoff_max   interval NOT NULL,
    backoff_jitter double precision NOT NULL,
    retention     interval NOT NULL,
    notify        boolean NOT NULL,
    paused        boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
ALTER SEQUENCE steward._queue_id_seq OWNED BY steward._queue.id;

-- A job's state is an enum, not text with a CHECK constraint: the executor
-- reads and prepares a table's CHECK constraints again for every statement
-- that writes it, and the claim and the completion are such statements (two
-- CHECKs cost 71,000 instructions per job, a tenth of dequeue + complete).
-- An enum's values are checked where a label becomes one (at plan time for
-- the constants these statements use).
CREATE TYPE steward._job_state AS ENUM ('scheduled', 'ready', 'running');
CREATE TYPE steward._job_finished_state AS ENUM ('completed', 'dead', 'cancelled');

-- prio is minus the user's priority, so that one ascending index orders
-- "highest priority, then run_at, then FIFO" and a row comparison
-- (prio, run_at, id) >= (...) can start the scan anywhere in it.
-- lease_token: positive while a claim runs (every claim hands out a new one:
-- abs(token) + 1), zero or negative while the job waits (fail, release and
-- retry negate it). So "lease_token = $t AND $t > 0" means "the running claim
-- $t", and finishing statements need no state condition: with one, a saved
-- plan may pick the partial lease index and walk its dead entries.
CREATE TABLE steward._job (
    id               bigint PRIMARY KEY DEFAULT pg_catalog.nextval('steward._job_id_seq'),
    queue_id         integer NOT NULL REFERENCES steward._queue (id) ON DELETE CASCADE,
    state            steward._job_state NOT NULL,
    prio             integer NOT NULL,
    run_at           timestamptz NOT NULL,
    payload          jsonb NOT NULL,
    attempt          integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL,
    lease_token      integer NOT NULL DEFAULT 0,
    worker           text,
    claimed_at       timestamptz,
    lease_expires_at timestamptz,
    enqueued_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    dedup_key        text,
    errors           jsonb,
    progress         jsonb,
    log              jsonb
);
ALTER SEQUENCE steward._job_id_seq OWNED BY steward._job.id;
CREATE INDEX _job_ready ON steward._job (queue_id, prio, run_at, id) WHERE state = 'ready';
-- Jobs whose run_at is in the future wait as 'scheduled' and are moved to
-- 'ready' by dequeue when due, so the ready index holds only runnable jobs.
CREATE INDEX _job_scheduled ON steward._job (queue_id, run_at) WHERE state = 'scheduled';
CREATE INDEX _job_lease ON steward._job (queue_id, lease_expires_at) WHERE state = 'running';
CREATE UNIQUE INDEX _job_dedup ON steward._job (queue_id, dedup_key) WHERE dedup_key IS NOT NULL;

CREATE TABLE steward._job_history (
    id               bigint NOT NULL,
    queue_id         integer NOT NULL,
    state            steward._job_finished_state NOT NULL,
    priority         integer NOT NULL,
    run_at           timestamptz NOT NULL,
    payload          jsonb NOT NULL,
    attempt          integer NOT NULL,
    max_attempts     integer NOT NULL,
    lease_token      integer NOT NULL,
    worker           text,
    claimed_at       timestamptz,
    enqueued_at      timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL,
    dedup_key        text,
    result           jsonb,
    errors           jsonb,
    progress         jsonb,
    log              jsonb
) PARTITION BY RANGE (finished_at);
-- Indexes are created on each partition, not on the parent: an index of the
-- (extension-owned) parent would be re-created on a partition when pg_restore
-- attaches it, and then collide with the partition's own dumped index.
CREATE FUNCTION steward._job_history_indexes(part regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    base text := (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = part);
BEGIN
    EXECUTE pg_catalog.format('CREATE INDEX IF NOT EXISTS %I ON %s (id)', base || '_id', part);
    -- BRIN: rows arrive in finished_at order; nearly free to maintain on
    -- every complete, and enough for "the last 5 minutes" in the stats views
    EXECUTE pg_catalog.format('CREATE INDEX IF NOT EXISTS %I ON %s USING brin (finished_at)', base || '_finished', part);
    -- one queue's recent completions when other queues complete many more:
    -- the BRIN range of the last 5 minutes holds every queue's rows
    EXECUTE pg_catalog.format('CREATE INDEX IF NOT EXISTS %I ON %s (queue_id, finished_at)', base || '_queue_finished', part);
END
$$;
REVOKE ALL ON FUNCTION steward._job_history_indexes(regclass) FROM PUBLIC;

-- Catches rows when no daily partition exists yet (steward.queue_maintenance()
-- creates them ahead); its rows are purged row by row.
CREATE TABLE steward._job_history_default PARTITION OF steward._job_history DEFAULT;
SELECT steward._job_history_indexes('steward._job_history_default');

-- Every error recorded on a job (fail, lease expiry), one row each, for the
-- monitoring views: recent failures, dead jobs and the error summary are read
-- from here by (queue_id, at), not from the jobs' errors (no index on
-- steward._job or the history serves them, and every index there costs
-- every claim and completion: about 6,000 instructions each, even a partial
-- one without entries). Only failing jobs write to it. dead: this error made
-- the job dead (cleared when steward.retry() revives it). Rows are kept for
-- the queue's retention (at least a day) and purged by queue_maintenance().
CREATE TABLE steward._job_error (
    queue_id  integer NOT NULL,
    job_id    bigint NOT NULL,
    at        timestamptz NOT NULL,
    attempt   integer NOT NULL,
    error     text NOT NULL,
    dead      boolean NOT NULL DEFAULT false
);
CREATE INDEX _job_error_at ON steward._job_error (queue_id, at);
CREATE INDEX _job_error_dead ON steward._job_error (queue_id, at) WHERE dead;

-- Queue tables and sequences are data: pg_dump must keep them. Daily
-- partitions created later are ordinary tables and are dumped as such.
SELECT pg_catalog.pg_extension_config_dump('steward._queue', '');
SELECT pg_catalog.pg_extension_config_dump('steward._job', '');
SELECT pg_catalog.pg_extension_config_dump('steward._job_history', '');
SELECT pg_catalog.pg_extension_config_dump('steward._job_history_default', '');
SELECT pg_catalog.pg_extension_config_dump('steward._job_error', '');
SELECT pg_catalog.pg_extension_config_dump('steward._queue_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('steward._job_id_seq', '');

REVOKE ALL ON steward._queue, steward._job, steward._job_history, steward._job_history_default,
    steward._job_error FROM PUBLIC;
REVOKE ALL ON SEQUENCE steward._queue_id_seq, steward._job_id_seq FROM PUBLIC;

-- The row steward.dequeue returns.
CREATE TYPE steward.job AS (
    id               bigint,
    queue            text,
    payload          jsonb,
    priority         integer,
    run_at           timestamptz,
    attempt          integer,
    max_attempts     integer,
    lease_token      integer,
    worker           text,
    lease_expires_at timestamptz,
    enqueued_at      timestamptz,
    dedup_key        text
);

-- C helpers --------------------------------------------------------------------

-- Validate queue options (src/core/queue_policy.cpp); raises 22023.
CREATE FUNCTION steward._queue_check_options(name text, max_attempts integer, lease interval,
    backoff_base interval, backoff_max interval, backoff_jitter double precision, retention interval)
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'steward_queue_check_options';

-- Retry delay after `attempt` failed runs: exponential with jitter.
CREATE FUNCTION steward._queue_backoff(attempt integer, base interval, cap interval, jitter double precision)
RETURNS interval
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'steward_queue_backoff';

-- Tell dequeue's scan cursor (shared memory, when preloaded) that a job
-- became ready at key (prio, run_at, id) in this transaction: at commit the
-- cursor moves back if it is past the key. A no-op without preloading.
CREATE FUNCTION steward._queue_ready_hint(queue_id integer, prio integer, run_at timestamptz, job_id bigint)
RETURNS void
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'steward_queue_ready_hint';

-- Forget the queue's scan cursor if this transaction (or the
-- subtransaction) aborts: a locked ready job that comes back must be seen.
CREATE FUNCTION steward._queue_reset_on_abort(queue_id integer)
RETURNS void
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'steward_queue_reset_on_abort';

-- Forget this database's dequeue cursors; run once below, at CREATE EXTENSION.
CREATE FUNCTION steward._queue_cursor_forget()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'steward_queue_cursor_forget';

-- The queue's dequeue cursor (floor) for diagnosis: NULLs when there is
-- none (no preloading, or not set yet).
CREATE FUNCTION steward._queue_cursor(queue_id integer, OUT priority integer, OUT run_at timestamptz,
                                      OUT job_id bigint, OUT generation bigint)
RETURNS record
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'steward_queue_cursor';

REVOKE ALL ON FUNCTION steward._queue_check_options(text, integer, interval, interval, interval, double precision, interval),
    steward._queue_backoff(integer, interval, interval, double precision),
    steward._queue_ready_hint(integer, integer, timestamptz, bigint),
    steward._queue_reset_on_abort(integer), steward._queue_cursor(integer),
    steward._queue_cursor_forget() FROM PUBLIC;

-- Internal lookups ---------------------------------------------------------------

-- The queue row for a name, or a clean error. lock_mode: '' or 'share'
-- (FOR KEY SHARE: keeps the queue from being dropped until commit).
CREATE FUNCTION steward._queue_get(queue text)
RETURNS steward._queue
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q steward._queue;
BEGIN
    IF queue IS NULL THEN
        RAISE EXCEPTION 'queue name must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO q FROM steward._queue WHERE name = queue;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue "%" does not exist', queue
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it with steward.create_queue().';
    END IF;
    RETURN q;
END
$$;

CREATE FUNCTION steward._queue_channel(queue text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT 'steward_queue_' || queue $$;

-- Explain why a job cannot be finished by this caller; always raises.
CREATE FUNCTION steward._job_not_yours(job_id bigint, lease_token integer, action text)
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
                  DETAIL = 'The job is waiting to run; its lease expired or it was released.';
    END IF;
    RAISE EXCEPTION 'cannot % job %: lease token % is not the current lease', action, job_id, lease_token
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = pg_catalog.format('The job was claimed again (lease %s, worker %s) after this lease expired or was released.',
                                         j.token, coalesce(pg_catalog.quote_literal(j.worker), 'unnamed')),
              HINT = 'Only the worker holding the current lease may finish the job; this worker should drop it.';
END
$$;

-- Queues -------------------------------------------------------------------------

CREATE FUNCTION steward.create_queue(
    name text,
    max_attempts integer DEFAULT 5,
    lease interval DEFAULT '5 minutes',
    backoff_base interval DEFAULT '10 seconds',
    backoff_max interval DEFAULT '1 hour',
    backoff_jitter double precision DEFAULT 0.2,
    retention interval DEFAULT '7 days',
    notify boolean DEFAULT true)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('create a queue');
    new_id integer;
BEGIN
    PERFORM steward._queue_check_options(name, max_attempts, lease, backoff_base, backoff_max,
                                         backoff_jitter, retention);
    IF notify IS NULL THEN
        RAISE EXCEPTION 'notify must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    INSERT INTO steward._queue AS q (name, max_attempts, lease, backoff_base, backoff_max, backoff_jitter, retention, notify)
    VALUES (create_queue.name, create_queue.max_attempts, create_queue.lease, create_queue.backoff_base,
            create_queue.backoff_max, create_queue.backoff_jitter, create_queue.retention, create_queue.notify)
    ON CONFLICT ON CONSTRAINT _queue_name_key DO NOTHING
    RETURNING q.id INTO new_id;
    IF new_id IS NULL THEN
        RAISE EXCEPTION 'queue "%" already exists', name USING ERRCODE = 'duplicate_object',
            HINT = 'Change its options with steward.alter_queue().';
    END IF;
    PERFORM steward.queue_maintenance();
    RETURN new_id;
END
$$;

-- Change options of an existing queue (NULL keeps the current value). Jobs
-- already enqueued keep their max_attempts.
CREATE FUNCTION steward.alter_queue(
    name text,
    max_attempts integer DEFAULT NULL,
    lease interval DEFAULT NULL,
    backoff_base interval DEFAULT NULL,
    backoff_max interval DEFAULT NULL,
    backoff_jitter double precision DEFAULT NULL,
    retention interval DEFAULT NULL,
    notify boolean DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('alter a queue');
    q steward._queue := steward._queue_get(name);
BEGIN
    q.max_attempts := coalesce(max_attempts, q.max_attempts);
    q.lease := coalesce(lease, q.lease);
    q.backoff_base := coalesce(backoff_base, q.backoff_base);
    q.backoff_max := coalesce(backoff_max, q.backoff_max);
    q.backoff_jitter := coalesce(backoff_jitter, q.backoff_jitter);
    q.retention := coalesce(retention, q.retention);
    q.notify := coalesce(notify, q.notify);
    PERFORM steward._queue_check_options(q.name, q.max_attempts, q.lease, q.backoff_base, q.backoff_max,
                                         q.backoff_jitter, q.retention);
    UPDATE steward._queue u SET max_attempts = q.max_attempts, lease = q.lease, backoff_base = q.backoff_base,
           backoff_max = q.backoff_max, backoff_jitter = q.backoff_jitter, retention = q.retention,
           notify = q.notify
     WHERE u.id = q.id;
END
$$;

-- Drop a queue with its waiting, running and finished jobs. Refused while
-- jobs are waiting or running unless force is true.
CREATE FUNCTION steward.drop_queue(name text, force boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('drop a queue');
    q steward._queue := steward._queue_get(name);
BEGIN
    PERFORM 1 FROM steward._queue WHERE id = q.id FOR UPDATE;
    IF NOT coalesce(force, false) AND EXISTS (SELECT FROM steward._job WHERE queue_id = q.id) THEN
        RAISE EXCEPTION 'queue "%" still has unfinished jobs', name
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Wait for them to finish, cancel them, or pass force => true.';
    END IF;
    PERFORM steward._queue_reset_on_abort(q.id);
    DELETE FROM steward._job_history WHERE queue_id = q.id;
    DELETE FROM steward._job_error WHERE queue_id = q.id;
    DELETE FROM steward._queue WHERE id = q.id;   -- cascades to steward._job
END
$$;

CREATE FUNCTION steward._queue_set_paused(name text, pause boolean)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('pause or resume a queue');
    q steward._queue := steward._queue_get(name);
BEGIN
    IF q.paused = pause THEN
        RETURN false;
    END IF;
    UPDATE steward._queue SET paused = pause WHERE id = q.id;
    IF NOT pause AND q.notify THEN
        PERFORM pg_catalog.pg_notify(steward._queue_channel(q.name), '');
    END IF;
    RETURN true;
END
$$;

-- Pause: dequeue returns nothing from the queue and enqueue is refused
-- until resume_queue. Running jobs may still be finished. Returns false if
-- the queue was already paused.
CREATE FUNCTION steward.pause_queue(name text)
RETURNS boolean LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT steward._queue_set_paused(name, true) $$;

CREATE FUNCTION steward.resume_queue(name text)
RETURNS boolean LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT steward._queue_set_paused(name, false) $$;

CREATE VIEW steward.queues AS
SELECT q.name, q.paused, q.max_attempts, q.lease, q.backoff_base, q.backoff_max, q.backoff_jitter,
       q.retention, q.notify, steward._queue_channel(q.name) AS channel, q.created_at
  FROM steward._queue q;

-- Enqueue ------------------------------------------------------------------------------

-- The queue for an enqueue: exists and is not paused. Locks it FOR KEY SHARE
-- (through the foreign key as well) so a concurrent drop waits.
CREATE FUNCTION steward._queue_for_enqueue(queue text)
RETURNS steward._queue
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q steward._queue := steward._queue_get(queue);
BEGIN
    IF q.paused THEN
        RAISE EXCEPTION 'queue "%" is paused', queue
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Resume it with steward.resume_queue().';
    END IF;
    RETURN q;
END
$$;

CREATE FUNCTION steward._check_priority(priority integer)
RETURNS void LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF priority IS NULL THEN
        RAISE EXCEPTION 'priority must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF priority NOT BETWEEN -32768 AND 32767 THEN
        RAISE EXCEPTION 'priority must be between -32768 and 32767' USING ERRCODE = 'numeric_value_out_of_range',
            DETAIL = pg_catalog.format('The priority given was %s.', priority);
    END IF;
END
$$;

-- Add a job. With a dedup_key, while an unfinished job with the same key is
-- in the queue, its id is returned instead and nothing is added.
CREATE FUNCTION steward.enqueue(
    queue text,
    payload jsonb,
    run_at timestamptz DEFAULT NULL,
    priority integer DEFAULT 0,
    dedup_key text DEFAULT NULL,
    max_attempts integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    on_primary constant boolean := steward._require_primary('enqueue jobs');
    q steward._queue := steward._queue_for_enqueue(queue);
    at timestamptz := coalesce(enqueue.run_at, now());
    new_id bigint;
BEGIN
    IF enqueue.payload IS NULL THEN
        RAISE EXCEPTION 'payload must not be null' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass ''{}''::jsonb or ''null''::jsonb for a job without data.';
    END IF;
    PERFORM steward._check_priority(enqueue.priority);
    IF enqueue.max_attempts IS NOT NULL AND enqueue.max_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_attempts must be between 1 and 1000' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The value given was %s.', enqueue.max_attempts);
    END IF;
    IF at IN ('infinity', '-infinity') THEN
        RAISE EXCEPTION 'run_at must be a finite time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    LOOP
        INSERT INTO steward._job (queue_id, state, prio, run_at, payload, max_attempts, dedup_key)
        VALUES (q.id, CASE WHEN at <= now() THEN 'ready'::steward._job_state ELSE 'scheduled' END, -enqueue.priority, at,
                enqueue.payload, coalesce(enqueue.max_attempts, q.max_attempts), enqueue.dedup_key)
        ON CONFLICT (queue_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
        RETURNING id INTO new_id;
        IF new_id IS NOT NULL THEN
            PERFORM steward._queue_ready_hint(q.id, -enqueue.priority, at, new_id);
            IF q.notify AND at <= now() THEN
                -- same channel and payload in one transaction: PostgreSQL
                -- delivers one notification at commit
                PERFORM pg_catalog.pg_notify(steward._queue_channel(q.name), '');
            END IF;
            RETURN new_id;
        END IF;
        SELECT j.id INTO new_id FROM steward._job j WHERE j.queue_id = q.id AND j.dedup_key = enqueue.dedup_key;
        IF new_id IS NOT NULL THEN
            RETURN new_id;                  -- the unfinished job with this key
        END IF;
        -- it finished between the two statements: try again
    END LOOP;
END
$$;

-- Many jobs with one call (one per payload, same options, no dedup keys).
-- Returns their ids in payload order.
CREATE FUNCTION steward.enqueue_batch(
    queue text,
    payloads jsonb[],
    run_at timestamptz DEFAULT NULL,
    priority integer DEFAULT 0,
    max_attempts integer DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('enqueue jobs');
    q steward._queue := steward._queue_for_enqueue(queue);
    at timestamptz := coalesce(run_at, now());
    first_id bigint;
BEGIN
    IF payloads IS NULL THEN
        RAISE EXCEPTION 'payloads must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF array_position(payloads, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'payload must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = pg_catalog.format('Element %s of the array is null.', array_position(payloads, NULL));
    END IF;
    PERFORM steward._check_priority(priority);
    IF max_attempts IS NOT NULL AND max_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_attempts must be between 1 and 1000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF at IN ('infinity', '-infinity') THEN
        RAISE EXCEPTION 'run_at must be a finite time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(payloads) = 0 THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH ins AS (
        INSERT INTO steward._job (queue_id, state, prio, run_at, payload, max_attempts)
        SELECT q.id, CASE WHEN at <= now() THEN 'ready'::steward._job_state ELSE 'scheduled' END, -priority, at, p.payload,
               coalesce(max_attempts, q.max_attempts)
          FROM unnest(payloads) WITH ORDINALITY AS p(payload, n)
         ORDER BY p.n
        RETURNING id)
    SELECT ins.id FROM ins ORDER BY ins.id;
    IF at <= now() THEN
        -- ids come from one sequence in order: the smallest is the first key
        PERFORM steward._queue_ready_hint(q.id, -priority, at, 0);
    END IF;
    IF q.notify AND at <= now() THEN
        PERFORM pg_catalog.pg_notify(steward._queue_channel(q.name), '');
    END IF;
END
$$;

-- Dequeue (C++) -------------------------------------------------------------------

-- Claim up to max_jobs jobs: expired leases first (each counts an attempt),
-- then ready jobs by priority, run_at, id. Locked rows are skipped.
CREATE FUNCTION steward.dequeue(queue text, worker text DEFAULT NULL, max_jobs integer DEFAULT 1,
                                lease interval DEFAULT NULL)
RETURNS SETOF steward.job
LANGUAGE c
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'steward_dequeue';

-- Move finished jobs out (one statement each) ------------------------------------

-- Move running job rows to the history as `state`, finished at
-- `finished_at`. Internal: callers have checked the lease.
CREATE FUNCTION steward._job_finish(job_ids bigint[], tokens integer[], new_state steward._job_finished_state,
                                    results jsonb[], finished_at timestamptz)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    WITH args AS (
        SELECT a.id, a.token, a.n FROM unnest(job_ids, tokens) WITH ORDINALITY AS a(id, token, n)),
    moved AS (
        DELETE FROM steward._job j USING args
         WHERE j.id = args.id AND j.lease_token = args.token AND args.token > 0
        RETURNING j.*, args.n),
    ins AS (
    INSERT INTO steward._job_history (id, queue_id, state, priority, run_at, payload, attempt, max_attempts, lease_token, worker,
                                      claimed_at, enqueued_at, finished_at, dedup_key, result, errors, progress, log)
    SELECT m.id, m.queue_id, new_state, -m.prio, m.run_at, m.payload, m.attempt, m.max_attempts, m.lease_token, m.worker,
           m.claimed_at, m.enqueued_at, _job_finish.finished_at, m.dedup_key, results[m.n], m.errors, m.progress, m.log
      FROM moved m
    RETURNING 1)
    SELECT pg_catalog.count(*)::integer INTO n FROM ins;
    RETURN n;
END
$$;

-- Mark a claimed job done. Only the holder of the current lease may: pass
-- the lease_token dequeue returned. A lease that expired is still accepted
-- as long as nobody claimed the job again. C (src/queue/complete.cpp): one
-- saved DELETE ... RETURNING -> INSERT INTO history statement.
CREATE FUNCTION steward.complete(job_id bigint, lease_token integer, result jsonb DEFAULT NULL)
RETURNS void
LANGUAGE c
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'steward_complete';

-- Complete many claimed jobs at once (all or nothing). Returns how many.
-- C (src/queue/complete.cpp): one saved statement for the whole batch.
CREATE FUNCTION steward.complete_batch(job_ids bigint[], lease_tokens integer[], results jsonb[] DEFAULT NULL)
RETURNS integer
LANGUAGE c
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'steward_complete_batch';

-- Record a failed run. The job is retried after retry_in (or the queue's
-- exponential backoff with jitter) until it has run max_attempts times;
-- then it is dead and keeps its errors. retry => false: dead at once, on any
-- attempt (a failure that no retry can fix). Returns the new state: 'ready'
-- or 'dead'. Times count from the call (clock_timestamp()), not from the
-- transaction's start: a worker that claims, works and fails in one
-- transaction gets its whole backoff.
CREATE FUNCTION steward.fail(job_id bigint, lease_token integer, error text, retry_in interval DEFAULT NULL,
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
    PERFORM steward._queue_ready_hint(j.queue_id, j.prio, next_run, j.id);
    IF q.notify AND next_run <= failed_at THEN
        PERFORM pg_catalog.pg_notify(steward._queue_channel(q.name), '');
    END IF;
    RETURN 'ready';
END
$$;

-- Heartbeat: the lease now ends `lease` from the call (clock_timestamp(),
-- not the transaction's start). Returns the new end.
CREATE FUNCTION steward.extend_lease(job_id bigint, lease_token integer, lease interval)
RETURNS timestamptz
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('extend a lease');
    new_end timestamptz;
BEGIN
    IF lease IS NULL OR lease <= interval '0' THEN
        RAISE EXCEPTION 'lease must be positive' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The lease given was %s.', coalesce(lease::text, 'null'));
    END IF;
    IF lease > interval '7 days' THEN
        RAISE EXCEPTION 'lease must not exceed 7 days' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE steward._job j SET lease_expires_at = clock_timestamp() + lease
     WHERE j.id = job_id AND j.lease_token = extend_lease.lease_token AND extend_lease.lease_token > 0
    RETURNING j.lease_expires_at INTO new_end;
    IF NOT FOUND THEN
        PERFORM steward._job_not_yours(job_id, lease_token, 'extend the lease of');
    END IF;
    RETURN new_end;
END
$$;

-- Give a claimed job back without using up an attempt; it runs again at
-- once (or `delay` after the call).
CREATE FUNCTION steward.release(job_id bigint, lease_token integer, delay interval DEFAULT NULL)
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
     WHERE x.id = job_id AND x.lease_token = release.lease_token AND release.lease_token > 0
    RETURNING x.queue_id, x.prio, x.run_at, x.id INTO j;
    IF NOT FOUND THEN
        PERFORM steward._job_not_yours(job_id, lease_token, 'release');
    END IF;
    PERFORM steward._queue_ready_hint(j.queue_id, j.prio, j.run_at, j.id);
    PERFORM pg_catalog.pg_notify(steward._queue_channel(q.name), '')
       FROM steward._queue q WHERE q.id = j.queue_id AND q.notify AND j.run_at <= released_at;
END
$$;

-- Cancel a waiting or running job (an administrative action: no lease
-- needed; a running job's worker is then refused when it finishes).
-- Returns false when the job is already finished.
CREATE FUNCTION steward.cancel(job_id bigint)
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
    SELECT x.id, x.queue_id INTO j FROM steward._job x WHERE x.id = job_id FOR UPDATE;
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM steward._job_history h WHERE h.id = job_id) THEN
            RETURN false;
        END IF;
        RAISE EXCEPTION 'job % does not exist', job_id USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM steward._queue_reset_on_abort(j.queue_id);
    WITH moved AS (DELETE FROM steward._job x WHERE x.id = job_id RETURNING x.*)
    INSERT INTO steward._job_history (id, queue_id, state, priority, run_at, payload, attempt, max_attempts, lease_token, worker,
                                      claimed_at, enqueued_at, finished_at, dedup_key, errors, progress, log)
    SELECT m.id, m.queue_id, 'cancelled', -m.prio, m.run_at, m.payload, m.attempt, m.max_attempts, m.lease_token, m.worker,
           m.claimed_at, m.enqueued_at, clock_timestamp(), m.dedup_key, m.errors, m.progress, m.log
      FROM moved m;
    RETURN true;
END
$$;

-- Run a dead (or cancelled) job again: it goes back to the queue with a
-- fresh set of attempts and its old errors. Returns the job id.
CREATE FUNCTION steward.retry(job_id bigint)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('retry a job');
    h record;
    q steward._queue;
BEGIN
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO h FROM steward._job_history x WHERE x.id = job_id FOR UPDATE;
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM steward._job x WHERE x.id = job_id) THEN
            RAISE EXCEPTION 'cannot retry job %: it is not finished', job_id
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        RAISE EXCEPTION 'job % does not exist', job_id USING ERRCODE = 'undefined_object';
    END IF;
    IF h.state = 'completed' THEN
        RAISE EXCEPTION 'cannot retry job %: it completed', job_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Only dead and cancelled jobs can be retried; enqueue a new job instead.';
    END IF;
    SELECT * INTO q FROM steward._queue x WHERE x.id = h.queue_id FOR KEY SHARE;
    IF q.paused THEN
        RAISE EXCEPTION 'queue "%" is paused', q.name USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Resume it with steward.resume_queue().';
    END IF;
    IF h.dedup_key IS NOT NULL AND EXISTS (SELECT FROM steward._job x WHERE x.queue_id = h.queue_id AND x.dedup_key = h.dedup_key) THEN
        RAISE EXCEPTION 'cannot retry job %: another unfinished job has dedup key "%"', job_id, h.dedup_key
            USING ERRCODE = 'unique_violation';
    END IF;
    DELETE FROM steward._job_history x WHERE x.id = job_id;
    -- no longer dead: the error that killed it was recorded as it finished
    UPDATE steward._job_error e SET dead = false
     WHERE e.queue_id = h.queue_id AND e.at = h.finished_at AND e.job_id = h.id AND e.dead;
    INSERT INTO steward._job (id, queue_id, state, prio, run_at, payload, attempt, max_attempts, lease_token,
                              enqueued_at, dedup_key, errors, progress, log)
    VALUES (h.id, h.queue_id, 'ready', -h.priority, now(), h.payload, 0, h.max_attempts,
            -abs(h.lease_token), h.enqueued_at, h.dedup_key, h.errors, h.progress, h.log);
    PERFORM steward._queue_ready_hint(h.queue_id, -h.priority, now(), h.id);
    IF q.notify THEN
        PERFORM pg_catalog.pg_notify(steward._queue_channel(q.name), '');
    END IF;
    RETURN h.id;
END
$$;

-- Progress and log: the holder of the lease records progress (any jsonb) and
-- appends a log line; the last 100 lines are kept with the job.
CREATE FUNCTION steward.log_job(job_id bigint, lease_token integer, message text, progress jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('log to a job');
BEGIN
    IF message IS NULL AND progress IS NULL THEN
        RAISE EXCEPTION 'message and progress must not both be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE steward._job j
       SET progress = coalesce(log_job.progress, j.progress),
           log = CASE WHEN message IS NULL THEN j.log ELSE
                 (SELECT coalesce(jsonb_agg(e ORDER BY n), '[]')
                    FROM (SELECT e, n FROM jsonb_array_elements(coalesce(j.log, '[]') ||
                                 jsonb_build_object('at', clock_timestamp(), 'attempt', j.attempt, 'message', message))
                                 WITH ORDINALITY AS x(e, n)
                           ORDER BY n DESC LIMIT 100) last) END
     WHERE j.id = job_id AND j.lease_token = log_job.lease_token AND log_job.lease_token > 0;
    IF NOT FOUND THEN
        PERFORM steward._job_not_yours(job_id, lease_token, 'log to');
    END IF;
END
$$;

-- One round trip per job: complete the job just done and claim the next
-- ones (from the same queue unless another is named).
CREATE FUNCTION steward.complete_and_dequeue(job_id bigint, lease_token integer, result jsonb DEFAULT NULL,
                                             queue text DEFAULT NULL, worker text DEFAULT NULL,
                                             max_jobs integer DEFAULT 1, lease interval DEFAULT NULL)
RETURNS SETOF steward.job
LANGUAGE c
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'steward_complete_and_dequeue';

-- Jobs of all states (live and finished within retention) ----------------------------

CREATE VIEW steward.jobs AS
SELECT j.id, q.name AS queue,
       CASE WHEN j.state = 'scheduled' AND j.run_at <= pg_catalog.now() THEN 'ready' ELSE j.state::text END AS state,
       j.payload, -j.prio AS priority, j.run_at, j.attempt, j.max_attempts, j.lease_token, j.worker, j.claimed_at,
       j.lease_expires_at, j.enqueued_at, NULL::timestamptz AS finished_at, j.dedup_key,
       NULL::jsonb AS result, j.errors, j.progress, j.log
  FROM steward._job j JOIN steward._queue q ON q.id = j.queue_id
UNION ALL
SELECT h.id, q.name, h.state::text, h.payload, h.priority, h.run_at, h.attempt, h.max_attempts, h.lease_token, h.worker, h.claimed_at,
       NULL, h.enqueued_at, h.finished_at, h.dedup_key, h.result, h.errors, h.progress, h.log
  FROM steward._job_history h JOIN steward._queue q ON q.id = h.queue_id
 WHERE h.finished_at >= pg_catalog.now() - q.retention;

-- One job as steward.jobs shows it, for applications that track their own
-- jobs: no SELECT on steward.jobs (every queue's payloads) needed, and no
-- join against the view (planned as a hash join over every job). The id is
-- a parameter, so both branches of the view are index lookups: the primary
-- key of steward._job, and only if the job is not live (LIMIT 1 stops the
-- Append), the id index of each history partition. NULL (every column
-- null) when the job does not exist or is past its queue's retention.
CREATE FUNCTION steward.job(job_id bigint)
RETURNS steward.jobs
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r steward.jobs;
BEGIN
    SELECT * INTO r FROM steward.jobs j WHERE j.id = job_id LIMIT 1;
    RETURN r;
END
$$;

-- Maintenance: history partitions and retention ----------------------------------------

-- Create the daily history partitions for yesterday to three days ahead,
-- drop those whose every row is past the longest retention of any queue,
-- and purge expired rows that landed in the default partition. Run it
-- periodically (hourly is plenty). Returns the number of partitions dropped.
CREATE FUNCTION steward.queue_maintenance()
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('run queue maintenance');
    day date;
    part text;
    keep interval;
    dropped integer := 0;
    r record;
BEGIN
    FOR day IN SELECT d::date FROM generate_series(current_date - 1, current_date + 3, interval '1 day') d LOOP
        part := 'steward._job_history_p' || to_char(day, 'YYYYMMDD');
        IF to_regclass(part) IS NULL THEN
            -- rows already in the default partition for this day would block
            -- the new partition: only create it when there are none
            IF NOT EXISTS (SELECT FROM steward._job_history_default
                            WHERE finished_at >= day AND finished_at < day + 1) THEN
                EXECUTE format('CREATE TABLE %s PARTITION OF steward._job_history FOR VALUES FROM (%L) TO (%L)',
                               part, day::timestamptz, (day + 1)::timestamptz);
                EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', part);
                PERFORM steward._job_history_indexes(part::regclass);
            END IF;
        END IF;
    END LOOP;
    SELECT coalesce(max(retention), interval '7 days') INTO keep FROM steward._queue;
    FOR r IN
        SELECT c.oid::regclass AS part,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'steward._job_history'::regclass AND c.oid <> 'steward._job_history_default'::regclass
    LOOP
        IF r.upper_bound <= now() - keep THEN
            EXECUTE format('DROP TABLE %s', r.part);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    DELETE FROM steward._job_history_default h
     USING steward._queue q
     WHERE q.id = h.queue_id AND h.finished_at < now() - q.retention;
    -- the error log: the queue's retention, at least a day (the error summary)
    DELETE FROM steward._job_error e
     USING steward._queue q
     WHERE q.id = e.queue_id AND e.at < now() - greatest(q.retention, interval '1 day');
    RETURN dropped;
END
$$;

-- Monitoring -------------------------------------------------------------------------

-- The planner's estimate of the number of rows of a query.
CREATE FUNCTION steward._estimated_rows(query text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    plan jsonb;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::bigint;
END
$$;

-- Count rows of a query, exactly up to `cap`, beyond that the planner's
-- estimate (so the stats views never scan a million-row queue). The
-- estimate comes first: when it is over the cap, only the first
-- steward._count_probe() rows are read, to tell a queue that is really that
-- big (the estimate is the answer) from one drained since the last ANALYZE
-- (fewer rows than the probe: the exact count).
CREATE FUNCTION steward._count_probe()
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 50 $$;

CREATE FUNCTION steward._capped_count(query text, cap integer, OUT n bigint, OUT exact boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    estimate constant bigint := steward._estimated_rows(query);
    lim constant integer := CASE WHEN estimate > cap THEN steward._count_probe() ELSE cap + 1 END;
BEGIN
    EXECUTE format('SELECT count(*) FROM (%s LIMIT %s) s', query, lim) INTO n;
    exact := n < lim;
    IF NOT exact THEN
        n := greatest(n, cap + 1, estimate);
    END IF;
END
$$;

-- Every figure of the monitoring views, per queue, in one pass. Each comes
-- from an index and is bounded: counts are exact up to a cap (then the
-- planner's estimate, counts_exact false); nothing reads a table or a day of
-- history in full (completions: the rows of the last 5 minutes, at most
-- 1,000; beyond that their count is the planner's estimate). The caps keep
-- a queue of a million jobs within a few times the cost of a small one
-- (test/bench/stats). enable_seqscan is off because the planner likes to turn a capped
-- count into a sequential scan that stops at its LIMIT, which reads the whole
-- table when the matching rows are at its end; jit is off because the
-- estimates of a million-job queue are far above what these queries read.
CREATE FUNCTION steward._queue_stats()
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
        -- completions of the last 5 minutes (the partitions' BRIN index on
        -- finished_at), and the averages over the same rows: the first
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

CREATE VIEW steward.queue_stats AS
SELECT s.queue, s.paused, s.ready, s.scheduled, s.running, s.expired_leases, s.oldest_ready_age,
       s.completed_last_5min, s.failed_last_5min, s.dead_last_5min, s.jobs_per_second_5min,
       s.avg_wait, s.avg_run, s.counts_exact
  FROM steward._queue_stats() s;

-- Contract views (issue 6): one line per queue, and recent errors by message.
CREATE VIEW steward.queue_summary AS
SELECT s.queue, s.paused, s.ready, s.scheduled, s.running, s.expired_leases, s.dead,
       s.oldest_ready_age, s.jobs_per_second_5min, s.counts_exact AND s.dead_exact AS counts_exact
  FROM steward._queue_stats() s;

-- Errors recorded in the last day, per queue and message (steward._job_error;
-- the latest 1,000 per queue). A function for the same settings as
-- _queue_stats.
CREATE FUNCTION steward._queue_error_summary()
RETURNS TABLE (queue text, error text, occurrences bigint, last_seen timestamptz, jobs bigint)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET jit = off
AS $$
SELECT q.name, e.error, count(*), max(e.at), count(DISTINCT e.job_id)
  FROM steward._queue q,
       LATERAL (SELECT e.job_id, e.error, e.at FROM steward._job_error e
                 WHERE e.queue_id = q.id AND e.at >= now() - interval '1 day'
                 ORDER BY e.at DESC LIMIT 1000) e
 GROUP BY q.name, e.error
$$;

CREATE VIEW steward.queue_error_summary AS
SELECT s.queue, s.error, s.occurrences, s.last_seen, s.jobs FROM steward._queue_error_summary() s;

-- Health checks for steward.health(): oldest ready job's age, expired
-- leases, dead jobs in the last day; all from one _queue_stats() pass.
-- Classified by steward.health_status(): a status is reached when the value
-- is strictly beyond its threshold, as for every other check (so the
-- default warning 0 means "any"). Thresholds come from the settings
-- steward.<check>_warning and steward.<check>_critical, <check> being the
-- check's name without ":<queue>".
CREATE FUNCTION steward._health_checks_queue()
RETURNS TABLE (check_name text, value numeric, warning numeric, critical numeric, status text, detail text)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s record;
    c record;
BEGIN
    FOR s IN SELECT * FROM steward._queue_stats() LOOP
        FOR c IN
            SELECT * FROM (VALUES
                (1, 'queue_oldest_ready_seconds', 300::numeric, 3600::numeric,
                 round(coalesce(extract(epoch FROM s.oldest_ready_age), 0)::numeric, 1),
                 CASE WHEN s.paused THEN 'queue is paused' ELSE format('%s ready jobs', s.ready) END),
                (2, 'queue_expired_leases', 0, 99, s.expired_leases::numeric,
                 'running jobs whose worker stopped renewing its lease'),
                (3, 'queue_dead_jobs_1d', 0, 99, s.dead_last_1d::numeric,
                 'jobs that died (used up their attempts, or failed without retry) in the last day')
            ) v(ord, name, warning, critical, value, detail) ORDER BY v.ord
        LOOP
            check_name := c.name || ':' || s.queue;
            warning := coalesce(nullif(current_setting('steward.' || c.name || '_warning', true), '')::numeric, c.warning);
            critical := coalesce(nullif(current_setting('steward.' || c.name || '_critical', true), '')::numeric, c.critical);
            value := c.value;
            -- a paused queue's ready jobs wait on purpose
            status := CASE WHEN s.paused AND c.ord = 1 THEN 'ok'
                           ELSE steward.health_status(value, warning, critical) END;
            detail := c.detail;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION steward._queue_get(text), steward._job_not_yours(bigint, integer, text),
    steward._queue_set_paused(text, boolean), steward._queue_for_enqueue(text),
    steward._job_finish(bigint[], integer[], steward._job_finished_state, jsonb[], timestamptz), steward._capped_count(text, integer),
    steward._estimated_rows(text),
    steward._queue_stats(), steward._queue_error_summary(), steward._health_checks_queue() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.create_queue(text, integer, interval, interval, interval, double precision, interval, boolean),
    steward.alter_queue(text, integer, interval, interval, interval, double precision, interval, boolean),
    steward.drop_queue(text, boolean), steward.pause_queue(text), steward.resume_queue(text),
    steward.enqueue(text, jsonb, timestamptz, integer, text, integer),
    steward.enqueue_batch(text, jsonb[], timestamptz, integer, integer),
    steward.dequeue(text, text, integer, interval),
    steward.complete(bigint, integer, jsonb), steward.complete_batch(bigint[], integer[], jsonb[]),
    steward.fail(bigint, integer, text, interval, boolean), steward.extend_lease(bigint, integer, interval),
    steward.release(bigint, integer, interval), steward.cancel(bigint), steward.retry(bigint),
    steward.job(bigint), steward.log_job(bigint, integer, text, jsonb),
    steward.complete_and_dequeue(bigint, integer, jsonb, text, text, integer, interval),
    steward.queue_maintenance() FROM PUBLIC;
REVOKE ALL ON steward.queues, steward.jobs, steward.queue_stats, steward.queue_summary,
    steward.queue_error_summary FROM PUBLIC;
GRANT SELECT ON steward.queues, steward.queue_stats, steward.queue_summary, steward.queue_error_summary
    TO steward_monitor, pg_monitor;
GRANT EXECUTE ON FUNCTION steward._health_checks_queue(), steward._queue_stats(), steward._queue_error_summary()
    TO steward_monitor, pg_monitor;

-- Queue ids restart after DROP EXTENSION and a restore fills the tables
-- without enqueues: no dequeue cursor of this database may survive.
SELECT steward._queue_cursor_forget();
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
    SELECT COALESCE(a.state, 'unknown') AS state, a.state_change,
           a.datname = pg_catalog.current_database() AS here
      FROM pg_catalog.pg_stat_activity a
     WHERE a.backend_type = 'client backend'
), per_state AS (
    SELECT c.state, pg_catalog.count(*) AS n, pg_catalog.count(*) FILTER (WHERE c.here) AS n_here,
           pg_catalog.max(pg_catalog.statement_timestamp() - c.state_change) AS longest
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
       CASE WHEN s.state = 'total' THEN (SELECT pg_catalog.max(pg_catalog.statement_timestamp() - c.state_change) FROM clients c)
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
