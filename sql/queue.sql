-- Job queue (docs/queue.md): every function, its happy path and its errors.
\set SHOW_CONTEXT never
SET steward.queue_probe_interval = 0;   -- look for expired leases on every dequeue

-- Queues ------------------------------------------------------------------------
SELECT steward.create_queue('mail') > 0 AS created;
SELECT steward.create_queue('mail');
SELECT steward.create_queue(NULL);
SELECT steward.create_queue('');
SELECT steward.create_queue('bad name');
SELECT steward.create_queue(repeat('x', 49));
SELECT steward.create_queue('q', max_attempts => 0);
SELECT steward.create_queue('q', max_attempts => NULL);
SELECT steward.create_queue('q', lease => '0 seconds');
SELECT steward.create_queue('q', lease => '-1 minute');
SELECT steward.create_queue('q', lease => '8 days');
SELECT steward.create_queue('q', lease => NULL);
SELECT steward.create_queue('q', backoff_base => '-1 second');
SELECT steward.create_queue('q', backoff_base => '1 hour', backoff_max => '1 minute');
SELECT steward.create_queue('q', backoff_jitter => 2);
SELECT steward.create_queue('q', retention => '-1 day');
SELECT steward.create_queue('q', notify => NULL);
SELECT name, paused, max_attempts, lease, backoff_base, backoff_max, backoff_jitter, retention, notify, channel
  FROM steward.queues ORDER BY name;
SELECT steward.alter_queue('mail', max_attempts => 3, backoff_base => '0', backoff_max => '0', backoff_jitter => 0);
SELECT steward.alter_queue('mail', lease => '0');
SELECT steward.alter_queue('nope');
SELECT name, max_attempts, lease, backoff_base FROM steward.queues;

-- Enqueue ------------------------------------------------------------------------
SELECT steward.enqueue('mail', '{"to": "a"}') AS a \gset
SELECT steward.enqueue('mail', '{"to": "b"}', priority => 10) AS b \gset
SELECT steward.enqueue('mail', '{"to": "c"}') AS c \gset
SELECT steward.enqueue('mail', '{"to": "later"}', run_at => now() + interval '1 hour') AS later \gset
SELECT steward.enqueue('nope', '{}');
SELECT steward.enqueue(NULL, '{}');
SELECT steward.enqueue('mail', NULL);
SELECT steward.enqueue('mail', '{}', priority => 40000);
SELECT steward.enqueue('mail', '{}', priority => NULL);
SELECT steward.enqueue('mail', '{}', max_attempts => 0);
SELECT steward.enqueue('mail', '{}', run_at => 'infinity');
-- a dedup key returns the unfinished job that has it
SELECT steward.enqueue('mail', '{"to": "d"}', dedup_key => 'd-1') AS d \gset
SELECT steward.enqueue('mail', '{"to": "d again"}', dedup_key => 'd-1') = :d AS same_job;
-- enqueue is transactional
BEGIN;
SELECT steward.enqueue('mail', '{"to": "rolled back"}') IS NOT NULL AS enqueued;
ROLLBACK;
SELECT queue, state, payload, priority, attempt FROM steward.jobs ORDER BY id;
-- batch
SELECT count(*) FROM steward.enqueue_batch('mail', ARRAY['{"n": 1}', '{"n": 2}']::jsonb[], priority => -5);
SELECT count(*) FROM steward.enqueue_batch('mail', ARRAY[]::jsonb[]);
SELECT steward.enqueue_batch('mail', ARRAY['{"n": 1}', NULL]::jsonb[]);
SELECT steward.enqueue_batch('mail', NULL);

-- Dequeue: priority first, then run_at, then FIFO; future jobs wait -----------------
SELECT id = :b AS is_b, payload, priority, attempt, lease_token, worker
  FROM steward.dequeue('mail', 'w1');
SELECT payload, attempt, lease_token, worker, lease_expires_at > now() AS leased
  FROM steward.dequeue('mail', 'w1', max_jobs => 2);
