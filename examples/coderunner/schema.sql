-- CodeRunner DatabaseService (seed document 004_afab25f592cb2e0c: "CodeRunner
-- DatabaseService Documentation", Phase 0 task P0-T02) ported onto pg_steward.
--
-- users -> projects -> deployments, every level ON DELETE CASCADE. What the
-- document's DatabaseService did by hand (updated_at = NOW() in every UPDATE,
-- "deleteUser cascades", health and statistics queries) is done here by
-- pg_steward; what is left is the schema and thin SQL functions named after the
-- document's methods. Deployments are provisioned by workers through the
-- pg_steward queue "deploy".
--
-- Loaded with psql ON_ERROR_STOP into a fresh database, as the first migration.

CREATE EXTENSION pg_steward;

-- Roles -------------------------------------------------------------------------
-- The document runs everything through one pool. Here the API pool and the
-- deploy workers get their own roles (NOLOGIN group roles: grant them to the
-- login roles of the two pools). Nothing runs as the owner at request time.
CREATE ROLE coderunner_app NOLOGIN;
CREATE ROLE coderunner_worker NOLOGIN;

-- Types and tables --------------------------------------------------------------

-- DeploymentStatus. The document names PENDING, RUNNING, FAILED and STOPPED
-- (getSystemStats' deploymentsByStatus lists exactly these four) and implies no
-- other state: a worker takes a deployment from PENDING to RUNNING or FAILED,
-- a user stops it. "Being provisioned" is not a status of its own: that is the
-- queue job's state (running, with a lease), visible in steward.jobs.
CREATE TYPE deployment_status AS ENUM ('PENDING', 'RUNNING', 'FAILED', 'STOPPED');

-- The document gives column lists only; the migration template it shows uses
-- UUID keys with gen_random_uuid(), timestamptz NOT NULL DEFAULT NOW() and
-- ON DELETE CASCADE, which is followed here.
CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- stored normalized (lower case, trimmed) so that the unique index also
    -- refuses 'John@Example.com' next to 'john@example.com'; create_user()
    -- normalizes, a raw INSERT must pass a normalized address
    email         text NOT NULL
                  CONSTRAINT users_email_key UNIQUE
                  CONSTRAINT users_email_check CHECK (email = lower(btrim(email)) AND email LIKE '_%@_%'),
    password_hash text NOT NULL,                 -- "never store plaintext passwords": a bcrypt hash
    -- the plans the document uses: 'free' (default: the transaction example
    -- inserts users without a plan), 'personal', 'team'
    plan_type     text NOT NULL DEFAULT 'free'
                  CONSTRAINT users_plan_type_check CHECK (plan_type IN ('free', 'personal', 'team')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL CONSTRAINT projects_name_check CHECK (btrim(name) <> ''),
    description text,                            -- optional: the transaction example omits it
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deployments (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id         uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    app_sandbox_id     text,                     -- given by createDeployment
    public_url         text CONSTRAINT deployments_public_url_check CHECK (public_url ~ '^https?://'),
    db_sandbox_id      text,                     -- set by the deploy worker
    db_connection_info jsonb,                    -- set by the deploy worker; holds a password: redacted in the audit
    status             deployment_status NOT NULL DEFAULT 'PENDING',
    runtime_type       text NOT NULL,            -- 'nodejs' in the document; the set of runtimes is the provisioner's
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Foreign-key indexes: the cascades (soft and hard) look children up by them.
CREATE INDEX idx_projects_user_id ON projects (user_id);
CREATE INDEX idx_deployments_project_id ON deployments (project_id);

-- Status transitions. The document's updateDeploymentStatus() takes any
-- status; a careful port refuses the moves that make no sense. A deployment is
-- one provisioning of a project: STOPPED and FAILED are final (deploying again
-- is a new deployment, with a new job).
CREATE FUNCTION deployment_status_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.status, NEW.status) NOT IN (('PENDING', 'RUNNING'), ('PENDING', 'FAILED'), ('PENDING', 'STOPPED'),
                                        ('RUNNING', 'STOPPED'), ('RUNNING', 'FAILED')) THEN
        RAISE EXCEPTION 'invalid deployment status transition from % to %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation',
                  DETAIL = format('Deployment %s is %s.', OLD.id, OLD.status),
                  HINT = 'PENDING may become RUNNING, FAILED or STOPPED; RUNNING may become STOPPED or FAILED.';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER deployments_status_guard BEFORE UPDATE OF status ON deployments
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION deployment_status_guard();

-- pg_steward --------------------------------------------------------------------

-- updated_at: no "updated_at = NOW()" in any UPDATE of the DatabaseService.
SELECT steward.track_updated_at('users');
SELECT steward.track_updated_at('projects');
SELECT steward.track_updated_at('deployments');

-- deleteUser / deleteProject / deleteDeployment: a DELETE marks the row, and
-- the ON DELETE CASCADE keys carry the mark down (user -> projects ->
-- deployments) with the same timestamp, so steward.restore('users', ...)
-- brings the user back with everything deleted with it. Reads go through the
-- views users_live, projects_live, deployments_live. The permanent delete is
-- steward.hard_delete('users', ...) (the foreign keys then really cascade).
SELECT steward.enable_soft_delete('users');
SELECT steward.enable_soft_delete('projects');
SELECT steward.enable_soft_delete('deployments');
-- a deleted account's email can sign up again
SELECT steward.soft_delete_unique('users', 'users_email_key');

-- indexes for the live rows the methods page through
CREATE INDEX idx_users_created_at ON users (created_at DESC, id) WHERE deleted_at IS NULL;
CREATE INDEX idx_deployments_status ON deployments (status, created_at DESC) WHERE deleted_at IS NULL;

-- audit: who changed what; secrets are stored as "[redacted]"
SELECT steward.enable_audit('users', redacted => '{password_hash}');
SELECT steward.enable_audit('projects');
SELECT steward.enable_audit('deployments', redacted => '{db_connection_info}');

-- the provisioning queue: 3 attempts, backoff 30 s, 60 s (capped at 10 min),
-- a lease of 10 minutes for one provisioning (workers extend it for longer ones)
SELECT steward.create_queue('deploy', max_attempts => 3, lease => '10 minutes',
                            backoff_base => '30 seconds', backoff_max => '10 minutes');

-- DatabaseService: users --------------------------------------------------------

-- createUser(input). A duplicate email among live users raises
-- 'user with email "..." already exists' (SQLSTATE 23505), the message the
-- document's callers match on. ON CONFLICT names the live-row predicate of
-- the unique index soft_delete_unique() made.
CREATE FUNCTION create_user(p_email text, p_password_hash text, p_plan_type text DEFAULT 'free')
RETURNS users
LANGUAGE plpgsql AS $$
DECLARE
    u users;
BEGIN
    INSERT INTO users (email, password_hash, plan_type)
    VALUES (lower(btrim(p_email)), p_password_hash, coalesce(p_plan_type, 'free'))
    ON CONFLICT (email) WHERE deleted_at IS NULL DO NOTHING
    RETURNING * INTO u;
    IF u.id IS NULL THEN
        RAISE EXCEPTION 'user with email "%" already exists', lower(btrim(p_email))
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'users_email_key';
    END IF;
    RETURN u;
END
$$;

-- getUserByEmail(email), with the same normalization as create_user().
-- getUserById(id) is SELECT * FROM users_live WHERE id = $1.
CREATE FUNCTION get_user_by_email(p_email text) RETURNS SETOF users_live
LANGUAGE sql STABLE AS $$
    SELECT * FROM users_live WHERE email = lower(btrim(p_email))
$$;

-- updateUser(id, updates): NULL keeps a value; updated_at is pg_steward's.
CREATE FUNCTION update_user(p_id uuid, p_email text DEFAULT NULL, p_password_hash text DEFAULT NULL,
                            p_plan_type text DEFAULT NULL)
RETURNS users_live
LANGUAGE plpgsql AS $$
DECLARE
    u users_live;
BEGIN
    UPDATE users_live
       SET email = coalesce(lower(btrim(p_email)), email),
           password_hash = coalesce(p_password_hash, password_hash),
           plan_type = coalesce(p_plan_type, plan_type)
     WHERE id = p_id
    RETURNING * INTO u;
    IF u.id IS NULL THEN
        RAISE EXCEPTION 'user % does not exist', p_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN u;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'user with email "%" already exists', lower(btrim(p_email))
        USING ERRCODE = 'unique_violation', CONSTRAINT = 'users_email_key';
END
$$;

-- getUsers(limit, offset) -> { users, total }: newest first, without the
-- password hash. total is present also for a page past the end.
CREATE FUNCTION get_users(p_limit integer DEFAULT 50, p_offset integer DEFAULT 0)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'users', coalesce((SELECT jsonb_agg(to_jsonb(u) - 'password_hash' - 'deleted_at' ORDER BY u.created_at DESC, u.id)
                             FROM (SELECT * FROM users_live ORDER BY created_at DESC, id
                                   LIMIT p_limit OFFSET p_offset) u), '[]'),
        'total', (SELECT count(*) FROM users_live))
$$;

-- deleteUser(id) is DELETE FROM users WHERE id = $1 (soft, cascading).

-- DatabaseService: projects -----------------------------------------------------

-- createProject(input). The foreign key alone would accept a soft-deleted
-- user (the row still exists), so the live user is checked and locked FOR
-- SHARE: a concurrent deleteUser waits for this insert and then cascades to
-- the new project too, or has already committed and the check fails.
CREATE FUNCTION create_project(p_user_id uuid, p_name text, p_description text DEFAULT NULL)
RETURNS projects
LANGUAGE plpgsql AS $$
DECLARE
    p projects;
BEGIN
    PERFORM FROM users_live WHERE id = p_user_id FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % does not exist', p_user_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    INSERT INTO projects (user_id, name, description) VALUES (p_user_id, p_name, p_description)
    RETURNING * INTO p;
    RETURN p;
END
$$;

-- getProjectsByUserId(userId, limit, offset) -> { projects, total }
CREATE FUNCTION get_projects_by_user_id(p_user_id uuid, p_limit integer DEFAULT 50, p_offset integer DEFAULT 0)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'projects', coalesce((SELECT jsonb_agg(to_jsonb(p) - 'deleted_at' ORDER BY p.created_at DESC, p.id)
                                FROM (SELECT * FROM projects_live WHERE user_id = p_user_id
                                      ORDER BY created_at DESC, id LIMIT p_limit OFFSET p_offset) p), '[]'),
        'total', (SELECT count(*) FROM projects_live WHERE user_id = p_user_id))
