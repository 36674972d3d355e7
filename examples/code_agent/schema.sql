-- AI Code Agent (seed 000_2251e08ab787cca1): the data layer of the document's
-- UserModel, SessionModel, ParsedRequestModel, ProjectAnalysisModel, TaskModel,
-- CodeFileModel, ConfigurationModel, AuditLogModel and ApiKeyModel on pg_steward.
--
-- The document names the models and their methods but gives no column lists;
-- the columns below are what those methods need (its User example names
-- email, username, password_hash, first_name, last_name, avatar_url; verifyUser,
-- activateUser, updateLastLogin imply verified, active, last_login_at). Keys
-- are UUIDs (gen_random_uuid(), core since PostgreSQL 13).
--
-- What the document's BaseModel did in TypeScript and pg_steward does here:
--   created_at/updated_at upkeep        -> steward.track_updated_at
--   delete(id) soft, delete(id, true),  -> DELETE (soft), steward.hard_delete,
--   restore(id), "WHERE deleted_at IS NULL" everywhere -> steward.restore, <table>_live views
--   AuditLogModel and its writes        -> steward.enable_audit, steward.audit_log
--   task status polling, retries        -> the queue code_agent_tasks (steward.create_queue)
--   checkHealth()                       -> steward.health()

CREATE EXTENSION pg_steward;

-- Roles. The service connects as agent_app (CRUD and the task queue; it owns
-- nothing, so it cannot drop the audit triggers). agent_admin is the operator
-- side: audit screens (steward_auditor), health and statistics (steward_monitor).
CREATE ROLE agent_app NOLOGIN;
CREATE ROLE agent_admin NOLOGIN IN ROLE steward_auditor, steward_monitor;

-- ---------------------------------------------------------------------------
-- Users and sessions
-- ---------------------------------------------------------------------------

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- stored lower-case so that the unique constraint is case-insensitive
    -- (the document's findByEmail); the app lower-cases before writing
    email         text NOT NULL
                  CONSTRAINT users_email_key UNIQUE
                  CONSTRAINT users_email_check CHECK (email = lower(email) AND email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
    username      text NOT NULL
                  CONSTRAINT users_username_key UNIQUE
                  CONSTRAINT users_username_check CHECK (username ~ '^[A-Za-z0-9_.-]{3,50}$'),
    -- UserModel.hashPassword is bcrypt: refuse anything that is not a bcrypt
    -- hash (a plain password stored by mistake)
    password_hash text NOT NULL
                  CONSTRAINT users_password_hash_check CHECK (password_hash ~ '^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}$'),
    first_name    text CHECK (length(first_name) <= 100),
    last_name     text CHECK (length(last_name) <= 100),
    avatar_url    text CONSTRAINT users_avatar_url_check CHECK (avatar_url ~ '^https?://'),
    verified      boolean NOT NULL DEFAULT false,     -- verifyUser
    active        boolean NOT NULL DEFAULT true,      -- activateUser
    last_login_at timestamptz,                        -- updateLastLogin
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz                         -- soft delete (steward.enable_soft_delete)
);

-- Session tokens are never stored: only their SHA-256 (findByToken hashes the
-- token it is given). Sessions of a soft-deleted user are soft-deleted with it
-- (ON DELETE CASCADE between soft-delete tables) and come back on restore.
CREATE TABLE sessions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    token_hash       bytea NOT NULL CONSTRAINT sessions_token_hash_key UNIQUE
                     CHECK (length(token_hash) = 32),
    ip_address       inet,
    user_agent       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_accessed_at timestamptz NOT NULL DEFAULT now(),   -- updateLastAccessed
    expires_at       timestamptz NOT NULL,                 -- expireSession sets it to now()
    deleted_at       timestamptz,                          -- terminated or cleaned up
    CONSTRAINT sessions_expiry_check CHECK (expires_at >= created_at)
);
CREATE INDEX sessions_user_live ON sessions (user_id) WHERE deleted_at IS NULL;
CREATE INDEX sessions_expires_live ON sessions (expires_at) WHERE deleted_at IS NULL;

