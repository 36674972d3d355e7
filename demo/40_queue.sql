-- pg_steward demo: the job queue
\echo '== Job queue: create a queue and enqueue jobs (transactional, deduplicated)'
SELECT steward.create_queue('demo_mail', max_attempts => 2, backoff_base => '0', backoff_max => '0') AS queue_id;
SELECT steward.enqueue('demo_mail', '{"to": "ada@example.com"}') AS job_ada,
       steward.enqueue('demo_mail', '{"to": "bob@example.com"}', priority => 10) AS job_bob_urgent,
       steward.enqueue('demo_mail', '{"to": "cy@example.com"}', dedup_key => 'welcome-cy') AS dedup_first,
       steward.enqueue('demo_mail', '{"to": "cy@example.com"}', dedup_key => 'welcome-cy') AS dedup_second;

\echo '== A worker claims two jobs: highest priority first; each claim has a lease token'
SELECT id, payload ->> 'to' AS "to", priority, attempt, lease_token
  FROM steward.dequeue('demo_mail', 'worker-1', max_jobs => 2);

\echo '== Bob is sent; Ada fails and is retried (backoff 0 here)'
SELECT steward.complete(2, 1, '{"sent": true}');
SELECT steward.fail(1, 1, 'smtp timeout') AS ada_is_now;

\echo '== One round trip per job: complete the current job and claim the next'
SELECT id, payload ->> 'to' AS "to", attempt, lease_token FROM steward.dequeue('demo_mail', 'worker-1');
SELECT id AS next_id, payload ->> 'to' AS "to", lease_token
  FROM steward.complete_and_dequeue(3, 1, '{"sent": true}', worker => 'worker-1');

\echo '== A worker whose lease is not the current one is refused'
SET client_min_messages = notice;  -- (the demo runs with warning)
DO $$
BEGIN
    PERFORM steward.complete(1, 1);     -- Ada's first lease; she was claimed again (lease 2)
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    RAISE NOTICE 'refused: %', SQLERRM;
END $$;
RESET client_min_messages;
SELECT steward.complete(1, 2, '{"sent": true}');

\echo '== Every job, and the queue stats'
SELECT id, state, attempt, payload ->> 'to' AS "to", result, errors -> 0 ->> 'error' AS first_error
  FROM steward.jobs WHERE queue = 'demo_mail' ORDER BY id;
SELECT queue, ready, running, completed_last_5min, counts_exact FROM steward.queue_stats WHERE queue = 'demo_mail';
SELECT steward.drop_queue('demo_mail') AS dropped;
