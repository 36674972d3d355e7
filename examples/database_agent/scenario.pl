# database_agent: the "Database Agent" guidelines
# (/work/shared/seeds/003_a4e4a3997b09b70e.txt) played on pg_steward.
#
# The document's users table and BaseRepository (create, findById, findAll
# with a paginated count, update, softDelete, transaction with savepoints),
# its audit_log, the seed runner's users/resources/activities drained from a
# task queue by concurrent agent workers, the user_stats CTE, the
# "Database Monitoring" queries and the pg_dump backup/restore.
use strict;
use warnings;
use StewardExample;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

# TCP on 127.0.0.1 as well, so that an application connection has a client
# address for the audit trail (the document's ip_address).
my $ex = StewardExample->new('database_agent',
    libraries => ['pg_stat_statements'],
    conf      => "listen_addresses = '127.0.0.1'\n");
my $node = $ex->node;

# A script whose output includes the command tags (DELETE 1, UPDATE 0, ...),
# which an ORM reads as the affected row count.
sub tagged { my ($sql) = @_; return $ex->sql("\\set QUIET off\n$sql") }

# As the application connects: over TCP, application_name set by the driver.
my $app_connstr = 'host=127.0.0.1 port=' . $node->port . ' dbname=app application_name=node-postgres';
sub app_sql { my ($sql) = @_; return $node->safe_psql('app', $sql, connstr => $app_connstr) }

my $audit_count = sub { $ex->sql(q{SELECT count(*) FROM audit_log}) };

# ---------------------------------------------------------------------------
# migrations/001_create_users_table.sql as given

is($ex->sql(q{SELECT string_agg(column_name || ' ' || data_type || coalesce('(' || character_maximum_length || ')', '')
                               || CASE WHEN is_nullable = 'NO' THEN ' not null' ELSE '' END, ', ' ORDER BY ordinal_position)
                FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'users'}),
   'id uuid not null, email character varying(255) not null, username character varying(100) not null, '
   . 'password_hash character varying(255) not null, full_name character varying(255), '
   . 'role character varying(50) not null, status character varying(50) not null, email_verified boolean not null, '
   . 'created_at timestamp with time zone not null, updated_at timestamp with time zone not null, '
   . 'deleted_at timestamp with time zone',
   'users has the columns of the document, in its order, with its types');

is($ex->sql(q{SELECT string_agg(pg_get_indexdef(indexrelid), E'\n' ORDER BY indexrelid::regclass::text)
                FROM pg_index WHERE indrelid = 'users'::regclass AND indisunique AND NOT indisprimary}),
   "CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email) WHERE (deleted_at IS NULL)\n"
   . "CREATE UNIQUE INDEX users_username_key ON public.users USING btree (username) WHERE (deleted_at IS NULL)",
   'email and username are unique among live users only (soft_delete_unique kept the constraint names)');

is($ex->sql(q{SELECT string_agg(relation_name || ':' || column_name, ',' ORDER BY relation_name) FROM steward.tracked_tables}),
   'resources:updated_at,users:updated_at', 'updated_at is maintained on users and resources (no update_updated_at_column())');

# ---------------------------------------------------------------------------
# Constraints: the errors a caller of BaseRepository.create/update sees

$ex->fails_like(q{INSERT INTO users (email, username) VALUES ('nohash@example.com', 'nohash')},
    qr/null value in column "password_hash" of relation "users" violates not-null constraint/,
    'a user needs a password hash');
$ex->fails_like(q{INSERT INTO users (email, username, password_hash, role) VALUES ('root@example.com', 'root', 'h', 'SUPERUSER')},
    qr/new row for relation "users" violates check constraint "chk_role"/,
    'role is one of USER, ADMIN, MODERATOR');
$ex->fails_like(q{INSERT INTO users (email, username, password_hash, status) VALUES ('old@example.com', 'old', 'h', 'ARCHIVED')},
    qr/new row for relation "users" violates check constraint "chk_status"/,
    'status is one of ACTIVE, INACTIVE, SUSPENDED, DELETED');

# ---------------------------------------------------------------------------
# BaseRepository.create: INSERT ... RETURNING *, one transaction per user
# (so created_at orders them as the app created them)

my @people = (['alice', 'ADMIN', 'true'], ['bob', 'USER', 'false'], ['carol', 'MODERATOR', 'true'],
              ['dave', 'USER', 'true'], ['erin', 'USER', 'false']);
