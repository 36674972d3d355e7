\echo '== updated_at: pg_steward keeps users.updated_at current'
CREATE TABLE demo_users (id bigint PRIMARY KEY, email text NOT NULL,
                         updated_at timestamptz NOT NULL DEFAULT now());
SELECT steward.track_updated_at('demo_users') AS tracked;
INSERT INTO demo_users VALUES (1, 'ann@example.com', '2024-01-01'), (2, 'bob@example.com', '2024-01-01');
\echo 'before:'
SELECT id, email, updated_at FROM demo_users ORDER BY id;
UPDATE demo_users SET email = 'ann@example.org' WHERE id = 1;
\echo 'after UPDATE of user 1 (only its stamp moved):'
SELECT id, email, updated_at > '2024-01-01' AS stamp_moved FROM demo_users ORDER BY id;
\echo 'a backfill that keeps the stamp: SET updated_at = updated_at'
UPDATE demo_users SET email = lower(email), updated_at = updated_at WHERE id = 2;
SELECT id, updated_at FROM demo_users WHERE id = 2;
\echo 'tracked tables:'
SELECT * FROM steward.tracked_tables;
