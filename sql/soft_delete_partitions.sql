-- Soft delete on a partition attached later whose columns are in another
-- order (and with a dropped column): DELETE in both paths, on the root and
-- on the partition, the cascade from its rows, restore, purge and the
-- TRUNCATE guard all find the column by name.
CREATE SCHEMA sdpart;
SET search_path = sdpart, public;
SET client_min_messages = warning;

CREATE TABLE orders (id int, region text, amount int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
SELECT steward.enable_soft_delete('orders', create_views => false);
CREATE TABLE orders_us (junk int, deleted_at timestamptz, amount int, region text NOT NULL, id int NOT NULL);
ALTER TABLE orders_us DROP COLUMN junk;
ALTER TABLE orders ATTACH PARTITION orders_us FOR VALUES IN ('us');
SELECT attrelid::regclass, string_agg(attname, ', ' ORDER BY attnum) AS columns
  FROM pg_attribute WHERE attrelid IN ('orders'::regclass, 'orders_us'::regclass) AND attnum > 0 AND NOT attisdropped
 GROUP BY attrelid ORDER BY 1;
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgrelid = 'orders_us'::regclass ORDER BY tgname;
TRUNCATE orders_us;                                                  -- refused
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE order_notes (id int PRIMARY KEY, order_id int, region text,
    FOREIGN KEY (order_id, region) REFERENCES orders ON DELETE CASCADE);
SELECT steward.enable_soft_delete('order_notes', create_views => false);
INSERT INTO orders VALUES (1, 'eu', 10), (2, 'us', 20), (3, 'us', 30), (4, 'us', 40), (5, 'us', 50);
INSERT INTO order_notes VALUES (1, 2, 'us'), (2, 3, 'us'), (3, 5, 'us');

DELETE FROM orders WHERE id IN (1, 2) RETURNING tableoid::regclass, id, amount, deleted_at IS NOT NULL AS marked;
SET steward.soft_delete_rewrite = off;
DELETE FROM orders WHERE id = 3;
DELETE FROM orders_us WHERE id = 4;
RESET steward.soft_delete_rewrite;
DELETE FROM orders_us WHERE id = 5 RETURNING id, amount, deleted_at IS NOT NULL AS marked;
SELECT tableoid::regclass, id, amount, deleted_at IS NOT NULL AS deleted FROM orders ORDER BY id;
SELECT id, deleted_at = (SELECT o.deleted_at FROM orders o WHERE o.id = n.order_id) AS same_mark FROM order_notes n ORDER BY id;

SELECT steward.restore('orders', '{"id": 2, "region": "us"}');
SELECT id, deleted_at IS NOT NULL AS deleted FROM order_notes ORDER BY id;
UPDATE orders SET deleted_at = now() - interval '2 days' WHERE deleted_at IS NOT NULL;
UPDATE order_notes SET deleted_at = now() - interval '2 days' WHERE deleted_at IS NOT NULL;
SELECT steward.purge_deleted_batch('order_notes', '1 day'), steward.purge_deleted_batch('orders', '1 day');
SELECT tableoid::regclass, id, amount FROM orders ORDER BY id;

RESET search_path;
DROP SCHEMA sdpart CASCADE;