$$;

-- getProjectWithUser(id): SELECT * FROM project_with_user WHERE id = $1
CREATE VIEW project_with_user WITH (security_invoker = true) AS
SELECT p.id, p.user_id, p.name, p.description, p.created_at, p.updated_at,
       u.email AS user_email, u.plan_type AS user_plan_type
  FROM projects_live p JOIN users_live u ON u.id = p.user_id;

-- getProjectById, updateProject, deleteProject: SELECT / UPDATE / DELETE on projects_live.

-- DatabaseService: deployments --------------------------------------------------

-- createDeployment(input): the deployment and its "deploy" job commit together
-- (a rolled-back request leaves neither). The live project is checked and
-- locked as in create_project().
CREATE FUNCTION create_deployment(p_project_id uuid, p_runtime_type text, p_app_sandbox_id text DEFAULT NULL,
                                  p_public_url text DEFAULT NULL, p_status deployment_status DEFAULT 'PENDING')
RETURNS deployments
LANGUAGE plpgsql AS $$
DECLARE
    d deployments;
BEGIN
    PERFORM FROM projects_live WHERE id = p_project_id FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'project % does not exist', p_project_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    INSERT INTO deployments (project_id, app_sandbox_id, public_url, runtime_type, status)
    VALUES (p_project_id, p_app_sandbox_id, p_public_url, p_runtime_type, coalesce(p_status, 'PENDING'))
    RETURNING * INTO d;
    IF d.status = 'PENDING' THEN
        PERFORM steward.enqueue('deploy', jsonb_build_object('deployment_id', d.id),
                                dedup_key => 'deployment:' || d.id);
    END IF;
    RETURN d;