my %id;
for my $p (@people) {
    my ($name, $role, $verified) = @$p;
    my $out = $ex->sql(qq{
        INSERT INTO users (email, username, password_hash, full_name, role, email_verified)
        VALUES ('$name\@example.com', '$name', 'bcrypt-hash-of-$name', initcap('$name'), '$role', $verified)
        RETURNING id, role, status, email_verified, created_at = now() AND updated_at = now(), deleted_at IS NULL});
    my @f = split /\|/, $out;
    $id{$name} = $f[0];
    is(join('|', @f[1 .. 5]), "$role|ACTIVE|" . substr($verified, 0, 1) . '|t|t',
       "create($name): defaults filled, created_at = updated_at = now(), live");
}

$ex->fails_like(q{INSERT INTO users (email, username, password_hash) VALUES ('bob@example.com', 'bob2', 'h')},
    qr/duplicate key value violates unique constraint "users_email_key"\nDETAIL:  Key \(email\)=\(bob\@example.com\) already exists/,
    'two live users cannot share an email');
$ex->fails_like(q{INSERT INTO users (email, username, password_hash) VALUES ('bob2@example.com', 'bob', 'h')},
    qr/duplicate key value violates unique constraint "users_username_key"/,
    'two live users cannot share a username');

# findById: SELECT * FROM users WHERE id = $1 AND deleted_at IS NULL
is($ex->sql(qq{SELECT username, role FROM users_live WHERE id = '$id{bob}'}), 'bob|USER', 'findById through users_live');

# findAll({page: 2, limit: 2, filters: {role: ['USER', 'MODERATOR']}}): count
# and page, both over live rows.
sub find_all_expected {
    my ($page, $limit, @names) = @_;
    my @sorted = reverse @names;    # ORDER BY created_at DESC
    my @slice = grep { defined } @sorted[($page - 1) * $limit .. $page * $limit - 1];
    return scalar(@names) . "\n" . join("\n", @slice);
}
my $find_all = q{
    SELECT count(*) FROM users_live WHERE role IN ('USER', 'MODERATOR');
    SELECT username FROM users_live WHERE role IN ('USER', 'MODERATOR')
     ORDER BY created_at DESC LIMIT 2 OFFSET 2};
my @filtered = map { $_->[0] } grep { $_->[1] ne 'ADMIN' } @people;
is($ex->sql($find_all), find_all_expected(2, 2, @filtered), 'findAll: total and the second page, newest first');

# ---------------------------------------------------------------------------
# BaseRepository.update: no "updated_at = CURRENT_TIMESTAMP" in the statement

is(tagged(qq{
    BEGIN;
    UPDATE users_live SET full_name = 'Bob Builder' WHERE id = '$id{bob}'
    RETURNING full_name, updated_at = now(), updated_at > created_at;
    COMMIT;}),
   "BEGIN\nBob Builder|t|t\nUPDATE 1\nCOMMIT", 'update(): UPDATE 1, updated_at stamped with the transaction time');
is($ex->sql(qq{SELECT action, changed_columns, old_values->>'full_name', new_values->>'full_name', user_id IS NULL
                 FROM audit_log WHERE record_id = '$id{bob}' ORDER BY id DESC LIMIT 1}),
   'UPDATE|{full_name,updated_at}|Bob|Bob Builder|t', 'the update is in the audit log with the changed columns');

# An app-level change with its actor: Alice (an admin) promotes Bob from the
# admin console. node-postgres: set_config('steward.actor', $1, true) and the
# request's user agent as application_name, both local to the transaction.
app_sql(qq{
    BEGIN;
    SELECT set_config('steward.actor', '$id{alice}', true);
    SET LOCAL application_name = 'Mozilla/5.0 (admin-console)';
    UPDATE users SET role = 'MODERATOR' WHERE id = '$id{bob}' AND deleted_at IS NULL;
    COMMIT;});
is($ex->sql(qq{SELECT action, old_values->>'role', new_values->>'role', user_id, host(ip_address), user_agent
                 FROM audit_log WHERE record_id = '$id{bob}' ORDER BY id DESC LIMIT 1}),
   "UPDATE|USER|MODERATOR|$id{alice}|127.0.0.1|Mozilla/5.0 (admin-console)",
   'audit_log: who (user_id = the actor), from where (ip_address) and with what (user_agent)');
is($ex->sql(qq{SELECT count(*) FROM audit_log WHERE record_id = '$id{bob}' AND user_id = '$id{alice}'}), '1',
   'only the change made under the actor carries it');
is($ex->sql(qq{SELECT count(*) FILTER (WHERE new_values->>'password_hash' = '[redacted]'),
                      count(*) FILTER (WHERE new_values::text LIKE '%bcrypt-hash-of%')
                 FROM audit_log WHERE table_name = 'users' AND action = 'INSERT'}),
   scalar(@people) . '|0', 'password hashes never reach the log');

# ---------------------------------------------------------------------------
# transaction(): a rolled-back transaction leaves no audit row