-- API keys: the key is shown once; the table keeps its SHA-256 and a prefix
-- to recognise it in a list. Revocation is revoked_at, not a soft delete: a
-- revoked key stays listed to its owner as revoked, and steward.restore (of the
-- key, or of its user) must never bring a revoked key back to life.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    key_prefix   text NOT NULL CHECK (length(key_prefix) BETWEEN 4 AND 16),
    key_hash     bytea NOT NULL CONSTRAINT api_keys_key_hash_key UNIQUE CHECK (length(key_hash) = 32),
    scopes       text[] NOT NULL DEFAULT '{}',
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz,
    CONSTRAINT api_keys_user_name_key UNIQUE (user_id, name),
    CONSTRAINT api_keys_revoked_check CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);

-- ---------------------------------------------------------------------------
-- Request -> Analysis -> Tasks -> Files
-- ---------------------------------------------------------------------------

CREATE TABLE parsed_requests (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    raw_input     text NOT NULL CHECK (length(raw_input) BETWEEN 1 AND 100000),
    intent        text,
    parsed_data   jsonb,
    confidence    numeric(4,3) CHECK (confidence BETWEEN 0 AND 1),
    status        text NOT NULL DEFAULT 'pending'
                  CONSTRAINT parsed_requests_status_check CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    error_message text,
    processed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz
);
CREATE INDEX parsed_requests_user_live ON parsed_requests (user_id, created_at) WHERE deleted_at IS NULL;

CREATE TABLE project_analyses (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    parsed_request_id uuid NOT NULL REFERENCES parsed_requests ON DELETE CASCADE,
    project_path      text NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CONSTRAINT project_analyses_status_check CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    language          text,
    framework         text,
    file_count        integer CHECK (file_count >= 0),
    summary           jsonb,
    error_message     text,
    started_at        timestamptz,
    completed_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz,
    -- target of the tasks' composite foreign key (a task's request is its analysis' request)
    CONSTRAINT project_analyses_id_request_key UNIQUE (id, parsed_request_id)
);
CREATE INDEX project_analyses_request_live ON project_analyses (parsed_request_id) WHERE deleted_at IS NULL;