END
$$;

-- updateDeploymentStatus(id, status); the trigger above refuses invalid moves.
-- updateDeployment, deleteDeployment, getDeploymentById: UPDATE / DELETE /
-- SELECT on deployments_live.
CREATE FUNCTION update_deployment_status(p_id uuid, p_status deployment_status)
RETURNS deployments_live
LANGUAGE plpgsql AS $$
DECLARE
    d deployments_live;
BEGIN
    UPDATE deployments_live SET status = p_status WHERE id = p_id RETURNING * INTO d;
    IF d.id IS NULL THEN
        RAISE EXCEPTION 'deployment % does not exist', p_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN d;
END
$$;

-- getDeploymentsByProjectId(projectId, limit, offset) -> { deployments, total }
CREATE FUNCTION get_deployments_by_project_id(p_project_id uuid, p_limit integer DEFAULT 50, p_offset integer DEFAULT 0)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'deployments', coalesce((SELECT jsonb_agg(to_jsonb(d) - 'deleted_at' ORDER BY d.created_at DESC, d.id)
                                   FROM (SELECT * FROM deployments_live WHERE project_id = p_project_id
                                         ORDER BY created_at DESC, id LIMIT p_limit OFFSET p_offset) d), '[]'),
        'total', (SELECT count(*) FROM deployments_live WHERE project_id = p_project_id))
$$;

