# CodeRunner DatabaseService (seed 004) on pg_steward: the document's workflow
# (users, projects, deployments, stats, health) played in SQL through the
# functions of examples/coderunner/schema.sql, as the API pool's role
# coderunner_app, with deployments provisioned by concurrent workers
# (role coderunner_worker) through the queue "deploy".
use strict;
use warnings;
use StewardExample;
use Test::More;
use JSON::PP;
use Time::HiRes qw(usleep);

my $ex = StewardExample->new('coderunner');

# The API pool's session; app_as() is one request of a signed-in user: the
# actor is set for the transaction, as node-postgres would with
# set_config('steward.actor', $1, true) after BEGIN.
sub app    { $ex->sql("SET ROLE coderunner_app;\n$_[0]") }
sub app_as { my ($actor, $sql) = @_; $ex->sql("SET ROLE coderunner_app;\nBEGIN;\nSET LOCAL steward.actor = '$actor';\n$sql\n;\nCOMMIT;") }
sub worker { $ex->sql("SET ROLE coderunner_worker;\n$_[0]") }
sub app_fails { my ($sql, $re, $name) = @_; $ex->fails_like("SET ROLE coderunner_app;\n$sql", $re, $name) }
sub jdec { decode_json($_[0]) }
sub audit_count { $ex->sql('SELECT count(*) FROM steward.audit_log') }

# --- start: empty ----------------------------------------------------------------

my $stats = jdec(app('SELECT get_system_stats()'));
is_deeply($stats, { totalUsers => 0, totalProjects => 0, totalDeployments => 0, runningDeployments => 0,
                    deploymentsByStatus => { PENDING => 0, RUNNING => 0, FAILED => 0, STOPPED => 0 } },
          'getSystemStats on an empty database: zeros, every DeploymentStatus listed');

my $h0 = jdec(app('SELECT health_check()'));
is($h0->{status}, 'healthy', 'healthCheck on the new database: healthy') or diag explain $h0;
is_deeply($h0->{details}{failing}, [], 'healthCheck: no failing check');
like($h0->{details}{version}, qr/^PostgreSQL 15\./, 'healthCheck: PostgreSQL 15');

# --- users ---------------------------------------------------------------------------

my $john = app_as('signup', q{SELECT id FROM create_user(' John@Example.COM ', '$2b$10$johnhash', 'personal')});
my $ann  = app_as('signup', q{SELECT id FROM create_user('ann@example.com', '$2b$10$annhash', 'team')});
my $bob  = app_as('signup', q{SELECT id FROM create_user('bob@example.com', '$2b$10$bobhash')});
my %uname = ($john => 'john', $ann => 'ann', $bob => 'bob');
like($_, qr/^[0-9a-f-]{36}$/, "createUser returns $uname{$_}'s uuid") for $john, $ann, $bob;

is(app("SELECT email, plan_type FROM users_live WHERE id = '$john'"), 'john@example.com|personal',
   'createUser stores the email normalized (trimmed, lower case)');
is(app("SELECT plan_type FROM users_live WHERE id = '$bob'"), 'free', 'a user created without a plan gets the free plan');

app_fails(q{SELECT create_user('JOHN@example.com', 'x')}, qr/user with email "john\@example\.com" already exists/,
          'createUser with an email that differs only in case: "already exists"');
app_fails(q{SELECT create_user('carol@example.com', 'x', 'gold')}, qr/violates check constraint "users_plan_type_check"/,
          'an unknown plan_type is refused');
app_fails(q{INSERT INTO users (email, password_hash) VALUES ('Carol@Example.com', 'x')},
          qr/violates check constraint "users_email_check"/, 'a raw INSERT must store a normalized email');
app_fails(q{INSERT INTO users (email) VALUES ('carol@example.com')}, qr/null value in column "password_hash"/,
          'a user needs a password hash');
app_fails(q{INSERT INTO users (email, password_hash) VALUES ('john@example.com', 'x')},
          qr/duplicate key value violates unique constraint "users_email_key".*\n.*Key \(email\)=\(john\@example\.com\) already exists/,
          'a raw INSERT of a duplicate email: unique violation, "already exists" in the DETAIL');
is(app('SELECT count(*) FROM users'), '3', 'the refused sign-ups left no user behind');

# getUserById, getUserByEmail
is(app("SELECT email FROM users_live WHERE id = '$ann'"), 'ann@example.com', 'getUserById');
is(app(q{SELECT id FROM get_user_by_email('  ANN@example.com')}), $ann, 'getUserByEmail finds the user whatever the case');
is(app(q{SELECT count(*) FROM get_user_by_email('nobody@example.com')}), '0', 'getUserByEmail of an unknown email: no row');

# updateUser: updated_at is pg_steward's
my ($created0, $updated0) = split /\|/, app("SELECT created_at, updated_at FROM users_live WHERE id = '$john'");
app_as("user:$john", "SELECT update_user('$john', p_plan_type => 'team') \\g /dev/null");
is(app("SELECT plan_type, created_at = '$created0', updated_at > '$updated0' FROM users_live WHERE id = '$john'"),
   'team|t|t', 'updateUser changes the plan and moves updated_at, created_at stays');
app_fails("SELECT update_user('$ann', p_email => 'John\@example.com')", qr/user with email "john\@example\.com" already exists/,
          'updateUser to another live user\'s email: "already exists"');
