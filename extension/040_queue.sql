-- Job queue (docs/queue.md) ---------------------------------------------------
--
-- Live jobs (waiting or running) sit in steward._job; a finished job
-- (completed, dead, cancelled) is moved in the same statement into
-- steward._job_history, partitioned by day of finishing, so retention drops
-- whole partitions instead of deleting rows. The claim (steward.dequeue) is
-- C++ (src/queue/dequeue.cpp).

CREATE SEQUENCE steward._queue_id_seq AS integer;
CREATE SEQUENCE steward._job_id_seq AS bigint;

CREATE TABLE steward._queue (
    id            integer PRIMARY KEY DEFAULT pg_catalog.nextval('steward._queue_id_seq'),
    name          text NOT NULL UNIQUE,
    max_attempts  integer NOT NULL,
    lease         interval NOT NULL,
    backoff_base  interval NOT NULL,
    backoff_max   interval NOT NULL,
    backoff_jitter double precision NOT NULL,
    retention     interval NOT NULL,
    notify        boolean NOT NULL,
    paused        boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
ALTER SEQUENCE steward._queue_id_seq OWNED BY steward._queue.id;

-- A job's state is an enum, not text with a CHECK constraint: the executor
-- reads and prepares a table's CHECK constraints again for every statement
-- that writes it, and the claim and the completion are such statements (two
-- CHECKs cost 71,000 instructions per job, a tenth of dequeue + complete).
-- An enum's values are checked where a label becomes one (at plan time for
-- the constants these statements use).
CREATE TYPE steward._job_state AS ENUM ('scheduled', 'ready', 'running');
CREATE TYPE steward._job_finished_state AS ENUM ('completed', 'dead', 'cancelled');

-- prio is minus the user's priority, so that one ascending index orders
-- "highest priority, then run_at, then FIFO" and a row comparison
-- (prio, run_at, id) >= (...) can start the scan anywhere in it.
-- lease_token: positive while a claim runs (every claim hands out a new one:
-- abs(token) + 1), zero or negative while the job waits (fail, release and
-- retry negate it). So "lease_token = $t AND $t > 0" means "the running claim
-- $t", and finishing statements need no state condition: with one, a saved
-- plan may pick the partial lease index and walk its dead entries.
CREATE TABLE steward._job (
    id               bigint PRIMARY KEY DEFAULT pg_catalog.nextval('steward._job_id_seq'),
    queue_id         integer NOT NULL REFERENCES steward._queue (id) ON DELETE CASCADE,
    state            steward._job_state NOT NULL,
    prio             integer NOT NULL,
    run_at           timestamptz NOT NULL,
    payload          jsonb NOT NULL,
    attempt          integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL,
    lease_token      integer NOT NULL DEFAULT 0,
    worker           text,
    claimed_at       timestamptz,
    lease_expires_at timestamptz,
    enqueued_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    dedup_key        text,
    errors           jsonb,
    progress         jsonb,
    log              jsonb
);
ALTER SEQUENCE steward._job_id_seq OWNED BY steward._job.id;
CREATE INDEX _job_ready ON steward._job (queue_id, prio, run_at, id) WHERE state = 'ready';
-- Jobs whose run_at is in the future wait as 'scheduled' and are moved to
-- 'ready' by dequeue when due, so the ready index holds only runnable jobs.
CREATE INDEX _job_scheduled ON steward._job (queue_id, run_at) WHERE state = 'scheduled';
CREATE INDEX _job_lease ON steward._job (queue_id, lease_expires_at) WHERE state = 'running';
CREATE UNIQUE INDEX _job_dedup ON steward._job (queue_id, dedup_key) WHERE dedup_key IS NOT NULL;

CREATE TABLE steward._job_history (
    id               bigint NOT NULL,
    queue_id         integer NOT NULL,
    state            steward._job_finished_state NOT NULL,
    priority         integer NOT NULL,
    run_at           timestamptz NOT NULL,
    payload          jsonb NOT NULL,
    attempt          integer NOT NULL,
    max_attempts     integer NOT NULL,
    lease_token      integer NOT NULL,
    worker           text,
    claimed_at       timestamptz,
    enqueued_at      timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL,
    dedup_key        text,
    result           jsonb,
    errors           jsonb,
    progress         jsonb,
    log              jsonb
) PARTITION BY RANGE (finished_at);
-- Indexes are created on each partition, not on the parent: an index of the
-- (extension-owned) parent would be re-created on a partition when pg_restore
-- attaches it, and then collide with the partition's own dumped index.
CREATE FUNCTION steward._job_history_indexes(part regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    base text := (SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = part);
BEGIN
    EXECUTE pg_catalog.format('CREATE INDEX IF NOT EXISTS %I ON %s (id)', base || '_id', part);
    -- a queue's recent completions (stats views, health), steward.jobs
    -- within a queue's retention, the purge of the default partition. No
    -- index on finished_at alone: every index costs every completion (0.1.0's
    -- BRIN one about 4,000 instructions per job), and
    -- the readers that must be cheap filter by queue (a steward.jobs query
    -- by finished_at alone reads the partitions of its time range).
    EXECUTE pg_catalog.format('CREATE INDEX IF NOT EXISTS %I ON %s (queue_id, finished_at)', base || '_queue_finished', part);
END
$$;
REVOKE ALL ON FUNCTION steward._job_history_indexes(regclass) FROM PUBLIC;

-- Catches rows when no daily partition exists yet (steward.queue_maintenance()
-- creates them ahead); its rows are purged row by row.
CREATE TABLE steward._job_history_default PARTITION OF steward._job_history DEFAULT;
SELECT steward._job_history_indexes('steward._job_history_default');

-- Every error recorded on a job (fail, lease expiry), one row each, for the
-- monitoring views: recent failures, dead jobs and the error summary are read
-- from here by (queue_id, at), not from the jobs' errors (no index on
-- steward._job or the history serves them, and every index there costs
-- every claim and completion: about 6,000 instructions each, even a partial
-- one without entries). Only failing jobs write to it. dead: this error made
-- the job dead (cleared when steward.retry() revives it). Rows are kept for
-- the queue's retention (at least a day) and purged by queue_maintenance().
CREATE TABLE steward._job_error (
    queue_id  integer NOT NULL,
    job_id    bigint NOT NULL,
    at        timestamptz NOT NULL,
    attempt   integer NOT NULL,
    error     text NOT NULL,
    dead      boolean NOT NULL DEFAULT false
);
CREATE INDEX _job_error_at ON steward._job_error (queue_id, at);
CREATE INDEX _job_error_dead ON steward._job_error (queue_id, at) WHERE dead;