my $before = $audit_count->();
$ex->sql(qq{
    BEGIN;
    SELECT set_config('steward.actor', '$id{alice}', true);
    UPDATE users SET status = 'SUSPENDED' WHERE id = '$id{carol}';
    INSERT INTO resources (user_id, name) VALUES ('$id{carol}', 'draft');
    ROLLBACK;});
is($audit_count->(), $before, 'a rolled-back UPDATE and INSERT leave no audit row');
is($ex->sql(qq{SELECT status, (SELECT count(*) FROM resources WHERE user_id = '$id{carol}') FROM users WHERE id = '$id{carol}'}),
   'ACTIVE|0', 'and no data');

# Savepoints: riskyOperation writes, then fails; ROLLBACK TO SAVEPOINT sp1
# drops its writes and their audit rows, the rest of the transaction commits.
my ($ret, $out, $err) = $node->psql('app', q{
    BEGIN;
    INSERT INTO users (email, username, password_hash) VALUES ('frank@example.com', 'frank', 'h');
    SAVEPOINT sp1;
    INSERT INTO users (email, username, password_hash) VALUES ('grace@example.com', 'grace', 'h');
    INSERT INTO users (email, username, password_hash) VALUES ('frank@example.com', 'frank2', 'h');
    ROLLBACK TO SAVEPOINT sp1;
    COMMIT;}, on_error_stop => 0);
like($err, qr/duplicate key value violates unique constraint "users_email_key"/, 'the risky operation fails');
is($ex->sql(q{SELECT string_agg(username, ',' ORDER BY username) FROM users WHERE username IN ('frank', 'grace')}),
   'frank', 'the savepoint dropped only the risky part');
is($ex->sql(q{SELECT string_agg(new_values->>'username', ',') FROM audit_log
               WHERE table_name = 'users' AND action = 'INSERT' AND new_values->>'username' IN ('frank', 'grace')}),
   'frank', 'the log has the committed insert and not the rolled-back one');
is($audit_count->(), $before + 1, 'exactly one new audit row');

# ---------------------------------------------------------------------------
# Resources and activities; the user_stats CTE over live rows

my %rid;
for my $r (['r1', 'dave'], ['r2', 'dave'], ['r3', 'dave'], ['r4', 'erin']) {
    my ($name, $owner) = @$r;
    $rid{$name} = $ex->sql(qq{INSERT INTO resources (user_id, name, description)
                              VALUES ('$id{$owner}', '$name', 'a resource of $owner') RETURNING id});
}
$ex->sql(qq{
    INSERT INTO activities (user_id, resource_id, action) VALUES
      ('$id{dave}', '$rid{r1}', 'resource.created'), ('$id{dave}', '$rid{r2}', 'resource.created'),
      ('$id{dave}', '$rid{r3}', 'resource.created'), ('$id{dave}', NULL, 'user.login'),
      ('$id{erin}', '$rid{r4}', 'resource.created')});

# Dave removes r3 on his own: DELETE marks it, and its activity with it.
is(tagged(qq{DELETE FROM resources WHERE id = '$rid{r3}'}), 'DELETE 1', 'a resource is soft-deleted by DELETE: DELETE 1');
is($ex->sql(qq{SELECT count(*) FROM activities_live WHERE resource_id = '$rid{r3}'}), '0',
   "the resource's activity went with it (ON DELETE CASCADE)");
is($ex->sql(qq{SELECT resource_count, last_activity = (SELECT created_at FROM resources WHERE id = '$rid{r2}')
                 FROM user_stats WHERE id = '$id{dave}'}),
   '2|t', 'user_stats counts live resources only and reports the newest');
is($ex->sql(q{SELECT string_agg(username || ':' || resource_count, ',' ORDER BY username) FROM user_stats}),
   'alice:0,bob:0,carol:0,dave:2,erin:1,frank:0', 'user_stats lists every active live user');

# ---------------------------------------------------------------------------
# softDelete(id): a plain DELETE, with the count an ORM checks

is(tagged(qq{
    BEGIN;
    SELECT set_config('steward.actor', '$id{alice}', true);
    DELETE FROM users WHERE id = '$id{dave}' RETURNING username, deleted_at = now(), updated_at = deleted_at;
    COMMIT;}),
   "BEGIN\n$id{alice}\ndave|t|t\nDELETE 1\nCOMMIT",
   'softDelete(dave): DELETE 1, RETURNING the marked row, deleted_at = updated_at = now() as the document sets them');
is(tagged(qq{DELETE FROM users WHERE id = '$id{dave}'}), 'DELETE 0', 'softDelete again: DELETE 0 (returns false)');
is($ex->sql(qq{SELECT count(*) FROM users_live WHERE id = '$id{dave}'}), '0', 'findById(dave) finds nothing');
is($ex->sql(qq{SELECT username, deleted_at IS NOT NULL, status FROM users WHERE id = '$id{dave}'}), 'dave|t|ACTIVE',
   'the row is still there, marked');
