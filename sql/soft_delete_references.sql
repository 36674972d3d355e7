-- Soft delete and foreign keys: ON DELETE RESTRICT / NO ACTION are checked
-- once the statement has run all its cascades, as PostgreSQL checks a real
-- DELETE, in both paths (rewrite, and trigger: steward.soft_delete_rewrite =
-- off), whatever the constraint names.
CREATE SCHEMA sdr;
SET search_path = sdr, public;
SET client_min_messages = warning;

-- A "diamond": parent -> a_exec (CASCADE), parent -> z_val (CASCADE), and
-- z_val -> a_exec (NO ACTION). Deleting a parent cascades into both; the
-- NO ACTION reference from z_val to a_exec is gone once both cascades ran.
-- Built twice: the NO ACTION key sorting after the cascades (z_val_exec_id_fkey)
-- and before them (a_val_exec_id_fkey).
CREATE FUNCTION diamond(p text, e text, v text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY)', p);
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, parent_id int REFERENCES %I ON DELETE CASCADE)', e, p);
    EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, parent_id int REFERENCES %I ON DELETE CASCADE, '
                   'exec_id int REFERENCES %I)', v, p, e);
    EXECUTE format('INSERT INTO %I VALUES (1), (2), (3)', p);
    EXECUTE format('INSERT INTO %I VALUES (10, 1), (20, 2), (30, 3)', e);
    EXECUTE format('INSERT INTO %I VALUES (100, 1, 10), (200, 2, 20), (300, 3, 30)', v);
END $$;
SELECT diamond('parent', 'a_exec', 'z_val'), diamond('parent2', 'z_exec', 'a_val');
SELECT conname, confdeltype FROM pg_constraint WHERE conrelid IN ('z_val'::regclass, 'a_val'::regclass) ORDER BY conname;
-- a real DELETE works
DELETE FROM parent WHERE id = 3;
DELETE FROM parent2 WHERE id = 3;
SELECT steward.enable_soft_delete(t, create_views => false)
  FROM unnest('{parent,a_exec,z_val,parent2,z_exec,a_val}'::regclass[]) AS t;
-- soft delete, rewrite path
DELETE FROM parent WHERE id = 1 RETURNING id;
DELETE FROM parent2 WHERE id = 1 RETURNING id;
-- soft delete, trigger path
SET steward.soft_delete_rewrite = off;
DELETE FROM parent WHERE id = 2;
DELETE FROM parent2 WHERE id = 2;
RESET steward.soft_delete_rewrite;
SELECT 'a_exec' AS t, id, deleted_at IS NOT NULL AS deleted FROM a_exec
UNION ALL SELECT 'z_val', id, deleted_at IS NOT NULL FROM z_val
UNION ALL SELECT 'z_exec', id, deleted_at IS NOT NULL FROM z_exec
UNION ALL SELECT 'a_val', id, deleted_at IS NOT NULL FROM a_val ORDER BY 1, 2;
-- the same with an UPDATE of the column (a soft delete too)
SELECT steward.restore('parent', '[1, 2]'), steward.restore('parent2', '[1, 2]');
UPDATE parent SET deleted_at = now() WHERE id = 1;
UPDATE parent2 SET deleted_at = now() WHERE id = 1;
SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted FROM z_val;
-- a NO ACTION reference that no cascade removes still fails, in both paths
INSERT INTO z_val VALUES (400, NULL, 20);
DELETE FROM parent WHERE id = 2;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET steward.soft_delete_rewrite = off;
DELETE FROM parent WHERE id = 2;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET steward.soft_delete_rewrite;
SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted_a_exec FROM a_exec;  -- nothing half-done

-- ON DELETE RESTRICT behaves the same: PostgreSQL checks it at the end of
-- the statement too (not before the cascades), as this real DELETE shows
CREATE TABLE rp (id int PRIMARY KEY);
CREATE TABLE ra (id int PRIMARY KEY, rp_id int REFERENCES rp ON DELETE CASCADE);
CREATE TABLE rz (id int PRIMARY KEY, rp_id int REFERENCES rp ON DELETE CASCADE,
                 ra_id int REFERENCES ra ON DELETE RESTRICT);