app_fails(q{SELECT update_user('00000000-0000-0000-0000-000000000000', p_plan_type => 'team')},
          qr/user 00000000-0000-0000-0000-000000000000 does not exist/, 'updateUser of an unknown user');
is($ex->sql("SELECT actor, changed_columns::text, new_values->>'plan_type' FROM steward.history('users', '$john'::uuid) WHERE action = 'UPDATE'"),
   "user:$john|{plan_type,updated_at}|team", 'the audit records the plan change with the acting user');

# --- executeInTransaction ------------------------------------------------------------

app(q{BEGIN;
      INSERT INTO users (email, password_hash) VALUES ('dora@example.com', 'hash') RETURNING id \gset
      INSERT INTO projects (user_id, name) VALUES (:'id', 'New Project');
      COMMIT;});
my $dora = app(q{SELECT id FROM users_live WHERE email = 'dora@example.com'});
is(app("SELECT u.plan_type, p.name, p.description IS NULL FROM users_live u JOIN projects_live p ON p.user_id = u.id WHERE u.id = '$dora'"),
   'free|New Project|t', 'executeInTransaction: the user and its project committed together');

my $audit_before = audit_count();
my $jobs_before = $ex->sql(q{SELECT count(*) FROM steward.jobs WHERE queue = 'deploy'});
app(q{BEGIN;
      SET LOCAL steward.actor = 'request-rolled-back';
      SELECT id FROM create_user('eve@example.com', 'hash') \gset
      SELECT id AS pid FROM create_project(:'id', 'Doomed') \gset
      SELECT create_deployment(:'pid', 'nodejs') \g /dev/null
      ROLLBACK;});
is(app(q{SELECT count(*) FROM users WHERE email = 'eve@example.com'}), '0', 'a rolled-back transaction leaves no user');
is(audit_count(), $audit_before, 'a rolled-back transaction leaves no audit row');
is($ex->sql(q{SELECT count(*) FROM steward.audit_log WHERE actor = 'request-rolled-back'}), '0',
   'no audit entry carries the rolled-back request\'s actor');
is($ex->sql(q{SELECT count(*) FROM steward.jobs WHERE queue = 'deploy'}), $jobs_before,
   'a rolled-back createDeployment leaves no deploy job');

# getUsers(limit, offset) -> { users, total }
my @page1 = @{ jdec(app('SELECT get_users(2, 0)'))->{users} };
my $p2 = jdec(app('SELECT get_users(2, 2)'));
my $past = jdec(app('SELECT get_users(2, 10)'));
is(scalar(@page1), 2, 'getUsers(2, 0): a page of two');
is($p2->{total}, 4, 'getUsers: total counts every live user');
is_deeply([ sort map { $_->{id} } @page1, @{ $p2->{users} } ], [ sort $john, $ann, $bob, $dora ],
          'getUsers: the two pages hold every user once');
ok(!grep({ exists $_->{password_hash} } @page1, @{ $p2->{users} }), 'getUsers does not return password hashes');
is_deeply($past, { users => [], total => 4 }, 'getUsers past the end: no users, total still given');

# --- projects --------------------------------------------------------------------------

my %owner;    # project -> user
my $john_web = app_as("user:$john", qq{SELECT id FROM create_project('$john', 'My Web App', 'A cool web application')});
my $john_api = app_as("user:$john", qq{SELECT id FROM create_project('$john', 'API')});
my $ann_blog = app_as("user:$ann", qq{SELECT id FROM create_project('$ann', 'Blog')});
my $bob_shop = app_as("user:$bob", qq{SELECT id FROM create_project('$bob', 'Shop')});
@owner{$john_web, $john_api, $ann_blog, $bob_shop} = ($john, $john, $ann, $bob);

app_fails(q{SELECT create_project('00000000-0000-0000-0000-000000000000', 'Ghost')},
          qr/user 00000000-0000-0000-0000-000000000000 does not exist/, 'createProject for an unknown user');
app_fails(q{INSERT INTO projects (user_id, name) VALUES ('00000000-0000-0000-0000-000000000000', 'Ghost')},
          qr/violates foreign key constraint "projects_user_id_fkey"/, 'a raw INSERT of a project needs an existing user');
app_fails("SELECT create_project('$ann', '   ')", qr/violates check constraint "projects_name_check"/,
          'a project needs a name');

my $jp = jdec(app("SELECT get_projects_by_user_id('$john', 1, 0)"));
is($jp->{total}, 2, 'getProjectsByUserId: total of the user\'s projects');
is(scalar @{ $jp->{projects} }, 1, 'getProjectsByUserId honours the limit');
ok((grep { $_ eq $jp->{projects}[0]{id} } $john_web, $john_api), 'getProjectsByUserId returns one of the user\'s projects');

# updateProject as the signed-in owner
my ($pc, $pu) = split /\|/, app("SELECT created_at, updated_at FROM projects_live WHERE id = '$john_web'");
app_as("user:$john", qq{UPDATE projects_live SET description = 'Updated description' WHERE id = '$john_web';});
is(app("SELECT description, created_at = '$pc', updated_at > '$pu' FROM projects_live WHERE id = '$john_web'"),
   'Updated description|t|t', 'updateProject: new description, updated_at moved by pg_steward');
is($ex->sql("SELECT actor, old_values->>'description', new_values->>'description' FROM steward.history('projects', '$john_web'::uuid) WHERE action = 'UPDATE'"),
   "user:$john|A cool web application|Updated description", 'the project update is audited with its actor and both values');