is(tagged(qq{UPDATE users_live SET full_name = 'Ghost' WHERE id = '$id{dave}'}), 'UPDATE 0',
   'update() of a deleted user changes nothing (returns null)');
is($ex->sql($find_all), find_all_expected(2, 2, qw(bob carol erin frank)),
   'findAll no longer counts or lists him (Bob is a moderator now, Frank joined)');

my $dave_deleted = qq{(SELECT deleted_at FROM users WHERE id = '$id{dave}')};
is($ex->sql(qq{
    SELECT (SELECT string_agg(name, ',' ORDER BY name) FROM resources WHERE user_id = '$id{dave}' AND deleted_at = $dave_deleted),
           (SELECT count(*) FROM activities WHERE user_id = '$id{dave}' AND deleted_at = $dave_deleted),
           (SELECT count(*) FROM resources_live WHERE user_id = '$id{dave}')}),
   'r1,r2|3|0', "his live resources and activities were marked with his timestamp (r3 kept its own)");
is($ex->sql(q{SELECT count(*) FROM user_stats WHERE username = 'dave'}), '0', 'user_stats no longer lists him');
is($ex->sql(qq{SELECT string_agg(table_name || ':' || action || ':' || (user_id = '$id{alice}'), ',' ORDER BY table_name, record_id::text)
                 FROM audit_log WHERE action = 'SOFT_DELETE' AND created_at = $dave_deleted}),
   join(',', map { "resources:SOFT_DELETE:true" } 1 .. 2) . ',users:SOFT_DELETE:true',
   'the log has the user and the cascaded resources as SOFT_DELETE, under the actor');

# The email of a deleted user can be used again...
my $dave2 = $ex->sql(q{INSERT INTO users (email, username, password_hash) VALUES ('dave@example.com', 'dave', 'h') RETURNING id});
like($dave2, qr/^[0-9a-f-]{36}$/, "a new user takes the deleted user's email and username");
# ...so the old one cannot come back while it is taken.
$ex->fails_like(qq{SELECT steward.restore('users', '"$id{dave}"')},
    qr/duplicate key value violates unique constraint "users_email_key"/,
    'restoring a user whose email is taken by a live user fails');
is($ex->sql(qq{SELECT count(*) FROM resources_live WHERE user_id = '$id{dave}'}), '0', 'and restores nothing');

is(tagged(qq{DELETE FROM users WHERE id = '$dave2'}), 'DELETE 1', 'the new account is deleted again');
is($ex->sql(qq{SELECT steward.restore('users', '"$id{dave}"')}), '1', 'the original user is restored');
is($ex->sql(qq{
    SELECT (SELECT string_agg(name, ',' ORDER BY name) FROM resources_live WHERE user_id = '$id{dave}'),
           (SELECT count(*) FROM activities_live WHERE user_id = '$id{dave}'),
           (SELECT count(*) FROM activities_live WHERE resource_id = '$rid{r3}')}),
   'r1,r2|3|0', 'a restored user comes back with the resources and activities deleted with him, not r3');
is($ex->sql(qq{SELECT resource_count FROM user_stats WHERE id = '$id{dave}'}), '2', 'user_stats lists him again');
is($ex->sql(qq{SELECT string_agg(action, ',' ORDER BY id) FROM steward.history('users', '$id{dave}'::uuid)}),
   'INSERT,SOFT_DELETE,RESTORE', "his history: created, soft-deleted, restored");

# ---------------------------------------------------------------------------
# The agent's task queue: 20 seed tasks (the seed runner's 100 users, 500
# resources, 1000 activities in batches of 5/25/50) and one bad task,
# drained by 4 concurrent workers in transactional mode: claim, seed, record
# the migration, complete, commit. Each worker writes under its own actor and
# the task id as audit context.

my $tasks = 20;
my ($per_users, $per_resources, $per_activities) = (5, 25, 50);
$ex->sql(qq{
    SELECT steward.enqueue('db_tasks', jsonb_build_object(
               'task_id', format('SEED-%s', lpad(b::text, 2, '0')), 'task_name', format('seed batch %s', b),
               'kind', 'seed', 'batch', b,
               'users', $per_users, 'resources', $per_resources, 'activities', $per_activities))
      FROM generate_series(1, $tasks) b;
    SELECT steward.enqueue('db_tasks', '{"task_id": "SEED-BAD", "task_name": "seed superusers", "kind": "seed",
                                         "batch": 99, "users": 2, "resources": 0, "activities": 0, "role": "SUPERUSER"}');
    BEGIN;
    SELECT steward.enqueue('db_tasks', '{"task_id": "SEED-XX", "task_name": "never committed", "kind": "seed",
                                         "batch": 98, "users": 1, "resources": 0, "activities": 0}');
    ROLLBACK;});

