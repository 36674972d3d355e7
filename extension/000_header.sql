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