SELECT steward.dequeue('nope');
SELECT steward.dequeue(NULL);
SELECT steward.dequeue('mail', max_jobs => 0);
SELECT steward.dequeue('mail', max_jobs => 1001);
SELECT steward.dequeue('mail', max_jobs => NULL);
SELECT steward.dequeue('mail', lease => '0');
SELECT steward.dequeue('mail', lease => '-5 seconds');
SELECT steward.dequeue('mail', lease => '8 days');

-- Finishing ------------------------------------------------------------------------
SELECT steward.complete(:b, 1, '{"sent": true}');
SELECT steward.complete(:b, 1);                 -- twice
SELECT steward.complete(:a, 7);                 -- not the current lease
SELECT steward.complete(:later, 0);             -- not claimed
SELECT steward.complete(-1, 1);                 -- unknown
SELECT steward.complete(NULL, 1);
SELECT steward.complete(:a, NULL);
SELECT state, result FROM steward.jobs WHERE id = :b;
-- heartbeat
SELECT steward.extend_lease(:a, 1, '10 minutes') > now() + interval '9 minutes' AS extended;
SELECT steward.extend_lease(:a, 1, '0');
SELECT steward.extend_lease(:a, 1, NULL);
SELECT steward.extend_lease(:a, 1, '30 days');
SELECT steward.extend_lease(:a, 2, '1 minute');
-- progress and log
SELECT steward.log_job(:a, 1, 'half way', '{"pct": 50}');
SELECT steward.log_job(:a, 1, 'done');
SELECT steward.log_job(:a, 1, NULL, NULL);
SELECT steward.log_job(:a, 5, 'x');
SELECT progress, jsonb_array_length(log) AS lines, log -> 1 ->> 'message' AS last FROM steward.jobs WHERE id = :a;
-- fail: retried (retry_in 0: at once) until max_attempts (3), then dead.
-- A retried job goes behind jobs that were due before it.
SELECT steward.fail(:a, 1, 'smtp timeout', retry_in => '0');
SELECT steward.fail(:a, 1, 'again');            -- lease gone with the retry
SELECT steward.fail(:a, 2, 'x', retry_in => '-1 second');
SELECT id = :d AS is_d, id = :a AS is_a, attempt, lease_token FROM steward.dequeue('mail', 'w2', max_jobs => 2);
SELECT steward.fail(:a, 2, 'smtp timeout');     -- backoff 0 (alter_queue above)
SELECT id = :a AS is_a, attempt, lease_token FROM steward.dequeue('mail', 'w2');
SELECT steward.fail(:a, 3, 'smtp refused');
SELECT state, attempt, jsonb_array_length(errors) AS errors, errors -> 2 ->> 'error' AS last_error
  FROM steward.jobs WHERE id = :a;
SELECT steward.fail(:a, 3, 'after death');
-- release gives a job back without using an attempt
SELECT steward.release(:c, 1);
SELECT steward.release(:c, 1);
SELECT steward.release(:c, 2, delay => '-1 second');
SELECT id = :c AS is_c, attempt, lease_token FROM steward.dequeue('mail', 'w3');
-- the lease expires; another worker claims the job (an attempt); the first
-- worker's complete is refused
SELECT steward.extend_lease(:c, 2, '1 millisecond') IS NOT NULL AS short_lease;
SELECT pg_sleep(0.01);
SELECT id = :c AS is_c, attempt, lease_token, worker FROM steward.dequeue('mail', 'w4');
SELECT errors -> -1 ->> 'error' AS why, errors -> -1 ->> 'worker' AS old_worker FROM steward.jobs WHERE id = :c;
SELECT steward.complete(:c, 2);
SELECT steward.complete(:c, 3, '"by w4"');
SELECT state, result, attempt FROM steward.jobs WHERE id = :c;
-- cancel of a running job: its worker's complete, fail, extend_lease and
-- release are refused, and the job stays cancelled
SELECT steward.enqueue('mail', '{"to": "cancel me"}', priority => 100) AS running_cancel \gset
SELECT id = :running_cancel AS is_it, lease_token, worker FROM steward.dequeue('mail', 'w9');
SELECT steward.cancel(:running_cancel);
SELECT steward.complete(:running_cancel, 1);
SELECT steward.fail(:running_cancel, 1, 'too late');
SELECT steward.extend_lease(:running_cancel, 1, '1 minute');
SELECT steward.release(:running_cancel, 1);
SELECT state, worker, attempt, result FROM steward.jobs WHERE id = :running_cancel;
-- cancel: a waiting job, a finished one, an unknown one
SELECT steward.cancel(:later);
SELECT steward.cancel(:later);
SELECT steward.cancel(-1);
SELECT steward.cancel(NULL);
-- retry: dead and cancelled jobs come back with fresh attempts
SELECT steward.retry(:a) = :a AS retried;
SELECT state, attempt, jsonb_array_length(errors) AS old_errors FROM steward.jobs WHERE id = :a;
SELECT steward.retry(:a);                        -- waiting again
SELECT steward.retry(NULL);
SELECT steward.retry(:b);                        -- completed
SELECT steward.retry(-1);
SELECT steward.retry(:later) = :later AS retried_cancelled;

