-- (1) baseline: hand-written SKIP LOCKED claim, then complete (delete) in a second transaction
UPDATE raw_job SET state = 'running', attempt = attempt + 1, worker = 'w', lease_expires_at = now() + interval '5 minutes'
 WHERE id = (SELECT id FROM raw_job WHERE queue = 'bench' AND state = 'ready' AND run_at <= now()
              ORDER BY priority DESC, run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id \gset
DELETE FROM raw_job WHERE id = :id;