-- Queue tables and sequences are data: pg_dump must keep them. Daily
-- partitions created later are ordinary tables and are dumped as such.
SELECT pg_catalog.pg_extension_config_dump('steward._queue', '');
SELECT pg_catalog.pg_extension_config_dump('steward._job', '');
SELECT pg_catalog.pg_extension_config_dump('steward._job_history', '');
SELECT pg_catalog.pg_extension_config_dump('steward._job_history_default', '');
SELECT pg_catalog.pg_extension_config_dump('steward._job_error', '');
SELECT pg_catalog.pg_extension_config_dump('steward._queue_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('steward._job_id_seq', '');

REVOKE ALL ON steward._queue, steward._job, steward._job_history, steward._job_history_default,
    steward._job_error FROM PUBLIC;
REVOKE ALL ON SEQUENCE steward._queue_id_seq, steward._job_id_seq FROM PUBLIC;

-- The row steward.dequeue returns.
CREATE TYPE steward.job AS (
    id               bigint,
    queue            text,
    payload          jsonb,
    priority         integer,
    run_at           timestamptz,
    attempt          integer,
    max_attempts     integer,
    lease_token      integer,
    worker           text,
    lease_expires_at timestamptz,
    enqueued_at      timestamptz,
    dedup_key        text
);

-- C helpers --------------------------------------------------------------------

-- Validate queue options (src/core/queue_policy.cpp); raises 22023.
CREATE FUNCTION steward._queue_check_options(name text, max_attempts integer, lease interval,
    backoff_base interval, backoff_max interval, backoff_jitter double precision, retention interval)
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'steward_queue_check_options';

-- Retry delay after `attempt` failed runs: exponential with jitter.
CREATE FUNCTION steward._queue_backoff(attempt integer, base interval, cap interval, jitter double precision)
RETURNS interval
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'steward_queue_backoff';

-- Tell dequeue's scan cursor (shared memory, when preloaded) that a job
-- became ready at key (prio, run_at, id) in this transaction: at commit the
-- cursor moves back if it is past the key. A no-op without preloading.
CREATE FUNCTION steward._queue_ready_hint(queue_id integer, prio integer, run_at timestamptz, job_id bigint)
RETURNS void
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'steward_queue_ready_hint';

-- Forget the queue's scan cursor if this transaction (or the
-- subtransaction) aborts: a locked ready job that comes back must be seen.
CREATE FUNCTION steward._queue_reset_on_abort(queue_id integer)
RETURNS void
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'steward_queue_reset_on_abort';

-- Forget this database's dequeue cursors; run once below, at CREATE EXTENSION.
CREATE FUNCTION steward._queue_cursor_forget()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'steward_queue_cursor_forget';

-- The queue's dequeue cursor (floor) for diagnosis: NULLs when there is
-- none (no preloading, or not set yet).
CREATE FUNCTION steward._queue_cursor(queue_id integer, OUT priority integer, OUT run_at timestamptz,
                                      OUT job_id bigint, OUT generation bigint)
RETURNS record
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'steward_queue_cursor';

REVOKE ALL ON FUNCTION steward._queue_check_options(text, integer, interval, interval, interval, double precision, interval),
    steward._queue_backoff(integer, interval, interval, double precision),
    steward._queue_ready_hint(integer, integer, timestamptz, bigint),
    steward._queue_reset_on_abort(integer), steward._queue_cursor(integer),
    steward._queue_cursor_forget() FROM PUBLIC;

-- Internal lookups ---------------------------------------------------------------

-- The queue row for a name, or a clean error. lock_mode: '' or 'share'
-- (FOR KEY SHARE: keeps the queue from being dropped until commit).
CREATE FUNCTION steward._queue_get(queue text)
RETURNS steward._queue
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q steward._queue;
BEGIN
    IF queue IS NULL THEN
        RAISE EXCEPTION 'queue name must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO q FROM steward._queue WHERE name = queue;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'queue "%" does not exist', queue
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it with steward.create_queue().';
    END IF;
    RETURN q;
END
$$;