my $worker = q{
DO $$
DECLARE
    j steward.job;
    p jsonb;
    me text := 'database-agent-' || pg_backend_pid();
    done int := 0;
    uids uuid[];
    rids uuid[];
BEGIN
    LOOP
        SELECT * INTO j FROM steward.dequeue('db_tasks', me);
        EXIT WHEN j.id IS NULL;
        p := j.payload;
        BEGIN
            PERFORM set_config('steward.actor', me, true);
            PERFORM set_config('steward.audit_context',
                               jsonb_build_object('task_id', p->>'task_id', 'job_id', j.id)::text, true);
            PERFORM pg_sleep(0.02);   -- bcrypt.hash's cost; keeps the workers overlapping
            -- seedUsers
            WITH ins AS (
                INSERT INTO users (email, username, password_hash, full_name, role, status, email_verified)
                SELECT format('seed-%s-%s@example.com', p->>'batch', i), format('seed_%s_%s', p->>'batch', i),
                       'bcrypt-hash-of-password123', format('Seed User %s-%s', p->>'batch', i),
                       coalesce(p->>'role', (ARRAY['USER', 'ADMIN', 'MODERATOR'])[1 + i % 3]), 'ACTIVE', i % 2 = 0
                  FROM generate_series(1, (p->>'users')::int) i
                RETURNING id)
            SELECT array_agg(id) INTO uids FROM ins;
            -- seedResources: round robin over the batch's users
            WITH ins AS (
                INSERT INTO resources (user_id, name, description)
                SELECT uids[1 + i % cardinality(uids)], format('resource %s-%s', p->>'batch', i), 'seeded'
                  FROM generate_series(1, (p->>'resources')::int) i
                RETURNING id)
            SELECT array_agg(id) INTO rids FROM ins;
            -- seedActivities: each resource created and viewed by its owner
            INSERT INTO activities (user_id, resource_id, action)
            SELECT r.user_id, r.id, a
              FROM resources r CROSS JOIN unnest(ARRAY['resource.created', 'resource.viewed']) a
             WHERE r.id = ANY (rids)
             LIMIT (p->>'activities')::int;
            -- MigrationRunner: record what was applied, in the same transaction
            INSERT INTO migrations (id, name) VALUES (p->>'task_id', p->>'task_name');
            PERFORM steward.complete(j.id, j.lease_token,
                                     jsonb_build_object('users', cardinality(uids), 'resources', cardinality(rids)));
            done := done + 1;
        EXCEPTION WHEN OTHERS THEN
            PERFORM steward.fail(j.id, j.lease_token, SQLERRM);
        END;
        COMMIT;
    END LOOP;
    PERFORM set_config('agent.done', done::text, false);
END $$;
SELECT 'database-agent-' || pg_backend_pid(), current_setting('agent.done');
};
my @outs = $ex->workers(4, $worker);
my %done_by;
for my $o (@outs) {
    my ($w, $n) = $o =~ /^(database-agent-\d+)\|(\d+)$/m or BAIL_OUT("unexpected worker output: $o");
    $done_by{$w} = $n;
}
is(scalar(keys %done_by), 4, 'four workers ran side by side');
my $sum = 0; $sum += $_ for values %done_by;
is($sum, $tasks, 'together they completed every seed task once');
cmp_ok(scalar(grep { $_ > 0 } values %done_by), '>=', 2, 'the tasks were shared between workers');
note('tasks per worker: ' . join(', ', map { "$_: $done_by{$_}" } sort keys %done_by));
is($ex->sql(q{SELECT string_agg(worker || ':' || n, ',' ORDER BY worker)
                FROM (SELECT worker, count(*) n FROM steward.jobs WHERE queue = 'db_tasks' AND state = 'completed' GROUP BY worker) w}),
   join(',', map { "$_:$done_by{$_}" } grep { $done_by{$_} > 0 } sort keys %done_by),
   "the queue's record of who completed what matches each worker's own count");
is($ex->sql(q{SELECT string_agg(state || ':' || n, ',' ORDER BY state)
                FROM (SELECT state, count(*) n FROM steward.jobs WHERE queue = 'db_tasks' GROUP BY state) s}),
   "completed:$tasks,dead:1", 'nothing is left waiting or running: no task lost, the rolled-back enqueue never existed');
is($ex->sql(q{SELECT count(*), count(DISTINCT id), min(id), max(id) FROM migrations}),
   "$tasks|$tasks|SEED-01|SEED-" . sprintf('%02d', $tasks), 'every task recorded in migrations once');