is(app("SELECT name, user_email, user_plan_type FROM project_with_user WHERE id = '$john_web'"),
   'My Web App|john@example.com|team', 'getProjectWithUser');

# --- deployments -----------------------------------------------------------------------
# 21 deployments over the four projects: 16 that provision, 2 that fail once
# ("flaky-" sandboxes, then succeed), 2 whose runtime the provisioner never
# starts (cobol: dead after max_attempts), 1 stopped before any worker sees it.

my @projects = ($john_web, $john_api, $ann_blog, $bob_shop);
my (@dep, %expect, %dep_project, @kinds, $requests);
for my $n (1 .. 21) {
    my $p = $projects[($n - 1) % 4];
    my ($rt, $sb, $url, $kind) = ($n % 2 ? 'nodejs' : 'python', "sandbox_$n", "https://app$n.coderunner.dev", 'ok');
    ($sb, $url) = ('sandbox_abc123', 'https://myapp.coderunner.dev') if $n == 1;
    ($rt, $sb, $kind) = ('nodejs', "flaky-$n", 'flaky') if $n == 17 || $n == 18;
    ($rt, $kind) = ('cobol', 'cobol') if $n == 19 || $n == 20;
    $kind = 'stopped' if $n == 21;
    push @kinds, [ $p, $kind ];
    # one request (transaction) per deployment, on behalf of the project's owner
    $requests .= "BEGIN;\nSET LOCAL steward.actor = 'user:$owner{$p}';\n"
               . "SELECT id FROM create_deployment('$p', '$rt', '$sb', '$url');\nCOMMIT;\n";
}
@dep = split /\n/, app($requests);
for my $i (0 .. $#dep) {
    ($dep_project{ $dep[$i] }, $expect{ $dep[$i] }) = @{ $kinds[$i] };
}
is(scalar(keys %expect), 21, 'createDeployment: 21 distinct deployments');
is(app("SELECT status, runtime_type, app_sandbox_id, public_url FROM deployments_live WHERE id = '$dep[0]'"),
   'PENDING|nodejs|sandbox_abc123|https://myapp.coderunner.dev', 'getDeploymentById: a new deployment is PENDING');
is($ex->sql(q{SELECT count(*) FROM steward.jobs j JOIN deployments d ON d.id = (j.payload->>'deployment_id')::uuid
               WHERE j.queue = 'deploy' AND j.state = 'ready' AND j.dedup_key = 'deployment:' || d.id}),
   '21', 'every deployment got its deploy job, in the same transaction');
is($ex->sql(q{SELECT count(*) FROM steward.audit_log a JOIN deployments d ON d.id = (a.row_key->>'id')::uuid
               JOIN projects p ON p.id = d.project_id
               WHERE a.table_name = 'deployments' AND a.action = 'INSERT' AND a.actor = 'user:' || p.user_id}),
   '21', 'each deployment\'s INSERT is audited with its owner as actor');

app_fails("SELECT create_deployment('$john_web', 'nodejs', NULL, NULL, 'DEPLOYING')",
          qr/invalid input value for enum deployment_status: "DEPLOYING"/, 'a status outside DeploymentStatus is refused');
app_fails("SELECT create_deployment('$john_web', 'nodejs', NULL, 'ftp://example.com')",
          qr/violates check constraint "deployments_public_url_check"/, 'a public_url must be http(s)');
app_fails(q{SELECT create_deployment('00000000-0000-0000-0000-000000000000', 'nodejs')},
          qr/project 00000000-0000-0000-0000-000000000000 does not exist/, 'createDeployment for an unknown project');

# the user stops deployment 21 before it is provisioned
is(app_as("user:$owner{ $dep_project{$dep[20]} }", "SELECT status FROM update_deployment_status('$dep[20]', 'STOPPED');"), 'STOPPED',
   'updateDeploymentStatus: PENDING -> STOPPED');
app_fails("SELECT update_deployment_status('$dep[20]', 'RUNNING')", qr/invalid deployment status transition from STOPPED to RUNNING/,
          'a stopped deployment cannot be started again');
app_fails("UPDATE deployments SET status = 'PENDING' WHERE id = '$dep[20]'", qr/invalid deployment status transition from STOPPED to PENDING/,
          'the transition rule also holds for a raw UPDATE');
app_fails(q{SELECT update_deployment_status('00000000-0000-0000-0000-000000000000', 'STOPPED')},
          qr/deployment 00000000-0000-0000-0000-000000000000 does not exist/, 'updateDeploymentStatus of an unknown deployment');

# --- four concurrent deploy workers ------------------------------------------------------
# Backoff shortened so that the test does not wait 30 s per retry.
$ex->sql(q{SELECT steward.alter_queue('deploy', backoff_base => '200 milliseconds', backoff_max => '2 seconds')});
my ($base, $jitter, $max_attempts) = split /\|/,
    $ex->sql(q{SELECT extract(epoch FROM backoff_base), backoff_jitter, max_attempts FROM steward.queues WHERE name = 'deploy'});