CREATE FUNCTION steward._queue_channel(queue text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT 'steward_queue_' || queue $$;

-- Explain why a job cannot be finished by this caller; always raises.
CREATE FUNCTION steward._job_not_yours(job_id bigint, lease_token integer, action text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j record;
    h record;
BEGIN
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF lease_token IS NULL THEN
        RAISE EXCEPTION 'lease token must not be null' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass the lease_token column of the row steward.dequeue() returned.';
    END IF;
    SELECT x.state, x.lease_token AS token, x.worker INTO j FROM steward._job x WHERE x.id = job_id;
    IF NOT FOUND THEN
        SELECT x.state INTO h FROM steward._job_history x WHERE x.id = job_id LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'cannot % job %: it is already %', action, job_id, h.state
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        RAISE EXCEPTION 'job % does not exist', job_id USING ERRCODE = 'undefined_object';
    END IF;
    IF j.state <> 'running' THEN
        RAISE EXCEPTION 'cannot % job %: it is not claimed', action, job_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = CASE WHEN j.token = 0 THEN 'The job has not been claimed yet.'
                                ELSE 'The job waits to run again: it failed and waits for its retry, or it was released.' END;
    END IF;
    RAISE EXCEPTION 'cannot % job %: lease token % is not the current lease', action, job_id, lease_token
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = pg_catalog.format('The job was claimed again (lease %s, worker %s) after this lease expired or was released.',
                                         j.token, coalesce(pg_catalog.quote_literal(j.worker), 'unnamed')),
              HINT = 'Only the worker holding the current lease may finish the job; this worker should drop it.';
END
$$;

-- Queues -------------------------------------------------------------------------

CREATE FUNCTION steward.create_queue(
    name text,
    max_attempts integer DEFAULT 5,
    lease interval DEFAULT '5 minutes',
    backoff_base interval DEFAULT '10 seconds',
    backoff_max interval DEFAULT '1 hour',
    backoff_jitter double precision DEFAULT 0.2,
    retention interval DEFAULT '7 days',
    notify boolean DEFAULT true)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('create a queue');
    new_id integer;
BEGIN
    PERFORM steward._queue_check_options(name, max_attempts, lease, backoff_base, backoff_max,
                                         backoff_jitter, retention);
    IF notify IS NULL THEN
        RAISE EXCEPTION 'notify must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    INSERT INTO steward._queue AS q (name, max_attempts, lease, backoff_base, backoff_max, backoff_jitter, retention, notify)
    VALUES (create_queue.name, create_queue.max_attempts, create_queue.lease, create_queue.backoff_base,
            create_queue.backoff_max, create_queue.backoff_jitter, create_queue.retention, create_queue.notify)
    ON CONFLICT ON CONSTRAINT _queue_name_key DO NOTHING
    RETURNING q.id INTO new_id;
    IF new_id IS NULL THEN
        RAISE EXCEPTION 'queue "%" already exists', name USING ERRCODE = 'duplicate_object',
            HINT = 'Change its options with steward.alter_queue().';
    END IF;
    PERFORM steward.queue_maintenance();
    RETURN new_id;
END
$$;

-- Change options of an existing queue (NULL keeps the current value). Jobs
-- already enqueued keep their max_attempts.
CREATE FUNCTION steward.alter_queue(
    name text,
    max_attempts integer DEFAULT NULL,
    lease interval DEFAULT NULL,
    backoff_base interval DEFAULT NULL,
    backoff_max interval DEFAULT NULL,
    backoff_jitter double precision DEFAULT NULL,
    retention interval DEFAULT NULL,
    notify boolean DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('alter a queue');
    q steward._queue := steward._queue_get(name);
BEGIN
    q.max_attempts := coalesce(max_attempts, q.max_attempts);
    q.lease := coalesce(lease, q.lease);
    q.backoff_base := coalesce(backoff_base, q.backoff_base);
    q.backoff_max := coalesce(backoff_max, q.backoff_max);
    q.backoff_jitter := coalesce(backoff_jitter, q.backoff_jitter);
    q.retention := coalesce(retention, q.retention);
    q.notify := coalesce(notify, q.notify);
    PERFORM steward._queue_check_options(q.name, q.max_attempts, q.lease, q.backoff_base, q.backoff_max,
                                         q.backoff_jitter, q.retention);
    UPDATE steward._queue u SET max_attempts = q.max_attempts, lease = q.lease, backoff_base = q.backoff_base,
           backoff_max = q.backoff_max, backoff_jitter = q.backoff_jitter, retention = q.retention,
           notify = q.notify
     WHERE u.id = q.id;
END
$$;

-- Drop a queue with its waiting, running and finished jobs. Refused while
-- jobs are waiting or running unless force is true.
CREATE FUNCTION steward.drop_queue(name text, force boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('drop a queue');
    q steward._queue := steward._queue_get(name);
BEGIN
    PERFORM 1 FROM steward._queue WHERE id = q.id FOR UPDATE;
    IF NOT coalesce(force, false) AND EXISTS (SELECT FROM steward._job WHERE queue_id = q.id) THEN
        RAISE EXCEPTION 'queue "%" still has unfinished jobs', name
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Wait for them to finish, cancel them, or pass force => true.';
    END IF;
    PERFORM steward._queue_reset_on_abort(q.id);
    DELETE FROM steward._job_history WHERE queue_id = q.id;
    DELETE FROM steward._job_error WHERE queue_id = q.id;
    DELETE FROM steward._queue WHERE id = q.id;   -- cascades to steward._job
END
$$;

CREATE FUNCTION steward._queue_set_paused(name text, pause boolean)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('pause or resume a queue');
    q steward._queue := steward._queue_get(name);
BEGIN
    IF q.paused = pause THEN
        RETURN false;
    END IF;
    UPDATE steward._queue SET paused = pause WHERE id = q.id;
    IF NOT pause AND q.notify THEN
        PERFORM pg_catalog.pg_notify(steward._queue_channel(q.name), '');
    END IF;
    RETURN true;
END
$$;

-- Pause: dequeue returns nothing from the queue and enqueue is refused
-- until resume_queue. Running jobs may still be finished. Returns false if
-- the queue was already paused.
CREATE FUNCTION steward.pause_queue(name text)
RETURNS boolean LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT steward._queue_set_paused(name, true) $$;

CREATE FUNCTION steward.resume_queue(name text)
RETURNS boolean LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT steward._queue_set_paused(name, false) $$;

CREATE VIEW steward.queues AS
SELECT q.name, q.paused, q.max_attempts, q.lease, q.backoff_base, q.backoff_max, q.backoff_jitter,
       q.retention, q.notify, steward._queue_channel(q.name) AS channel, q.created_at
  FROM steward._queue q;

-- Enqueue ------------------------------------------------------------------------------

-- The queue for an enqueue: exists and is not paused. Locks it FOR KEY SHARE
-- (through the foreign key as well) so a concurrent drop waits.
CREATE FUNCTION steward._queue_for_enqueue(queue text)
RETURNS steward._queue
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q steward._queue := steward._queue_get(queue);
BEGIN
    IF q.paused THEN
        RAISE EXCEPTION 'queue "%" is paused', queue
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Resume it with steward.resume_queue().';
    END IF;
    RETURN q;
END
$$;

CREATE FUNCTION steward._check_priority(priority integer)
RETURNS void LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF priority IS NULL THEN
        RAISE EXCEPTION 'priority must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF priority NOT BETWEEN -32768 AND 32767 THEN
        RAISE EXCEPTION 'priority must be between -32768 and 32767' USING ERRCODE = 'numeric_value_out_of_range',
            DETAIL = pg_catalog.format('The priority given was %s.', priority);
    END IF;
END
$$;

-- Add a job. With a dedup_key, while an unfinished job with the same key is
-- in the queue, its id is returned instead and nothing is added.
CREATE FUNCTION steward.enqueue(
    queue text,
    payload jsonb,
    run_at timestamptz DEFAULT NULL,
    priority integer DEFAULT 0,
    dedup_key text DEFAULT NULL,
    max_attempts integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    on_primary constant boolean := steward._require_primary('enqueue jobs');
    q steward._queue := steward._queue_for_enqueue(queue);
    at timestamptz := coalesce(enqueue.run_at, now());
    new_id bigint;
BEGIN
    IF enqueue.payload IS NULL THEN
        RAISE EXCEPTION 'payload must not be null' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass ''{}''::jsonb or ''null''::jsonb for a job without data.';
    END IF;
    PERFORM steward._check_priority(enqueue.priority);
    IF enqueue.max_attempts IS NOT NULL AND enqueue.max_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_attempts must be between 1 and 1000' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The value given was %s.', enqueue.max_attempts);
    END IF;
    IF at IN ('infinity', '-infinity') THEN
        RAISE EXCEPTION 'run_at must be a finite time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    LOOP
        INSERT INTO steward._job (queue_id, state, prio, run_at, payload, max_attempts, dedup_key)
        VALUES (q.id, CASE WHEN at <= now() THEN 'ready'::steward._job_state ELSE 'scheduled' END, -enqueue.priority, at,
                enqueue.payload, coalesce(enqueue.max_attempts, q.max_attempts), enqueue.dedup_key)
        ON CONFLICT (queue_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
        RETURNING id INTO new_id;
        IF new_id IS NOT NULL THEN
            PERFORM steward._queue_ready_hint(q.id, -enqueue.priority, at, new_id);
            IF q.notify AND at <= now() THEN
                -- same channel and payload in one transaction: PostgreSQL
                -- delivers one notification at commit
                PERFORM pg_catalog.pg_notify(steward._queue_channel(q.name), '');
            END IF;
            RETURN new_id;
        END IF;
        SELECT j.id INTO new_id FROM steward._job j WHERE j.queue_id = q.id AND j.dedup_key = enqueue.dedup_key;
        IF new_id IS NOT NULL THEN
            RETURN new_id;                  -- the unfinished job with this key
        END IF;
        -- it finished between the two statements: try again
    END LOOP;
END
$$;

-- Many jobs with one call (one per payload, same options, no dedup keys).
-- Returns their ids in payload order.
CREATE FUNCTION steward.enqueue_batch(
    queue text,
    payloads jsonb[],
    run_at timestamptz DEFAULT NULL,
    priority integer DEFAULT 0,
    max_attempts integer DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('enqueue jobs');
    q steward._queue := steward._queue_for_enqueue(queue);
    at timestamptz := coalesce(run_at, now());
    first_id bigint;
BEGIN
    IF payloads IS NULL THEN
        RAISE EXCEPTION 'payloads must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF array_position(payloads, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'payload must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = pg_catalog.format('Element %s of the array is null.', array_position(payloads, NULL));
    END IF;
    PERFORM steward._check_priority(priority);
    IF max_attempts IS NOT NULL AND max_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_attempts must be between 1 and 1000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF at IN ('infinity', '-infinity') THEN
        RAISE EXCEPTION 'run_at must be a finite time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(payloads) = 0 THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH ins AS (
        INSERT INTO steward._job (queue_id, state, prio, run_at, payload, max_attempts)
        SELECT q.id, CASE WHEN at <= now() THEN 'ready'::steward._job_state ELSE 'scheduled' END, -priority, at, p.payload,
               coalesce(max_attempts, q.max_attempts)
          FROM unnest(payloads) WITH ORDINALITY AS p(payload, n)
         ORDER BY p.n
        RETURNING id)
    SELECT ins.id FROM ins ORDER BY ins.id;
    IF at <= now() THEN
        -- ids come from one sequence in order: the smallest is the first key
        PERFORM steward._queue_ready_hint(q.id, -priority, at, 0);
    END IF;
    IF q.notify AND at <= now() THEN
        PERFORM pg_catalog.pg_notify(steward._queue_channel(q.name), '');
    END IF;
END
$$;

-- Dequeue (C++) -------------------------------------------------------------------

-- Claim up to max_jobs jobs: expired leases first (each counts an attempt),
-- then ready jobs by priority, run_at, id. Locked rows are skipped.
CREATE FUNCTION steward.dequeue(queue text, worker text DEFAULT NULL, max_jobs integer DEFAULT 1,
                                lease interval DEFAULT NULL)
RETURNS SETOF steward.job
LANGUAGE c
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'steward_dequeue';

-- Move finished jobs out (one statement each) ------------------------------------

-- Move running job rows to the history as `state`, finished at
-- `finished_at`. Internal: callers have checked the lease.
CREATE FUNCTION steward._job_finish(job_ids bigint[], tokens integer[], new_state steward._job_finished_state,
                                    results jsonb[], finished_at timestamptz)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    WITH args AS (
        SELECT a.id, a.token, a.n FROM unnest(job_ids, tokens) WITH ORDINALITY AS a(id, token, n)),
    moved AS (
        DELETE FROM steward._job j USING args
         WHERE j.id = args.id AND j.lease_token = args.token AND args.token > 0
        RETURNING j.*, args.n),
    ins AS (
    INSERT INTO steward._job_history (id, queue_id, state, priority, run_at, payload, attempt, max_attempts, lease_token, worker,
                                      claimed_at, enqueued_at, finished_at, dedup_key, result, errors, progress, log)
    SELECT m.id, m.queue_id, new_state, -m.prio, m.run_at, m.payload, m.attempt, m.max_attempts, m.lease_token, m.worker,
           m.claimed_at, m.enqueued_at, _job_finish.finished_at, m.dedup_key, results[m.n], m.errors, m.progress, m.log
      FROM moved m
    RETURNING 1)
    SELECT pg_catalog.count(*)::integer INTO n FROM ins;
    RETURN n;
END
$$;

-- Mark a claimed job done. Only the holder of the current lease may: pass
-- the lease_token dequeue returned. A lease that expired is still accepted
-- as long as nobody claimed the job again. C (src/queue/complete.cpp): one
-- saved DELETE ... RETURNING -> INSERT INTO history statement.
CREATE FUNCTION steward.complete(job_id bigint, lease_token integer, result jsonb DEFAULT NULL)
RETURNS void
LANGUAGE c
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'steward_complete';

-- Complete many claimed jobs at once (all or nothing). Returns how many.
-- C (src/queue/complete.cpp): one saved statement for the whole batch.
CREATE FUNCTION steward.complete_batch(job_ids bigint[], lease_tokens integer[], results jsonb[] DEFAULT NULL)
RETURNS integer
LANGUAGE c
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'steward_complete_batch';

-- Record a failed run. The job is retried after retry_in (or the queue's
-- exponential backoff with jitter) until it has run max_attempts times;
-- then it is dead and keeps its errors. retry => false: dead at once, on any
-- attempt (a failure that no retry can fix). Returns the new state: 'ready'
-- or 'dead'. Times count from the call (clock_timestamp()), not from the
-- transaction's start: a worker that claims, works and fails in one
-- transaction gets its whole backoff.
CREATE FUNCTION steward.fail(job_id bigint, lease_token integer, error text, retry_in interval DEFAULT NULL,
                             retry boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('fail a job');
    failed_at constant timestamptz := clock_timestamp();
    j steward._job;
    q steward._queue;
    entry jsonb;
    next_run timestamptz;
    dead boolean;
BEGIN
    IF retry IS NULL THEN
        RAISE EXCEPTION 'retry must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF retry_in IS NOT NULL AND retry_in < interval '0' THEN
        RAISE EXCEPTION 'retry_in must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF retry_in IS NOT NULL AND NOT retry THEN
        RAISE EXCEPTION 'retry_in cannot be given with retry => false' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A job failed without retry is dead at once; pass one of them.';
    END IF;
    SELECT * INTO j FROM steward._job x
     WHERE x.id = job_id AND x.lease_token = fail.lease_token AND fail.lease_token > 0 FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM steward._job_not_yours(job_id, lease_token, 'fail');
    END IF;
    dead := j.attempt >= j.max_attempts OR NOT retry;
    entry := jsonb_build_object('attempt', j.attempt, 'at', failed_at, 'worker', j.worker,
                                'error', coalesce(error, 'unknown error'));
    -- a dead job's error row has at = its finished_at (steward.retry() finds it so)
    INSERT INTO steward._job_error (queue_id, job_id, at, attempt, error, dead)
    VALUES (j.queue_id, j.id, failed_at, j.attempt, coalesce(error, 'unknown error'), dead);
    IF dead THEN
        UPDATE steward._job x SET errors = coalesce(x.errors, '[]') || entry WHERE x.id = j.id;
        PERFORM steward._job_finish(ARRAY[j.id], ARRAY[j.lease_token], 'dead', NULL, failed_at);
        RETURN 'dead';
    END IF;
    SELECT * INTO q FROM steward._queue WHERE id = j.queue_id;
    next_run := failed_at + coalesce(retry_in, steward._queue_backoff(j.attempt, q.backoff_base, q.backoff_max, q.backoff_jitter));
    UPDATE steward._job x
       SET state = CASE WHEN next_run <= failed_at THEN 'ready'::steward._job_state ELSE 'scheduled' END, run_at = next_run,
           worker = NULL, lease_expires_at = NULL, lease_token = -x.lease_token,
           errors = coalesce(x.errors, '[]') || entry
     WHERE x.id = j.id;
    -- the old key too: a dequeue may reach the job through its old ready entry
    PERFORM steward._queue_ready_hint(j.queue_id, j.prio, LEAST(j.run_at, next_run), j.id);
    IF q.notify AND next_run <= failed_at THEN
        PERFORM pg_catalog.pg_notify(steward._queue_channel(q.name), '');
    END IF;
    RETURN 'ready';
END
$$;

-- Heartbeat: the lease now ends `lease` from the call (clock_timestamp(),
-- not the transaction's start). Returns the new end.
CREATE FUNCTION steward.extend_lease(job_id bigint, lease_token integer, lease interval)
RETURNS timestamptz
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('extend a lease');
    new_end timestamptz;
BEGIN
    IF lease IS NULL OR lease <= interval '0' THEN
        RAISE EXCEPTION 'lease must be positive' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The lease given was %s.', coalesce(lease::text, 'null'));
    END IF;
    IF lease > interval '7 days' THEN
        RAISE EXCEPTION 'lease must not exceed 7 days' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE steward._job j SET lease_expires_at = clock_timestamp() + lease
     WHERE j.id = job_id AND j.lease_token = extend_lease.lease_token AND extend_lease.lease_token > 0
    RETURNING j.lease_expires_at INTO new_end;
    IF NOT FOUND THEN
        PERFORM steward._job_not_yours(job_id, lease_token, 'extend the lease of');
    END IF;
    RETURN new_end;
END
$$;

-- Give a claimed job back without using up an attempt; it runs again at
-- once (or `delay` after the call).
CREATE FUNCTION steward.release(job_id bigint, lease_token integer, delay interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('release a job');
    released_at constant timestamptz := clock_timestamp();
    j record;
BEGIN
    IF delay IS NOT NULL AND delay < interval '0' THEN
        RAISE EXCEPTION 'delay must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE steward._job x
       SET state = CASE WHEN delay IS NULL OR delay = interval '0' THEN 'ready'::steward._job_state ELSE 'scheduled' END,
           attempt = x.attempt - 1, worker = NULL, lease_expires_at = NULL, lease_token = -x.lease_token,
           run_at = CASE WHEN delay IS NULL THEN x.run_at ELSE released_at + delay END
      FROM (SELECT y.id, y.run_at FROM steward._job y WHERE y.id = job_id) old
     WHERE x.id = job_id AND old.id = x.id AND x.lease_token = release.lease_token AND release.lease_token > 0
    RETURNING x.queue_id, x.prio, x.run_at, x.id, LEAST(old.run_at, x.run_at) AS hint_at INTO j;
    IF NOT FOUND THEN
        PERFORM steward._job_not_yours(job_id, lease_token, 'release');
    END IF;
    PERFORM steward._queue_ready_hint(j.queue_id, j.prio, j.hint_at, j.id);
    PERFORM pg_catalog.pg_notify(steward._queue_channel(q.name), '')
       FROM steward._queue q WHERE q.id = j.queue_id AND q.notify AND j.run_at <= released_at;
END
$$;

-- Cancel a waiting or running job (an administrative action: no lease
-- needed; a running job's worker is then refused when it finishes).
-- Returns false when the job is already finished.
CREATE FUNCTION steward.cancel(job_id bigint)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('cancel a job');
    j record;
BEGIN
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- before the row lock: if anything fails once the job is locked, the
    -- floor other dequeues raised past it must go
    PERFORM steward._queue_reset_on_abort(x.queue_id) FROM steward._job x WHERE x.id = job_id;
    SELECT x.id, x.queue_id INTO j FROM steward._job x WHERE x.id = job_id FOR UPDATE;
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM steward._job_history h WHERE h.id = job_id) THEN
            RETURN false;
        END IF;
        RAISE EXCEPTION 'job % does not exist', job_id USING ERRCODE = 'undefined_object';
    END IF;
    WITH moved AS (DELETE FROM steward._job x WHERE x.id = job_id RETURNING x.*)
    INSERT INTO steward._job_history (id, queue_id, state, priority, run_at, payload, attempt, max_attempts, lease_token, worker,
                                      claimed_at, enqueued_at, finished_at, dedup_key, errors, progress, log)
    SELECT m.id, m.queue_id, 'cancelled', -m.prio, m.run_at, m.payload, m.attempt, m.max_attempts, m.lease_token, m.worker,
           m.claimed_at, m.enqueued_at, clock_timestamp(), m.dedup_key, m.errors, m.progress, m.log
      FROM moved m;
    RETURN true;
END
$$;

-- Run a dead (or cancelled) job again: it goes back to the queue with a
-- fresh set of attempts and its old errors. Returns the job id.
CREATE FUNCTION steward.retry(job_id bigint)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('retry a job');
    h record;
    q steward._queue;
BEGIN
    IF job_id IS NULL THEN
        RAISE EXCEPTION 'job id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO h FROM steward._job_history x WHERE x.id = job_id FOR UPDATE;
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM steward._job x WHERE x.id = job_id) THEN
            RAISE EXCEPTION 'cannot retry job %: it is not finished', job_id
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        RAISE EXCEPTION 'job % does not exist', job_id USING ERRCODE = 'undefined_object';
    END IF;
    IF h.state = 'completed' THEN
        RAISE EXCEPTION 'cannot retry job %: it completed', job_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Only dead and cancelled jobs can be retried; enqueue a new job instead.';
    END IF;
    SELECT * INTO q FROM steward._queue x WHERE x.id = h.queue_id FOR KEY SHARE;
    IF q.paused THEN
        RAISE EXCEPTION 'queue "%" is paused', q.name USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Resume it with steward.resume_queue().';
    END IF;
    IF h.dedup_key IS NOT NULL AND EXISTS (SELECT FROM steward._job x WHERE x.queue_id = h.queue_id AND x.dedup_key = h.dedup_key) THEN
        RAISE EXCEPTION 'cannot retry job %: another unfinished job has dedup key "%"', job_id, h.dedup_key
            USING ERRCODE = 'unique_violation';
    END IF;
    DELETE FROM steward._job_history x WHERE x.id = job_id;
    -- no longer dead: the error that killed it was recorded as it finished
    UPDATE steward._job_error e SET dead = false
     WHERE e.queue_id = h.queue_id AND e.at = h.finished_at AND e.job_id = h.id AND e.dead;
    INSERT INTO steward._job (id, queue_id, state, prio, run_at, payload, attempt, max_attempts, lease_token,
                              enqueued_at, dedup_key, errors, progress, log)
    VALUES (h.id, h.queue_id, 'ready', -h.priority, now(), h.payload, 0, h.max_attempts,
            -abs(h.lease_token), h.enqueued_at, h.dedup_key, h.errors, h.progress, h.log);
    PERFORM steward._queue_ready_hint(h.queue_id, -h.priority, now(), h.id);
    IF q.notify THEN
        PERFORM pg_catalog.pg_notify(steward._queue_channel(q.name), '');
    END IF;
    RETURN h.id;
END
$$;

-- Progress and log: the holder of the lease records progress (any jsonb) and
-- appends a log line; the last 100 lines are kept with the job.
CREATE FUNCTION steward.log_job(job_id bigint, lease_token integer, message text, progress jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('log to a job');
BEGIN
    IF message IS NULL AND progress IS NULL THEN
        RAISE EXCEPTION 'message and progress must not both be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE steward._job j
       SET progress = coalesce(log_job.progress, j.progress),
           log = CASE WHEN message IS NULL THEN j.log ELSE
                 (SELECT coalesce(jsonb_agg(e ORDER BY n), '[]')
                    FROM (SELECT e, n FROM jsonb_array_elements(coalesce(j.log, '[]') ||
                                 jsonb_build_object('at', clock_timestamp(), 'attempt', j.attempt, 'message', message))
                                 WITH ORDINALITY AS x(e, n)
                           ORDER BY n DESC LIMIT 100) last) END
     WHERE j.id = job_id AND j.lease_token = log_job.lease_token AND log_job.lease_token > 0;
    IF NOT FOUND THEN
        PERFORM steward._job_not_yours(job_id, lease_token, 'log to');
    END IF;
END
$$;

-- One round trip per job: complete the job just done and claim the next
-- ones (from the same queue unless another is named).
CREATE FUNCTION steward.complete_and_dequeue(job_id bigint, lease_token integer, result jsonb DEFAULT NULL,
                                             queue text DEFAULT NULL, worker text DEFAULT NULL,
                                             max_jobs integer DEFAULT 1, lease interval DEFAULT NULL)
RETURNS SETOF steward.job
LANGUAGE c
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'steward_complete_and_dequeue';

-- Jobs of all states (live and finished within retention) ----------------------------

CREATE VIEW steward.jobs AS
SELECT j.id, q.name AS queue,
       CASE WHEN j.state = 'scheduled' AND j.run_at <= pg_catalog.now() THEN 'ready' ELSE j.state::text END AS state,
       j.payload, -j.prio AS priority, j.run_at, j.attempt, j.max_attempts, j.lease_token, j.worker, j.claimed_at,
       j.lease_expires_at, j.enqueued_at, NULL::timestamptz AS finished_at, j.dedup_key,
       NULL::jsonb AS result, j.errors, j.progress, j.log
  FROM steward._job j JOIN steward._queue q ON q.id = j.queue_id
UNION ALL
SELECT h.id, q.name, h.state::text, h.payload, h.priority, h.run_at, h.attempt, h.max_attempts, h.lease_token, h.worker, h.claimed_at,
       NULL, h.enqueued_at, h.finished_at, h.dedup_key, h.result, h.errors, h.progress, h.log
  FROM steward._job_history h JOIN steward._queue q ON q.id = h.queue_id
 WHERE h.finished_at >= pg_catalog.now() - q.retention;

-- One job as steward.jobs shows it, for applications that track their own
-- jobs: no SELECT on steward.jobs (every queue's payloads) needed, and no
-- join against the view (planned as a hash join over every job). The id is
-- a parameter, so both branches of the view are index lookups: the primary
-- key of steward._job, and only if the job is not live (LIMIT 1 stops the
-- Append), the id index of each history partition. NULL (every column
-- null) when the job does not exist or is past its queue's retention.
CREATE FUNCTION steward.job(job_id bigint)
RETURNS steward.jobs
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r steward.jobs;
BEGIN
    SELECT * INTO r FROM steward.jobs j WHERE j.id = job_id LIMIT 1;
    RETURN r;
END
$$;

-- Maintenance: history partitions and retention ----------------------------------------

-- Create the daily history partitions for yesterday to three days ahead,
-- drop those whose every row is past the longest retention of any queue,
-- and purge expired rows that landed in the default partition. Run it
-- periodically (hourly is plenty). Returns the number of partitions dropped.
CREATE FUNCTION steward.queue_maintenance()
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    on_primary constant boolean := steward._require_primary('run queue maintenance');
    day date;
    part text;
    keep interval;
    dropped integer := 0;
    r record;
BEGIN
    FOR day IN SELECT d::date FROM generate_series(current_date - 1, current_date + 3, interval '1 day') d LOOP
        part := 'steward._job_history_p' || to_char(day, 'YYYYMMDD');
        IF to_regclass(part) IS NULL THEN
            -- rows already in the default partition for this day would block
            -- the new partition: only create it when there are none
            IF NOT EXISTS (SELECT FROM steward._job_history_default
                            WHERE finished_at >= day AND finished_at < day + 1) THEN
                EXECUTE format('CREATE TABLE %s PARTITION OF steward._job_history FOR VALUES FROM (%L) TO (%L)',
                               part, day::timestamptz, (day + 1)::timestamptz);
                EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', part);
                PERFORM steward._job_history_indexes(part::regclass);
            END IF;
        END IF;
    END LOOP;
    SELECT coalesce(max(retention), interval '7 days') INTO keep FROM steward._queue;
    FOR r IN
        SELECT c.oid::regclass AS part,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'steward._job_history'::regclass AND c.oid <> 'steward._job_history_default'::regclass
    LOOP
        IF r.upper_bound <= now() - keep THEN
            EXECUTE format('DROP TABLE %s', r.part);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    DELETE FROM steward._job_history_default h
     USING steward._queue q
     WHERE q.id = h.queue_id AND h.finished_at < now() - q.retention;
    -- the error log: the queue's retention, at least a day (the error summary)
    DELETE FROM steward._job_error e
     USING steward._queue q
     WHERE q.id = e.queue_id AND e.at < now() - greatest(q.retention, interval '1 day');
    RETURN dropped;
END
$$;

-- Monitoring -------------------------------------------------------------------------

-- The planner's estimate of the number of rows of a query.
CREATE FUNCTION steward._estimated_rows(query text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    plan jsonb;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::bigint;
END
$$;

-- Count rows of a query, exactly up to `cap`, beyond that the planner's
-- estimate (so the stats views never scan a million-row queue). The
-- estimate comes first: when it is over the cap, only the first
-- steward._count_probe() rows are read, to tell a queue that is really that
-- big (the estimate is the answer) from one drained since the last ANALYZE
-- (fewer rows than the probe: the exact count).
CREATE FUNCTION steward._count_probe()
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 50 $$;

CREATE FUNCTION steward._capped_count(query text, cap integer, OUT n bigint, OUT exact boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    estimate constant bigint := steward._estimated_rows(query);
    lim constant integer := CASE WHEN estimate > cap THEN steward._count_probe() ELSE cap + 1 END;
BEGIN
    EXECUTE format('SELECT count(*) FROM (%s LIMIT %s) s', query, lim) INTO n;
    exact := n < lim;
    IF NOT exact THEN
        n := greatest(n, cap + 1, estimate);
    END IF;
END
$$;

-- Every figure of the monitoring views, per queue, in one pass. Each comes
-- from an index and is bounded: counts are exact up to a cap (then the
-- planner's estimate, counts_exact false); nothing reads a table or a day of
-- history in full (completions: the rows of the last 5 minutes, at most
-- 1,000; beyond that their count is the planner's estimate). The caps keep
-- a queue of a million jobs within a few times the cost of a small one
-- (test/bench/stats). enable_seqscan is off because the planner likes to turn a capped
-- count into a sequential scan that stops at its LIMIT, which reads the whole
-- table when the matching rows are at its end; jit is off because the
-- estimates of a million-job queue are far above what these queries read.
CREATE FUNCTION steward._queue_stats()
RETURNS TABLE (queue text, paused boolean, ready bigint, scheduled bigint, running bigint,
               expired_leases bigint, oldest_ready_age interval, completed_last_5min bigint,
               failed_last_5min bigint, dead_last_5min bigint, jobs_per_second_5min numeric,
               avg_wait interval, avg_run interval, counts_exact boolean,
               dead bigint, dead_last_1d bigint, dead_exact boolean)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET jit = off
AS $$
DECLARE
    q record;
    c record;
    exact boolean;
    many_prios boolean;
    cap constant integer := 1000;
    completed_cap constant integer := 1000;
    completed_estimate bigint;
    completed_limit integer;
    max_prios constant integer := 1000;
    since constant timestamptz := now() - interval '5 minutes';
    -- errors recorded since %L (steward._job_error), and those that made a
    -- job dead
    errors_sql constant text := 'SELECT 1 FROM steward._job_error WHERE queue_id = %s AND at >= %L';
    dead_sql constant text := errors_sql || ' AND dead';
BEGIN
    FOR q IN SELECT * FROM steward._queue ORDER BY name LOOP
        queue := q.name; paused := q.paused; exact := true;
        SELECT * INTO c FROM steward._capped_count(format(
            'SELECT 1 FROM steward._job WHERE queue_id = %s AND state = ''ready''', q.id), cap);
        ready := c.n; exact := exact AND c.exact;
        SELECT * INTO c FROM steward._capped_count(format(
            'SELECT 1 FROM steward._job WHERE queue_id = %s AND state = ''scheduled''', q.id), cap);
        scheduled := c.n; exact := exact AND c.exact;
        SELECT * INTO c FROM steward._capped_count(format(
            'SELECT 1 FROM steward._job WHERE queue_id = %s AND state = ''running''', q.id), cap);
        running := c.n; exact := exact AND c.exact;
        SELECT * INTO c FROM steward._capped_count(format(
            'SELECT 1 FROM steward._job WHERE queue_id = %s AND state = ''running'' AND lease_expires_at < now()', q.id), cap);
        expired_leases := c.n; exact := exact AND c.exact;
        -- the oldest ready job: the first entry of each priority in the ready
        -- index (queue_id, prio, run_at, id) is that priority's oldest, so a
        -- skip scan (one index descent per distinct priority, at most
        -- max_prios + 1) finds the exact minimum; beyond max_prios
        -- priorities it is the minimum over the highest ones (a lower bound)
        WITH RECURSIVE p(prio, run_at, n) AS (
            (SELECT j.prio, j.run_at, 1 FROM steward._job j
              WHERE j.queue_id = q.id AND j.state = 'ready' ORDER BY j.prio, j.run_at LIMIT 1)
            UNION ALL
            SELECT x.prio, x.run_at, p.n + 1
              FROM p, LATERAL (SELECT j.prio, j.run_at FROM steward._job j
                                WHERE j.queue_id = q.id AND j.state = 'ready' AND j.prio > p.prio
                                ORDER BY j.prio, j.run_at LIMIT 1) x
             WHERE p.n <= max_prios)
        SELECT now() - min(p.run_at), count(*) > max_prios INTO oldest_ready_age, many_prios FROM p;
        exact := exact AND NOT many_prios;
        -- scheduled jobs that are already due count as ready
        SELECT greatest(oldest_ready_age, now() - min(j.run_at)) INTO oldest_ready_age
          FROM steward._job j WHERE j.queue_id = q.id AND j.state = 'scheduled' AND j.run_at <= now();
        -- completions of the last 5 minutes (the partitions' (queue_id,
        -- finished_at) index), and the averages over the same rows: the first
        -- completed_cap of the window when there are more
        -- (estimate first, as in _capped_count: over the cap, the averages
        -- are over the first steward._count_probe() completions of the window)
        completed_estimate := steward._estimated_rows(format(
            'SELECT 1 FROM steward._job_history WHERE queue_id = %s AND finished_at >= %L AND state = ''completed''',
            q.id, since));
        completed_limit := CASE WHEN completed_estimate > completed_cap THEN steward._count_probe()
                                ELSE completed_cap + 1 END;
        -- (dynamic: planned with the values, so that the (queue_id,
        -- finished_at) index is taken when other queues fill the window)
        EXECUTE format(
            'SELECT count(*), avg(h.claimed_at - greatest(h.run_at, h.enqueued_at)), avg(h.finished_at - h.claimed_at)
               FROM (SELECT h.run_at, h.enqueued_at, h.claimed_at, h.finished_at FROM steward._job_history h
                      WHERE h.queue_id = %s AND h.finished_at >= %L AND h.state = %L LIMIT %s) h',
            q.id, since, 'completed', completed_limit)
          INTO completed_last_5min, avg_wait, avg_run;
        IF completed_last_5min >= completed_limit THEN
            exact := false;
            completed_last_5min := greatest(completed_last_5min, completed_cap + 1, completed_estimate);
        END IF;
        SELECT * INTO c FROM steward._capped_count(format(dead_sql, q.id, since), cap);
        dead_last_5min := c.n; exact := exact AND c.exact;
        -- failed runs: every error recorded in the window, wherever the job
        -- is now (waiting for its retry, completed since, dead, cancelled)
        SELECT * INTO c FROM steward._capped_count(format(errors_sql, q.id, since), cap);
        failed_last_5min := c.n; exact := exact AND c.exact;
        jobs_per_second_5min := round(completed_last_5min / 300.0, 2);
        counts_exact := exact;
        -- dead jobs still kept (within the queue's retention, as steward.jobs
        -- shows them) and of the last day (the health check)
        SELECT * INTO c FROM steward._capped_count(format(dead_sql, q.id, now() - q.retention), cap);
        dead := c.n; dead_exact := c.exact;
        SELECT * INTO c FROM steward._capped_count(format(dead_sql, q.id, now() - interval '1 day'), cap);
        dead_last_1d := c.n;
        RETURN NEXT;
    END LOOP;
END
$$;

CREATE VIEW steward.queue_stats AS
SELECT s.queue, s.paused, s.ready, s.scheduled, s.running, s.expired_leases, s.oldest_ready_age,
       s.completed_last_5min, s.failed_last_5min, s.dead_last_5min, s.jobs_per_second_5min,
       s.avg_wait, s.avg_run, s.counts_exact
  FROM steward._queue_stats() s;

-- Contract views (issue 6): one line per queue, and recent errors by message.
CREATE VIEW steward.queue_summary AS
SELECT s.queue, s.paused, s.ready, s.scheduled, s.running, s.expired_leases, s.dead,
       s.oldest_ready_age, s.jobs_per_second_5min, s.counts_exact AND s.dead_exact AS counts_exact
  FROM steward._queue_stats() s;

-- Errors recorded in the last day, per queue and message (steward._job_error;
-- the latest 1,000 per queue). A function for the same settings as
-- _queue_stats.
CREATE FUNCTION steward._queue_error_summary()
RETURNS TABLE (queue text, error text, occurrences bigint, last_seen timestamptz, jobs bigint)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET jit = off
AS $$
SELECT q.name, e.error, count(*), max(e.at), count(DISTINCT e.job_id)
  FROM steward._queue q,
       LATERAL (SELECT e.job_id, e.error, e.at FROM steward._job_error e
                 WHERE e.queue_id = q.id AND e.at >= now() - interval '1 day'
                 ORDER BY e.at DESC LIMIT 1000) e
 GROUP BY q.name, e.error
$$;

CREATE VIEW steward.queue_error_summary AS
SELECT s.queue, s.error, s.occurrences, s.last_seen, s.jobs FROM steward._queue_error_summary() s;

-- Health checks for steward.health(): oldest ready job's age, expired
-- leases, dead jobs in the last day; all from one _queue_stats() pass.
-- Classified by steward.health_status(): a status is reached when the value
-- is strictly beyond its threshold, as for every other check (so the
-- default warning 0 means "any"). Thresholds come from the settings
-- steward.<check>_warning and steward.<check>_critical, <check> being the
-- check's name without ":<queue>".
CREATE FUNCTION steward._health_checks_queue()
RETURNS TABLE (check_name text, value numeric, warning numeric, critical numeric, status text, detail text)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s record;
    c record;
BEGIN
    FOR s IN SELECT * FROM steward._queue_stats() LOOP
        FOR c IN
            SELECT * FROM (VALUES
                (1, 'queue_oldest_ready_seconds', 300::numeric, 3600::numeric,
                 round(coalesce(extract(epoch FROM s.oldest_ready_age), 0)::numeric, 1),
                 CASE WHEN s.paused THEN 'queue is paused' ELSE format('%s ready jobs', s.ready) END),
                (2, 'queue_expired_leases', 0, 99, s.expired_leases::numeric,
                 'running jobs whose worker stopped renewing its lease'),
                (3, 'queue_dead_jobs_1d', 0, 99, s.dead_last_1d::numeric,
                 'jobs that died (used up their attempts, or failed without retry) in the last day')
            ) v(ord, name, warning, critical, value, detail) ORDER BY v.ord
        LOOP
            check_name := c.name || ':' || s.queue;
            warning := coalesce(nullif(current_setting('steward.' || c.name || '_warning', true), '')::numeric, c.warning);
            critical := coalesce(nullif(current_setting('steward.' || c.name || '_critical', true), '')::numeric, c.critical);
            value := c.value;
            -- a paused queue's ready jobs wait on purpose
            status := CASE WHEN s.paused AND c.ord = 1 THEN 'ok'
                           ELSE steward.health_status(value, warning, critical) END;
            detail := c.detail;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION steward._queue_get(text), steward._job_not_yours(bigint, integer, text),
    steward._queue_set_paused(text, boolean), steward._queue_for_enqueue(text),
    steward._job_finish(bigint[], integer[], steward._job_finished_state, jsonb[], timestamptz), steward._capped_count(text, integer),
    steward._estimated_rows(text),
    steward._queue_stats(), steward._queue_error_summary(), steward._health_checks_queue() FROM PUBLIC;
REVOKE ALL ON FUNCTION steward.create_queue(text, integer, interval, interval, interval, double precision, interval, boolean),
    steward.alter_queue(text, integer, interval, interval, interval, double precision, interval, boolean),
    steward.drop_queue(text, boolean), steward.pause_queue(text), steward.resume_queue(text),
    steward.enqueue(text, jsonb, timestamptz, integer, text, integer),
    steward.enqueue_batch(text, jsonb[], timestamptz, integer, integer),
    steward.dequeue(text, text, integer, interval),
    steward.complete(bigint, integer, jsonb), steward.complete_batch(bigint[], integer[], jsonb[]),
    steward.fail(bigint, integer, text, interval, boolean), steward.extend_lease(bigint, integer, interval),
    steward.release(bigint, integer, interval), steward.cancel(bigint), steward.retry(bigint),
    steward.job(bigint), steward.log_job(bigint, integer, text, jsonb),
    steward.complete_and_dequeue(bigint, integer, jsonb, text, text, integer, interval),
    steward.queue_maintenance() FROM PUBLIC;
REVOKE ALL ON steward.queues, steward.jobs, steward.queue_stats, steward.queue_summary,
    steward.queue_error_summary FROM PUBLIC;
GRANT SELECT ON steward.queues, steward.queue_stats, steward.queue_summary, steward.queue_error_summary
    TO steward_monitor, pg_monitor;
GRANT EXECUTE ON FUNCTION steward._health_checks_queue(), steward._queue_stats(), steward._queue_error_summary()
    TO steward_monitor, pg_monitor;

-- Queue ids restart after DROP EXTENSION and a restore fills the tables
-- without enqueues: no dequeue cursor of this database may survive.
SELECT steward._queue_cursor_forget();