is($ex->sql(q{SELECT (SELECT count(*) FROM users WHERE email LIKE 'seed-%'),
                     (SELECT count(*) FROM resources r JOIN users u ON u.id = r.user_id WHERE u.email LIKE 'seed-%'),
                     (SELECT count(*) FROM activities a JOIN users u ON u.id = a.user_id WHERE u.email LIKE 'seed-%')}),
   join('|', $tasks * $per_users, $tasks * $per_resources, $tasks * $per_activities),
   'the seed runner\'s 100 users, 500 resources and 1000 activities, no more');
is($ex->sql(q{SELECT count(*), count(DISTINCT a.context->>'task_id'), count(*) FILTER (WHERE a.actor = j.worker)
                FROM audit_log a JOIN steward.jobs j ON j.payload->>'task_id' = a.context->>'task_id'
               WHERE a.table_name = 'users' AND a.action = 'INSERT' AND j.state = 'completed'}),
   join('|', $tasks * $per_users, $tasks, $tasks * $per_users),
   'each seeded user is logged once, under the worker that completed its task');
is($ex->sql(q{SELECT attempt, jsonb_array_length(errors),
                     (SELECT string_agg(DISTINCT e->>'error', ';') FROM jsonb_array_elements(errors) e)
                FROM steward.jobs WHERE payload->>'task_id' = 'SEED-BAD'}),
   '2|2|new row for relation "users" violates check constraint "chk_role"',
   'the bad task was tried twice and is dead with both errors');
is($ex->sql(q{SELECT (SELECT count(*) FROM migrations WHERE id = 'SEED-BAD'),
                     (SELECT count(*) FROM audit_log WHERE context->>'task_id' = 'SEED-BAD'),
                     (SELECT count(*) FROM users WHERE email LIKE 'seed-99-%')}),
   '0|0|0', 'its rolled-back attempts left no migration, no audit row, no user');

# Lease mode, and a worker completing a task that is no longer its own: A's
# lease runs out, B claims the task again, A's late complete is refused.
$ex->sql(q{SELECT steward.enqueue('db_tasks', '{"task_id": "MIG-002", "task_name": "verify admin emails", "kind": "migration"}')});
my ($a_job, $a_token) = split /\|/, $ex->sql(q{SELECT id, lease_token FROM steward.dequeue('db_tasks', 'agent-a', 1, '200 milliseconds')});
usleep(400_000);
my ($b_job, $b_token, $b_attempt) = split /\|/, $ex->sql(q{SELECT id, lease_token, attempt FROM steward.dequeue('db_tasks', 'agent-b')});
is("$b_job|$b_attempt", "$a_job|2", "after A's lease expired, B claims the same task (attempt 2)");
$ex->fails_like(qq{SELECT steward.complete($a_job, $a_token)},
    qr/cannot complete job $a_job: lease token $a_token is not the current lease/,
    'A cannot complete a task that is no longer its own');
my $unverified_admins = $ex->sql(q{SELECT count(*) FROM users_live WHERE role = 'ADMIN' AND NOT email_verified});
ok($unverified_admins > 0, 'the seed left unverified admins for the migration');
is(tagged(qq{
    BEGIN;
    SELECT set_config('steward.actor', 'agent-b', true);
    UPDATE users_live SET email_verified = true WHERE role = 'ADMIN' AND NOT email_verified;
    INSERT INTO migrations (id, name) VALUES ('MIG-002', 'verify admin emails');
    SELECT steward.complete($b_job, $b_token);
    COMMIT;}),
   "BEGIN\nagent-b\nUPDATE $unverified_admins\nINSERT 0 1\n\nCOMMIT", 'B runs the migration and completes it');
is($ex->sql(q{SELECT count(*), count(*) FILTER (WHERE actor = 'agent-b' AND changed_columns = '{email_verified,updated_at}')
                FROM audit_log WHERE table_name = 'users' AND action = 'UPDATE' AND new_values->>'email_verified' = 'true'
                 AND old_values->>'email_verified' = 'false' AND actor = 'agent-b'}),
   "$unverified_admins|$unverified_admins", "the migration's changes are logged under B");
is($ex->sql(qq{SELECT state, worker, errors->0->>'error' FROM steward.jobs WHERE id = $a_job}),
   'completed|agent-b|lease expired', 'the task is completed once, by B, with the lost lease on record');

# ---------------------------------------------------------------------------
# Database Monitoring, answered by pg_steward's views

