-- pg_steward demo: audit trail
\echo '== audit trail: who changed what, and what a row looked like then'
CREATE TABLE demo_accounts (id int PRIMARY KEY, owner text, balance numeric(12,2), password text);
SELECT steward.enable_audit('demo_accounts', redacted => '{password}');

BEGIN;
SET LOCAL steward.actor = 'user-42';
SET LOCAL steward.audit_context = '{"request_id": "req-7"}';
INSERT INTO demo_accounts VALUES (1, 'ann', 100, 'hunter2'), (2, 'bob', 50, 's3cret');
COMMIT;
SELECT now() AS before_changes \gset
BEGIN;
SET LOCAL steward.actor = 'admin-1';
UPDATE demo_accounts SET balance = balance - 30 WHERE id = 1;
UPDATE demo_accounts SET password = 'new-pass' WHERE id = 1;
DELETE FROM demo_accounts WHERE id = 2;
COMMIT;

\echo '-- the log (values as jsonb; UPDATE keeps the key and the changed columns; passwords redacted)'
SELECT action, row_key, old_values, new_values, changed_columns, actor, context
  FROM steward.audit_log WHERE table_name = 'demo_accounts' ORDER BY id;

\echo '-- one record''s history'
SELECT action, actor, new_values FROM steward.history('demo_accounts', 1);

\echo '-- the record as it was before the changes, rebuilt from the log alone'
SELECT steward.row_as_of('demo_accounts', 1, :'before_changes') AS account_1_then,
       steward.row_as_of('demo_accounts', 2, now()) AS account_2_now;

\echo '-- what is audited, and the latest activity'
SELECT table_name, full_row, redacted, trigger_enabled FROM steward.audited_tables;
SELECT table_name, action, actor, row_key FROM steward.recent_activity LIMIT 5;
DROP TABLE demo_accounts;