my $worker_script = q{
SET ROLE coderunner_worker;
CREATE TEMP TABLE mine (worker text, job_id bigint, attempt int, deployment_id uuid, outcome text);
DO $$
DECLARE
    me constant text := 'worker-' || pg_backend_pid();
    deadline constant timestamptz := clock_timestamp() + interval '20 seconds';
    j record;
    outcome text;
BEGIN
    LOOP
        SELECT * INTO j FROM claim_deployment(me);
        COMMIT;                                   -- lease mode: the claim commits at once
        IF j.job_id IS NULL THEN                  -- idle: stop once the queue is drained
            EXIT WHEN clock_timestamp() > deadline
                   OR (SELECT ready + scheduled + running FROM steward.queue_stats WHERE queue = 'deploy') = 0;
            PERFORM pg_sleep(0.05);
            CONTINUE;
        END IF;
        PERFORM pg_sleep(0.02);                   -- provisioning (outside the database in CodeRunner)
        COMMIT;                                   -- the report is a transaction of its own
        PERFORM set_config('steward.actor', me, true);
        IF j.status IS DISTINCT FROM 'PENDING' OR j.deleted THEN
            outcome := deployment_provisioned(j.job_id, j.lease_token, j.deployment_id, NULL, NULL);
        ELSIF j.runtime_type = 'cobol' OR (j.app_sandbox_id LIKE 'flaky-%' AND j.attempt = 1) THEN
            outcome := deployment_provision_failed(j.job_id, j.lease_token, j.deployment_id,
                                                   format('runtime %s: sandbox did not start', j.runtime_type));
        ELSE
            outcome := deployment_provisioned(j.job_id, j.lease_token, j.deployment_id,
                                              'db_' || left(j.deployment_id::text, 8),
                                              jsonb_build_object('host', 'db.internal', 'port', 5432, 'user', 'app',
                                                                 'password', 'pw-' || md5(j.deployment_id::text)));
        END IF;
        INSERT INTO mine VALUES (me, j.job_id, j.attempt, j.deployment_id, outcome);
        COMMIT;
    END LOOP;
END $$;
SELECT concat_ws(' ', worker, job_id, attempt, deployment_id, outcome) FROM mine ORDER BY job_id, attempt;
};
my @out = $ex->workers(4, $worker_script);

my (%attempt_seen, %by_dep, %job_of, %workers_used, %running_by, %dead_by);
my $double = 0;
for my $line (map { split /\n/ } @out) {
    next unless $line =~ /\S/;
    my ($w, $job, $att, $d, $outcome) = split / /, $line;
    $double++ if $attempt_seen{"$job/$att"}++;
    push @{ $by_dep{$d} }, [ $att, $outcome ];
    $job_of{$d}{$job} = 1;
    $workers_used{$w} = 1;
    $running_by{$d} = $w if $outcome eq 'RUNNING';
    $dead_by{$d} = $w if $outcome eq 'dead';
}
is($double, 0, 'no job attempt was handed to two workers');
is_deeply([ sort keys %by_dep ], [ sort @dep ], 'no deployment was lost: the workers handled all 21');
is(scalar(grep { keys(%{ $job_of{$_} }) != 1 } keys %job_of), 0, 'each deployment was provisioned through exactly one job');
my %want_outcomes = (ok => 'RUNNING', flaky => 'ready RUNNING', cobol => 'ready ready dead', stopped => 'skipped');
is_deeply({ map { $_ => join(' ', map { $_->[1] } sort { $a->[0] <=> $b->[0] } @{ $by_dep{$_} }) } @dep },
          { map { $_ => $want_outcomes{ $expect{$_} } } @dep },
          'outcomes per deployment: once, retried once, dead after 3 attempts, skipped when stopped');
is_deeply({ map { $_ => join(',', sort { $a <=> $b } map { $_->[0] } @{ $by_dep{$_} }) } @dep },
          { map { $_ => join(',', 1 .. scalar(split / /, $want_outcomes{ $expect{$_} })) } @dep },
          'attempts are numbered 1..n without gaps');
cmp_ok(scalar(keys %workers_used), '>=', 2, 'the work was shared by several workers');
is($max_attempts, 3, 'the queue allows 3 attempts');

is($ex->sql(q{SELECT string_agg(state || ':' || n, ' ' ORDER BY state) FROM
                (SELECT state, count(*) n FROM steward.jobs WHERE queue = 'deploy' GROUP BY state) s}),
   'completed:' . grep({ $expect{$_} ne 'cobol' } @dep) . ' dead:' . grep({ $expect{$_} eq 'cobol' } @dep), 'the queue ends with 19 completed and 2 dead jobs, none unfinished');
my $status_of = { map { split /\|/ } split /\n/, app('SELECT id, status FROM deployments') };
my %want_status = (ok => 'RUNNING', flaky => 'RUNNING', cobol => 'FAILED', stopped => 'STOPPED');
is_deeply($status_of, { map { $_ => $want_status{ $expect{$_} } } @dep },
          'deployments moved PENDING -> RUNNING, or FAILED once their job died; the stopped one stayed STOPPED');

# the audit saw each status change once, by the worker that made it
my $audit_running = { map { split /\|/ } split /\n/, $ex->sql(
    q{SELECT row_key->>'id', actor FROM steward.audit_log
       WHERE table_name = 'deployments' AND action = 'UPDATE' AND new_values->>'status' = 'RUNNING'}) };
is_deeply($audit_running, \%running_by, 'each PENDING -> RUNNING is audited once, with the worker that reported it as actor');
my $audit_failed = { map { split /\|/ } split /\n/, $ex->sql(
    q{SELECT row_key->>'id', actor FROM steward.audit_log
       WHERE table_name = 'deployments' AND action = 'UPDATE' AND new_values->>'status' = 'FAILED'}) };
