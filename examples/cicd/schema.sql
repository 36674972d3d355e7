-- AI CI/CD system (seed 001_aa043f640c1a0934: "PostgreSQL Database Schema &
-- Connection Management", src/database/schema.sql + models/*.js) on pg_steward.
--
-- Tables, columns, defaults and foreign keys are the document's. Its value
-- lists (status, priority range, agent types, error types) become CHECK
-- constraints. What its models did by hand is pg_steward's:
--   updated_at DEFAULT NOW() (never maintained by the app) -> steward.track_updated_at
--   audit_logs table written by the models                  -> steward.enable_audit (+ view audit_logs)
--   "pending" tasks polled by agents                          -> the queue "tasks" (steward.dequeue)
--   DELETE of a task with its executions/validations         -> soft delete with cascade and restore
CREATE EXTENSION pg_steward;

-- The application's login role: not the owner of any table (docs/audit.md:
-- an owner could drop the audit triggers), so it gets plain privileges.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cicd_app') THEN
        CREATE ROLE cicd_app LOGIN;
    END IF;
END $$;

-- Tables ----------------------------------------------------------------------

CREATE TABLE tasks (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    title TEXT NOT NULL,
    description TEXT,
    requirements JSONB NOT NULL DEFAULT '{}',
    status VARCHAR(50) NOT NULL DEFAULT 'pending'
        CONSTRAINT tasks_status_check
        CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'cancelled')),
    -- "Priority Range: 0-10"; the column stays nullable as in the document
    priority INTEGER DEFAULT 0 CONSTRAINT tasks_priority_check CHECK (priority BETWEEN 0 AND 10),
    created_by VARCHAR(255),
    assigned_to VARCHAR(255),
    parent_task_id UUID REFERENCES tasks(id),      -- sub-tasks; NO ACTION as in the document
    created_at TIMESTAMP DEFAULT NOW(),
    updated_at TIMESTAMP DEFAULT NOW()
);

CREATE TABLE task_executions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id UUID REFERENCES tasks(id) ON DELETE CASCADE,
    agent_type VARCHAR(50) NOT NULL
        CONSTRAINT task_executions_agent_type_check
        CHECK (agent_type IN ('claude-code', 'codegen', 'webhook-handler', 'validation-engine')),
    agent_config JSONB DEFAULT '{}',
    status VARCHAR(50) NOT NULL DEFAULT 'pending'
        CONSTRAINT task_executions_status_check
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    logs JSONB DEFAULT '[]',
    error_details JSONB,
    started_at TIMESTAMP,
    completed_at TIMESTAMP,
    created_at TIMESTAMP DEFAULT NOW()
);

CREATE TABLE pr_validations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id UUID REFERENCES tasks(id) ON DELETE CASCADE,
    execution_id UUID REFERENCES task_executions(id),
    pr_number INTEGER NOT NULL,
    repository VARCHAR(255) NOT NULL,
    branch_name VARCHAR(255),
    status VARCHAR(50) NOT NULL DEFAULT 'pending'
        CONSTRAINT pr_validations_status_check
        CHECK (status IN ('pending', 'running', 'passed', 'failed', 'cancelled')),
    validation_results JSONB DEFAULT '{}',
    webhook_payload JSONB,
    created_at TIMESTAMP DEFAULT NOW(),
    updated_at TIMESTAMP DEFAULT NOW()
);

CREATE TABLE error_logs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id UUID REFERENCES tasks(id),
    execution_id UUID REFERENCES task_executions(id),
    error_type VARCHAR(100) NOT NULL
        CONSTRAINT error_logs_error_type_check
        CHECK (error_type IN ('database', 'api', 'validation', 'network', 'timeout',
                              'authentication', 'authorization', 'system')),
    error_message TEXT,
    error_stack TEXT,
    context JSONB DEFAULT '{}',
    recovery_attempts INTEGER DEFAULT 0,
    resolved BOOLEAN DEFAULT FALSE,
    created_at TIMESTAMP DEFAULT NOW()
);

CREATE TABLE system_config (
    key VARCHAR(255) PRIMARY KEY,
    value JSONB NOT NULL,
    description TEXT,
    updated_at TIMESTAMP DEFAULT NOW()
);

