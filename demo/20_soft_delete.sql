\echo '== soft delete: DELETE marks rows instead of removing them'
CREATE TABLE shop_users (id bigint PRIMARY KEY, email text NOT NULL CONSTRAINT shop_users_email_key UNIQUE);
CREATE TABLE shop_sessions (id bigint PRIMARY KEY,
                            user_id bigint NOT NULL REFERENCES shop_users ON DELETE CASCADE, token text);
INSERT INTO shop_users VALUES (1, 'ann@example.com'), (2, 'bob@example.com');
INSERT INTO shop_sessions VALUES (10, 1, 'a1'), (11, 1, 'a2'), (20, 2, 'b1');
SELECT steward.enable_soft_delete('shop_users') AS users, steward.enable_soft_delete('shop_sessions') AS sessions;
SELECT steward.soft_delete_unique('shop_users', 'shop_users_email_key') AS email_unique_among_live_rows;

\echo 'an ordinary DELETE, as an ORM sends it: the real count and RETURNING'
DELETE FROM shop_users WHERE id = 1 RETURNING id, email, deleted_at IS NOT NULL AS marked;
\echo 'the row is still there, marked; its sessions were marked with it (same moment):'
SELECT id, email, deleted_at IS NOT NULL AS deleted FROM shop_users ORDER BY id;
SELECT id, user_id, deleted_at IS NOT NULL AS deleted FROM shop_sessions ORDER BY id;
\echo 'reads: the _live view hides deleted rows (same plan as WHERE deleted_at IS NULL)'
SELECT id, email FROM shop_users_live ORDER BY id;
\echo 'restore user 1: the sessions deleted with it come back too'
SELECT steward.restore('shop_users', '1') AS restored;
SELECT id, user_id, deleted_at IS NOT NULL AS deleted FROM shop_sessions ORDER BY id;

\echo 'the email of a deleted user can be used again:'
DELETE FROM shop_users WHERE id = 2;
INSERT INTO shop_users VALUES (3, 'bob@example.com');
SELECT id, email, deleted_at IS NOT NULL AS deleted FROM shop_users ORDER BY id;
\echo 'a new session for the deleted user 2 is refused, as one for a missing user would be:'
SET client_min_messages = notice;  -- (the demo runs with warning)
DO $$
DECLARE detail text;
BEGIN
    INSERT INTO shop_sessions VALUES (21, 2, 'b2');
EXCEPTION WHEN foreign_key_violation THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RAISE NOTICE 'refused (%): % %', SQLSTATE, SQLERRM, detail;
END $$;
RESET client_min_messages;

\echo 'hard delete on purpose (the foreign key really deletes its sessions):'
SELECT steward.hard_delete('shop_users', '2') AS hard_deleted;
SELECT id, user_id FROM shop_sessions ORDER BY id;

\echo 'retention: purge rows deleted more than 30 days ago'
DELETE FROM shop_users WHERE id = 3;
UPDATE shop_users SET deleted_at = now() - interval '40 days' WHERE id = 3;  -- pretend it was long ago
CALL steward.purge_deleted('shop_users', '30 days');

\echo 'summary (granted to steward_monitor):'
SELECT table_name, column_name, live_rows, deleted_rows, counts_exact, cascades FROM steward.soft_delete_summary;