-- One round trip: complete and claim the next; batch complete -------------------------
SELECT id, lease_token AS tok FROM steward.dequeue('mail', 'w5') \gset first_
SELECT payload, attempt FROM steward.complete_and_dequeue(:first_id, :first_tok, '{"ok": 1}', worker => 'w5', max_jobs => 2);
SELECT steward.complete_and_dequeue(:first_id, :first_tok);
SELECT steward.complete_and_dequeue(:first_id, :first_tok, max_jobs => 0);
-- the complete is undone when the dequeue fails
SELECT steward.complete_and_dequeue(:d, 1, queue => 'nope');
SELECT state FROM steward.jobs WHERE id = :d;
SELECT array_agg(id ORDER BY id) AS ids, array_agg(lease_token ORDER BY id) AS toks
  FROM steward.jobs WHERE state = 'running' \gset run_
SELECT steward.complete_batch(:'run_ids', '{1}');
SELECT steward.complete_batch(:'run_ids', array_fill(9, ARRAY[cardinality(:'run_ids'::bigint[])]));
SELECT steward.complete_batch(NULL, '{}');
SELECT steward.complete_batch('{1,1}', '{1,1}');
SELECT steward.complete_batch(ARRAY[1, NULL]::bigint[], '{1,1}');
SELECT steward.complete_batch('{1,2}', ARRAY[1, NULL]::int[]);
SELECT steward.complete_batch('{}', '{}') AS none_completed;
-- all or nothing: a good job before a bad one stays claimed
SELECT steward.complete_batch(:'run_ids', array_cat((:'run_toks'::int[])[1:1], array_fill(9, ARRAY[cardinality(:'run_ids'::bigint[]) - 1])));
SELECT count(*) AS still_running FROM steward.jobs WHERE state = 'running' AND id = ANY (:'run_ids');
SELECT steward.complete_batch(:'run_ids', :'run_toks') AS completed;
SELECT state, count(*) FROM steward.jobs GROUP BY state ORDER BY state;

-- A job that runs out of attempts while its lease is expired is dead --------------------
SELECT steward.create_queue('once', max_attempts => 1) > 0 AS created;
SELECT steward.enqueue('once', '{"x": 1}') AS once \gset
SELECT attempt FROM steward.dequeue('once', lease => '1 millisecond');
SELECT pg_sleep(0.01);
SELECT count(*) AS claimed FROM steward.dequeue('once');
SELECT state, errors -> 0 ->> 'error' AS error FROM steward.jobs WHERE id = :once;

-- Pause and resume ------------------------------------------------------------------------
SELECT steward.enqueue('once', '{"x": 2}') AS once2 \gset
SELECT steward.pause_queue('once'), steward.pause_queue('once');
SELECT count(*) AS claimed_while_paused FROM steward.dequeue('once');
SELECT steward.enqueue('once', '{}');
SELECT steward.resume_queue('once'), steward.resume_queue('once');
SELECT id = :once2 AS resumed FROM steward.dequeue('once');
SELECT steward.pause_queue('nope');

