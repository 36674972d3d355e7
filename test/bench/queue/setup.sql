-- Benchmark schema: the steward queue and a hand-written SKIP LOCKED table
-- doing the same work (claim with lease and attempt count, then delete).
SELECT steward.create_queue('bench', lease => '5 minutes');
CREATE TABLE raw_job (
    id bigserial PRIMARY KEY,
    queue text NOT NULL,
    payload jsonb NOT NULL,
    priority int NOT NULL DEFAULT 0,
    run_at timestamptz NOT NULL DEFAULT now(),
    state text NOT NULL DEFAULT 'ready',
    attempt int NOT NULL DEFAULT 0,
    worker text,
    lease_expires_at timestamptz
);
CREATE INDEX raw_job_ready ON raw_job (queue, priority DESC, run_at, id) WHERE state = 'ready';
-- The batches of 10 take their own queue: at up to ~40k jobs/s they would
-- drain a 300k backlog within a 10 s round, so theirs is topped up with a
-- reserve (top_up(n, 'bench_batch')), and the other variants' queues stay
-- at the backlog they are run at.
SELECT steward.create_queue('bench_batch', lease => '5 minutes');
-- top up the steward queue q and, for 'bench', the raw table to n ready jobs
CREATE FUNCTION top_up(n int, q text DEFAULT 'bench') RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    have int;
BEGIN
    SELECT count(*) INTO have FROM steward._job
     WHERE state = 'ready' AND queue_id = (SELECT id FROM steward._queue WHERE name = q);
    IF have < n THEN
        PERFORM count(*) FROM steward.enqueue_batch(q,
            (SELECT array_agg(jsonb_build_object('n', i, 'pad', 'xxxxxxxxxxxxxxxxxxxxxxxx')) FROM generate_series(1, n - have) i));
    END IF;
    IF q <> 'bench' THEN
        RETURN;
    END IF;
    SELECT count(*) INTO have FROM raw_job WHERE state = 'ready';
    IF have < n THEN
        INSERT INTO raw_job (queue, payload)
        SELECT 'bench', jsonb_build_object('n', i, 'pad', 'xxxxxxxxxxxxxxxxxxxxxxxx') FROM generate_series(1, n - have) i;
    END IF;
END $$;