-- A task belongs to an analysis and carries the analysis' request too
-- (taskModel.findByParsedRequestId); the composite foreign key keeps the two
-- consistent. job_id is the task's job in the queue code_agent_tasks: the
-- queue holds the claim, the lease, the attempts and the errors; the task
-- holds the domain state and the results.
CREATE TABLE tasks (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    parsed_request_id   uuid NOT NULL,
    project_analysis_id uuid NOT NULL,
    title               text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    description         text,
    status              text NOT NULL DEFAULT 'pending'
                        CONSTRAINT tasks_status_check CHECK (status IN ('pending', 'in_progress', 'completed', 'failed')),
    priority            integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN -100 AND 100),
    assigned_to         text,                         -- the agent/worker running it
    started_at          timestamptz,
    completed_at        timestamptz,
    results             jsonb,
    error_message       text,
    retry_count         integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    max_retries         integer NOT NULL DEFAULT 3 CHECK (max_retries BETWEEN 0 AND 10),
    job_id              bigint CONSTRAINT tasks_job_id_key UNIQUE,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz,
    CONSTRAINT tasks_analysis_fkey FOREIGN KEY (project_analysis_id, parsed_request_id)
        REFERENCES project_analyses (id, parsed_request_id) ON DELETE CASCADE,
    CONSTRAINT tasks_id_analysis_key UNIQUE (id, project_analysis_id),
    CONSTRAINT tasks_in_progress_check CHECK (status <> 'in_progress' OR (assigned_to IS NOT NULL AND started_at IS NOT NULL)),
    CONSTRAINT tasks_completed_check CHECK (status <> 'completed' OR completed_at IS NOT NULL),
    CONSTRAINT tasks_failed_check CHECK (status <> 'failed' OR error_message IS NOT NULL),
    CONSTRAINT tasks_queued_check CHECK (status NOT IN ('pending', 'in_progress') OR job_id IS NOT NULL)
);
CREATE INDEX tasks_request_live ON tasks (parsed_request_id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_analysis_live ON tasks (project_analysis_id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_status_live ON tasks (status, priority DESC, created_at) WHERE deleted_at IS NULL;

-- Files of an analysed project; task_id is set for files a task wrote. The
-- content is not audited (excluded below): content_hash and size_bytes, which
-- are derived from it, show that and when it changed.
CREATE TABLE code_files (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_analysis_id uuid NOT NULL REFERENCES project_analyses ON DELETE CASCADE,
    task_id             uuid,
    path                text NOT NULL
                        CONSTRAINT code_files_path_check CHECK (path <> '' AND path !~ '^/' AND path !~ '(^|/)\.\.(/|$)'),
    language            text,
    content             text,
    -- sha256 of the content, computed by the agent (text to bytes is not an
    -- immutable expression in PostgreSQL, so it cannot be a generated column)
    content_hash        bytea CHECK (length(content_hash) = 32),
    size_bytes          integer GENERATED ALWAYS AS (octet_length(content)) STORED,
    analysis            jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz,
    CONSTRAINT code_files_task_fkey FOREIGN KEY (task_id, project_analysis_id)
        REFERENCES tasks (id, project_analysis_id) ON DELETE CASCADE,
    CONSTRAINT code_files_path_key UNIQUE (project_analysis_id, path)
);
CREATE INDEX code_files_task_live ON code_files (task_id) WHERE deleted_at IS NULL;

-- ---------------------------------------------------------------------------
-- Configuration
-- ---------------------------------------------------------------------------

CREATE TABLE configuration (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key         text NOT NULL CONSTRAINT configuration_key_key UNIQUE
                CONSTRAINT configuration_key_check CHECK (key ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
    value       jsonb NOT NULL,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);

-- ---------------------------------------------------------------------------
-- pg_steward: updated_at, soft delete, audit, queue
-- ---------------------------------------------------------------------------

SELECT steward.track_updated_at(t)
  FROM unnest('{users, sessions, api_keys, parsed_requests, project_analyses, tasks, code_files, configuration}'::regclass[]) t;

-- BaseModel.delete(id) is soft for every model: every table gets it, with the
-- views <table>_live / <table>_deleted. Uniqueness holds among live rows, so
-- a deleted user's email or username can be used again.
SELECT steward.enable_soft_delete(t)
  FROM unnest('{users, sessions, api_keys, parsed_requests, project_analyses, tasks, code_files, configuration}'::regclass[]) t;
SELECT steward.soft_delete_unique('users', 'users_email_key');
SELECT steward.soft_delete_unique('users', 'users_username_key');
SELECT steward.soft_delete_unique('api_keys', 'api_keys_user_name_key');
SELECT steward.soft_delete_unique('code_files', 'code_files_path_key');
SELECT steward.soft_delete_unique('configuration', 'configuration_key_key');

-- AuditLogModel -> the audit trail. Secrets are redacted (the log shows that
-- they changed, never the value); per-request touches are excluded, so that
-- updateLastAccessed and an API key's last use write no audit entry (the
-- updated_at stamp they move is no change for the log on its own).
SELECT steward.enable_audit('users', redacted => '{password_hash}');
SELECT steward.enable_audit('sessions', redacted => '{token_hash}', excluded => '{last_accessed_at}');
SELECT steward.enable_audit('api_keys', redacted => '{key_hash}', excluded => '{last_used_at}');
SELECT steward.enable_audit('parsed_requests');
SELECT steward.enable_audit('project_analyses');
SELECT steward.enable_audit('tasks');
SELECT steward.enable_audit('code_files', excluded => '{content}');
SELECT steward.enable_audit('configuration');

-- The task queue. A task's max_retries becomes its job's max_attempts
-- (max_retries + 1 runs). An agent's work (LLM calls, file edits) runs outside
-- the database, so workers use lease mode: the lease is how long an agent may
-- hold a task without a heartbeat before it counts as overdue and is handed to
-- another agent.
SELECT steward.create_queue('code_agent_tasks', lease => '10 minutes',
                            backoff_base => '30 seconds', backoff_max => '30 minutes');

-- ---------------------------------------------------------------------------
-- TaskModel on the queue
-- ---------------------------------------------------------------------------

-- Keeps tasks and their jobs together, in the same transaction as the write:
--   INSERT of a pending task      -> enqueue its job (job_id is set in the row)
--   soft delete (also by cascade) -> cancel the job of an unfinished task
--   restore of an unfinished task -> back to pending with a new job
CREATE FUNCTION tasks_queue_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status = 'pending' AND NEW.deleted_at IS NULL THEN
            NEW.job_id := steward.enqueue('code_agent_tasks', jsonb_build_object('task_id', NEW.id),
                                          priority => NEW.priority, max_attempts => NEW.max_retries + 1);
        END IF;
    ELSIF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
        IF OLD.status IN ('pending', 'in_progress') THEN
            PERFORM steward.cancel(OLD.job_id);
        END IF;
    ELSIF OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL THEN
        IF NEW.status IN ('pending', 'in_progress') THEN
            NEW.status := 'pending';
            NEW.assigned_to := NULL;
            NEW.started_at := NULL;
            NEW.job_id := steward.enqueue('code_agent_tasks', jsonb_build_object('task_id', NEW.id),
                                          priority => NEW.priority, max_attempts => NEW.max_retries + 1);
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER tasks_queue_sync BEFORE INSERT OR UPDATE OF deleted_at ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_queue_sync();

-- A claim may bury jobs whose lease ran out on their last attempt (the queue
-- does this inside steward.dequeue, and tells nobody); their tasks are failed
-- here, in the same transaction. Also catches a running job an operator
-- cancelled with steward.cancel. Called by start_task after every claim.
CREATE FUNCTION fail_lost_tasks() RETURNS integer
LANGUAGE sql AS $$
    WITH lost AS (
        UPDATE tasks t
           SET status = 'failed',
               error_message = CASE WHEN j.state = 'dead' THEN coalesce(j.errors -> -1 ->> 'error', 'job dead')
                                    ELSE 'job cancelled' END
          FROM steward.jobs j
         WHERE j.id = t.job_id AND t.status = 'in_progress' AND t.deleted_at IS NULL
           AND j.queue = 'code_agent_tasks' AND j.state IN ('dead', 'cancelled')
        RETURNING t.id)
    SELECT count(*)::integer FROM lost
$$;

-- taskModel.startTask(taskId, assignedTo). The agent does not pick the task:
-- the queue hands the next one out (highest priority, then oldest), never the
-- same one to two agents (the document's findByStatus('pending') followed by
-- startTask(id) lets two agents start the same task). Returns no row when
-- there is nothing to do. lease: how long the agent may work without
-- steward.extend_lease (default: the queue's 10 minutes).
CREATE FUNCTION start_task(assigned_to text, lease interval DEFAULT NULL)
RETURNS TABLE (task_id uuid, lease_token integer, attempt integer, lease_expires_at timestamptz,
               title text, description text, project_analysis_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    j steward.job;
    t tasks;
BEGIN
    LOOP
        SELECT * INTO j FROM steward.dequeue('code_agent_tasks', start_task.assigned_to, 1, start_task.lease);
        PERFORM fail_lost_tasks();
        EXIT WHEN j.id IS NULL;
        UPDATE tasks x
           SET status = 'in_progress', assigned_to = start_task.assigned_to, started_at = now(),
               retry_count = j.attempt - 1
         WHERE x.job_id = j.id AND x.deleted_at IS NULL
        RETURNING x.* INTO t;
        IF FOUND THEN
            RETURN QUERY SELECT t.id, j.lease_token, j.attempt, j.lease_expires_at, t.title, t.description,
                                t.project_analysis_id;
            RETURN;
        END IF;
        -- the task was hard-deleted while its job waited
        PERFORM steward.cancel(j.id);
    END LOOP;
END $$;

-- taskModel.completeTask(taskId, results). lease_token proves the caller holds
-- the current claim: an agent whose lease ran out and whose task went to
-- another agent is refused by steward.complete. The job is locked before the
-- task (steward.complete first), in the order start_task locks them.
CREATE FUNCTION complete_task(task_id uuid, lease_token integer, results jsonb DEFAULT NULL)
RETURNS SETOF tasks
LANGUAGE plpgsql AS $$
DECLARE
    job bigint;
BEGIN
    SELECT x.job_id INTO job FROM tasks x WHERE x.id = complete_task.task_id AND x.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task % does not exist', complete_task.task_id USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM steward.complete(job, complete_task.lease_token);
    RETURN QUERY
    UPDATE tasks x SET status = 'completed', completed_at = now(), results = complete_task.results
     WHERE x.id = complete_task.task_id AND x.job_id = job
    RETURNING x.*;
END $$;

-- taskModel.failTask(taskId, errorMessage, retry). With retry the queue
-- decides: another attempt after its backoff (or after retry_in), the task is
-- pending again; on the last attempt the job is dead and the task failed.
-- Without retry the task fails at once (steward.fail(..., retry => false):
-- the job is dead with the error). Returns the task's new status.
CREATE FUNCTION fail_task(task_id uuid, lease_token integer, error_message text,
                          retry boolean DEFAULT true, retry_in interval DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    job bigint;
    outcome text;
BEGIN
    SELECT x.job_id INTO job FROM tasks x WHERE x.id = fail_task.task_id AND x.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'task % does not exist', fail_task.task_id USING ERRCODE = 'no_data_found';
    END IF;
    -- without retry the job is dead at once (retry_in means nothing then)
    outcome := steward.fail(job, fail_task.lease_token, fail_task.error_message,
                            CASE WHEN fail_task.retry THEN fail_task.retry_in END, retry => fail_task.retry);
    UPDATE tasks x
       SET status = CASE WHEN outcome = 'ready' THEN 'pending' ELSE 'failed' END,
           error_message = fail_task.error_message,
           retry_count = x.retry_count + CASE WHEN outcome = 'ready' THEN 1 ELSE 0 END,
           assigned_to = CASE WHEN outcome = 'ready' THEN NULL ELSE x.assigned_to END
     WHERE x.id = fail_task.task_id AND x.job_id = job;
    RETURN CASE WHEN outcome = 'ready' THEN 'pending' ELSE 'failed' END;
END $$;

-- taskModel.findOverdue(): tasks an agent started and whose lease ran out
-- (no completion and no heartbeat in time). The next start_task hands them to
-- another agent (or, on their last attempt, fails them).
CREATE VIEW overdue_tasks WITH (security_invoker = true) AS
SELECT t.*, j.attempt, j.max_attempts, j.lease_expires_at, now() - j.lease_expires_at AS overdue_by
  FROM tasks_live t
  JOIN steward.jobs j ON j.id = t.job_id
 WHERE t.status = 'in_progress' AND j.state = 'running' AND j.lease_expires_at < now();

-- ---------------------------------------------------------------------------
-- Sessions and API keys: the lookups
-- ---------------------------------------------------------------------------

-- sessionModel.findByToken(token): a live, unexpired session of a live, active user.
CREATE FUNCTION find_session_by_token(token text) RETURNS SETOF sessions_live
LANGUAGE sql STABLE AS $$
    SELECT s.* FROM sessions_live s JOIN users_live u ON u.id = s.user_id
     WHERE s.token_hash = sha256(convert_to(token, 'UTF8')) AND s.expires_at > now() AND u.active
$$;

-- An API key's owner, if the key is live, not revoked, not expired.
CREATE FUNCTION find_api_key(key text) RETURNS SETOF api_keys_live
LANGUAGE sql STABLE AS $$
    SELECT k.* FROM api_keys_live k JOIN users_live u ON u.id = k.user_id
     WHERE k.key_hash = sha256(convert_to(key, 'UTF8')) AND k.revoked_at IS NULL
       AND (k.expires_at IS NULL OR k.expires_at > now()) AND u.active
$$;

-- ---------------------------------------------------------------------------
-- Statistics, audit, health
-- ---------------------------------------------------------------------------

-- userModel.getUserStatistics()
CREATE VIEW user_statistics WITH (security_invoker = true) AS
SELECT count(*) FILTER (WHERE deleted_at IS NULL)                                       AS total_users,
       count(*) FILTER (WHERE deleted_at IS NULL AND active)                            AS active_users,
       count(*) FILTER (WHERE deleted_at IS NULL AND verified)                          AS verified_users,
       count(*) FILTER (WHERE deleted_at IS NOT NULL)                                   AS deleted_users,
       count(*) FILTER (WHERE deleted_at IS NULL AND created_at > now() - interval '7 days')    AS new_users_7d,
       count(*) FILTER (WHERE deleted_at IS NULL AND last_login_at > now() - interval '1 day') AS logged_in_24h
  FROM users;

-- taskModel.getTaskStatistics(): the tasks by status, and the queue's own
-- figures (waiting, running, expired leases, dead jobs, wait and run times).
CREATE VIEW task_statistics WITH (security_invoker = true) AS
SELECT t.total_tasks, t.pending, t.in_progress, t.completed, t.failed, t.retries, t.avg_duration,
       q.ready AS queue_ready, q.scheduled AS queue_scheduled, q.running AS queue_running,
       q.expired_leases, q.dead AS dead_jobs, q.oldest_ready_age, s.avg_wait, s.avg_run
  FROM (SELECT count(*)                                         AS total_tasks,
               count(*) FILTER (WHERE status = 'pending')       AS pending,
               count(*) FILTER (WHERE status = 'in_progress')   AS in_progress,
               count(*) FILTER (WHERE status = 'completed')     AS completed,
               count(*) FILTER (WHERE status = 'failed')        AS failed,
               coalesce(sum(retry_count), 0)                    AS retries,
               avg(completed_at - started_at) FILTER (WHERE status = 'completed') AS avg_duration
          FROM tasks_live) t
 CROSS JOIN steward.queue_summary q
 CROSS JOIN steward.queue_stats s
 WHERE q.queue = 'code_agent_tasks' AND s.queue = 'code_agent_tasks';

-- AuditLogModel, in the document's terms: who (actor: the app's user id; the
-- end user's address travels in steward.audit_context), what, which entity.
CREATE VIEW audit_logs WITH (security_invoker = true) AS
SELECT a.id, a.logged_at AS created_at, a.actor AS user_id, a.action,
       a.table_name AS entity_type, a.row_key ->> 'id' AS entity_id,
       a.old_values, a.new_values, a.changed_columns,
       a.context ->> 'ip' AS ip_address, a.context ->> 'user_agent' AS user_agent,
       a.role_name, a.application_name
  FROM steward.audit_log a
 WHERE a.schema_name = 'public';

-- dbManager.checkHealth(): healthy unless a check is critical.
CREATE FUNCTION check_health() RETURNS boolean
LANGUAGE sql AS $$ SELECT steward.health() ->> 'status' <> 'critical' $$;

-- ---------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO agent_app;
-- the audit trail and the queue's figures are the operators' (steward_auditor, steward_monitor)
REVOKE ALL ON task_statistics, audit_logs FROM agent_app;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO agent_admin;
REVOKE ALL ON FUNCTION check_health() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION check_health() TO agent_admin;
-- the queue calls the task functions make (steward's queue API is not PUBLIC)
GRANT EXECUTE ON FUNCTION steward.enqueue(text, jsonb, timestamptz, integer, text, integer),
      steward.dequeue(text, text, integer, interval), steward.complete(bigint, integer, jsonb),
      steward.fail(bigint, integer, text, interval, boolean), steward.cancel(bigint),
      steward.extend_lease(bigint, integer, interval)
   TO agent_app;
GRANT SELECT ON steward.jobs TO agent_app, agent_admin;