-- Monitoring views ---------------------------------------------------------------------------
SELECT queue, paused, ready, scheduled, running, expired_leases, completed_last_5min, dead_last_5min, counts_exact
  FROM steward.queue_stats ORDER BY queue;
SELECT queue, ready, running, dead, counts_exact FROM steward.queue_summary ORDER BY queue;
SELECT queue, error, occurrences, jobs FROM steward.queue_error_summary ORDER BY queue, error;
-- No monitoring query reads steward._job, the history or the error log
-- sequentially (found in review: failed_last_5min, queue_error_summary,
-- queue_summary.dead and the dead jobs check did): the tables' sequential scan
-- counters do not move.
SELECT pg_stat_force_next_flush();
SELECT sum(seq_scan) AS seq_before FROM pg_stat_user_tables
 WHERE relid IN ('steward._job'::regclass, 'steward._job_error'::regclass)
    OR relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'steward._job_history'::regclass) \gset
SELECT count(*) > 0 AS stats FROM steward.queue_stats;
SELECT count(*) > 0 AS summary FROM steward.queue_summary;
SELECT count(*) > 0 AS errors FROM steward.queue_error_summary;
SELECT count(*) > 0 AS checks FROM steward._health_checks_queue();
SELECT pg_stat_force_next_flush();
SELECT sum(seq_scan) - :seq_before AS seq_scans FROM pg_stat_user_tables
 WHERE relid IN ('steward._job'::regclass, 'steward._job_error'::regclass)
    OR relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'steward._job_history'::regclass);
-- failed_last_5min counts every error of the window, whether the job is
-- still waiting, completed since, or dead (found in review: a job that failed
-- and then completed dropped out of the count); a dead job's last error is
-- counted once
SELECT steward.create_queue('flaky', max_attempts => 2, backoff_base => '0', backoff_max => '0') > 0 AS created;
SELECT steward.enqueue('flaky', '{"n": 1}') > 0 AS enqueued;
SELECT steward.fail(id, lease_token, 'first try') FROM steward.dequeue('flaky');
SELECT failed_last_5min, dead_last_5min FROM steward.queue_stats WHERE queue = 'flaky';
SELECT steward.complete(id, lease_token) FROM steward.dequeue('flaky');
SELECT failed_last_5min, dead_last_5min, completed_last_5min FROM steward.queue_stats WHERE queue = 'flaky';
SELECT steward.enqueue('flaky', '{"n": 2}') > 0 AS enqueued;
SELECT steward.fail(id, lease_token, 'no luck') FROM steward.dequeue('flaky');
SELECT steward.fail(id, lease_token, 'no luck') FROM steward.dequeue('flaky');
SELECT failed_last_5min, dead_last_5min, completed_last_5min FROM steward.queue_stats WHERE queue = 'flaky';
SELECT error, occurrences, jobs FROM steward.queue_error_summary WHERE queue = 'flaky' ORDER BY error;
SELECT steward.drop_queue('flaky');
-- queue_stats from controlled data (one transaction: now() is fixed): 600
-- completions in the last 5 minutes, each run 2 s, waiting 3 s (run_at after
-- enqueue) or 2 s (enqueued after run_at): avg_wait 2.5 s, avg_run 2 s,
-- 2 jobs/s; one older completion that counts for nothing; three running jobs,
-- two with expired leases; a job ready for 90 s; dead jobs
BEGIN;
SELECT steward.create_queue('figures') > 0 AS created;
INSERT INTO steward._job_history (id, queue_id, state, priority, run_at, payload, attempt, max_attempts, lease_token,
                                  claimed_at, enqueued_at, finished_at)
SELECT nextval('steward._job_id_seq'), q.id, 'completed'::steward._job_finished_state, 0,
       f - CASE WHEN i % 2 = 0 THEN interval '5 seconds' ELSE interval '10 seconds' END, '{}'::jsonb, 1, 5, 1,
       f - interval '2 seconds', f - CASE WHEN i % 2 = 0 THEN interval '6 seconds' ELSE interval '4 seconds' END, f
  FROM steward._queue q, generate_series(1, 600) i, LATERAL (SELECT now() - i * interval '400 ms' AS f) t
 WHERE q.name = 'figures'