-- The document's table audit_logs is not created: pg_steward's log replaces
-- it (see the view audit_logs below).

-- Indexes: the document lists "indexes on all foreign key relationships" and
-- on "commonly queried columns (status, created_at, etc.)", naming
-- idx_tasks_status, idx_tasks_assigned_to and idx_tasks_created_at; the
-- rest follow the same rule.
CREATE INDEX idx_tasks_status ON tasks (status);
CREATE INDEX idx_tasks_priority ON tasks (priority);
CREATE INDEX idx_tasks_assigned_to ON tasks (assigned_to);
CREATE INDEX idx_tasks_created_at ON tasks (created_at);
CREATE INDEX idx_tasks_parent_task_id ON tasks (parent_task_id);
CREATE INDEX idx_task_executions_task_id ON task_executions (task_id);
CREATE INDEX idx_task_executions_status ON task_executions (status);
CREATE INDEX idx_task_executions_agent_type ON task_executions (agent_type);
CREATE INDEX idx_task_executions_created_at ON task_executions (created_at);
CREATE INDEX idx_pr_validations_task_id ON pr_validations (task_id);
CREATE INDEX idx_pr_validations_execution_id ON pr_validations (execution_id);
CREATE INDEX idx_pr_validations_repository_pr ON pr_validations (repository, pr_number);   -- composite
CREATE INDEX idx_pr_validations_status ON pr_validations (status);
CREATE INDEX idx_error_logs_task_id ON error_logs (task_id);
CREATE INDEX idx_error_logs_execution_id ON error_logs (execution_id);
CREATE INDEX idx_error_logs_type_resolved ON error_logs (error_type, resolved);              -- composite
CREATE INDEX idx_error_logs_created_at ON error_logs (created_at);

-- pg_steward ------------------------------------------------------------------

