-- Monitoring benchmark data (QUEUE_BENCH_PARTS=monitor), psql -v n=N:
-- three queues; N ready jobs in 'bench' (1% of them failed once in the last
-- two hours), a few running (some with expired leases) and scheduled jobs in
-- every queue; N history rows finished over the last 24 hours (90% 'bench',
-- 10% 'other'; 1% with errors, 0.1% dead); their errors in the error log.
TRUNCATE steward._job, steward._job_history, steward._job_error;
-- (the batch variant's queue of the ratios part: not one of the three)
SELECT steward.drop_queue(name) FROM steward.queues WHERE name = 'bench_batch';
SELECT steward.create_queue(n) FROM unnest(ARRAY['bench', 'other', 'idle']) n
 WHERE NOT EXISTS (SELECT FROM steward.queues q WHERE q.name = n);
INSERT INTO steward._job (queue_id, state, prio, run_at, payload, max_attempts, attempt, lease_token, errors)
SELECT (SELECT id FROM steward._queue WHERE name = 'bench'), 'ready', -(i % 3), now() - interval '1 minute',
       '{"pad": "xxxxxxxxxxxxxxxxxxxxxxxx"}', 5, (i % 100 = 0)::int, -(i % 100 = 0)::int,
       CASE WHEN i % 100 = 0 THEN jsonb_build_array(jsonb_build_object('attempt', 1,
           'at', now() - (i % 7200) * interval '1 second', 'worker', 'w', 'error', 'boom ' || i % 5)) END
  FROM generate_series(1, :n) i;
INSERT INTO steward._job (queue_id, state, prio, run_at, payload, max_attempts, attempt, lease_token, worker,
                          claimed_at, lease_expires_at)
SELECT q.id, 'running', 0, now() - interval '10 minutes', '{}', 5, 1, 1, 'w', now() - interval '5 minutes',
       now() + (i - 5) * interval '1 minute'
  FROM steward._queue q, generate_series(1, 20) i;
INSERT INTO steward._job (queue_id, state, prio, run_at, payload, max_attempts)
SELECT q.id, 'scheduled', 0, now() + i * interval '1 minute', '{}', 5 FROM steward._queue q, generate_series(1, 20) i;
SELECT steward.queue_maintenance() >= 0;
INSERT INTO steward._job_history (id, queue_id, state, priority, run_at, payload, attempt, max_attempts, lease_token,
                                  worker, claimed_at, enqueued_at, finished_at, errors)
SELECT nextval('steward._job_id_seq'),
       (SELECT id FROM steward._queue WHERE name = CASE WHEN i % 10 = 0 THEN 'other' ELSE 'bench' END),
       CASE WHEN i % 1000 = 0 THEN 'dead'::steward._job_finished_state ELSE 'completed' END, 0, f - interval '3 seconds',
       '{"pad": "xxxxxxxxxxxxxxxxxxxxxxxx"}', 1, 5, 1, 'w', f - interval '1 second', f - interval '3 seconds', f,
       CASE WHEN i % 100 = 0 THEN jsonb_build_array(jsonb_build_object('attempt', 1, 'at', f - interval '1 second',
           'worker', 'w', 'error', 'hist ' || i % 3)) END
  FROM generate_series(1, :n) i, LATERAL (SELECT now() - (:n - i) * (interval '24 hours' / :n) AS f) t;
-- the error log, as fail() would have written it
INSERT INTO steward._job_error (queue_id, job_id, at, attempt, error, dead)
SELECT j.queue_id, j.id, (e ->> 'at')::timestamptz, (e ->> 'attempt')::int, e ->> 'error', false
  FROM steward._job j, jsonb_array_elements(j.errors) e WHERE j.errors IS NOT NULL
UNION ALL
SELECT h.queue_id, h.id, (e ->> 'at')::timestamptz, (e ->> 'attempt')::int, e ->> 'error', h.state = 'dead'
  FROM steward._job_history h, jsonb_array_elements(h.errors) e WHERE h.errors IS NOT NULL;