UNION ALL
SELECT nextval('steward._job_id_seq'), q.id, 'completed', 0, now() - interval '1 hour', '{}', 1, 5, 1,
       now() - interval '10 minutes', now() - interval '1 hour', now() - interval '6 minutes'
  FROM steward._queue q WHERE q.name = 'figures';
-- dead jobs a minute, two days and eight days ago (the last beyond the
-- retention of 7 days: no longer counted)
INSERT INTO steward._job_history (id, queue_id, state, priority, run_at, payload, attempt, max_attempts, lease_token,
                                  claimed_at, enqueued_at, finished_at, errors)
SELECT nextval('steward._job_id_seq'), q.id, 'dead', 0, f - interval '1 hour', '{}', 5, 5, 5, f - interval '1 minute',
       f - interval '1 hour', f, jsonb_build_array(jsonb_build_object('attempt', 5, 'at', f, 'error', 'boom'))
  FROM steward._queue q, unnest(ARRAY[now() - interval '1 minute', now() - interval '2 days', now() - interval '8 days']) f
 WHERE q.name = 'figures';
-- and their last errors in the error log, as fail() writes them
INSERT INTO steward._job_error (queue_id, job_id, at, attempt, error, dead)
SELECT h.queue_id, h.id, h.finished_at, h.attempt, 'boom', true
  FROM steward._job_history h JOIN steward._queue q ON q.id = h.queue_id
 WHERE q.name = 'figures' AND h.state = 'dead';
INSERT INTO steward._job (queue_id, state, prio, run_at, payload, max_attempts, attempt, lease_token, worker,
                          claimed_at, lease_expires_at)
SELECT q.id, 'running', 0, now() - interval '1 hour', '{}', 5, 1, 1, 'w', now() - interval '10 minutes', now() + e
  FROM steward._queue q, unnest(ARRAY[interval '-1 minute', interval '-1 second', interval '1 minute']) e
 WHERE q.name = 'figures';
SELECT steward.enqueue('figures', '{}', run_at => now() - interval '90 seconds') > 0 AS enqueued;
SELECT ready, scheduled, running, expired_leases, oldest_ready_age, completed_last_5min, jobs_per_second_5min,
       avg_wait, avg_run, counts_exact
  FROM steward.queue_stats WHERE queue = 'figures';
SELECT failed_last_5min, dead_last_5min FROM steward.queue_stats WHERE queue = 'figures';
SELECT ready, running, expired_leases, dead, counts_exact FROM steward.queue_summary WHERE queue = 'figures';
SELECT check_name, value, status FROM steward._health_checks_queue() WHERE check_name LIKE '%:figures' ORDER BY 1;
-- past 1,000 ready jobs the count is the planner's estimate (at least
-- 1,001) and counts_exact is false
SELECT count(*) FROM steward.enqueue_batch('figures', array_fill('{}'::jsonb, ARRAY[1500]));
SELECT ready > 1000 AS many, counts_exact FROM steward.queue_stats WHERE queue = 'figures';
SELECT ready > 1000 AS many, counts_exact FROM steward.queue_summary WHERE queue = 'figures';
ROLLBACK;
-- the estimate comes first: over the cap, a probe of 50 rows tells a queue
-- that big (the estimate, inexact) from one drained since the last ANALYZE
-- (the exact count)
BEGIN;
SELECT steward.create_queue('estimated') > 0 AS created;
SELECT count(*) FROM steward.enqueue_batch('estimated', array_fill('{}'::jsonb, ARRAY[3000]));
ANALYZE steward._job;
SELECT ready BETWEEN 1001 AND 10000 AS estimated, counts_exact FROM steward.queue_stats WHERE queue = 'estimated';
DELETE FROM steward._job WHERE queue_id = (SELECT id FROM steward._queue WHERE name = 'estimated') AND id % 100 <> 0;
SELECT ready, counts_exact FROM steward.queue_stats WHERE queue = 'estimated';
ROLLBACK;
-- oldest_ready_age is exact: one starved low-priority job behind 1500 newer
-- high-priority ones (found in review: only the first 1000 jobs in claim
-- order were looked at, and health() said ok). One transaction: now() is fixed.
-- (1501 ready jobs are over the counts' cap of 1,000: ready is an estimate
-- and counts_exact false; the age is exact all the same.)
BEGIN;
SELECT steward.create_queue('starve') > 0 AS created;
SELECT steward.enqueue('starve', '{}', priority => -1, run_at => now() - interval '2 hours') > 0 AS starved;
SELECT count(*) FROM steward.enqueue_batch('starve', array_fill('{}'::jsonb, ARRAY[1500]), priority => 10);
SELECT ready, oldest_ready_age, counts_exact FROM steward.queue_stats WHERE queue = 'starve';
SELECT value, status FROM steward._health_checks_queue() WHERE check_name = 'queue_oldest_ready_seconds:starve';
-- due scheduled jobs count as ready
UPDATE steward._job SET state = 'scheduled', run_at = now() - interval '3 hours'
 WHERE id = (SELECT max(id) FROM steward._job);
