-- Soft delete decisions taken at plan time are never reused from a cached
-- plan made under other settings, and partitions decide for themselves.
CREATE SCHEMA sdp;
SET search_path = sdp, public;
SET client_min_messages = warning;
CREATE TABLE items (id int PRIMARY KEY, name text);
SELECT steward.enable_soft_delete('items') IS NOT NULL AS enabled;
RESET client_min_messages;
INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 6) g;

-- A prepared DELETE, planned (and cached) while soft delete is in force ...
PREPARE del(int) AS DELETE FROM items WHERE id = $1;
EXECUTE del(1);
EXECUTE del(2);
-- ... really deletes once hard delete is switched on for the transaction,
BEGIN;
SET LOCAL steward.hard_delete = on;
EXECUTE del(3);
COMMIT;
-- ... and marks again afterwards.
EXECUTE del(4);
SELECT id, deleted_at IS NOT NULL AS marked FROM items ORDER BY id;
DEALLOCATE del;

-- steward.hard_delete() and purge do not switch the setting: the plan cache
-- is reset only when a cached plan could do the wrong thing (a rewritten
-- DELETE, planned since the last reset, running inside), not at every call.
-- A plan-time NOTICE shows when a prepared statement is planned again.
CREATE FUNCTION plan_probe() RETURNS int LANGUAGE plpgsql IMMUTABLE AS
  $$ BEGIN RAISE NOTICE 'planned'; RETURN 0; END $$;
PREPARE probe AS SELECT count(*) > 0 AS rows FROM items WHERE id > plan_probe();
EXECUTE probe;                                -- planned
EXECUTE probe;                                -- cached
DELETE FROM items WHERE id = 5;               -- a rewritten DELETE ...
SELECT steward.hard_delete('items', '5');     -- ... so the cache is reset here
EXECUTE probe;                                -- planned again
SELECT steward.hard_delete('items', '4');     -- nothing rewritten since: no reset
UPDATE items SET deleted_at = now() - interval '2 days' WHERE id = 6;
SELECT steward.purge_deleted_batch('items', '1 day');
EXECUTE probe;                                -- still cached
BEGIN;
SET LOCAL steward.hard_delete = on;           -- nothing rewritten since: no reset
COMMIT;
EXECUTE probe;                                -- still cached
DEALLOCATE probe;
SELECT id, deleted_at IS NOT NULL AS marked FROM items ORDER BY id;
-- a DELETE that a trigger runs inside steward.hard_delete() is a real one
-- too, and soft again afterwards
CREATE TABLE item_copies (id int PRIMARY KEY);
SET client_min_messages = warning;
SELECT steward.enable_soft_delete('item_copies') IS NOT NULL AS enabled;
RESET client_min_messages;
INSERT INTO items VALUES (7, 'item 7'), (8, 'item 8');
INSERT INTO item_copies VALUES (7), (8), (9);
CREATE FUNCTION drop_copy() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN DELETE FROM sdp.item_copies WHERE id = OLD.id; RETURN NULL; END $$;
CREATE TRIGGER z_drop_copy AFTER DELETE ON items FOR EACH ROW EXECUTE FUNCTION drop_copy();
SELECT steward.hard_delete('items', '7');
SELECT steward.hard_delete('items', '8');
DELETE FROM item_copies WHERE id = 9;
SELECT id, deleted_at IS NOT NULL AS marked FROM item_copies ORDER BY id;

-- A partition with the steward trigger disabled, or with a BEFORE DELETE
-- trigger of its own that runs first, is handled by the triggers for every
-- row of the statement, so the same rows end up marked whether the library
-- is loaded or not.
CREATE TABLE parts (id int, kind text, PRIMARY KEY (id, kind)) PARTITION BY LIST (kind);
CREATE TABLE parts_a PARTITION OF parts FOR VALUES IN ('a');
CREATE TABLE parts_b PARTITION OF parts FOR VALUES IN ('b');
SET client_min_messages = warning;
SELECT steward.enable_soft_delete('parts') IS NOT NULL AS enabled;
RESET client_min_messages;
INSERT INTO parts VALUES (1, 'a'), (2, 'b'), (3, 'a'), (4, 'b');
CREATE FUNCTION refuse_archive() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN RAISE NOTICE 'archive row % kept', OLD.id; RETURN NULL; END $$;
CREATE TRIGGER a_guard BEFORE DELETE ON parts_b FOR EACH ROW EXECUTE FUNCTION refuse_archive();
DELETE FROM parts WHERE id IN (1, 2);
SELECT id, kind, deleted_at IS NOT NULL AS marked FROM parts ORDER BY id;
DROP TRIGGER a_guard ON parts_b;
ALTER TABLE parts_b DISABLE TRIGGER steward_soft_delete;
DELETE FROM parts WHERE id = 4;               -- parts_b: the trigger is off, a real delete
ALTER TABLE parts_b ENABLE TRIGGER steward_soft_delete;
SELECT id, kind, deleted_at IS NOT NULL AS marked FROM parts ORDER BY id;

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA sdp CASCADE;