INSERT INTO rp VALUES (1); INSERT INTO ra VALUES (1, 1); INSERT INTO rz VALUES (1, 1, 1);
DELETE FROM rp WHERE id = 1 RETURNING id;                            -- real DELETE: works
ALTER TABLE z_val DROP CONSTRAINT z_val_exec_id_fkey,
    ADD CONSTRAINT z_val_exec_id_fkey FOREIGN KEY (exec_id) REFERENCES a_exec ON DELETE RESTRICT;
DELETE FROM z_val WHERE id = 400;
DELETE FROM parent WHERE id = 2 RETURNING id;
SELECT id, deleted_at IS NOT NULL AS deleted FROM z_val ORDER BY id;

-- Deeper: parent -> a (CASCADE), parent -> b (CASCADE), b -> z (CASCADE),
-- z -> a (NO ACTION). A real DELETE fails here (PostgreSQL fires the check
-- of a before the cascade from b reached z); a soft delete checks after
-- every cascade and succeeds.
CREATE TABLE dp (id int PRIMARY KEY);
CREATE TABLE da (id int PRIMARY KEY, dp_id int REFERENCES dp ON DELETE CASCADE);
CREATE TABLE db (id int PRIMARY KEY, dp_id int REFERENCES dp ON DELETE CASCADE);
CREATE TABLE dz (id int PRIMARY KEY, db_id int REFERENCES db ON DELETE CASCADE, da_id int REFERENCES da);
INSERT INTO dp VALUES (1), (2); INSERT INTO da VALUES (1, 1), (2, 2); INSERT INTO db VALUES (1, 1), (2, 2);
INSERT INTO dz VALUES (1, 1, 1), (2, 2, 2);
DELETE FROM dp WHERE id = 2;                                         -- real: fails
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.enable_soft_delete(t, create_views => false) FROM unnest('{dp,da,db,dz}'::regclass[]) AS t;
DELETE FROM dp WHERE id = 1 RETURNING id;
SELECT 'da' AS t, id, deleted_at IS NOT NULL AS deleted FROM da
UNION ALL SELECT 'dz', id, deleted_at IS NOT NULL FROM dz ORDER BY 1, 2;

