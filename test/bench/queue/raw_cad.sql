-- (4) raw SQL in one round trip: delete the previous job and claim the next
WITH done AS (DELETE FROM raw_job WHERE id = :id)
UPDATE raw_job SET state = 'running', attempt = attempt + 1, worker = 'w', lease_expires_at = now() + interval '5 minutes'
 WHERE id = (SELECT id FROM raw_job WHERE queue = 'bench' AND state = 'ready' AND run_at <= now()
              ORDER BY priority DESC, run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id \gset
