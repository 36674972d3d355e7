-- examples/orchestrator/schema.sql
--
-- The agents, tasks and voting parts of the "AI Agent Orchestrator" database
-- layer (seed document 002: scripts/database/ with AgentRepository,
-- TaskRepository and VotingRepository over node-postgres), ported onto
-- pg_steward. What the document's repositories did by hand is done here by
--   * steward.track_updated_at   -- updated_at on agents, proposals, votes
--   * steward.enable_soft_delete -- retiring an agent (with its proposals and
--                                   votes), withdrawing a vote; restore
--   * steward.enable_audit       -- VotingRepository's "audit logging", and
--                                   status changes of agents, with the agent
--                                   or orchestrator as steward.actor
--   * steward.create_queue       -- TaskRepository's queue: locking dequeue,
--                                   leases, retries with backoff, dead tasks,
--                                   per-attempt history, queue statistics
-- What is left are the tables and thin functions that name the document's
-- repository methods. The document gives no DDL: the tables follow its
-- repository methods, and values or rules it does not state are marked
-- "(chosen)".

CREATE EXTENSION pg_steward;

-- Agents -----------------------------------------------------------------------
-- The document's ids are strings ('agent-1', 'task-1'). An agent's id is also
-- the worker name it claims tasks under, so it is limited to what reads well
-- in steward.jobs.worker (chosen).
CREATE TABLE agents (
    agent_id           text PRIMARY KEY
                       CONSTRAINT agents_agent_id_check CHECK (agent_id ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    agent_name         text NOT NULL CONSTRAINT agents_agent_name_key UNIQUE,
    -- the document only shows 'worker'; the set is chosen
    agent_type         text NOT NULL DEFAULT 'worker'
                       CONSTRAINT agents_agent_type_check
                       CHECK (agent_type IN ('orchestrator', 'worker', 'reviewer', 'specialist')),
    -- capabilities: ['coding', 'testing'] from node-postgres binds as text[]
    capabilities       text[] NOT NULL DEFAULT '{}',
    -- the document uses 'active', 'idle' and 'busy'; 'offline' is what the
    -- stale-heartbeat sweep sets, 'error' an agent reporting a fault (chosen)
    status             text NOT NULL DEFAULT 'idle'
                       CONSTRAINT agents_status_check
                       CHECK (status IN ('active', 'idle', 'busy', 'offline', 'error')),
    metadata           jsonb NOT NULL DEFAULT '{}',
    last_heartbeat     timestamptz,
    -- "statistics updates (tasks completed, messages processed)": lifetime
    -- counters; the queue's history gives the recent window (agent_statistics)
    tasks_completed    integer NOT NULL DEFAULT 0 CHECK (tasks_completed >= 0),
    tasks_failed       integer NOT NULL DEFAULT 0 CHECK (tasks_failed >= 0),
    messages_processed bigint  NOT NULL DEFAULT 0 CHECK (messages_processed >= 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_capabilities_idx ON agents USING gin (capabilities);

-- Tasks ------------------------------------------------------------------------
-- The task's identity and content stay an application table (task ids are
-- unique for ever, and the record outlives the queue's retention); its state
-- (pending/in_progress/..., assignee, attempts, result, errors) lives in the
-- job of the queue 'tasks' (job_id), read back through the view task_queue.
-- There is no status column to keep in step with the queue.
CREATE TABLE tasks (
    task_id     text PRIMARY KEY CHECK (length(task_id) BETWEEN 1 AND 128),
    task_type   text NOT NULL CHECK (task_type ~ '^[a-z][a-z0-9_]*$'),
    priority    text NOT NULL DEFAULT 'medium'
                CONSTRAINT tasks_priority_check CHECK (priority IN ('high', 'medium', 'low')),
    payload     jsonb NOT NULL DEFAULT '{}',
    job_id      bigint NOT NULL CONSTRAINT tasks_job_id_key UNIQUE,   -- steward job of queue 'tasks'
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_task_type_idx ON tasks (task_type, created_at);

-- Voting -----------------------------------------------------------------------
-- A proposal is made by an agent and voted on by agents, one vote per agent.
-- Result: passed when at least `quorum` votes were cast and approvals exceed
-- `approval_threshold` of the approve + reject votes (abstentions count for
-- the quorum only) (chosen: the document names "voting results calculation").
CREATE TABLE proposals (
    proposal_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description        text,
    proposed_by        text NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
    status             text NOT NULL DEFAULT 'open'
                       CONSTRAINT proposals_status_check
                       CHECK (status IN ('open', 'passed', 'rejected', 'cancelled')),
    quorum             integer NOT NULL DEFAULT 1 CHECK (quorum >= 1),
    approval_threshold numeric(3, 2) NOT NULL DEFAULT 0.50
                       CHECK (approval_threshold > 0 AND approval_threshold < 1),
    voting_ends_at     timestamptz,
    result             jsonb,
    closed_at          timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT proposals_closed_check CHECK ((status = 'open') = (closed_at IS NULL))
);
CREATE INDEX proposals_proposed_by_idx ON proposals (proposed_by);

CREATE TABLE votes (
    vote_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    proposal_id bigint NOT NULL REFERENCES proposals (proposal_id) ON DELETE CASCADE,
    agent_id    text NOT NULL REFERENCES agents (agent_id) ON DELETE CASCADE,
    vote        text NOT NULL CONSTRAINT votes_vote_check CHECK (vote IN ('approve', 'reject', 'abstain')),
    rationale   text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- one vote per agent per proposal (among live votes, see soft_delete_unique)
    CONSTRAINT votes_proposal_agent_key UNIQUE (proposal_id, agent_id)
);
CREATE INDEX votes_agent_id_idx ON votes (agent_id);

-- pg_steward: updated_at, soft delete, audit, queue --------------------------
SELECT steward.track_updated_at('agents');
SELECT steward.track_updated_at('proposals');
SELECT steward.track_updated_at('votes');

-- A plain DELETE FROM agents retires the agent: it is marked, and so are its
-- proposals and its votes (ON DELETE CASCADE between enabled tables), with
-- the votes others cast on its proposals. steward.restore('agents', '"agent-3"')
-- brings all of it back. DELETE FROM votes withdraws a vote.
SELECT steward.enable_soft_delete('agents');
SELECT steward.enable_soft_delete('proposals');
SELECT steward.enable_soft_delete('votes');
-- a retired agent's name may be given to a new agent; a withdrawn vote lets
-- the agent vote again
SELECT steward.soft_delete_unique('agents', 'agents_agent_name_key');
SELECT steward.soft_delete_unique('votes', 'votes_proposal_agent_key');
CREATE INDEX agents_status_idx ON agents (status) WHERE deleted_at IS NULL;
CREATE INDEX agents_heartbeat_idx ON agents (last_heartbeat) WHERE deleted_at IS NULL;
CREATE INDEX proposals_open_idx ON proposals (created_at) WHERE status = 'open' AND deleted_at IS NULL;

-- Heartbeats and counters are telemetry, not changes of the agent: they are
-- left out of the log (an UPDATE of only these columns writes no entry).
SELECT steward.enable_audit('agents',
                            excluded => '{last_heartbeat,tasks_completed,tasks_failed,messages_processed}');
SELECT steward.enable_audit('proposals');
-- full rows for votes, so that every entry (also a changed vote) carries its
-- proposal_id and agent_id
SELECT steward.enable_audit('votes', full_row => true);

-- TaskRepository's queue. max_attempts is set per task (max_retries + 1).
SELECT steward.create_queue('tasks', max_attempts => 4, lease => '5 minutes',
                            backoff_base => '5 seconds', backoff_max => '10 minutes',
                            retention => '30 days');

-- AgentRepository ----------------------------------------------------------------
-- create / findById / updateStatus / delete are plain SQL on agents (or
-- agents_live); only the methods with a rule of their own are functions.

-- updateHeartbeat: "updated_at = updated_at" keeps the stamp for telemetry
-- (documented behaviour of track_updated_at), and last_heartbeat is excluded
-- from the audit, so a heartbeat writes neither.
CREATE FUNCTION update_heartbeat(p_agent_id text)
RETURNS timestamptz
LANGUAGE sql
AS $$
    UPDATE agents_live SET last_heartbeat = now(), updated_at = updated_at
     WHERE agent_id = p_agent_id
    RETURNING last_heartbeat;
$$;

-- statistics updates (tasks completed, tasks failed, messages processed)
CREATE FUNCTION update_agent_statistics(p_agent_id text, p_tasks_completed integer DEFAULT 0,
                                        p_tasks_failed integer DEFAULT 0, p_messages_processed bigint DEFAULT 0)
RETURNS agents
LANGUAGE sql
AS $$
    UPDATE agents
       SET tasks_completed = tasks_completed + p_tasks_completed,
           tasks_failed = tasks_failed + p_tasks_failed,
           messages_processed = messages_processed + p_messages_processed,
           updated_at = updated_at
     WHERE agent_id = p_agent_id
    RETURNING *;
$$;

-- agents whose heartbeat is older than p_older_than (never sent: counted from
-- registration); offline ones are already handled
CREATE FUNCTION find_stale_agents(p_older_than interval)
RETURNS SETOF agents_live
LANGUAGE sql
STABLE
AS $$
    SELECT * FROM agents_live
     WHERE status <> 'offline' AND coalesce(last_heartbeat, created_at) < now() - p_older_than
     ORDER BY last_heartbeat NULLS FIRST, agent_id;
$$;

CREATE FUNCTION mark_stale_agents_offline(p_older_than interval)
RETURNS SETOF text
LANGUAGE sql
AS $$
    UPDATE agents_live SET status = 'offline'
     WHERE agent_id IN (SELECT agent_id FROM find_stale_agents(p_older_than))
    RETURNING agent_id;
$$;

-- per agent: the lifetime counters and, from the queue's history (within its
-- retention), what it holds now, completed and failed
CREATE VIEW agent_statistics AS
SELECT a.agent_id, a.agent_name, a.agent_type, a.status, a.last_heartbeat,
       a.tasks_completed, a.tasks_failed, a.messages_processed,
       coalesce(q.running, 0) AS tasks_running,
       coalesce(q.completed, 0) AS completed_in_queue_history,
       coalesce(f.failed_runs, 0) AS failed_runs_in_queue_history,
       coalesce(f.lost_leases, 0) AS lost_leases_in_queue_history
  FROM agents_live a
  LEFT JOIN (SELECT j.worker,
                    count(*) FILTER (WHERE j.state = 'running') AS running,
                    count(*) FILTER (WHERE j.state = 'completed') AS completed
               FROM steward.jobs j WHERE j.queue = 'tasks' GROUP BY j.worker) q ON q.worker = a.agent_id
  LEFT JOIN (SELECT e ->> 'worker' AS worker,
                    count(*) FILTER (WHERE e ->> 'error' <> 'lease expired') AS failed_runs,
                    count(*) FILTER (WHERE e ->> 'error' = 'lease expired') AS lost_leases
               FROM steward.jobs j, jsonb_array_elements(j.errors) e
              WHERE j.queue = 'tasks' AND j.errors IS NOT NULL GROUP BY 1) f ON f.worker = a.agent_id;

-- TaskRepository -------------------------------------------------------------------
CREATE FUNCTION task_priority(p_label text)
RETURNS integer
LANGUAGE plpgsql
IMMUTABLE
AS $$
BEGIN
    CASE p_label
    WHEN 'high' THEN RETURN 1;
    WHEN 'medium' THEN RETURN 0;
    WHEN 'low' THEN RETURN -1;
    ELSE
        RAISE EXCEPTION 'invalid task priority "%"', p_label
            USING ERRCODE = 'check_violation', HINT = 'Use high, medium or low.';
    END CASE;
END
$$;

-- create / enqueue: the task row and its job commit together (or not at all)
CREATE FUNCTION create_task(p_task_id text, p_task_type text, p_priority text DEFAULT 'medium',
                            p_payload jsonb DEFAULT '{}', p_max_retries integer DEFAULT 3,
                            p_run_at timestamptz DEFAULT NULL)
RETURNS tasks
LANGUAGE sql
AS $$
    INSERT INTO tasks (task_id, task_type, priority, payload, job_id)
    VALUES (p_task_id, p_task_type, p_priority, p_payload,
            steward.enqueue('tasks', jsonb_build_object('task_id', p_task_id), run_at => p_run_at,
                            priority => task_priority(p_priority), max_attempts => p_max_retries + 1))
    RETURNING *;
$$;

-- what dequeue and complete_and_next hand to the agent
CREATE TYPE claimed_task AS (
    task_id          text,
    task_type        text,
    priority         text,
    payload          jsonb,
    attempt          integer,
    max_attempts     integer,
    lease_token      integer,
    lease_expires_at timestamptz
);

-- Worker names are free text to the queue: only registered, live agents claim.
CREATE FUNCTION require_live_agent(p_agent_id text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM agents_live WHERE agent_id = p_agent_id) THEN
        RAISE EXCEPTION 'agent "%" is not registered or has been retired', p_agent_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
END
$$;

-- dequeue('agent-1'): the next task by priority, then age; locked rows are
-- skipped; the claim holds a lease (the queue's 5 minutes, or p_lease)
CREATE FUNCTION dequeue_task(p_agent_id text, p_lease interval DEFAULT NULL)
RETURNS SETOF claimed_task
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM require_live_agent(p_agent_id);
    RETURN QUERY
        SELECT t.task_id, t.task_type, t.priority, t.payload, j.attempt, j.max_attempts, j.lease_token, j.lease_expires_at
          FROM steward.dequeue('tasks', p_agent_id, 1, p_lease) j JOIN tasks t ON t.job_id = j.id;
END
$$;

-- The task's job, for a call by p_agent_id with p_lease_token. The lease
-- token is a fencing token (1 on the first claim, 2 on the second, ...), not a
-- secret, and steward.complete/fail/extend_lease do not take the worker: an
-- agent presenting the current token of a claim that is not its own is
-- refused here. A stale token is left to pg_steward, which refuses it.
CREATE FUNCTION task_job(p_task_id text, p_agent_id text, p_lease_token integer)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    jid bigint;
    holder text;
BEGIN
    SELECT t.job_id INTO jid FROM tasks t WHERE t.task_id = p_task_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task "%" does not exist', p_task_id USING ERRCODE = 'undefined_object';
    END IF;
    SELECT j.worker INTO holder FROM steward.jobs j
     WHERE j.id = jid AND j.state = 'running' AND j.lease_token = p_lease_token;
    IF FOUND AND holder IS DISTINCT FROM p_agent_id THEN
        RAISE EXCEPTION 'task "%" is assigned to agent "%", not to "%"', p_task_id, holder, p_agent_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN jid;
END
$$;

-- updateStatus(taskId, 'completed', { result })
CREATE FUNCTION complete_task(p_task_id text, p_agent_id text, p_lease_token integer, p_result jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM steward.complete(task_job(p_task_id, p_agent_id, p_lease_token), p_lease_token, p_result);
    PERFORM update_agent_statistics(p_agent_id, p_tasks_completed => 1);
END
$$;

-- the agent loop: complete this task and claim the next one, one round trip
CREATE FUNCTION complete_and_next(p_task_id text, p_agent_id text, p_lease_token integer,
                                  p_result jsonb DEFAULT NULL, p_lease interval DEFAULT NULL)
RETURNS SETOF claimed_task
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM require_live_agent(p_agent_id);
    RETURN QUERY
        SELECT t.task_id, t.task_type, t.priority, t.payload, j.attempt, j.max_attempts, j.lease_token, j.lease_expires_at
          FROM steward.complete_and_dequeue(task_job(p_task_id, p_agent_id, p_lease_token), p_lease_token, p_result,
                                            worker => p_agent_id, lease => p_lease) j
          JOIN tasks t ON t.job_id = j.id;
    PERFORM update_agent_statistics(p_agent_id, p_tasks_completed => 1);
END
$$;

-- updateStatus(taskId, 'failed', { error }): retried after the queue's
-- backoff (or p_retry_in) while attempts remain; returns the task's status
-- afterwards, 'pending' (will be retried) or 'failed' (out of retries)
CREATE FUNCTION fail_task(p_task_id text, p_agent_id text, p_lease_token integer, p_error text,
                          p_retry_in interval DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    state text;
BEGIN
    state := steward.fail(task_job(p_task_id, p_agent_id, p_lease_token), p_lease_token, p_error, p_retry_in);
    PERFORM update_agent_statistics(p_agent_id, p_tasks_failed => 1);
    RETURN CASE state WHEN 'dead' THEN 'failed' ELSE 'pending' END;
END
$$;

-- the heartbeat of a running task: extends its lease, records progress, and
-- counts as the agent's heartbeat
CREATE FUNCTION task_heartbeat(p_task_id text, p_agent_id text, p_lease_token integer,
                               p_lease interval DEFAULT '5 minutes', p_progress jsonb DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql
AS $$
DECLARE
    jid bigint := task_job(p_task_id, p_agent_id, p_lease_token);
    lease_end timestamptz;
BEGIN
    lease_end := steward.extend_lease(jid, p_lease_token, p_lease);
    IF p_progress IS NOT NULL THEN
        PERFORM steward.log_job(jid, p_lease_token, p_progress ->> 'message', p_progress);
    END IF;
    PERFORM update_heartbeat(p_agent_id);
    RETURN lease_end;
END
$$;

-- the document's updateStatus(taskId, status, { result }) in one entry point
CREATE FUNCTION update_task_status(p_task_id text, p_status text, p_agent_id text, p_lease_token integer,
                                   p_result jsonb DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
AS $$
BEGIN
    CASE p_status
    WHEN 'completed' THEN
        PERFORM complete_task(p_task_id, p_agent_id, p_lease_token, p_result);
        RETURN 'completed';
    WHEN 'failed' THEN
        RETURN fail_task(p_task_id, p_agent_id, p_lease_token, coalesce(p_result ->> 'error', 'failed'));
    ELSE
        RAISE EXCEPTION 'cannot set task "%" to status "%"', p_task_id, p_status
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'An agent sets completed or failed; a task becomes in_progress by dequeue, '
                         'cancelled by cancel_task, pending again by retry_task.';
    END CASE;
END
$$;

CREATE FUNCTION cancel_task(p_task_id text)
RETURNS boolean
LANGUAGE sql
AS $$
    SELECT steward.cancel(job_id) FROM tasks WHERE task_id = p_task_id;
$$;

-- retry handling for a task that ran out of retries (or was cancelled): back
-- in the queue with a fresh set of attempts, its errors kept
CREATE FUNCTION retry_task(p_task_id text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM steward.retry(job_id) FROM tasks WHERE task_id = p_task_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task "%" does not exist', p_task_id USING ERRCODE = 'undefined_object';
    END IF;
END
$$;

-- The document's tasks table as the application reads it. Jobs older than
-- the queue's retention (30 days) are gone from steward.jobs: 'archived'.
-- The job is looked up per task with steward.job() (index lookups; NULLs
-- when the job is gone): a plain "LEFT JOIN steward.jobs j ON j.id =
-- t.job_id" is planned as a hash join over every live and finished job,
-- even for one task.
CREATE VIEW task_queue AS
SELECT t.task_id, t.task_type, t.priority, t.payload,
       CASE j.state WHEN 'scheduled' THEN 'pending' WHEN 'ready' THEN 'pending'
                    WHEN 'running' THEN 'in_progress' WHEN 'completed' THEN 'completed'
                    WHEN 'dead' THEN 'failed' WHEN 'cancelled' THEN 'cancelled'
                    ELSE 'archived' END AS status,
       j.worker AS assigned_agent_id,
       j.attempt,
       coalesce(jsonb_array_length(j.errors), 0) AS retry_count,
       j.max_attempts - 1 AS max_retries,
       j.result, j.errors, j.progress, j.log,
       j.run_at, j.claimed_at AS started_at, j.lease_expires_at, j.finished_at AS completed_at,
       t.created_at, t.job_id
  FROM tasks t
  CROSS JOIN LATERAL steward.job(t.job_id) j;

-- task history: creation, every failed attempt (with its agent and error),
-- progress lines, the last claim and the outcome
CREATE FUNCTION task_history(p_task_id text)
RETURNS TABLE (at timestamptz, event text, agent_id text, attempt integer, detail text)
LANGUAGE sql
STABLE
AS $$
    WITH j AS (SELECT * FROM task_queue WHERE task_id = p_task_id)
    SELECT * FROM (
        SELECT j.created_at, 'created', NULL::text, NULL::integer, j.priority FROM j
        UNION ALL
        SELECT (e ->> 'at')::timestamptz,
               CASE e ->> 'error' WHEN 'lease expired' THEN 'lease_expired' ELSE 'attempt_failed' END,
               e ->> 'worker', (e ->> 'attempt')::integer, e ->> 'error'
          FROM j, jsonb_array_elements(j.errors) e
        UNION ALL
        SELECT (l ->> 'at')::timestamptz, 'progress', NULL, (l ->> 'attempt')::integer, l ->> 'message'
          FROM j, jsonb_array_elements(j.log) l
        UNION ALL
        SELECT j.started_at, 'started', j.assigned_agent_id, j.attempt, NULL FROM j WHERE j.started_at IS NOT NULL
        UNION ALL
        SELECT j.completed_at, j.status, j.assigned_agent_id, j.attempt, j.result::text
          FROM j WHERE j.completed_at IS NOT NULL) h (at, event, agent_id, attempt, detail)
     ORDER BY at, CASE event WHEN 'created' THEN 0 WHEN 'started' THEN 2 ELSE 1 END;
$$;

-- task statistics; throughput, waits and run times per queue are in
-- steward.queue_stats / steward.queue_summary
CREATE VIEW task_statistics AS
SELECT count(*) AS total,
       count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'in_progress') AS in_progress,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE retry_count > 0) AS retried,
       avg(completed_at - started_at) FILTER (WHERE status = 'completed') AS avg_run_time
  FROM task_queue;

-- VotingRepository ---------------------------------------------------------------
-- createProposal is a plain INSERT INTO proposals; the audit records it.

-- castVote: the proposal must be open and the agent live (a soft-deleted
-- agent still satisfies the foreign key). FOR SHARE keeps close_proposal
-- from tallying before this vote commits.
CREATE FUNCTION cast_vote(p_proposal_id bigint, p_agent_id text, p_vote text, p_rationale text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    p record;
    id bigint;
BEGIN
    PERFORM require_live_agent(p_agent_id);
    SELECT status, voting_ends_at INTO p FROM proposals_live WHERE proposal_id = p_proposal_id FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'proposal % does not exist', p_proposal_id USING ERRCODE = 'undefined_object';
    END IF;
    IF p.status <> 'open' OR p.voting_ends_at < now() THEN
        RAISE EXCEPTION 'voting on proposal % is closed', p_proposal_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The proposal is %s.', CASE WHEN p.status = 'open' THEN 'past its deadline' ELSE p.status END);
    END IF;
    INSERT INTO votes (proposal_id, agent_id, vote, rationale)
    VALUES (p_proposal_id, p_agent_id, p_vote, p_rationale)
    RETURNING vote_id INTO id;
    RETURN id;
END
$$;

-- an agent changes its vote while the proposal is open
CREATE FUNCTION change_vote(p_proposal_id bigint, p_agent_id text, p_vote text, p_rationale text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM FROM proposals_live WHERE proposal_id = p_proposal_id AND status = 'open' FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'voting on proposal % is closed', p_proposal_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE votes_live SET vote = p_vote, rationale = coalesce(p_rationale, rationale)
     WHERE proposal_id = p_proposal_id AND agent_id = p_agent_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'agent "%" has no vote on proposal %', p_agent_id, p_proposal_id
            USING ERRCODE = 'no_data_found';
    END IF;
END
$$;

-- tallies over live votes of live agents (retired agents' votes are marked
-- deleted with them)
CREATE VIEW proposal_results AS
SELECT p.proposal_id, p.title, p.proposed_by, p.status, p.quorum, p.approval_threshold,
       coalesce(v.approve, 0) AS approve, coalesce(v.reject, 0) AS reject, coalesce(v.abstain, 0) AS abstain,
       coalesce(v.total, 0) AS total_votes,
       coalesce(v.total, 0) >= p.quorum AS quorum_met,
       round(v.approve::numeric / nullif(v.approve + v.reject, 0), 2) AS approval_ratio,
       p.result, p.closed_at
  FROM proposals_live p
  LEFT JOIN (SELECT proposal_id,
                    count(*) FILTER (WHERE vote = 'approve') AS approve,
                    count(*) FILTER (WHERE vote = 'reject') AS reject,
                    count(*) FILTER (WHERE vote = 'abstain') AS abstain,
                    count(*) AS total
               FROM votes_live GROUP BY proposal_id) v USING (proposal_id);

-- voting results calculation: tally and close
CREATE FUNCTION close_proposal(p_proposal_id bigint)
RETURNS proposals
LANGUAGE plpgsql
AS $$
DECLARE
    p proposals;
    r proposal_results;
BEGIN
    SELECT * INTO p FROM proposals_live WHERE proposal_id = p_proposal_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'proposal % does not exist', p_proposal_id USING ERRCODE = 'undefined_object';
    END IF;
    IF p.status <> 'open' THEN
        RAISE EXCEPTION 'proposal % is already %', p_proposal_id, p.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- a new statement: sees the votes that committed while we waited for the lock
    SELECT * INTO r FROM proposal_results WHERE proposal_id = p_proposal_id;
    UPDATE proposals
       SET status = CASE WHEN r.quorum_met AND r.approve > p.approval_threshold * (r.approve + r.reject)
                         THEN 'passed' ELSE 'rejected' END,
           closed_at = now(),
           result = jsonb_build_object('approve', r.approve, 'reject', r.reject, 'abstain', r.abstain,
                                       'total_votes', r.total_votes, 'quorum_met', r.quorum_met)
     WHERE proposal_id = p_proposal_id
    RETURNING * INTO p;
    RETURN p;
END
$$;

-- VotingRepository's audit log: every change of a proposal or vote, with the
-- acting agent (steward.actor) and the database role, read from pg_steward's
-- log. A function, not a view: decoding the log runs with the caller's rights
-- (steward_auditor), also inside a view owned by an auditor, so a view over
-- steward.audit_log cannot be granted to the app role alone. As SECURITY
-- DEFINER it shows the app this slice of the log and nothing else; its owner
-- (the migration role) must be a member of steward_auditor.
CREATE FUNCTION voting_audit_log(p_proposal_id bigint DEFAULT NULL)
RETURNS TABLE (audit_id bigint, logged_at timestamptz, actor text, role_name text, action text, entity text,
               proposal_id bigint, vote_id bigint, changed_columns text[], old_values jsonb, new_values jsonb)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM (
        SELECT a.id, a.logged_at, a.actor, a.role_name, a.action, a.table_name,
               CASE a.table_name WHEN 'proposals' THEN (a.row_key ->> 'proposal_id')::bigint
                    ELSE (coalesce(a.new_values, a.old_values) ->> 'proposal_id')::bigint END,
               (a.row_key ->> 'vote_id')::bigint,
               a.changed_columns, a.old_values, a.new_values
          FROM steward.audit_log a
         WHERE a.schema_name = 'public' AND a.table_name IN ('proposals', 'votes'))
        l (audit_id, logged_at, actor, role_name, action, entity, proposal_id, vote_id, changed_columns,
           old_values, new_values)
     WHERE p_proposal_id IS NULL OR l.proposal_id = p_proposal_id
     ORDER BY l.audit_id;
$$;

-- Privileges -------------------------------------------------------------------
-- The node-postgres pool connects as orchestrator_app: not the owner of the
-- tables (an owner could drop the audit triggers) and no superuser. It needs
-- the steward functions of the queue (EXECUTE is revoked from PUBLIC), the
-- view steward.jobs (read by task_job), and DELETE with UPDATE on the
-- soft-delete tables (a soft DELETE is an UPDATE of deleted_at). Reading the audit
-- log directly is for steward_auditor; the app calls voting_audit_log().
-- (In a real deployment the role is created outside the migration.)
CREATE ROLE orchestrator_app LOGIN;
GRANT USAGE ON SCHEMA steward TO orchestrator_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON agents, agents_live, proposals, proposals_live, votes, votes_live
   TO orchestrator_app;
GRANT SELECT, INSERT ON tasks TO orchestrator_app;
GRANT SELECT ON agents_deleted, proposals_deleted, votes_deleted, task_queue, task_statistics,
      agent_statistics, proposal_results TO orchestrator_app;
REVOKE EXECUTE ON FUNCTION voting_audit_log(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION voting_audit_log(bigint) TO orchestrator_app;
GRANT SELECT ON steward.jobs TO orchestrator_app;
GRANT EXECUTE ON FUNCTION
      steward.enqueue(text, jsonb, timestamptz, integer, text, integer),
      steward.dequeue(text, text, integer, interval),
      steward.complete(bigint, integer, jsonb),
      steward.complete_and_dequeue(bigint, integer, jsonb, text, text, integer, interval),
      steward.fail(bigint, integer, text, interval, boolean),
      steward.extend_lease(bigint, integer, interval),
      steward.log_job(bigint, integer, text, jsonb),
      steward.cancel(bigint),
      steward.retry(bigint),
      steward.job(bigint)
   TO orchestrator_app;
-- queue_stats, queue_summary and soft_delete_summary for the app's status page
GRANT steward_monitor TO orchestrator_app;