-- getDeploymentsByStatus(status, limit, offset) -> { deployments, total }
CREATE FUNCTION get_deployments_by_status(p_status deployment_status, p_limit integer DEFAULT 50, p_offset integer DEFAULT 0)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'deployments', coalesce((SELECT jsonb_agg(to_jsonb(d) - 'deleted_at' ORDER BY d.created_at DESC, d.id)
                                   FROM (SELECT * FROM deployments_live WHERE status = p_status
                                         ORDER BY created_at DESC, id LIMIT p_limit OFFSET p_offset) d), '[]'),
        'total', (SELECT count(*) FROM deployments_live WHERE status = p_status))
$$;

-- getDeploymentWithDetails(id): SELECT * FROM deployment_with_details WHERE id = $1
CREATE VIEW deployment_with_details WITH (security_invoker = true) AS
SELECT d.id, d.project_id, d.app_sandbox_id, d.public_url, d.db_sandbox_id, d.db_connection_info,
       d.status, d.runtime_type, d.created_at, d.updated_at,
       p.name AS project_name, p.description AS project_description,
       u.id AS user_id, u.email AS user_email, u.plan_type AS user_plan_type
  FROM deployments_live d
  JOIN projects_live p ON p.id = d.project_id
  JOIN users_live u ON u.id = p.user_id;

-- getRunningDeploymentCountByUser(userId)
CREATE FUNCTION get_running_deployment_count_by_user(p_user_id uuid) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM deployments_live d JOIN projects_live p ON p.id = d.project_id
     WHERE p.user_id = p_user_id AND d.status = 'RUNNING'
$$;

-- Analytics and health ------------------------------------------------------------

-- getSystemStats(): live rows only (a soft-deleted user and what it owns do
-- not count); every status is listed, with 0 when none has it.
CREATE FUNCTION get_system_stats() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH by_status AS (
        SELECT s.status, count(d.id) AS n
          FROM unnest(enum_range(NULL::deployment_status)) AS s(status)
          LEFT JOIN deployments_live d ON d.status = s.status
         GROUP BY s.status
    )
    SELECT jsonb_build_object(
        'totalUsers', (SELECT count(*) FROM users_live),
        'totalProjects', (SELECT count(*) FROM projects_live),
        'totalDeployments', (SELECT sum(n) FROM by_status),
        'runningDeployments', (SELECT n FROM by_status WHERE status = 'RUNNING'),
        'deploymentsByStatus', (SELECT jsonb_object_agg(status, n) FROM by_status))
$$;

-- healthCheck(): status and version from steward.health(), connection counts
-- from steward.connections. What only the application knows is not here: the
-- round-trip time it measures around this call, and its pool's own counters
-- (pool.totalCount / idleCount / waitingCount of node-postgres; clients
-- waiting for a connection never reach the server). steward.connections counts
-- the whole server's client sessions by state, not this pool's.
CREATE FUNCTION health_check() RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
    h jsonb := steward.health();
    conn jsonb;
BEGIN
    SELECT jsonb_build_object(
               'total', max(connections) FILTER (WHERE state = 'total'),
               'active', max(connections) FILTER (WHERE state = 'active'),
               'idle', max(connections) FILTER (WHERE state = 'idle'),
               'idleInTransaction', max(connections) FILTER (WHERE state = 'idle in transaction'),
               'max', max(max_connections))
      INTO conn FROM steward.connections;
    RETURN jsonb_build_object(
        'status', CASE h ->> 'status' WHEN 'ok' THEN 'healthy' WHEN 'warning' THEN 'degraded' ELSE 'unhealthy' END,
        'details', jsonb_build_object(
            'timestamp', h -> 'checked_at',
            'version', 'PostgreSQL ' || (h ->> 'version'),
            -- time spent in the server on the checks; the app adds its round trip
            'responseTime', round(extract(epoch FROM clock_timestamp() - started) * 1000, 1) || 'ms',
            'serverConnections', conn,
            'failing', h -> 'failing',
            'uptimeSeconds', h -> 'uptime_seconds'));
END
$$;

-- Deploy workers ----------------------------------------------------------------
-- A worker (lease mode: the claim commits, provisioning runs outside the
-- database, the outcome commits) calls claim_deployment(), provisions, then
-- deployment_provisioned() or deployment_provision_failed(). A worker that
-- dies leaves its job running until the lease ends; the next claim takes it
-- again as a new attempt, and the dead worker's late report is refused.

-- Claim the next deploy job with what the worker needs to provision it.
-- status is NULL when the deployment no longer exists.
CREATE FUNCTION claim_deployment(p_worker text, p_lease interval DEFAULT NULL)
RETURNS TABLE (job_id bigint, lease_token integer, attempt integer, max_attempts integer, deployment_id uuid,
               status deployment_status, deleted boolean, runtime_type text, app_sandbox_id text)