is_deeply($audit_failed, \%dead_by, 'each PENDING -> FAILED is audited with the worker that saw the job die');

# db_connection_info is a secret
my $n_provisioned = grep { $expect{$_} =~ /^(ok|flaky)$/ } @dep;
is(app(q{SELECT count(*) FROM deployments WHERE db_connection_info->>'password' LIKE 'pw-%'}), $n_provisioned,
   'the running deployments hold their database password');
is($ex->sql(q{SELECT count(*) FROM steward.audit_log WHERE table_name = 'deployments' AND action = 'UPDATE'
               AND new_values->'db_connection_info' = '"[redacted]"' AND 'db_connection_info' = ANY (changed_columns)}),
   $n_provisioned, 'the audit shows that db_connection_info changed, as "[redacted]"');
is($ex->sql(q{SELECT count(*) FROM steward.audit_log a, deployments d
               WHERE d.db_connection_info ? 'password'
                 AND concat(a.old_values::text, a.new_values::text) LIKE '%' || (d.db_connection_info->>'password') || '%'}),
   '0', 'no audit entry contains a database password');
is(app(q{SELECT count(*) FROM deployments WHERE status = 'RUNNING' AND updated_at > created_at}), $n_provisioned,
   'updated_at moved on provisioning, without the worker holding UPDATE on it');

# retries waited for the backoff: error k+1 comes at least base * 2^(k-1) * (1 - jitter) after error k
# (for the last error of a job that then succeeded: from the error to its final claim)
my @gaps = map { [ split /\|/, $_, -1 ] } split /\n/, $ex->sql(q{
    SELECT e.n, extract(epoch FROM coalesce(lead((e.x->>'at')::timestamptz) OVER w,
                                            CASE WHEN j.state = 'completed' THEN j.claimed_at END)
                                   - (e.x->>'at')::timestamptz)
      FROM steward.jobs j, jsonb_array_elements(j.errors) WITH ORDINALITY e(x, n)
     WHERE j.queue = 'deploy'
    WINDOW w AS (PARTITION BY j.id ORDER BY e.n)});
my @checked = grep { $_->[1] ne '' } @gaps;
is(scalar(@checked), 2 * 1 + 2 * 2, 'retries to check: one per flaky job, two per cobol job');
my @short = grep { $_->[1] < $base * 2**($_->[0] - 1) * (1 - $jitter) } @checked;
is_deeply(\@short, [], 'every retry waited at least the queue\'s backoff (exponential, minus jitter)');
is($ex->sql(q{SELECT count(*) FROM steward.jobs j, jsonb_array_elements(j.errors) e
               WHERE j.queue = 'deploy' AND e->>'error' LIKE 'runtime cobol: sandbox did not start'}),
   2 * $max_attempts,
   'a dead job keeps the error of each of its 3 attempts');

# --- deployment reads after provisioning ----------------------------------------------------

my %running = map { $_ => 1 } grep { $status_of->{$_} eq 'RUNNING' } @dep;
my (@seen, $total);
for my $off (0, 5, 10, 15, 20) {
    my $page = jdec(app("SELECT get_deployments_by_status('RUNNING', 5, $off)"));
    $total = $page->{total};
    push @seen, map { $_->{id} } @{ $page->{deployments} };
    ok(!grep({ $_->{status} ne 'RUNNING' } @{ $page->{deployments} }), "getDeploymentsByStatus(RUNNING, 5, $off): only RUNNING");
}
is($total, scalar(keys %running), 'getDeploymentsByStatus: total of running deployments');
is_deeply([ sort @seen ], [ sort keys %running ], 'getDeploymentsByStatus pages cover every running deployment once');

my $bp = jdec(app("SELECT get_deployments_by_project_id('$ann_blog')"));
is_deeply([ sort map { $_->{id} } @{ $bp->{deployments} } ], [ sort grep { $dep_project{$_} eq $ann_blog } @dep ],
          'getDeploymentsByProjectId lists the project\'s deployments');
is($bp->{total}, scalar(grep { $dep_project{$_} eq $ann_blog } @dep), 'getDeploymentsByProjectId: total');

is(app("SELECT status, project_name, user_email, db_sandbox_id, db_connection_info->>'host' FROM deployment_with_details WHERE id = '$dep[0]'"),
   'RUNNING|My Web App|john@example.com|db_' . substr($dep[0], 0, 8) . '|db.internal',
   'getDeploymentWithDetails: deployment, project and user');

my %running_count;
$running_count{ $owner{ $dep_project{$_} } }++ for keys %running;
for my $u ($john, $ann, $bob, $dora) {
    is(app("SELECT get_running_deployment_count_by_user('$u')"), $running_count{$u} // 0,
       "getRunningDeploymentCountByUser for " . ($u eq $john ? 'john' : $u eq $ann ? 'ann' : $u eq $bob ? 'bob' : 'dora'));
}

# updateDeploymentStatus / updateDeployment on a running deployment
my $stop_me = $dep[4];    # project john_web, provisioned
is(app_as("user:$john", "SELECT status FROM update_deployment_status('$stop_me', 'STOPPED');"), 'STOPPED',
   'updateDeploymentStatus: RUNNING -> STOPPED');