-- updated_at: stamped on every UPDATE (the document's models never set it).
SELECT steward.track_updated_at('tasks');
SELECT steward.track_updated_at('pr_validations');
SELECT steward.track_updated_at('system_config');

-- Soft delete: a task's DELETE marks it, and ON DELETE CASCADE marks its
-- executions and validations with it; steward.restore brings them back.
-- error_logs stays a plain table (an error record is not deleted): as with
-- the document's real DELETE, a task that has error logs cannot be deleted
-- (NO ACTION), nor can a task with live sub-tasks.
SELECT steward.enable_soft_delete('tasks');
SELECT steward.enable_soft_delete('task_executions');
SELECT steward.enable_soft_delete('pr_validations');

-- Audit: replaces audit_logs. An execution's log lines are excluded: each
-- "add log" rewrites the whole array, and logging it twice (row and audit)
-- would store every line once per later line; the audit keeps the state
-- changes (status, started_at, completed_at, error_details).
SELECT steward.enable_audit('tasks');
SELECT steward.enable_audit('task_executions', excluded => '{logs}');
SELECT steward.enable_audit('pr_validations');
SELECT steward.enable_audit('error_logs');
SELECT steward.enable_audit('system_config');

-- Queue: every pending task is a job; agents claim them with
-- steward.dequeue (SKIP LOCKED), a failure is retried with backoff, and a
-- task that failed max_attempts times is dead (its task "failed").
SELECT steward.create_queue('tasks', max_attempts => 3);

-- Enqueue in the same transaction as the INSERT (a rolled-back Task.create
-- leaves no job). Priority 0-10 is the job priority; the dedup key makes the
-- task's job findable (steward.jobs.dedup_key) and a task never queued twice.
CREATE FUNCTION tasks_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM steward.enqueue('tasks', jsonb_build_object('task_id', NEW.id),
                            priority => coalesce(NEW.priority, 0), dedup_key => 'task:' || NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER tasks_enqueue AFTER INSERT ON tasks
    FOR EACH ROW WHEN (NEW.status = 'pending') EXECUTE FUNCTION tasks_enqueue();

-- Repository methods that are more than one statement ---------------------------

-- An agent picks up the next pending task: claim its job, start an execution
-- (TaskExecution.create + start: status running, started_at), and set the
-- task in_progress. The execution's id goes into the job's progress, so the
-- job (steward.jobs) and the execution point at each other. Jobs whose task
-- was deleted or cancelled meanwhile are completed as skipped.
CREATE FUNCTION claim_task(agent_type text, worker text, agent_config jsonb DEFAULT '{}', lease interval DEFAULT NULL)
RETURNS TABLE (job_id bigint, lease_token integer, task_id uuid, execution_id uuid, attempt integer)
LANGUAGE plpgsql AS $$
DECLARE
    j steward.job;
    t tasks;
BEGIN
    LOOP
        SELECT * INTO j FROM steward.dequeue('tasks', claim_task.worker, 1, claim_task.lease);
        IF j.id IS NULL THEN
            RETURN;
        END IF;
        SELECT * INTO t FROM tasks_live WHERE id = (j.payload ->> 'task_id')::uuid FOR UPDATE;
        IF NOT FOUND OR t.status NOT IN ('pending', 'in_progress') THEN
            PERFORM steward.complete(j.id, j.lease_token,
                                     jsonb_build_object('skipped', coalesce(t.status, 'deleted')));
            CONTINUE;
        END IF;
        -- an earlier attempt whose lease ran out never finished its execution
        UPDATE task_executions e SET status = 'failed', completed_at = now(),
               error_details = jsonb_build_object('error', 'lease expired')
         WHERE e.task_id = t.id AND e.status = 'running';
        -- this claim is a recovery attempt for the task's unresolved errors
        UPDATE error_logs l SET recovery_attempts = l.recovery_attempts + 1
         WHERE l.task_id = t.id AND NOT l.resolved;
        UPDATE tasks SET status = 'in_progress' WHERE id = t.id;
        INSERT INTO task_executions (task_id, agent_type, agent_config, status, started_at)
        VALUES (t.id, claim_task.agent_type,
                claim_task.agent_config || jsonb_build_object('worker', claim_task.worker), 'running', now())
        RETURNING id INTO execution_id;
        PERFORM steward.log_job(j.id, j.lease_token,
                                format('execution %s started by %s', execution_id, claim_task.worker),
                                jsonb_build_object('execution_id', execution_id));
        job_id := j.id; lease_token := j.lease_token; task_id := t.id; attempt := j.attempt;
        RETURN NEXT;
        RETURN;
    END LOOP;
END $$;

-- execution.addLog(entry): append one entry (or an array of entries) to a
-- running execution's logs; a timestamp is added when the entry has none.
CREATE FUNCTION add_execution_log(execution_id uuid, entry jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE task_executions e
       SET logs = coalesce(e.logs, '[]') ||
                  (SELECT jsonb_agg(jsonb_build_object('timestamp', clock_timestamp()) || x ORDER BY n)
                     FROM jsonb_array_elements(CASE WHEN jsonb_typeof(entry) = 'array' THEN entry
                                                    ELSE jsonb_build_array(entry) END) WITH ORDINALITY a(x, n))
     WHERE e.id = add_execution_log.execution_id AND e.status = 'running';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution % is not running', execution_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END $$;

-- The execution that a job's current claim started (claim_task put it there).
CREATE FUNCTION job_execution(job_id bigint) RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT (progress ->> 'execution_id')::uuid FROM steward.jobs WHERE id = job_id
$$;

-- execution.complete(logs) + task completed + the job completed. The queue
-- checks the lease first: a worker whose lease expired (and whose task was
-- claimed again) or whose task was cancelled is refused, and nothing changes.
CREATE FUNCTION finish_task(job_id bigint, lease_token integer, logs jsonb DEFAULT '[]', result jsonb DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    exec uuid := job_execution(job_id);
    tid uuid;
BEGIN
    PERFORM steward.complete(job_id, lease_token, result);
    IF jsonb_array_length(logs) > 0 THEN
        PERFORM add_execution_log(exec, logs);
    END IF;
    UPDATE task_executions e SET status = 'completed', completed_at = now()
     WHERE e.id = exec AND e.status = 'running'
    RETURNING e.task_id INTO tid;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution % is not running', exec USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE tasks SET status = 'completed' WHERE id = tid;
    UPDATE error_logs SET resolved = true WHERE task_id = tid AND NOT resolved;
    RETURN tid;
END $$;

-- An agent's failure: the execution fails with its error details, an
-- error_logs row is written, and the job is failed: retried (task back to
-- pending) or, on its last attempt, dead (task failed). Returns the job's state.
CREATE FUNCTION fail_task(job_id bigint, lease_token integer, error_type text, error_message text,
                          error_stack text DEFAULT NULL, context jsonb DEFAULT '{}', retry_in interval DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    exec uuid := job_execution(job_id);
    tid uuid;
    job_state text;
BEGIN
    job_state := steward.fail(job_id, lease_token, error_message, retry_in);
    UPDATE task_executions e SET status = 'failed', completed_at = now(),
           error_details = jsonb_build_object('type', error_type, 'message', error_message, 'stack', error_stack)
     WHERE e.id = exec AND e.status = 'running'
    RETURNING e.task_id INTO tid;
    INSERT INTO error_logs (task_id, execution_id, error_type, error_message, error_stack, context)
    VALUES (tid, exec, error_type, error_message, error_stack, context || jsonb_build_object('job_id', job_id));
    UPDATE tasks SET status = CASE job_state WHEN 'dead' THEN 'failed' ELSE 'pending' END WHERE id = tid;
    RETURN job_state;
END $$;

-- Cancel a task: its waiting or running job is cancelled (a running agent is
-- then refused when it finishes) and a running execution is cancelled.
CREATE FUNCTION cancel_task(task_id uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tasks t SET status = 'cancelled' WHERE t.id = cancel_task.task_id AND t.status IN ('pending', 'in_progress');
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM steward.cancel(j.id) FROM steward.jobs j
      WHERE j.dedup_key = 'task:' || cancel_task.task_id AND j.state IN ('scheduled', 'ready', 'running');
    UPDATE task_executions e SET status = 'cancelled', completed_at = now()
     WHERE e.task_id = cancel_task.task_id AND e.status IN ('pending', 'running');
    RETURN true;
END $$;

-- Run a failed task again: back to pending, its dead job back in the queue
-- with a fresh set of attempts (the old errors stay on the job).
CREATE FUNCTION retry_task(task_id uuid) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    jid bigint;
BEGIN
    UPDATE tasks t SET status = 'pending' WHERE t.id = retry_task.task_id AND t.status = 'failed';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task % has not failed', task_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT steward.retry(j.id) INTO jid FROM steward.jobs j
     WHERE j.dedup_key = 'task:' || retry_task.task_id AND j.state = 'dead';
    RETURN jid;
END $$;

-- Views -------------------------------------------------------------------------
-- All read the live rows (the *_live views of soft delete) and run with the
-- reader's privileges.

-- Tasks with status pending or in_progress, with their sub-task counts.
CREATE VIEW active_tasks WITH (security_invoker = true) AS
SELECT t.id, t.title, t.description, t.requirements, t.status, t.priority, t.created_by,
       t.assigned_to, t.parent_task_id, t.created_at, t.updated_at,
       (SELECT count(*) FROM tasks_live s WHERE s.parent_task_id = t.id) AS subtasks,
       (SELECT count(*) FROM tasks_live s WHERE s.parent_task_id = t.id AND s.status = 'completed') AS subtasks_completed
  FROM tasks_live t
 WHERE t.status IN ('pending', 'in_progress');

-- Execution statistics by agent type and status.
CREATE VIEW task_execution_summary WITH (security_invoker = true) AS
SELECT agent_type, status, count(*) AS executions,
       count(DISTINCT task_id) AS tasks,
       avg(extract(epoch FROM completed_at - started_at))::numeric(12, 3) AS avg_duration_seconds,
       max(created_at) AS last_execution_at
  FROM task_executions_live
 GROUP BY agent_type, status;

-- Validation statistics by repository and status.
CREATE VIEW pr_validation_summary WITH (security_invoker = true) AS
SELECT repository, status, count(*) AS validations, count(DISTINCT pr_number) AS pull_requests,
       max(updated_at) AS last_updated_at
  FROM pr_validations_live
 GROUP BY repository, status;

-- Error statistics by type and resolution status.
CREATE VIEW error_summary WITH (security_invoker = true) AS
SELECT error_type, resolved, count(*) AS errors, count(DISTINCT task_id) AS tasks,
       sum(recovery_attempts) AS recovery_attempts, max(created_at) AS last_error_at
  FROM error_logs
 GROUP BY error_type, resolved;

-- Recent audit log entries with task information: steward.recent_activity
-- (the latest 100 entries of the database) with, for this schema's tables,
-- the task the entry belongs to (the task itself, or the task of an
-- execution, validation or error; soft-deleted tasks included).
CREATE VIEW recent_activity WITH (security_invoker = true) AS
WITH a AS (
    SELECT r.*, CASE WHEN r.table_name IN ('tasks', 'task_executions', 'pr_validations', 'error_logs')
                     THEN (r.row_key ->> 'id')::uuid END AS entity_uuid
      FROM steward.recent_activity r
     WHERE r.schema_name = 'public'
)
SELECT a.id AS audit_id, a.logged_at, a.table_name AS entity_type,
       coalesce(a.row_key ->> 'id', a.row_key ->> 'key') AS entity_id,
       a.action, a.actor AS user_id, a.role_name,
       t.id AS task_id, t.title AS task_title, t.status AS task_status, t.deleted_at AS task_deleted_at
  FROM a
  LEFT JOIN task_executions e ON a.table_name = 'task_executions' AND e.id = a.entity_uuid
  LEFT JOIN pr_validations v ON a.table_name = 'pr_validations' AND v.id = a.entity_uuid
  LEFT JOIN error_logs l ON a.table_name = 'error_logs' AND l.id = a.entity_uuid
  LEFT JOIN tasks t ON t.id = CASE a.table_name WHEN 'tasks' THEN a.entity_uuid
                                                 WHEN 'task_executions' THEN e.task_id
                                                 WHEN 'pr_validations' THEN v.task_id
                                                 WHEN 'error_logs' THEN l.task_id END;

-- The document's audit_logs, in its shape, over the whole log of its
-- uuid-keyed tables (system_config's key is not a uuid; its history is
-- steward.history('system_config', key)). id is the log's bigint id (order of
-- the changes), not a uuid; for UPDATE old_values/new_values hold the key and
-- the changed columns. Reading one entity: steward.history('tasks', id) uses
-- the log's key index, this view does not.
CREATE VIEW audit_logs WITH (security_invoker = true) AS
SELECT l.id, l.table_name::varchar(50) AS entity_type,
       (CASE WHEN l.table_name IN ('tasks', 'task_executions', 'pr_validations', 'error_logs')
             THEN l.row_key ->> 'id' END)::uuid AS entity_id,
       l.action::varchar(50) AS action, l.old_values, l.new_values, l.actor::varchar(255) AS user_id,
       l.logged_at::timestamp AS created_at
  FROM steward.audit_log l
 WHERE l.schema_name = 'public' AND l.table_name IN ('tasks', 'task_executions', 'pr_validations', 'error_logs');

-- Privileges for the application role ----------------------------------------------

GRANT SELECT, INSERT, UPDATE, DELETE ON tasks, task_executions, pr_validations, error_logs, system_config TO cicd_app;
GRANT SELECT, UPDATE, DELETE ON tasks_live, task_executions_live, pr_validations_live,
      tasks_deleted, task_executions_deleted, pr_validations_deleted TO cicd_app;
GRANT SELECT ON active_tasks, task_execution_summary, pr_validation_summary, error_summary,
      recent_activity, audit_logs TO cicd_app;
GRANT EXECUTE ON FUNCTION steward.enqueue(text, jsonb, timestamptz, integer, text, integer),
      steward.dequeue(text, text, integer, interval), steward.complete(bigint, integer, jsonb),
      steward.fail(bigint, integer, text, interval, boolean), steward.extend_lease(bigint, integer, interval),
      steward.log_job(bigint, integer, text, jsonb), steward.cancel(bigint), steward.retry(bigint) TO cicd_app;
GRANT SELECT ON steward.jobs TO cicd_app;
-- reading the audit (audit_logs, recent_activity, steward.history)
GRANT steward_auditor TO cicd_app;