# "Check table sizes": rows after ANALYZE (soft-deleted rows are rows too).
my $users_total = scalar(@people) + 1 + 1 + $tasks * $per_users;    # + frank + the second dave + seeded
is($ex->sql(q{SELECT count(*) FROM users}), $users_total, 'users holds every row ever created, deleted or not');
$ex->sql(q{ANALYZE users; ANALYZE resources; ANALYZE activities});
my %rows = (activities => $tasks * $per_activities + 5, resources => $tasks * $per_resources + 4, users => $users_total);
is($ex->sql(q{SELECT string_agg(table_name || ':' || estimated_rows || ':' || live_tuples || ':' || (total_bytes > table_bytes), ','
                                ORDER BY table_name)
                FROM steward.table_health WHERE schema_name = 'public' AND table_name IN ('users', 'resources', 'activities')}),
   join(',', map { "$_:$rows{$_}:$rows{$_}:true" } sort keys %rows),
   'table_health: estimated and live rows of the filled tables after ANALYZE, indexes counted in the size');

# "Check index usage": the document's idx_users_email/username repeat the
# live-row unique indexes; an index nobody used is reported unused.
is($ex->sql(q{SELECT string_agg(index_name || ':' || detail || ':' || fix, E'\n' ORDER BY index_name)
                FROM steward.index_health WHERE schema_name = 'public' AND issue = 'duplicate'}),
   "idx_users_email:same definition as index users_email_key:DROP INDEX CONCURRENTLY idx_users_email\n"
   . "idx_users_username:same definition as index users_username_key:DROP INDEX CONCURRENTLY idx_users_username",
   'index_health: the document\'s partial email/username indexes duplicate the live-row unique indexes');
is($ex->sql(q{SELECT h->'failing' ? 'stats.duplicate_indexes', h->'failing' ? 'queue.queue_dead_jobs_1d:db_tasks',
                     (SELECT c->>'value' FROM jsonb_array_elements(h->'checks') c WHERE c->>'name' = 'queue_dead_jobs_1d:db_tasks')
                FROM steward.health() h}),
   't|t|1', 'health() fails on the duplicate indexes and on the dead seed task');
$ex->sql(q{DROP INDEX CONCURRENTLY idx_users_email; DROP INDEX CONCURRENTLY idx_users_username});
is($ex->sql(q{SELECT count(*) FROM steward.index_health WHERE schema_name = 'public' AND issue = 'duplicate'}), '0',
   'after the suggested fix no duplicates are left');

$ex->sql(q{SELECT pg_stat_reset()});
# findAll's ordering, forced onto its index (the tables are small)
is($ex->sql(q{SET enable_seqscan = off; SET enable_sort = off;
              EXPLAIN (COSTS OFF) SELECT id FROM users ORDER BY created_at DESC LIMIT 20}) =~ /Index Scan using idx_users_created_at/ ? 1 : 0,
   1, 'findAll can be served by idx_users_created_at');
$ex->sql(q{SET enable_seqscan = off; SET enable_sort = off; SELECT id FROM users ORDER BY created_at DESC LIMIT 20});
is($ex->sql(q{SELECT string_agg(index_name || ':' || scans, ',' ORDER BY index_name)
                FROM steward.index_health WHERE schema_name = 'public' AND issue = 'unused' AND table_name = 'users'}),
   'idx_users_status:0', 'index_health: of the users indexes only idx_users_status was never scanned since the reset');
is($ex->sql(q{SELECT idx_scan > 0 FROM pg_stat_user_indexes WHERE indexrelname = 'idx_users_created_at'}), 't',
   'idx_users_created_at was scanned, so it is not reported');

# "Check slow queries": the doc lists statements with a mean above 100 ms.
$ex->sql(q{SELECT pg_stat_statements_reset()});
my $slow_calls = 3;
$ex->sql(q{SELECT count(*) FROM user_stats CROSS JOIN pg_sleep(0.11)}) for 1 .. $slow_calls;
$ex->sql(qq{SELECT username FROM users_live WHERE id = '$id{bob}'}) for 1 .. $slow_calls;
is($ex->sql(qq{SET steward.slow_query_min_calls = 1; SET steward.slow_query_min_mean = '100ms';
               SELECT query, calls, mean_ms > 100, total_ms > $slow_calls * 100, rows FROM steward.slow_queries}),
   "SELECT count(*) FROM user_stats CROSS JOIN pg_sleep(\$1)|$slow_calls|t|t|$slow_calls",
   'slow_queries: the slow report with its call count, and not the fast findById');
is($ex->sql(q{SELECT count(*) FROM steward.slow_queries}), '0',
   'with the default thresholds (100 calls, 20 ms) three calls are not yet a problem');

