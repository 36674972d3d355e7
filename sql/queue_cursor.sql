-- The queue's cursor (docs/queue.md, "Flat under a held snapshot"): its
-- safety net and its slots. Runs plain and preloaded against one expected
-- file: with the floor, every result must be the one a scan from the start
-- gives.
\set SHOW_CONTEXT never
SET steward.queue_probe_interval = 0;
SELECT current_setting('shared_preload_libraries') LIKE '%pg_steward%' AS preloaded \gset

-- A floor that is too high is repaired by the periodic scan from the start.
-- Only a change behind pg_steward's back can put it there (a bug could too:
-- that is what the safety net is for): a superuser moving ready jobs' run_at
-- below the floor.
SELECT steward.create_queue('strand', notify => false) > 0 AS created;
SELECT count(*) AS enqueued
  FROM steward.enqueue_batch('strand', ARRAY(SELECT jsonb_build_object('n', i) FROM generate_series(1, 6) i));
SET steward.queue_rescan_interval = '1h';
SELECT payload FROM steward.dequeue('strand', 'w');   -- 1 (floor: 1)
SELECT payload FROM steward.dequeue('strand', 'w');   -- 2 (floor: 2)
UPDATE steward._job SET run_at = run_at - interval '1 hour'
 WHERE payload IN ('{"n": 3}', '{"n": 4}');            -- 3 and 4 now below the floor
-- a worker that serves more queues than a backend keeps times for (16):
-- the rescan clock is the queue's, so the round trip cannot reset it
SELECT count(steward.create_queue('rr' || i, notify => false)) AS created FROM generate_series(1, 16) i;
SELECT count(*) AS claimed FROM generate_series(1, 16) i, steward.dequeue('rr' || i, 'w');
SET steward.queue_rescan_interval = '100ms';
SELECT pg_sleep(0.2);
SELECT payload FROM steward.dequeue('strand', 'w');   -- the rescan: 3
SET steward.queue_rescan_interval = '1h';
-- the rescan's claim also repaired the floor (it started from the lowest
-- key): the next claim starts below 2, at 3, and finds 4
SELECT payload FROM steward.dequeue('strand', 'w');   -- 4
SELECT payload FROM steward.dequeue('strand', 'w');   -- 5
SELECT count(steward.drop_queue('rr' || i, force => true)) AS dropped FROM generate_series(1, 16) i;
SELECT steward.drop_queue('strand', force => true);
RESET steward.queue_rescan_interval;

-- Slots (256 per server) of dropped queues are reused: after 300 queues
-- came and went, a new queue still gets a floor when preloaded.
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        PERFORM steward.create_queue('gone' || i, notify => false);
        PERFORM steward.enqueue('gone' || i, '{}');   -- its commit takes a slot
        PERFORM steward.drop_queue('gone' || i, force => true);
        COMMIT;
    END LOOP;
END
$$;
SELECT steward.create_queue('fresh', notify => false) AS fresh_id \gset
SELECT count(*) AS enqueued FROM steward.enqueue_batch('fresh', ARRAY['{"n": 1}', '{"n": 2}']::jsonb[]);
SELECT payload FROM steward.dequeue('fresh', 'w');
SELECT (c.job_id IS NOT NULL) = :'preloaded'::boolean AS floor_when_preloaded FROM steward._queue_cursor(:fresh_id) c;
SELECT payload FROM steward.dequeue('fresh', 'w');
SELECT steward.drop_queue('fresh', force => true);

-- no dead rows left for the stats tests' dead tuple check
SELECT pg_stat_force_next_flush();
VACUUM steward._job, steward._job_history, steward._queue;
