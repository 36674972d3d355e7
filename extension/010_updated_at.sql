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