# "Check connection stats": three application connections, one of them
# inside a transaction.
my @sessions = map { $node->background_psql('app') } 1 .. 3;
$sessions[2]->query_safe('BEGIN; SELECT 1');
my $max = $ex->sql(q{SHOW max_connections});
# Polled: the backends of the scenario's earlier (closed) psql sessions may
# take a moment to leave pg_stat_activity. The polling session is the active one.
ok($node->poll_query_until('app', q{
       SELECT string_agg(state || ':' || connections, ',' ORDER BY state)
              || '|' || (SELECT percent_of_max || '|' || max_connections FROM steward.connections WHERE state = 'total')
         FROM steward.connections WHERE state IN ('active', 'idle', 'idle in transaction', 'total')},
       'active:1,idle:2,idle in transaction:1,total:4|' . sprintf('%.2f|%d', 400 / $max, $max)),
   'connections: this session, two idle ones and one idle in transaction, as a share of max_connections');
$_->quit for @sessions;

# Cache hits: the tables were read, so hits are counted, and the percentage
# is hits / (hits + reads).
is($ex->sql(q{SELECT string_agg(kind || ':' || (hits > 0) || ':' || (hit_percent = round(100.0 * hits / (hits + reads), 2)), ',' ORDER BY kind)
                FROM steward.cache_hit}),
   'database:true:true,index:true:true,table:true:true', 'cache_hit: real counters for tables, indexes and the database');

# ---------------------------------------------------------------------------
# Backup strategy: pg_dump / pg_restore keeps users, their soft-delete marks
# and their audit history, and pg_steward keeps working in the copy.

my $users_q = q{SELECT id, email, username, role, status, email_verified, created_at, updated_at, deleted_at FROM users ORDER BY id};
my $history_q = q{SELECT id, table_name, record_id, action, old_values, new_values, user_id, ip_address, user_agent, created_at, actor, context
                    FROM audit_log ORDER BY id};
my $jobs_q = q{SELECT id, state, worker, attempt, payload FROM steward.jobs ORDER BY id};
my ($users_before, $history_before, $jobs_before) = map { $ex->sql($_) } $users_q, $history_q, $jobs_q;
my $dump = "$PostgreSQL::Test::Utils::tmp_check/app.dump";
$node->command_ok(['pg_dump', '-Fc', '-d', $node->connstr('app'), '-f', $dump], 'createBackup: pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE app_restored');
$node->command_ok(['pg_restore', '--exit-on-error', '-d', $node->connstr('app_restored'), $dump], 'restoreBackup: pg_restore');
is($ex->sql($users_q, 'app_restored'), $users_before, 'users restored, deleted ones with their marks');
is($ex->sql($history_q, 'app_restored'), $history_before, 'the whole audit history restored');
is($ex->sql($jobs_q, 'app_restored'), $jobs_before, 'the task queue and its history restored');
is($ex->sql(qq{\\set QUIET off
               DELETE FROM users WHERE id = '$id{bob}'}, 'app_restored'), 'DELETE 1',
   'soft delete still works in the restored copy');
is($ex->sql(qq{SELECT deleted_at IS NOT NULL, (SELECT string_agg(action, ',' ORDER BY id) FROM steward.history('users', '$id{bob}'::uuid))
                 FROM users WHERE id = '$id{bob}'}, 'app_restored'),
   't|INSERT,UPDATE,UPDATE,SOFT_DELETE', "and Bob's history continues there");

# The document restores with psql from a plain SQL dump: the same.
my $plain = "$PostgreSQL::Test::Utils::tmp_check/app.sql";
$node->command_ok(['pg_dump', '-d', $node->connstr('app'), '-f', $plain], 'plain SQL backup');
$node->safe_psql('postgres', 'CREATE DATABASE app_plain');
$node->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('app_plain'), '-f', $plain],
    'restored with psql -f');
is($ex->sql($history_q, 'app_plain'), $history_before, 'the plain restore keeps the audit history too');

# The seed runner's clearData() on the restored copy (a staging reset):
# TRUNCATE is refused on soft-delete tables unless asked for on purpose.
my ($ok, undef, $terr) = $ex->try(q{TRUNCATE users, resources, activities}, 'app_restored');
ok(!$ok && $terr =~ /cannot truncate "public\.(users|resources|activities)": soft delete is enabled on it/,
   'clearData: a plain TRUNCATE is refused') or diag($terr);
$ex->sql(q{BEGIN; SET LOCAL steward.hard_delete = on; TRUNCATE users, resources, activities; COMMIT;}, 'app_restored');
is($ex->sql(q{SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM resources), (SELECT count(*) FROM activities),
                     (SELECT count(*) FROM steward.audit_log WHERE action = 'TRUNCATE' AND table_name IN ('users', 'resources'))},
            'app_restored'),
   '0|0|0|2', 'with steward.hard_delete the reset empties the tables, and the log records the TRUNCATEs');
is($ex->sql(q{SELECT count(*) FROM users}), $users_total, 'the original database is untouched');

done_testing();