delete $running{$stop_me};
app_fails("SELECT update_deployment_status('$dep[1]', 'PENDING')", qr/invalid deployment status transition from RUNNING to PENDING/,
          'a running deployment cannot go back to PENDING');
app_fails("SELECT update_deployment_status('$dep[18]', 'RUNNING')", qr/invalid deployment status transition from FAILED to RUNNING/,
          'a failed deployment cannot be started');
app_as("user:$ann", "UPDATE deployments_live SET public_url = 'https://blog.coderunner.dev' WHERE id = '$dep[2]';");
is(app("SELECT public_url, status FROM deployments_live WHERE id = '$dep[2]'"), 'https://blog.coderunner.dev|RUNNING',
   'updateDeployment changes the URL and keeps the status');

# --- a worker that dies, a late report, a job that dies of expired leases ---------------------

my $lost = app_as("user:$ann", "SELECT id FROM create_deployment('$ann_blog', 'nodejs', 'sandbox_lost', 'https://lost.coderunner.dev');");
my ($j1, $t1, $a1) = split /\|/, worker(q{SELECT job_id, lease_token, attempt FROM claim_deployment('crashing-worker-1', '300 milliseconds')});
is($a1, 1, 'a worker claims the new deployment (attempt 1) and dies');
usleep(500_000);
my ($j2, $t2, $a2) = split /\|/, worker(q{SELECT job_id, lease_token, attempt FROM claim_deployment('crashing-worker-2', '300 milliseconds')});
is("$j2 $a2", "$j1 2", 'after its lease ran out the job is claimed again as attempt 2');
isnt($t2, $t1, 'the new claim has a new lease token');
$ex->fails_like("SET ROLE coderunner_worker; SELECT deployment_provisioned($j1, $t1, '$lost', 'db_x', '{}')",
                qr/cannot complete job $j1: lease token $t1 is not the current lease/,
                'the first worker\'s late report is refused: the job is no longer its own');
is(app("SELECT status, db_sandbox_id IS NULL FROM deployments_live WHERE id = '$lost'"), 'PENDING|t',
   'the refused report changed nothing');
usleep(500_000);
my (undef, undef, $a3) = split /\|/, worker(q{SELECT job_id, lease_token, attempt FROM claim_deployment('crashing-worker-3', '300 milliseconds')});
is($a3, 3, 'attempt 3 is claimed and its worker dies too');
usleep(500_000);
is(worker(q{SELECT count(*) FROM claim_deployment('worker-4')}), '0', 'the next claim finds nothing: the job died with its last lease');
is($ex->sql("SELECT state, (SELECT count(*) FROM jsonb_array_elements(errors) e WHERE e->>'error' LIKE '%lease expired%') FROM steward.jobs WHERE id = $j1"),
   'dead|3', 'the job is dead, with a "lease expired" error per attempt');
is(app("SELECT status FROM deployments_live WHERE id = '$lost'"), 'PENDING', 'no worker was left to fail the deployment');
is(worker('SELECT fail_dead_deployments()'), '1', 'fail_dead_deployments() marks it');
is(app("SELECT status FROM deployments_live WHERE id = '$lost'"), 'FAILED', 'the deployment of the dead job is FAILED');
is(worker('SELECT fail_dead_deployments()'), '0', 'fail_dead_deployments() is idempotent');

# --- getSystemStats -------------------------------------------------------------------------

my @all_dep = (@dep, $lost);
my %by_status = map { $_ => 0 } qw(PENDING RUNNING FAILED STOPPED);
$by_status{ app("SELECT status FROM deployments_live WHERE id = '$_'") }++ for @all_dep;
my %want_by = (RUNNING => scalar(keys %running), FAILED => 3, STOPPED => 2, PENDING => 0);
is_deeply(\%by_status, \%want_by, 'deployment states as the workflow drove them');
$stats = jdec(app('SELECT get_system_stats()'));
is_deeply($stats, { totalUsers => 4, totalProjects => 5, totalDeployments => scalar(@all_dep),
                    runningDeployments => $want_by{RUNNING}, deploymentsByStatus => \%want_by },
          'getSystemStats: users, projects, deployments and each status, as created');
is(app(q{SELECT string_agg(table_name || ':' || live_rows, ' ' ORDER BY table_name::text) FROM steward.soft_delete_summary WHERE counts_exact}),
   "deployments:" . scalar(@all_dep) . " projects:5 users:4", 'steward.soft_delete_summary agrees on the live rows');

# --- deleteProject, deleteDeployment: soft ---------------------------------------------------

my @api_deps = grep { $dep_project{$_} eq $john_api } @dep;
is(app_as("user:$john", "DELETE FROM projects WHERE id = '$john_api' RETURNING id;"), $john_api,
   'deleteProject reports the project it deleted');
is(app("SELECT count(*) FROM deployments_live WHERE project_id = '$john_api'"), '0', 'its deployments are gone from the live view');
is(app("SELECT count(*) FROM deployments_deleted WHERE project_id = '$john_api'"), scalar(@api_deps),
   'they are soft-deleted with the project');
is(app_as("user:$ann", "DELETE FROM deployments WHERE id = '$lost' RETURNING status;"), 'FAILED', 'deleteDeployment (soft)');
is(jdec(app('SELECT get_system_stats()'))->{totalDeployments}, scalar(@all_dep) - scalar(@api_deps) - 1,
   'getSystemStats counts live deployments only');