LANGUAGE sql VOLATILE AS $$
    WITH j AS MATERIALIZED (SELECT * FROM steward.dequeue('deploy', p_worker, 1, p_lease))
    SELECT j.id, j.lease_token, j.attempt, j.max_attempts, (j.payload ->> 'deployment_id')::uuid,
           d.status, d.deleted_at IS NOT NULL, d.runtime_type, d.app_sandbox_id
      FROM j LEFT JOIN deployments d ON d.id = (j.payload ->> 'deployment_id')::uuid
$$;

-- Provisioned: PENDING -> RUNNING with the database sandbox, job completed, in
-- one transaction. A deployment stopped or deleted meanwhile is left alone
-- (the job completes as skipped; the worker tears its sandbox down).
-- Returns 'RUNNING' or 'skipped'.
CREATE FUNCTION deployment_provisioned(p_job_id bigint, p_lease_token integer, p_deployment_id uuid,
                                       p_db_sandbox_id text, p_db_connection_info jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    now_status deployment_status;
BEGIN
    UPDATE deployments_live
       SET status = 'RUNNING', db_sandbox_id = p_db_sandbox_id, db_connection_info = p_db_connection_info
     WHERE id = p_deployment_id AND status = 'PENDING'
    RETURNING status INTO now_status;
    PERFORM steward.complete(p_job_id, p_lease_token,
        CASE WHEN now_status IS NOT NULL THEN jsonb_build_object('status', now_status)
             ELSE jsonb_build_object('skipped', coalesce((SELECT status::text FROM deployments_live WHERE id = p_deployment_id),
                                                         'deleted')) END);
    RETURN coalesce(now_status::text, 'skipped');
END
$$;

-- Provisioning failed: the queue retries with backoff; after the last attempt
-- the job is dead and the deployment FAILED. Returns 'ready' or 'dead'.
CREATE FUNCTION deployment_provision_failed(p_job_id bigint, p_lease_token integer, p_deployment_id uuid, p_error text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    outcome text := steward.fail(p_job_id, p_lease_token, p_error);
BEGIN
    IF outcome = 'dead' THEN
        UPDATE deployments_live SET status = 'FAILED' WHERE id = p_deployment_id AND status = 'PENDING';
    END IF;
    RETURN outcome;
END
$$;

-- A job whose lease ran out on its last attempt is buried by the next claim,
-- with no worker left to report it: run this periodically to mark such
-- deployments FAILED. Returns how many it marked.
CREATE FUNCTION fail_dead_deployments() RETURNS bigint
LANGUAGE sql AS $$
    WITH failed AS (
        UPDATE deployments_live d SET status = 'FAILED'
         WHERE d.status = 'PENDING'
           AND d.id IN (SELECT (j.payload ->> 'deployment_id')::uuid FROM steward.jobs j
                         WHERE j.queue = 'deploy' AND j.state = 'dead')
        RETURNING 1)
    SELECT count(*) FROM failed
$$;

-- Privileges --------------------------------------------------------------------

-- the API pool: the three tables and their views, enqueue (createDeployment)
-- and health (steward_monitor may call steward.health()).
GRANT SELECT, INSERT, UPDATE, DELETE ON users, projects, deployments,
      users_live, projects_live, deployments_live, users_deleted, projects_deleted, deployments_deleted
   TO coderunner_app;
GRANT SELECT ON project_with_user, deployment_with_details TO coderunner_app;
GRANT EXECUTE ON FUNCTION steward.enqueue(text, jsonb, timestamptz, integer, text, integer) TO coderunner_app;
GRANT steward_monitor TO coderunner_app;

-- the deploy workers: read deployments, write only what provisioning sets
-- (updated_at is stamped without a privilege on it), claim and finish jobs,
-- see the queue's depth (steward_monitor) and its dead jobs (steward.jobs).
GRANT SELECT ON deployments, deployments_live TO coderunner_worker;
GRANT UPDATE (status, db_sandbox_id, db_connection_info) ON deployments, deployments_live TO coderunner_worker;
GRANT EXECUTE ON FUNCTION steward.dequeue(text, text, integer, interval),
                          steward.complete(bigint, integer, jsonb),
                          steward.fail(bigint, integer, text, interval, boolean),
                          steward.extend_lease(bigint, integer, interval)
   TO coderunner_worker;
GRANT SELECT ON steward.jobs TO coderunner_worker;
GRANT steward_monitor TO coderunner_worker;