-- A self-referencing tree deleted in one statement: 1 <- 2 <- 3, NO ACTION
CREATE TABLE nodes (id int PRIMARY KEY, parent_id int REFERENCES nodes ON DELETE NO ACTION);
INSERT INTO nodes VALUES (1, NULL), (2, 1), (3, 2), (11, NULL), (12, 11), (13, 12), (21, NULL), (22, 21), (23, 22);
DELETE FROM nodes WHERE id IN (21, 22, 23);                          -- real DELETE works
SELECT steward.enable_soft_delete('nodes', create_views => false);
DELETE FROM nodes WHERE id IN (1, 2, 3) RETURNING id;
SET steward.soft_delete_rewrite = off;
DELETE FROM nodes WHERE id IN (11, 12, 13);
RESET steward.soft_delete_rewrite;
SELECT id, deleted_at IS NOT NULL AS deleted FROM nodes ORDER BY id;
-- a live child left behind fails, in both paths, and nothing is marked
SELECT steward.restore('nodes', '[1, 2, 3]');
DELETE FROM nodes WHERE id IN (1, 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET steward.soft_delete_rewrite = off;
DELETE FROM nodes WHERE id IN (1, 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET steward.soft_delete_rewrite;
SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted FROM nodes WHERE id <= 3;
-- ON DELETE RESTRICT: the same
ALTER TABLE nodes DROP CONSTRAINT nodes_parent_id_fkey,
    ADD CONSTRAINT nodes_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES nodes ON DELETE RESTRICT;
DELETE FROM nodes WHERE id IN (1, 2, 3) RETURNING id;
SELECT steward.restore('nodes', '[1, 2, 3]');
SET steward.soft_delete_rewrite = off;
DELETE FROM nodes WHERE id IN (1, 2, 3);
RESET steward.soft_delete_rewrite;
SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted FROM nodes WHERE id <= 3;

-- The check belongs to the statement that soft-deletes: a function can
-- catch it, as it catches a real DELETE's
SELECT steward.restore('nodes', '[1, 2, 3]');
CREATE FUNCTION try_delete(ids int[]) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM sdr.nodes WHERE id = ANY (ids);
    RETURN 'deleted';
EXCEPTION WHEN foreign_key_violation THEN
    RETURN 'refused: ' || SQLERRM;
END $$;
SELECT try_delete('{1}');
SET steward.soft_delete_rewrite = off;
SELECT try_delete('{1}');
RESET steward.soft_delete_rewrite;
SELECT try_delete('{3}');
SELECT id, deleted_at IS NOT NULL AS deleted FROM nodes WHERE id <= 3 ORDER BY id;

-- DEFERRABLE INITIALLY DEFERRED: a real DELETE waits for COMMIT; a soft
-- delete checks at the end of the statement all the same (documented)
CREATE TABLE dparent (id int PRIMARY KEY);
CREATE TABLE dchild (id int PRIMARY KEY, parent_id int REFERENCES dparent DEFERRABLE INITIALLY DEFERRED);
INSERT INTO dparent VALUES (1), (2); INSERT INTO dchild VALUES (1, 1), (2, 2);
BEGIN;
DELETE FROM dparent WHERE id = 1;                                    -- real: deferred
DELETE FROM dchild WHERE id = 1;
COMMIT;
SELECT steward.enable_soft_delete('dparent', create_views => false);
BEGIN;
DELETE FROM dparent WHERE id = 2;                                    -- soft: checked now
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- a new reference to a soft-deleted parent is refused, as the foreign key
-- refuses one to a missing row: checked at the end of the statement, also
-- for this DEFERRABLE INITIALLY DEFERRED key (steward_soft_delete_parent)
DELETE FROM dchild WHERE id = 2;
DELETE FROM dparent WHERE id = 2;
INSERT INTO dchild VALUES (3, 2);
SELECT count(*) AS children_of_deleted FROM dchild WHERE parent_id = 2;

-- a real DELETE of a parent without soft delete really deletes the
-- children of an enabled table (a referential action is never softened)
CREATE TABLE plain_parent (id int PRIMARY KEY);
CREATE TABLE soft_child (id int PRIMARY KEY, parent_id int REFERENCES plain_parent ON DELETE CASCADE);
INSERT INTO plain_parent VALUES (1), (2); INSERT INTO soft_child VALUES (1, 1), (2, 2);
SELECT steward.enable_soft_delete('soft_child', create_views => false);
DELETE FROM plain_parent WHERE id = 1;
SET steward.soft_delete_rewrite = off;
DELETE FROM plain_parent WHERE id = 2;
RESET steward.soft_delete_rewrite;
SELECT count(*) AS children_left FROM soft_child;

-- References to soft-deleted rows (src/soft_delete/live_parent.cpp): every
-- table with a foreign key to an enabled table gets steward_soft_delete_parent
-- for those keys, kept in step with the foreign keys by the DDL event trigger.
CREATE TABLE accounts (id bigint PRIMARY KEY, region int, code text, UNIQUE (region, code));
CREATE TABLE invoices (id int PRIMARY KEY, account_id int REFERENCES accounts ON DELETE SET NULL, note text);
INSERT INTO accounts VALUES (1, 1, 'a'), (2, 1, 'b'), (3, 2, 'a');
INSERT INTO invoices VALUES (1, 1, 'one'), (2, 2, 'two');
SELECT count(*) AS check_triggers FROM pg_trigger WHERE tgname = 'steward_soft_delete_parent' AND tgrelid = 'invoices'::regclass;
SELECT steward.enable_soft_delete('accounts', create_views => false);
SELECT tgrelid::regclass AS child, pg_get_triggerdef(oid) LIKE '%AFTER INSERT OR UPDATE ON sdr.invoices FOR EACH ROW EXECUTE FUNCTION steward._soft_delete_live_parent(''invoices_account_id_fkey'')' AS names_the_key
  FROM pg_trigger WHERE tgname = 'steward_soft_delete_parent' AND tgrelid = 'invoices'::regclass;
DELETE FROM accounts WHERE id = 2;
-- INSERT and UPDATE of the key to a deleted row: refused (int4 key into an
-- int8 primary key: the foreign key's own operator)
INSERT INTO invoices VALUES (3, 2, 'three');
UPDATE invoices SET account_id = 2 WHERE id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- one bad row fails the whole statement
INSERT INTO invoices VALUES (4, 1, 'ok'), (5, 2, 'bad');
SELECT count(*) AS invoices FROM invoices;
-- accepted: a live parent, NULL, an unchanged reference to the deleted row
-- (SET of the column to its value, or another column), a missing row is the
-- foreign key's own error
INSERT INTO invoices VALUES (4, 1, 'four'), (5, NULL, 'five');
UPDATE invoices SET account_id = account_id, note = 'still two' WHERE id = 2;
UPDATE invoices SET note = 'changed' WHERE id = 2;
INSERT INTO invoices VALUES (6, 99, 'missing');
-- after restore() the row may be referenced again
SELECT steward.restore('accounts', '2');
INSERT INTO invoices VALUES (3, 2, 'three');
-- composite keys, and a role that may not read the parent (the check runs
-- as the parent's owner, as the foreign key's does; a role that may not read
-- the key columns gets the detail without the values, as from the foreign key)
CREATE TABLE shipments (id int PRIMARY KEY, region int, code text, FOREIGN KEY (region, code) REFERENCES accounts (region, code));
SELECT tgnargs FROM pg_trigger WHERE tgname = 'steward_soft_delete_parent' AND tgrelid = 'shipments'::regclass;
DELETE FROM accounts WHERE id = 3;
CREATE ROLE sdr_writer;
GRANT USAGE ON SCHEMA sdr TO sdr_writer;
GRANT INSERT ON shipments TO sdr_writer;
SET ROLE sdr_writer;
INSERT INTO shipments VALUES (1, 2, 'a');
INSERT INTO shipments VALUES (2, 1, 'a');
RESET ROLE;
-- a second foreign key of one table: one trigger, both keys, their columns
ALTER TABLE invoices ADD COLUMN payer bigint REFERENCES accounts;
SELECT tgnargs FROM pg_trigger WHERE tgname = 'steward_soft_delete_parent' AND tgrelid = 'invoices'::regclass;
UPDATE invoices SET payer = 3 WHERE id = 1;
UPDATE invoices SET payer = 1 WHERE id = 1;
-- unrelated DDL leaves the trigger alone (recreating it would lock the table)
SELECT oid AS check_trigger FROM pg_trigger WHERE tgname = 'steward_soft_delete_parent' AND tgrelid = 'invoices'::regclass \gset
CREATE TEMP TABLE unrelated (a int);
ALTER TABLE invoices ADD COLUMN memo text;
SELECT oid = :check_trigger AS same_trigger FROM pg_trigger WHERE tgname = 'steward_soft_delete_parent' AND tgrelid = 'invoices'::regclass;
-- a dropped foreign key leaves the trigger at once (other DDL only ever
-- adds keys: a restore creates the trigger before its keys)
ALTER TABLE invoices DROP CONSTRAINT invoices_account_id_fkey;
SELECT tgnargs FROM pg_trigger WHERE tgname = 'steward_soft_delete_parent' AND tgrelid = 'invoices'::regclass;
UPDATE invoices SET account_id = 3 WHERE id = 2;                      -- no longer a foreign key
UPDATE invoices SET payer = 3 WHERE id = 2;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.enable_soft_delete('accounts', create_views => false);  -- already enabled: false, and in step
SELECT tgnargs FROM pg_trigger WHERE tgname = 'steward_soft_delete_parent' AND tgrelid = 'invoices'::regclass;
-- the trigger has no column list, so it does not depend on the columns:
-- a referencing column can be dropped (its foreign key goes, the trigger
-- keeps the other keys) or change type
ALTER TABLE invoices ADD COLUMN approver bigint REFERENCES accounts;
SELECT count(*) AS column_dependencies FROM pg_depend d JOIN pg_trigger t ON t.oid = d.objid
 WHERE d.classid = 'pg_trigger'::regclass AND t.tgrelid = 'invoices'::regclass AND d.refobjsubid <> 0;
ALTER TABLE invoices ALTER COLUMN approver TYPE int;
ALTER TABLE invoices ALTER COLUMN approver TYPE bigint;
ALTER TABLE invoices DROP COLUMN payer;
SELECT tgnargs, pg_get_triggerdef(oid) LIKE '%(''invoices_approver_fkey'')' AS names_approver FROM pg_trigger
 WHERE tgname = 'steward_soft_delete_parent' AND tgrelid = 'invoices'::regclass;
UPDATE invoices SET approver = 3 WHERE id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- a key that a BEFORE trigger changes is checked too (not only keys in SET)
CREATE FUNCTION follow_approver() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN IF NEW.note = 'hand over' THEN NEW.approver := 3; END IF; RETURN NEW; END$$;
CREATE TRIGGER follow BEFORE UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION follow_approver();
UPDATE invoices SET note = 'hand over' WHERE id = 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TRIGGER follow ON invoices;
DROP FUNCTION follow_approver();
ALTER TABLE invoices DROP COLUMN approver;                            -- the last key: no trigger
SELECT count(*) AS check_triggers FROM pg_trigger WHERE tgname = 'steward_soft_delete_parent' AND tgrelid = 'invoices'::regclass;
-- a key compared through an implicit cast (int4 into numeric): checked by
-- the prepared statement, which casts
CREATE TABLE ledgers (id numeric PRIMARY KEY, deleted_at timestamptz);
CREATE TABLE entries (id int PRIMARY KEY, ledger_id int REFERENCES ledgers);
INSERT INTO ledgers VALUES (1), (2);
SELECT steward.enable_soft_delete('ledgers', create_views => false);
DELETE FROM ledgers WHERE id = 2;
INSERT INTO entries VALUES (1, 1);
INSERT INTO entries VALUES (2, 2);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE entries, ledgers;
-- partitioned children: the trigger is cloned to the partitions
CREATE TABLE orders (id int, account_id bigint REFERENCES accounts, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE orders_1 PARTITION OF orders FOR VALUES FROM (0) TO (100);
INSERT INTO orders VALUES (1, 1);
INSERT INTO orders VALUES (2, 3);
INSERT INTO orders_1 VALUES (3, 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tgrelid::regclass, tgname, tgparentid <> 0 AS cloned FROM pg_trigger
 WHERE tgname LIKE 'steward_soft_delete_parent%' AND tgrelid IN ('orders'::regclass, 'orders_1'::regclass) ORDER BY 1, 2;
-- a table with its own check trigger can be attached, and a partition's
-- own foreign key is checked by its own trigger
CREATE TABLE orders_2 (id int PRIMARY KEY, account_id bigint REFERENCES accounts);
SELECT count(*) AS own_trigger FROM pg_trigger WHERE tgname = 'steward_soft_delete_parent' AND tgrelid = 'orders_2'::regclass;
ALTER TABLE orders ATTACH PARTITION orders_2 FOR VALUES FROM (100) TO (200);
INSERT INTO orders VALUES (150, 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ALTER TABLE orders_1 ADD CONSTRAINT orders_1_own FOREIGN KEY (account_id) REFERENCES accounts;
SELECT tgname, tgparentid <> 0 AS cloned, tgnargs FROM pg_trigger
 WHERE tgname LIKE 'steward_soft_delete_parent%' AND tgrelid = 'orders_1'::regclass ORDER BY 1;
INSERT INTO orders_1 VALUES (5, 3);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- moving a row to another partition is an INSERT there: checked again
UPDATE orders SET id = 160 WHERE id = 1;
-- disable_soft_delete() removes the checks; references are accepted again
SELECT steward.disable_soft_delete('accounts');
SELECT count(*) AS check_triggers FROM pg_trigger WHERE tgname LIKE 'steward_soft_delete_parent%'
   AND tgrelid IN ('invoices'::regclass, 'shipments'::regclass, 'orders'::regclass, 'orders_1'::regclass);
INSERT INTO orders VALUES (4, 3);
-- dropping an enabled parent with its foreign keys leaves no check behind
CREATE TABLE gone_parent (id int PRIMARY KEY);
CREATE TABLE gone_child (id int PRIMARY KEY, parent_id int REFERENCES gone_parent);
SELECT steward.enable_soft_delete('gone_parent', create_views => false);
SELECT count(*) AS check_triggers FROM pg_trigger WHERE tgname = 'steward_soft_delete_parent' AND tgrelid = 'gone_child'::regclass;
DROP TABLE gone_parent CASCADE;
SELECT count(*) AS check_triggers FROM pg_trigger WHERE tgname = 'steward_soft_delete_parent' AND tgrelid = 'gone_child'::regclass;
DROP TABLE gone_child;
-- one trigger checks at most 32 foreign keys: a table with more is refused
-- on write, with the limit named (not left unchecked)
CREATE TABLE many_keys_parent (id int PRIMARY KEY);
SELECT steward.enable_soft_delete('many_keys_parent', create_views => false);
DO $$
BEGIN
    EXECUTE 'CREATE TABLE many_keys (id int PRIMARY KEY, '
         || (SELECT string_agg(format('k%s int REFERENCES many_keys_parent', i), ', ') FROM generate_series(1, 33) i) || ')';
END $$;
SELECT tgnargs FROM pg_trigger WHERE tgname = 'steward_soft_delete_parent' AND tgrelid = 'many_keys'::regclass;
INSERT INTO many_keys (id) VALUES (1);
DROP TABLE many_keys, many_keys_parent;
-- health(): a reference check that is missing, disabled or lacks a foreign
-- key is a warning naming the table; enable_soft_delete() of an enabled
-- table again makes the checks exact (and returns false)
CREATE FUNCTION sdr.reference_health() RETURNS TABLE(value numeric, status text, detail text)
LANGUAGE sql AS $$
    SELECT value, status, detail FROM steward._health_checks_soft_delete()
     WHERE check_name = 'soft_delete_unchecked_references' $$;
CREATE TABLE hp (id int PRIMARY KEY);
CREATE TABLE hc (id int PRIMARY KEY, a int REFERENCES hp, b int REFERENCES hp);
SELECT steward.enable_soft_delete('hp', create_views => false);
SELECT * FROM sdr.reference_health();
ALTER TABLE hc DISABLE TRIGGER steward_soft_delete_parent;
SELECT * FROM sdr.reference_health();
ALTER TABLE hc ENABLE TRIGGER steward_soft_delete_parent;
DROP TRIGGER steward_soft_delete_parent ON hc;   -- DROP TRIGGER runs no sync
SELECT * FROM sdr.reference_health();
CREATE TRIGGER steward_soft_delete_parent AFTER INSERT OR UPDATE ON hc
    FOR EACH ROW EXECUTE FUNCTION steward._soft_delete_live_parent('hc_a_fkey');
SELECT * FROM sdr.reference_health();
SELECT steward.enable_soft_delete('hp', create_views => false);
SELECT * FROM sdr.reference_health();
SELECT tgname, steward._trigger_args(tgargs) FROM pg_trigger
 WHERE tgrelid = 'hc'::regclass AND tgname LIKE 'steward%';
-- a partitioned referencing table: its clone disabled on one partition, or
-- the trigger set to fire only on replicas, counts too
CREATE TABLE hpt (k int, a int REFERENCES hp) PARTITION BY LIST (k);
CREATE TABLE hpt_1 PARTITION OF hpt FOR VALUES IN (1);
SELECT * FROM sdr.reference_health();
ALTER TABLE hpt_1 DISABLE TRIGGER steward_soft_delete_parent_tree;
SELECT * FROM sdr.reference_health();
ALTER TABLE hpt_1 ENABLE TRIGGER steward_soft_delete_parent_tree;
ALTER TABLE hc ENABLE REPLICA TRIGGER steward_soft_delete_parent;
SELECT * FROM sdr.reference_health();
ALTER TABLE hc ENABLE TRIGGER steward_soft_delete_parent;
SELECT * FROM sdr.reference_health();
DROP TABLE hpt, hc, hp;
DROP FUNCTION sdr.reference_health();
-- the trigger function refuses any other use
CREATE TABLE misuse (id int);
CREATE TRIGGER t BEFORE INSERT ON misuse FOR EACH ROW EXECUTE FUNCTION steward._soft_delete_live_parent();
INSERT INTO misuse VALUES (1);
DROP TABLE misuse;
DROP TABLE orders, shipments, invoices, accounts;
DROP OWNED BY sdr_writer;
DROP ROLE sdr_writer;

RESET search_path;
DROP SCHEMA sdr CASCADE;