SELECT oldest_ready_age FROM steward.queue_stats WHERE queue = 'starve';
ROLLBACK;
-- beyond 1000 distinct priorities only the highest 1000 are looked at: the
-- age is then a lower bound and counts_exact is false
BEGIN;
SELECT steward.create_queue('prios') > 0 AS created;
SELECT steward.enqueue('prios', '{}', priority => 0, run_at => now() - interval '2 hours') > 0 AS oldest;
SELECT count(steward.enqueue('prios', '{}', priority => p)) FROM generate_series(1, 1001) p;
SELECT ready, oldest_ready_age, counts_exact FROM steward.queue_stats WHERE queue = 'prios';
ROLLBACK;
SET ROLE steward_monitor;
SELECT check_name, CASE WHEN check_name LIKE 'queue_oldest%' THEN value < 60 END AS young,
       CASE WHEN check_name NOT LIKE 'queue_oldest%' THEN value END AS value, status
  FROM steward._health_checks_queue() ORDER BY check_name;
SELECT count(*) > 0 AS monitor_reads FROM steward.queue_summary;
SELECT count(*) FROM steward.jobs;               -- jobs (payloads) are not for monitors
SELECT steward.enqueue('mail', '{}');            -- nor is the API
RESET ROLE;

-- Backoff: exponential, capped, with jitter --------------------------------------------------
SELECT steward._queue_backoff(n, '10 seconds', '1 minute', 0) AS delay FROM generate_series(1, 4) n;
SELECT bool_and(d BETWEEN interval '8 seconds' AND interval '12 seconds') AS jitter_in_band
  FROM (SELECT steward._queue_backoff(1, '10 seconds', '1 hour', 0.2) d FROM generate_series(1, 50)) s;

-- History partitions and retention --------------------------------------------------------------
SELECT steward.queue_maintenance() AS dropped;
SELECT count(*) >= 5 AS daily_partitions FROM pg_inherits WHERE inhparent = 'steward._job_history'::regclass;

-- Drop ------------------------------------------------------------------------------------------
SELECT steward.drop_queue('mail');
SELECT steward.drop_queue('mail', force => true);
SELECT steward.enqueue('mail', '{}');
SELECT steward.drop_queue('mail');
SELECT steward.drop_queue('once', force => true);
SELECT count(*) AS jobs_left FROM steward.jobs;

-- Retention: a queue that keeps nothing lets maintenance drop every past day
SELECT steward.create_queue('short', retention => '0') > 0 AS created;
SELECT to_regclass('steward._job_history_p' || to_char(current_date - 1, 'YYYYMMDD')) IS NULL AS yesterday_dropped,
       to_regclass('steward._job_history_p' || to_char(current_date + 1, 'YYYYMMDD')) IS NOT NULL AS tomorrow_ready;
