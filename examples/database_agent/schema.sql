-- database_agent: the data layer of the "Database Agent" guidelines
-- (/work/shared/seeds/003_a4e4a3997b09b70e.txt) on pg_steward.
--
-- The document gives the users table, its indexes and an updated_at trigger
-- (migrations/001_create_users_table.sql), a generic BaseRepository with soft
-- delete, an audit_log table ("Common Patterns"), a seed runner that fills
-- users, resources and activities, a CTE "user_stats", monitoring queries and
-- a pg_dump backup. Here the tables are created as given; pg_steward does the
-- updated_at stamping, the soft delete (and its cascade), the audit trail,
-- the task queue and the monitoring views.

CREATE EXTENSION pg_steward;
-- "Database Monitoring" reads pg_stat_statements; steward.slow_queries reads
-- it wherever it is installed (it still needs shared_preload_libraries).
CREATE EXTENSION pg_stat_statements;

-- migrations/001_create_users_table.sql, verbatim except for the trigger at
-- the end (replaced by steward.track_updated_at below). gen_random_uuid() is
-- built in since PostgreSQL 13.
CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email VARCHAR(255) NOT NULL UNIQUE,
    username VARCHAR(100) NOT NULL UNIQUE,
    password_hash VARCHAR(255) NOT NULL,
    full_name VARCHAR(255),
    role VARCHAR(50) NOT NULL DEFAULT 'USER',
    status VARCHAR(50) NOT NULL DEFAULT 'ACTIVE',
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT chk_role CHECK (role IN ('USER', 'ADMIN', 'MODERATOR')),
    CONSTRAINT chk_status CHECK (status IN ('ACTIVE', 'INACTIVE', 'SUSPENDED', 'DELETED'))
);

-- Indexes for performance (as in the document). Once email and username are
-- unique among live rows (soft_delete_unique below), idx_users_email and
-- idx_users_username repeat those unique indexes exactly;
-- steward.index_health reports them as duplicates (the scenario checks it).
CREATE INDEX idx_users_email ON users(email) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_username ON users(username) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_status ON users(status) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_created_at ON users(created_at DESC);

-- The seed runner's resources and activities (seedResources(users, 500),
-- seedActivities(users, 1000)). The document gives no DDL for them; these
-- follow its conventions (UUID keys, timestamptz audit columns, deleted_at
-- for soft delete) and the columns its other sections use: resources.name
-- and resources.description (Full-Text Search), resources.user_id,
-- created_at and deleted_at (the user_stats CTE). Children go with their
-- user (ON DELETE CASCADE), so a soft-deleted user takes them along and a
-- restore brings them back. The foreign keys are indexed (a careful
-- engineer's choice: the cascade looks children up by them).
CREATE TABLE resources (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX idx_resources_user ON resources(user_id) WHERE deleted_at IS NULL;

-- An activity is a fact about a user, optionally about one resource: append
-- only, so it has no updated_at.
CREATE TABLE activities (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    resource_id UUID REFERENCES resources(id) ON DELETE CASCADE,
    action VARCHAR(50) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX idx_activities_user ON activities(user_id, created_at DESC);
CREATE INDEX idx_activities_resource ON activities(resource_id);

-- MigrationRunner records each applied migration in "migrations (id, name,
-- applied_at)". Its DDL is not in the document; the agent's tasks (TASK_ID,
-- TASK_NAME) are what it applies, so the id is the task id.
CREATE TABLE migrations (
    id VARCHAR(100) PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    applied_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- ---------------------------------------------------------------------------
-- pg_steward replaces the application code.

-- update_updated_at_column() and "SET ..., updated_at = CURRENT_TIMESTAMP" in
-- BaseRepository.update.
SELECT steward.track_updated_at('users');
SELECT steward.track_updated_at('resources');

-- BaseRepository's "deleted_at IS NULL" in every query and softDelete's
-- UPDATE: DELETE now marks rows (with the real DELETE n count), the views
-- users_live / resources_live / activities_live are the default scope, and a
-- soft-deleted user's resources and activities are marked with it.
SELECT steward.enable_soft_delete('users');
SELECT steward.enable_soft_delete('resources');
SELECT steward.enable_soft_delete('activities');

-- The document's plain UNIQUE constraints would keep a deleted user's email
-- and username forever; unique among live rows instead.
SELECT steward.soft_delete_unique('users', 'users_email_key');
SELECT steward.soft_delete_unique('users', 'users_username_key');

-- "Common Patterns / Audit Trail": the audit_log table and whatever code would
-- have filled it. The password hash is never written to the log.
SELECT steward.enable_audit('users', redacted => '{password_hash}');
SELECT steward.enable_audit('resources');
SELECT steward.enable_audit('migrations');

-- The agent's task queue: migration and seed tasks, drained by concurrent
-- workers. A task that fails twice is dead (keeps its errors); no backoff, so
-- a retry is ready at once.
SELECT steward.create_queue('db_tasks', max_attempts => 2, backoff_base => '0 seconds',
                            backoff_jitter => 0);

-- ---------------------------------------------------------------------------
-- Thin views with the document's names.

-- The document's audit_log columns over pg_steward's log: record_id is the
-- row's UUID key (row_key has every key, e.g. the text id of migrations),
-- user_id the application actor when it is a user's UUID
-- (workers and jobs set other actors, kept in "actor"), ip_address the
-- client address, user_agent the session's application_name (a pooled app
-- sets it per request with SET LOCAL application_name). id is pg_steward's
-- bigint log id (ordered), not a UUID. changed_columns, actor and context
-- are pg_steward's additions. Readers need steward_auditor.
CREATE VIEW audit_log WITH (security_invoker = true) AS
SELECT a.id,
       a.table_name::varchar(100)                             AS table_name,
       CASE WHEN a.row_key->>'id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
            THEN (a.row_key->>'id')::uuid END                 AS record_id,
       a.action::varchar(50)                                  AS action,
       a.old_values,
       a.new_values,
       a.changed_columns,
       CASE WHEN a.actor ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
            THEN a.actor::uuid END                            AS user_id,
       a.client_addr                                          AS ip_address,
       a.application_name                                     AS user_agent,
       a.logged_at                                            AS created_at,
       a.actor,
       a.context,
       a.row_key
  FROM steward.audit_log a
 WHERE a.schema_name = 'public';

-- "Use CTEs for complex queries": the user_stats query as a view. The
-- document filters resources by deleted_at but not users, so a soft-deleted
-- user whose status is still ACTIVE (softDelete does not touch status) would
-- be listed; reading users_live fixes that.
CREATE VIEW user_stats AS
WITH user_stats AS (
  SELECT
    user_id,
    COUNT(*) as resource_count,
    MAX(created_at) as last_activity
  FROM resources_live
  GROUP BY user_id
)
SELECT
  u.*,
  COALESCE(s.resource_count, 0) as resource_count,
  s.last_activity
FROM users_live u
LEFT JOIN user_stats s ON u.id = s.user_id
WHERE u.status = 'ACTIVE';