# --- deleteUser: soft, cascading; restore; hard delete ------------------------------------------

my @web_deps = grep { $dep_project{$_} eq $john_web } @dep;
my $john_running_before = app("SELECT get_running_deployment_count_by_user('$john')");
my $run_before = jdec(app('SELECT get_system_stats()'))->{runningDeployments};
is(app_as('admin:support', "DELETE FROM users WHERE id = '$john' RETURNING id;"), $john, 'deleteUser reports the user it deleted');
is(app("SELECT (SELECT count(*) FROM users_live WHERE id = '$john'), (SELECT count(*) FROM projects_live WHERE user_id = '$john'),
               (SELECT count(*) FROM deployments_live d JOIN projects p ON p.id = d.project_id WHERE p.user_id = '$john')"),
   '0|0|0', 'deleteUser cascades: no live user, project or deployment of john');
is(app(qq{SELECT count(*) FROM get_user_by_email('john\@example.com')}), '0', 'getUserByEmail no longer finds him');
is(jdec(app('SELECT get_system_stats()'))->{runningDeployments}, $run_before - $john_running_before,
   'his running deployments leave the statistics');
is($ex->sql(q{SELECT string_agg(table_name || ':' || n, ' ' ORDER BY table_name) FROM
                (SELECT table_name, count(*) n FROM steward.audit_log WHERE action = 'SOFT_DELETE' AND actor = 'admin:support'
                  GROUP BY table_name) s}),
   'deployments:' . scalar(@web_deps) . ' projects:1 users:1',
   'the audit records the cascade as SOFT_DELETE of the user, his live project and its deployments, by the support actor');

is(app_as('admin:support', "SELECT steward.restore('users', to_jsonb('$john'::uuid));"), '1', 'restore brings the user back');
is(app("SELECT count(*) FROM projects_live WHERE user_id = '$john'"), '1', 'with the project deleted with him');
is(app("SELECT count(*) FROM deployments_live WHERE project_id = '$john_web'"), scalar(@web_deps), 'and that project\'s deployments');
is(app("SELECT count(*) FROM projects_deleted WHERE id = '$john_api'"), '1',
   'the project he had deleted himself before stays deleted');
is(app("SELECT count(*) FROM deployments_deleted WHERE project_id = '$john_api'"), scalar(@api_deps), 'with its deployments');
is(app("SELECT get_running_deployment_count_by_user('$john')"), $john_running_before,
   'the restored deployments keep their status');
is($ex->sql(q{SELECT count(*) FROM steward.audit_log WHERE action = 'RESTORE' AND actor = 'admin:support'}),
   1 + 1 + scalar(@web_deps), 'the audit records each restored row as RESTORE');

# a deleted account's email can sign up again; the old account can then not be restored
app_as('admin:support', "DELETE FROM users WHERE id = '$john';");
my $john2 = app_as('signup', q{SELECT id FROM create_user('john@example.com', '$2b$10$newjohn')});
isnt($john2, $john, 'the email of a deleted user can sign up again, as a new user');
app_fails("SELECT steward.restore('users', to_jsonb('$john'::uuid))",
          qr/duplicate key value violates unique constraint "users_email_key"/,
          'restoring the old account now violates the unique email among live users');
is(app("SELECT count(*) FROM projects_deleted WHERE user_id = '$john'"), '2', 'the failed restore restored nothing');

# the permanent delete: the foreign keys really cascade
my $audit_del0 = $ex->sql(q{SELECT count(*) FROM steward.audit_log WHERE action = 'DELETE'});
is(app_as('admin:gdpr', "SELECT steward.hard_delete('users', to_jsonb('$john'::uuid));"), '1', 'hard delete of the old account');
is(app("SELECT (SELECT count(*) FROM users WHERE id = '$john'), (SELECT count(*) FROM projects WHERE user_id = '$john'),
               (SELECT count(*) FROM deployments WHERE project_id IN ('$john_web', '$john_api'))"),
   '0|0|0', 'the user, both projects and all their deployments are really gone');
is($ex->sql(q{SELECT string_agg(table_name || ':' || n, ' ' ORDER BY table_name) FROM
                (SELECT table_name, count(*) n FROM steward.audit_log WHERE action = 'DELETE' AND actor = 'admin:gdpr'
                  GROUP BY table_name) s}),
   'deployments:' . (@web_deps + @api_deps) . ' projects:2 users:1', 'the audit records every removed row as DELETE');
my $provisioned = grep { $expect{$_} =~ /^(ok|flaky)$/ } @web_deps, @api_deps;
is($ex->sql(q{SELECT count(*) FILTER (WHERE old_values->>'db_connection_info' = '[redacted]'),
                     count(*) FILTER (WHERE old_values->>'db_connection_info' <> '[redacted]')
                FROM steward.audit_log WHERE action = 'DELETE' AND table_name = 'deployments'}),
   "$provisioned|0", 'the DELETE entries of provisioned deployments keep db_connection_info redacted');
is($ex->sql(q{SELECT count(*) FROM steward.audit_log WHERE table_name = 'users'
               AND coalesce(new_values->>'password_hash', old_values->>'password_hash', '[redacted]') <> '[redacted]'}),
   '0', 'no audit entry holds a password hash');
is($ex->sql("SELECT string_agg(action, ' ' ORDER BY id) FROM steward.history('users', '$john'::uuid)"),
   'INSERT UPDATE SOFT_DELETE RESTORE SOFT_DELETE DELETE', 'the erased account\'s history is kept in the audit');

# retention of deleted accounts: nothing is 30 days old yet
app_as('admin:support', "DELETE FROM users WHERE id = '$bob';");
is($ex->sql(q{CALL steward.purge_deleted('users', '30 days')}), '0', 'purge_deleted(30 days) keeps a user deleted today');
is(app("SELECT count(*) FROM users_deleted WHERE id = '$bob'"), '1', 'bob is still restorable');

# attaching new rows to a soft-deleted parent
app_fails("SELECT create_project('$bob', 'After deletion')", qr/user $bob does not exist/,
          'createProject refuses a soft-deleted user');
app_fails("SELECT create_deployment('$bob_shop', 'nodejs')", qr/project $bob_shop does not exist/,
          'createDeployment refuses a project deleted with its user');
# (found while porting, fixed in pg_steward: steward_soft_delete_parent)
$ex->fails_like("SET ROLE coderunner_app; BEGIN; INSERT INTO projects (user_id, name) VALUES ('$bob', 'Orphan'); ROLLBACK;",
                qr/violates foreign key constraint "projects_user_id_fkey".*refers to a soft-deleted row of table "users"/s,
                'a raw INSERT of a project under a soft-deleted user is refused');

# createProject racing deleteUser: the project is created while the delete
# waits for create_project()'s FOR SHARE lock on the user, then the cascade
# takes the new project too (no live project under a deleted user).
my $sa = $ex->node->background_psql('app', on_error_stop => 1);
my $sb = $ex->node->background_psql('app', on_error_stop => 1);
$sa->query_safe("SET ROLE coderunner_app; BEGIN; SELECT create_project('$dora', 'Raced');");
$sb->{stdin} .= "SET ROLE coderunner_app;\nDELETE FROM users WHERE id = '$dora';\n";
$sb->{run}->pump_nb;
ok($ex->node->poll_query_until('app', q{SELECT count(*) = 1 FROM steward.blocking WHERE blocked_query LIKE 'DELETE FROM users%'}),
   'steward.blocking shows deleteUser waiting for the open createProject');
$sa->query_safe('COMMIT;');
$sb->query_safe('SELECT 1;');
is(app("SELECT (SELECT count(*) FROM projects WHERE user_id = '$dora' AND name = 'Raced'),
               (SELECT count(*) FROM projects_live WHERE user_id = '$dora'), (SELECT count(*) FROM users_live WHERE id = '$dora')"),
   '1|0|0', 'the project committed while deleteUser waited is soft-deleted with the user');
$_->quit for $sa, $sb;

# --- healthCheck ----------------------------------------------------------------------------
# Three more sessions (one idle in a transaction) so that the connection
# counts have something to show. Three deploy jobs died (two cobol
# deployments, the one whose workers all crashed): the queue's health check
# warns about dead jobs from 1 on, so the database is "degraded" now.

my @idle = map { $ex->node->background_psql('app') } 1 .. 3;
$idle[0]->query_safe('BEGIN; SELECT 1;');
my $h = jdec(app('SELECT health_check()'));
is($h->{status}, 'degraded', 'healthCheck: degraded after the dead deploy jobs') or diag explain $h;
is_deeply($h->{details}{failing}, ['queue.queue_dead_jobs_1d:deploy'], 'healthCheck names the failing check: dead deploy jobs');
is($ex->sql(q{SELECT c->>'value' FROM jsonb_array_elements(steward.health()->'checks') c WHERE c->>'name' = 'queue_dead_jobs_1d:deploy'}),
   '3', 'steward.health() counts the three dead deploy jobs');
is($h->{details}{version}, 'PostgreSQL ' . $ex->sql(q{SELECT steward.health()->>'version'}), 'healthCheck: the server version');
like($h->{details}{responseTime}, qr/^\d+(\.\d)?ms$/, 'healthCheck: response time in ms');
cmp_ok($h->{details}{serverConnections}{total}, '>=', 4, 'healthCheck: the server\'s sessions, ours and the three idle ones');
cmp_ok($h->{details}{serverConnections}{idle}, '>=', 2, 'healthCheck: idle sessions');
is($h->{details}{serverConnections}{idleInTransaction}, 1, 'healthCheck: the one idle in transaction');
cmp_ok($h->{details}{serverConnections}{active}, '>=', 1, 'healthCheck: its own session is active');
is($h->{details}{serverConnections}{max}, $ex->sql('SHOW max_connections'), 'healthCheck: max_connections');
my $hd = jdec(app("SET steward.idle_in_transaction_warning = 0;\nSELECT pg_sleep(0.1) \\g /dev/null\nSELECT health_check();"));
is_deeply([ sort @{ $hd->{details}{failing} } ], [ 'queue.queue_dead_jobs_1d:deploy', 'stats.idle_in_transaction' ],
          'healthCheck: a session idle in transaction past the threshold is reported');
# (the check's settings are steward.<check>_warning / _critical; strictly
# beyond: three dead jobs are beyond 2)
my $hc = jdec(app("SET steward.queue_dead_jobs_1d_critical = 2;\nSELECT health_check();"));
is($hc->{status}, 'unhealthy', 'healthCheck: unhealthy once a check is critical');
$_->quit for @idle;

done_testing();