-- the cursor introspection answers in both modes (NULL key without preloading)
SELECT count(*) FROM steward._queue_cursor(1);
SELECT steward.drop_queue('short');
-- Clocks: failure, retry, lease extension, release and finishing times count
-- from the call (clock_timestamp()), not from the transaction's start (found
-- by the example ports: a worker that claimed, worked and failed in one
-- transaction got its backoff shortened by its working time)
SELECT steward.create_queue('clock', backoff_base => '1 second', backoff_jitter => 0) > 0 AS created;
SELECT steward.enqueue('clock', '{"n": 1}') AS clock_job \gset
BEGIN;
SELECT id, lease_token FROM steward.dequeue('clock', 'w') \gset clk_
SELECT pg_sleep(0.05);
SELECT clock_timestamp() AS before_extend \gset
SELECT steward.extend_lease(:clk_id, :clk_lease_token, '1 minute') >= :'before_extend'::timestamptz + interval '1 minute'
       AS lease_from_the_call;
SELECT clock_timestamp() AS failed_at \gset
SELECT steward.fail(:clk_id, :clk_lease_token, 'boom');
SELECT run_at - :'failed_at'::timestamptz >= interval '1 second' AS full_backoff,
       (errors -> 0 ->> 'at')::timestamptz >= :'failed_at'::timestamptz AS error_at_the_failure
  FROM steward._job WHERE id = :clk_id;
SELECT at >= :'failed_at'::timestamptz AS logged_at_the_failure FROM steward._job_error WHERE job_id = :clk_id;
COMMIT;
-- release with a delay, complete and cancel in a transaction that is older
-- than the call
UPDATE steward._job SET state = 'ready', run_at = now() WHERE id = :clk_id;
BEGIN;
SELECT id, lease_token FROM steward.dequeue('clock', 'w') \gset clk_
SELECT pg_sleep(0.05);
SELECT clock_timestamp() AS before_release \gset
SELECT steward.release(:clk_id, :clk_lease_token, delay => '1 minute');
SELECT run_at >= :'before_release'::timestamptz + interval '1 minute' AS delay_from_the_call
  FROM steward._job WHERE id = :clk_id;
COMMIT;
UPDATE steward._job SET state = 'ready', run_at = now() WHERE id = :clk_id;
BEGIN;
SELECT id, lease_token FROM steward.dequeue('clock', 'w') \gset clk_
SELECT pg_sleep(0.05);
SELECT steward.complete(:clk_id, :clk_lease_token);
SELECT finished_at > claimed_at AS completed_after_the_claim FROM steward._job_history WHERE id = :clk_id;
SELECT steward.enqueue('clock', '{"n": 2}') AS clock_cancel \gset
SELECT pg_sleep(0.05);
SELECT steward.cancel(:clock_cancel);
SELECT finished_at > now() AS cancelled_at_the_call FROM steward._job_history WHERE id = :clock_cancel;
COMMIT;

-- fail without retry: dead at once on attempt 1 of 5, with its error,
-- counted as dead; steward.retry() revives it
SELECT steward.enqueue('clock', '{"n": 3}') AS no_retry \gset
SELECT id, lease_token FROM steward.dequeue('clock', 'w') \gset nr_
SELECT steward.fail(:nr_id, :nr_lease_token, 'invalid input', retry => NULL);
SELECT steward.fail(:nr_id, :nr_lease_token, 'invalid input', retry_in => '1 minute', retry => false);
SELECT steward.fail(:nr_id, :nr_lease_token, 'invalid input', retry => false);
SELECT state, attempt, max_attempts, errors -> 0 ->> 'error' AS error FROM steward.jobs WHERE id = :nr_id;
SELECT dead, dead_last_5min FROM steward.queue_summary, steward.queue_stats s
 WHERE queue_summary.queue = 'clock' AND s.queue = 'clock';
SELECT steward.retry(:nr_id) = :nr_id AS retried;
SELECT dead FROM steward.queue_summary WHERE queue = 'clock';
-- the positional calls of before still retry
SELECT id, lease_token FROM steward.dequeue('clock', 'w') \gset nr_
SELECT steward.fail(:nr_id, :nr_lease_token, 'flaky', '0');
SELECT state, attempt FROM steward.jobs WHERE id = :nr_id;

-- steward.job(): one job by id, live or finished, for a role that may not
-- read steward.jobs; NULL when there is no such job
CREATE ROLE regress_queue_app;
GRANT USAGE ON SCHEMA steward TO regress_queue_app;
GRANT EXECUTE ON FUNCTION steward.job(bigint) TO regress_queue_app;
SET ROLE regress_queue_app;
SELECT count(*) FROM steward.jobs;
SELECT id = :nr_id AS found, queue, state, payload, attempt, finished_at IS NULL AS live FROM steward.job(:nr_id);
SELECT id = :clk_id AS found, queue, state, result, finished_at IS NOT NULL AS finished FROM steward.job(:clk_id);
SELECT (steward.job(:clock_cancel)).state;
SELECT steward.job(-1) IS NULL AS not_found, (steward.job(-1)).state IS NULL AS no_state;
SELECT count(*) AS one_row_of_nulls FROM steward.job(-1) j WHERE j.id IS NULL;
SELECT steward.job(NULL) IS NULL AS null_id;
SELECT steward.enqueue('clock', '{}');            -- EXECUTE on job() only
RESET ROLE;
SELECT has_function_privilege('public', 'steward.job(bigint)', 'EXECUTE') AS public_may_read_jobs;
-- a job past its queue's retention is gone, as in steward.jobs
SELECT steward.alter_queue('clock', retention => '0');
SELECT steward.job(:clk_id) IS NULL AS past_retention;

-- A job whose last lease expired is dead: nothing tells the worker, but
-- steward.job() shows it, with its error, and the dead jobs check warns
SELECT steward.cancel(:nr_id);
SELECT steward.alter_queue('clock', max_attempts => 1, retention => '7 days');
SELECT steward.enqueue('clock', '{"n": 4}') AS expiring \gset
SELECT attempt FROM steward.dequeue('clock', 'w', lease => '1 millisecond');
SELECT pg_sleep(0.01);
SELECT count(*) AS claimed FROM steward.dequeue('clock', 'w');
SELECT state, errors -> -1 ->> 'error' AS error FROM steward.job(:expiring);
SELECT dead FROM steward.queue_summary WHERE queue = 'clock';
SELECT status FROM steward._health_checks_queue() WHERE check_name = 'queue_dead_jobs_1d:clock';

-- Health thresholds: strictly beyond, as steward.health_status() and every
-- other check (found by the example ports: one dead job was a warning with
-- warning = 1), read from steward.<check name>_warning / _critical
SELECT check_name, value, warning, critical, status FROM steward._health_checks_queue()
 WHERE check_name LIKE '%:clock' ORDER BY 1;
SET steward.queue_dead_jobs_1d_warning = 1;      -- one dead job is not beyond 1
SELECT value, status FROM steward._health_checks_queue() WHERE check_name = 'queue_dead_jobs_1d:clock';
RESET steward.queue_dead_jobs_1d_warning;
SET steward.queue_dead_jobs_1d_critical = 0;
SELECT value, status FROM steward._health_checks_queue() WHERE check_name = 'queue_dead_jobs_1d:clock';
RESET steward.queue_dead_jobs_1d_critical;
-- the old names (without the check's suffix) are not read
SET steward.queue_dead_jobs_warning = 5;
SELECT value, status FROM steward._health_checks_queue() WHERE check_name = 'queue_dead_jobs_1d:clock';
RESET steward.queue_dead_jobs_warning;
SET steward.queue_expired_leases_warning = -1;
SET steward.queue_oldest_ready_seconds_warning = -1;
SELECT check_name, status FROM steward._health_checks_queue() WHERE check_name LIKE '%:clock' ORDER BY 1;
RESET steward.queue_expired_leases_warning;
RESET steward.queue_oldest_ready_seconds_warning;
SELECT steward.drop_queue('clock', force => true);
DROP OWNED BY regress_queue_app;
DROP ROLE regress_queue_app;

-- the tests above roll back thousands of jobs: leave no dead rows behind for
-- the dead tuple check of the stats tests (pending statistics first, so that
-- they cannot arrive after VACUUM's report)
SELECT pg_stat_force_next_flush();
VACUUM steward._job, steward._job_history;
