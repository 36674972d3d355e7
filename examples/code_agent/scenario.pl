# AI Code Agent (seed 000_2251e08ab787cca1) on pg_steward: the document's
# model methods played in SQL, in the order of its workflow, as the service
# role agent_app (and the operators' role agent_admin), with the error paths
# they imply. See docs/examples/code_agent.md.
use strict;
use warnings;
use StewardExample;
use Test::More;
use Time::HiRes qw(sleep);

my $ex = StewardExample->new('code_agent');

# {{name}} placeholders, so that SQL with $ signs ($$ bodies, bcrypt hashes)
# can stay in q{} strings
sub fill {
    my ($sql, %v) = @_;
    $sql =~ s/\{\{(\w+)\}\}/exists $v{$1} ? $v{$1} : die "no value for {{$1}}"/ge;
    return $sql;
}
# as the service, optionally inside a transaction with an actor (as the app
# does from node-postgres: BEGIN; SET LOCAL steward.actor = ...; ...; COMMIT)
sub app {
    my ($sql, %o) = @_;
    my $s = "SET ROLE agent_app;\n";
    if ($o{actor}) {
        $s .= "BEGIN;\nSET LOCAL steward.actor = '$o{actor}';\n";
        $s .= "SET LOCAL steward.audit_context = '$o{context}';\n" if $o{context};
        $s .= "$sql\n;\nCOMMIT;";    # the ; ends a statement left open by the caller
    } else {
        $s .= $sql;
    }
    return $ex->sql($s);
}
sub admin { return $ex->sql("SET ROLE agent_admin;\n" . $_[0]) }
sub app_fails_like { my ($sql, $re, $name) = @_; $ex->fails_like("SET ROLE agent_app;\n$sql", $re, $name) }
sub audit_count { return $ex->sql(q{SELECT count(*) FROM steward.audit_log}) }
# test-only time travel: move deletion marks into the past, unseen by triggers
# (no audit entry, no updated_at, no cascade)
sub backdate { $ex->sql("SET session_replication_role = replica;\n$_[0]") }

my $HASH  = '$2b$10$' . ('N' x 53);    # what UserModel.hashPassword (bcrypt) returns
my $HASH2 = '$2b$12$' . ('Q' x 53);
my $UUID  = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

# ---------------------------------------------------------------------------
# The schema: every table tracked, soft-delete-enabled and audited, one queue
# ---------------------------------------------------------------------------
my @tables = qw(users sessions api_keys parsed_requests project_analyses tasks code_files configuration);
my $tablist = join(',', map { "'$_'" } @tables);
is($ex->sql("SELECT count(*) FROM steward.tracked_tables WHERE relation_name IN ($tablist) AND enabled"),
   scalar @tables, 'updated_at is maintained on every table');
is($ex->sql("SELECT count(*) FROM steward.soft_delete_tables WHERE table_name::text IN ($tablist)"),
   scalar @tables, 'every model deletes softly (BaseModel.delete)');
is($ex->sql("SELECT count(*) FROM steward.audited_tables WHERE relation_name IN ($tablist) AND trigger_enabled"),
   scalar @tables, 'every table is audited (AuditLogModel)');
is($ex->sql(q{SELECT name FROM steward.queues}), 'code_agent_tasks', 'the task queue exists');

# ---------------------------------------------------------------------------
# UserModel
# ---------------------------------------------------------------------------
my $ctx = '{"ip": "203.0.113.7", "user_agent": "agent-cli/1.4"}';
my $john = app(fill(q{
    INSERT INTO users (email, username, password_hash, first_name, last_name)
    VALUES ('user@example.com', 'testuser', '{{h}}', 'John', 'Doe') RETURNING id;}, h => $HASH),
    actor => 'signup', context => $ctx);
like($john, $UUID, 'userModel.create returns the new user with a UUID key');

app_fails_like(q{INSERT INTO users (email, username) VALUES ('x@example.com', 'xuser')},
    qr/null value in column "password_hash" of relation "users" violates not-null constraint/,
    'a user needs a password hash');
app_fails_like(q{INSERT INTO users (email, username, password_hash) VALUES ('x@example.com', 'xuser', 'password123')},
    qr/violates check constraint "users_password_hash_check"/, 'a plain password is refused: only bcrypt hashes are stored');
app_fails_like(fill(q{INSERT INTO users (email, username, password_hash) VALUES ('X@Example.com', 'xuser', '{{h}}')}, h => $HASH),
    qr/violates check constraint "users_email_check"/, 'emails are stored lower-case');
app_fails_like(fill(q{INSERT INTO users (email, username, password_hash) VALUES ('user@example.com', 'other', '{{h}}')}, h => $HASH),
    qr/duplicate key value violates unique constraint "users_email_key"/, 'a duplicate email among live users is refused');
app_fails_like(fill(q{INSERT INTO users (email, username, password_hash) VALUES ('other@example.com', 'testuser', '{{h}}')}, h => $HASH),
    qr/duplicate key value violates unique constraint "users_username_key"/, 'a duplicate username among live users is refused');

is(app(q{SELECT id FROM users_live WHERE email = lower('User@Example.com')}), $john, 'userModel.findByEmail');

my $upd = app(fill(q{
    UPDATE users SET first_name = 'Jane', avatar_url = 'https://example.com/avatar.jpg' WHERE id = '{{u}}'
    RETURNING first_name, avatar_url, updated_at = now(), updated_at > created_at;}, u => $john), actor => $john);
is($upd, 'Jane|https://example.com/avatar.jpg|t|t', 'userModel.updateProfile: updated_at is stamped by pg_steward');
app_fails_like(fill(q{UPDATE users SET avatar_url = 'javascript:alert(1)' WHERE id = '{{u}}'}, u => $john),
    qr/violates check constraint "users_avatar_url_check"/, 'an avatar URL must be http(s)');

my $ann = app(fill(q{
    INSERT INTO users (email, username, password_hash, first_name, last_name, active)
    VALUES ('ann@example.com', 'ann', '{{h}}', 'Ann', 'Johnson', false) RETURNING id;}, h => $HASH), actor => 'signup');
my $johnny = app(fill(q{
    INSERT INTO users (email, username, password_hash) VALUES ('johnny@example.com', 'johnny_b', '{{h}}') RETURNING id;},
    h => $HASH), actor => 'signup');
is(app(fill(q{
    UPDATE users SET verified = true WHERE id = '{{j}}' RETURNING verified;     -- verifyUser
    UPDATE users SET active = true WHERE id = '{{a}}' RETURNING active;         -- activateUser
    UPDATE users SET last_login_at = now() WHERE id = '{{j}}' RETURNING last_login_at = now();  -- updateLastLogin
}, j => $john, a => $ann), actor => 'system'), "t\nt\nt", 'verifyUser, activateUser, updateLastLogin');

my $found = app(q{
    SELECT string_agg(username, ',' ORDER BY username) FROM users_live
     WHERE username ILIKE '%john%' OR email ILIKE '%john%' OR first_name ILIKE '%john%' OR last_name ILIKE '%john%'});
is($found, 'ann,johnny_b', 'userModel.searchUsers("john") finds Ann Johnson and johnny, not Jane (formerly John) Doe');

# the audit trail of one user: actor, client context, redacted hash
my @hist = split /\n/, $ex->sql(fill(q{
    SELECT action, coalesce(actor, '-'), coalesce(context ->> 'ip', '-'), coalesce(new_values ->> 'password_hash', '-'),
           coalesce(array_to_string(changed_columns, ','), '-'), role_name
      FROM steward.history('users', '{{u}}')}, u => $john));
is($hist[0], 'INSERT|signup|203.0.113.7|[redacted]|-|agent_app',
   'the INSERT is audited with the app actor, the client context and the password hash redacted');
is($hist[1], "UPDATE|$john|-|-|first_name,avatar_url,updated_at|agent_app", 'updateProfile is audited with the user as actor');
is(scalar @hist, 4, 'four changes of the user so far (create, profile, verify, login)');

app(fill(q{UPDATE users SET password_hash = '{{h}}' WHERE id = '{{u}}';}, h => $HASH2, u => $john), actor => $john);
is($ex->sql(fill(q{
    SELECT old_values ->> 'password_hash', new_values ->> 'password_hash', 'password_hash' = ANY (changed_columns)
      FROM steward.history('users', '{{u}}') ORDER BY id DESC LIMIT 1}, u => $john)),
   '[redacted]|[redacted]|t', 'a password change shows that the hash changed, never its value');
is($ex->sql(fill(q{SELECT count(*) FROM steward.audit_log
                    WHERE concat(old_values::text, new_values::text) LIKE '%' || '{{h}}' || '%'
                       OR concat(old_values::text, new_values::text) LIKE '%' || '{{h2}}' || '%'}, h => $HASH, h2 => $HASH2)),
   '0', 'no password hash is anywhere in the audit log');

# ---------------------------------------------------------------------------
# SessionModel
# ---------------------------------------------------------------------------
my %sess;
for my $t (qw(tok-a tok-b tok-c)) {
    $sess{$t} = app(fill(q{INSERT INTO sessions (user_id, token_hash, ip_address, user_agent, expires_at)
                           VALUES ('{{u}}', sha256('{{t}}'), '203.0.113.7', 'agent-cli/1.4', now() + interval '1 day')
                           RETURNING id;}, u => $john, t => $t), actor => $john);
}
$sess{'tok-ann'} = app(fill(q{INSERT INTO sessions (user_id, token_hash, expires_at)
                              VALUES ('{{u}}', sha256('tok-ann'), now() + interval '1 day') RETURNING id;}, u => $ann),
                       actor => $ann);
$sess{'tok-ann-old'} = app(fill(q{INSERT INTO sessions (user_id, token_hash, created_at, expires_at)
                                  VALUES ('{{u}}', sha256('tok-ann-old'), now() - interval '2 days', now() - interval '1 day')
                                  RETURNING id;}, u => $ann), actor => $ann);
app_fails_like(fill(q{INSERT INTO sessions (user_id, token_hash, expires_at) VALUES ('{{u}}', sha256('tok-a'), now() + interval '1 hour')},
                    u => $ann),
    qr/duplicate key value violates unique constraint "sessions_token_hash_key"/, 'a token is unique');
app_fails_like(fill(q{INSERT INTO sessions (user_id, token_hash, expires_at) VALUES ('{{u}}', '\x00', now() + interval '1 hour')},
                    u => $ann),
    qr/violates check constraint "sessions_token_hash_check"/, 'a session stores a SHA-256 of its token, not the token');

is(app(q{SELECT id FROM find_session_by_token('tok-a')}), $sess{'tok-a'}, 'sessionModel.findByToken');
is(app(q{SELECT count(*) FROM find_session_by_token('tok-unknown')}), '0', 'an unknown token finds nothing');
is($ex->sql(fill(q{SELECT new_values ->> 'token_hash' FROM steward.history('sessions', '{{s}}')}, s => $sess{'tok-a'})),
   '[redacted]', 'the token hash is redacted in the audit');

my $active_sql = fill(q{SELECT count(*) FROM sessions_live WHERE user_id = '{{u}}' AND expires_at > now()}, u => $john);
is(app($active_sql), '3', 'sessionModel.findActiveByUserId: three sessions');

my $audit_before = audit_count();
is(app(fill(q{UPDATE sessions SET last_accessed_at = clock_timestamp() WHERE id = '{{s}}'
              RETURNING last_accessed_at > created_at}, s => $sess{'tok-a'})), 't', 'sessionModel.updateLastAccessed');
is(audit_count(), $audit_before, 'touching a session writes no audit entry (last_accessed_at is excluded; the updated_at stamp alone is no change)');

is(app(fill(q{UPDATE sessions SET expires_at = now() WHERE id = '{{s}}' RETURNING id}, s => $sess{'tok-b'}), actor => $john),
   $sess{'tok-b'}, 'sessionModel.expireSession');
is(app(q{SELECT count(*) FROM find_session_by_token('tok-b')}), '0', 'an expired session is not found by its token');
is(app($active_sql), '2', 'and is no longer active');

is(app(fill(q{WITH d AS (DELETE FROM sessions WHERE user_id = '{{u}}' RETURNING id) SELECT count(*) FROM d;}, u => $john),
       actor => 'admin:support'),
   '3', 'sessionModel.terminateAllUserSessions: a plain DELETE, soft, with its real count');
is(app($active_sql), '0', 'no active session is left');
is(app(q{SELECT count(*) FROM find_session_by_token('tok-a')}), '0', 'a terminated session is not found by its token');
is(app(fill(q{SELECT count(*) FROM sessions_deleted WHERE user_id = '{{u}}'}, u => $john)), '3',
   'terminated sessions are kept as deleted rows');
$sess{'tok-d'} = app(fill(q{INSERT INTO sessions (user_id, token_hash, expires_at)
                            VALUES ('{{u}}', sha256('tok-d'), now() + interval '1 day') RETURNING id;}, u => $john),
                     actor => $john);

# cleanupExpiredSessions: the expired sessions are soft-deleted like the
# terminated ones, and one retention (purge_deleted) removes every ended session
is(app(q{WITH d AS (DELETE FROM sessions WHERE expires_at <= now() RETURNING id) SELECT string_agg(id::text, ',') FROM d;},
       actor => 'system:cleanup'),
   $sess{'tok-ann-old'}, 'sessionModel.cleanupExpiredSessions marks the one expired live session');
# time travel: John's terminated sessions ended eight days ago
backdate(fill(q{UPDATE sessions SET deleted_at = deleted_at - interval '8 days' WHERE user_id = '{{u}}' AND deleted_at IS NOT NULL},
              u => $john));
is(app(q{CALL steward.purge_deleted('sessions', '7 days')}), '3', 'purge_deleted removes sessions ended more than 7 days ago');
is(app(q{SELECT string_agg(id::text, ',') FROM sessions_deleted}), $sess{'tok-ann-old'}, 'the recently ended one stays until its time');
is(app(fill(q{SELECT count(*) FROM sessions WHERE id IN ('{{a}}', '{{b}}', '{{c}}')}, a => $sess{'tok-a'}, b => $sess{'tok-b'},
            c => $sess{'tok-c'})), '0', 'purged sessions are really gone');
is($ex->sql(fill(q{SELECT string_agg(action, ',' ORDER BY id) FROM steward.history('sessions', '{{s}}')}, s => $sess{'tok-b'})),
   'INSERT,UPDATE,SOFT_DELETE,DELETE', 'the audit keeps the whole life of a purged session');

# ---------------------------------------------------------------------------
# ApiKeyModel
# ---------------------------------------------------------------------------
my $KEY = 'cak_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0';
my $KEY2 = 'cak_live_00112233445566778899aabbccddeeff';
my $key1 = app(fill(q{INSERT INTO api_keys (user_id, name, key_prefix, key_hash, scopes)
                      VALUES ('{{u}}', 'laptop', left('{{k}}', 12), sha256('{{k}}'), '{tasks:write}') RETURNING id;},
                    u => $john, k => $KEY), actor => $john);
my $key2 = app(fill(q{INSERT INTO api_keys (user_id, name, key_prefix, key_hash, scopes)
                      VALUES ('{{u}}', 'ci', left('{{k}}', 12), sha256('{{k}}'), '{tasks:read}') RETURNING id;},
                    u => $john, k => $KEY2), actor => $john);
app_fails_like(fill(q{INSERT INTO api_keys (user_id, name, key_prefix, key_hash) VALUES ('{{u}}', 'laptop', 'cak_x', sha256('other'))},
                    u => $john),
    qr/duplicate key value violates unique constraint "api_keys_user_name_key"/, 'key names are unique per user');
is(app(fill(q{SELECT user_id FROM find_api_key('{{k}}')}, k => $KEY)), $john, 'an API key finds its owner');
is(app(q{SELECT count(*) FROM find_api_key('cak_live_wrong')}), '0', 'a wrong key finds nothing');
$audit_before = audit_count();
app(fill(q{UPDATE api_keys SET last_used_at = now() WHERE id = '{{k}}'}, k => $key1));
is(audit_count(), $audit_before, 'recording a key\'s last use writes no audit entry');
is($ex->sql(fill(q{SELECT new_values ->> 'key_hash', new_values ->> 'key_prefix' FROM steward.history('api_keys', '{{k}}')},
                 k => $key1)), '[redacted]|cak_live_9f8', 'the key hash is redacted in the audit, the prefix is not');
is($ex->sql(fill(q{SELECT count(*) FROM steward.audit_log
                    WHERE concat(old_values::text, new_values::text) LIKE '%' || encode(sha256('{{k}}'), 'hex') || '%'
                       OR concat(old_values::text, new_values::text) LIKE '%{{k}}%'}, k => $KEY)),
   '0', 'neither the key nor its hash is in the audit log');
is(app(fill(q{UPDATE api_keys SET revoked_at = now() WHERE id = '{{k}}' AND revoked_at IS NULL RETURNING revoked_at IS NOT NULL},
            k => $key1), actor => $john), 't', 'revoke sets revoked_at');
is(app(fill(q{SELECT count(*) FROM find_api_key('{{k}}')}, k => $KEY)), '0', 'a revoked key finds nothing');
is(app(fill(q{SELECT name || ':' || (revoked_at IS NOT NULL) FROM api_keys_live WHERE user_id = '{{u}}' ORDER BY name},
            u => $john)), "ci:false\nlaptop:true", 'the owner still sees the revoked key, as revoked');

# ---------------------------------------------------------------------------
# ConfigurationModel
# ---------------------------------------------------------------------------
my $cfg = app(q{INSERT INTO configuration (key, value, description)
                VALUES ('agent.max_parallel_tasks', '4', 'agents per project') RETURNING id;}, actor => 'admin:ops');
app(q{UPDATE configuration SET value = '8' WHERE key = 'agent.max_parallel_tasks';}, actor => 'admin:ops');
is($ex->sql(fill(q{SELECT action, actor, old_values -> 'value', new_values -> 'value' FROM steward.history('configuration', '{{c}}')
                    WHERE action = 'UPDATE'}, c => $cfg)), 'UPDATE|admin:ops|4|8', 'a configuration change is audited with its actor, old and new value');
app_fails_like(q{INSERT INTO configuration (key, value) VALUES ('Agent Max', '1')},
    qr/violates check constraint "configuration_key_check"/, 'configuration keys are dotted lower-case names');
app_fails_like(q{INSERT INTO configuration (key, value) VALUES ('agent.max_parallel_tasks', '1')},
    qr/duplicate key value violates unique constraint "configuration_key_key"/, 'a configuration key exists once');

# ---------------------------------------------------------------------------
# A rolled-back transaction leaves no audit entry
# ---------------------------------------------------------------------------
$audit_before = audit_count();
my ($ok, $out, $err) = $ex->try(fill(q{
    SET ROLE agent_app;
    BEGIN;
    SET LOCAL steward.actor = 'rollback-test';
    UPDATE configuration SET value = '16' WHERE key = 'agent.max_parallel_tasks';
    INSERT INTO users (email, username, password_hash) VALUES ('temp@example.com', 'tempuser', '{{h}}');
    DELETE FROM sessions WHERE id = '{{s}}';
    ROLLBACK;}, h => $HASH, s => $sess{'tok-ann'}));
ok($ok, 'the rolled-back transaction ran') or diag($err);
is(audit_count(), $audit_before, 'a rolled-back transaction leaves no audit row');
is($ex->sql(q{SELECT count(*) FROM steward.audit_log WHERE actor = 'rollback-test'}), '0', 'nothing carries its actor');
is(app(q{SELECT value FROM configuration_live WHERE key = 'agent.max_parallel_tasks'}), '8', 'and the data is unchanged');

# ---------------------------------------------------------------------------
# ParsedRequestModel -> ProjectAnalysisModel -> TaskModel -> CodeFileModel
# ---------------------------------------------------------------------------
my $req = app(fill(q{INSERT INTO parsed_requests (user_id, raw_input) VALUES ('{{u}}', 'Add a login page with tests') RETURNING id;},
                   u => $john), actor => $john);
app(fill(q{UPDATE parsed_requests SET status = 'completed', intent = 'feature', confidence = 0.92, processed_at = now(),
                  parsed_data = '{"components": ["login form", "tests"]}' WHERE id = '{{r}}';}, r => $req), actor => 'agent:parser');
app_fails_like(fill(q{UPDATE parsed_requests SET status = 'done' WHERE id = '{{r}}'}, r => $req),
    qr/violates check constraint "parsed_requests_status_check"/, 'a request status outside the list is refused');
my $an = app(fill(q{INSERT INTO project_analyses (parsed_request_id, project_path, status, language, framework, started_at)
                    VALUES ('{{r}}', 'repos/webapp', 'running', 'typescript', 'react', now()) RETURNING id;}, r => $req),
             actor => 'agent:analyzer');
app(fill(q{INSERT INTO code_files (project_analysis_id, path, language, content, content_hash)
           VALUES ('{{a}}', 'src/App.tsx', 'typescript', 'export default App;', sha256('export default App;'));
           UPDATE project_analyses SET status = 'completed', file_count = 1, completed_at = now() WHERE id = '{{a}}';}, a => $an),
    actor => 'agent:analyzer');
app_fails_like(fill(q{INSERT INTO code_files (project_analysis_id, path) VALUES ('{{a}}', '../../etc/passwd')}, a => $an),
    qr/violates check constraint "code_files_path_check"/, 'a code file path stays inside the project');

# a second request of John's, to check the composite foreign key
my $req2 = app(fill(q{INSERT INTO parsed_requests (user_id, raw_input) VALUES ('{{u}}', 'Fix the footer') RETURNING id;}, u => $john),
               actor => $john);
app_fails_like(fill(q{INSERT INTO tasks (parsed_request_id, project_analysis_id, title) VALUES ('{{r}}', '{{a}}', 'x')},
                    r => $req2, a => $an),
    qr/violates foreign key constraint "tasks_analysis_fkey"/, 'a task\'s request must be its analysis\' request');
app_fails_like(fill(q{INSERT INTO tasks (parsed_request_id, project_analysis_id, title, status) VALUES ('{{r}}', '{{a}}', 'x', 'done')},
                    r => $req, a => $an),
    qr/violates check constraint "tasks_status_check"/, 'a task status outside the list is refused');
app_fails_like(fill(q{INSERT INTO tasks (parsed_request_id, project_analysis_id, title, status) VALUES ('{{r}}', '{{a}}', 'x', 'in_progress')},
                    r => $req, a => $an),
    qr/violates check constraint "tasks_in_progress_check"/, 'a task cannot be in progress without an agent');
app_fails_like(fill(q{INSERT INTO tasks (parsed_request_id, project_analysis_id, title, priority) VALUES ('{{r}}', '{{a}}', 'x', 1000)},
                    r => $req, a => $an),
    qr/violates check constraint "tasks_priority_check"/, 'a task priority is between -100 and 100');

my $new_task = sub {
    my ($title, %o) = @_;
    return app(fill(q{INSERT INTO tasks (parsed_request_id, project_analysis_id, title, priority, max_retries)
                      VALUES ('{{r}}', '{{a}}', '{{t}}', {{p}}, {{m}}) RETURNING id;},
                    r => $o{req} || $req, a => $o{an} || $an, t => $title, p => $o{priority} || 0,
                    m => defined $o{max_retries} ? $o{max_retries} : 3), actor => $o{actor} || 'agent:planner');
};
my $job_of = sub { app(fill(q{SELECT job_id FROM tasks WHERE id = '{{t}}'}, t => $_[0])) };
my $job_state = sub {
    app(fill(q{SELECT state || '|' || attempt || '|' || coalesce(jsonb_array_length(errors), 0)
                FROM steward.jobs WHERE id = '{{j}}'}, j => $_[0]));
};
my $task_row = sub {
    app(fill(q{SELECT status, coalesce(assigned_to, '-'), retry_count, coalesce(error_message, '-') FROM tasks WHERE id = '{{t}}'},
             t => $_[0]));
};
my $start = sub {    # start_task(agent [, lease]) -> (task_id, lease_token, attempt)
    my ($agent, $lease) = @_;
    my $r = app(fill(q{SELECT task_id, lease_token, attempt FROM start_task('{{g}}', {{l}});},
                     g => $agent, l => $lease ? "'$lease'" : 'NULL'));
    return split /\|/, $r;
};

# -- startTask / completeTask ------------------------------------------------
my $t_hi = $new_task->('write the login form', priority => 10);
my $j_hi = $job_of->($t_hi);
like($j_hi, qr/^\d+$/, 'creating a pending task enqueues its job in the same transaction');
is(app(fill(q{SELECT state, payload ->> 'task_id', priority, max_attempts FROM steward.jobs WHERE id = {{j}}}, j => $j_hi)),
   "ready|$t_hi|10|4", 'the job carries the task id, its priority and max_retries + 1 attempts');
is(app(q{SELECT string_agg(id::text, ',') FROM tasks_live WHERE status = 'pending'}), $t_hi, 'taskModel.findByStatus("pending")');
is(app(fill(q{SELECT count(*) FROM tasks_live WHERE parsed_request_id = '{{r}}'}, r => $req)), '1', 'taskModel.findByParsedRequestId');

my ($tid, $tok, $att) = $start->('agent-1');
is("$tid|$att", "$t_hi|1", 'taskModel.startTask: the queue hands the task to agent-1 (attempt 1)');
is($task_row->($t_hi), 'in_progress|agent-1|0|-', 'the task is in progress, assigned to agent-1');
is(app(q{SELECT string_agg(id::text, ',') FROM tasks_live WHERE status = 'in_progress'}), $t_hi, 'findByStatus("in_progress")');
is(app(q{SELECT count(*) FROM start_task('agent-2')}), '0', 'another agent gets nothing: the only task is taken');
app_fails_like(fill(q{SELECT complete_task('{{t}}', {{k}})}, t => $t_hi, k => $tok + 1),
    qr/cannot complete job $j_hi: lease token \d+ is not the current lease/, 'completing a task that is not yours is refused');
is(app(fill(q{
    INSERT INTO code_files (project_analysis_id, task_id, path, language, content, content_hash)
    VALUES ('{{a}}', '{{t}}', 'src/Login.tsx', 'typescript', 'export const Login = 1;', sha256('export const Login = 1;'));
    SELECT status, results ->> 'files', completed_at IS NOT NULL FROM complete_task('{{t}}', {{k}}, '{"files": 1}');},
    a => $an, t => $t_hi, k => $tok), actor => 'agent-1'), 'completed|1|t', 'taskModel.completeTask, with the file it wrote');
is($job_state->($j_hi), 'completed|1|0', 'the job is completed in the queue');
app_fails_like(fill(q{SELECT complete_task('{{t}}', {{k}})}, t => $t_hi, k => $tok),
    qr/cannot complete job $j_hi: it is already completed/, 'a task is completed once');
is(app(fill(q{SELECT string_agg(path, ',' ORDER BY path) FROM code_files_live WHERE project_analysis_id = '{{a}}'}, a => $an)),
   'src/App.tsx,src/Login.tsx', 'codeFileModel.findByProjectAnalysisId');

# -- failTask(id, msg, retry = true), until the attempts are used up ----------
my $t_retry = $new_task->('add tests', max_retries => 1);
my $j_retry = $job_of->($t_retry);
($tid, $tok, $att) = $start->('agent-1');
is($tid, $t_retry, 'agent-1 starts "add tests"');
is(app(fill(q{SELECT fail_task('{{t}}', {{k}}, 'model timeout', true, '0 seconds');}, t => $t_retry, k => $tok), actor => 'agent-1'),
   'pending', 'failTask with retry: the task is pending again');
is($task_row->($t_retry), 'pending|-|1|model timeout', 'it keeps the error and counts the retry');
is($job_state->($j_retry), 'ready|1|1', 'its job waits for attempt 2 with the error recorded');
($tid, $tok, $att) = $start->('agent-2');
is("$tid|$att", "$t_retry|2", 'agent-2 takes attempt 2');
is(app(fill(q{SELECT fail_task('{{t}}', {{k}}, 'tests do not compile', true);}, t => $t_retry, k => $tok), actor => 'agent-2'),
   'failed', 'failing the last attempt fails the task');
is($task_row->($t_retry), 'failed|agent-2|1|tests do not compile', 'the failed task names its last agent and error');
is($job_state->($j_retry), 'dead|2|2', 'the job is dead and keeps both errors');

# -- failTask(id, msg, retry = false) ----------------------------------------
my $t_noretry = $new_task->('update the docs');
my $j_noretry = $job_of->($t_noretry);
($tid, $tok) = $start->('agent-1');
is(app(fill(q{SELECT fail_task('{{t}}', {{k}}, 'request is out of scope', false);}, t => $t_noretry, k => $tok), actor => 'agent-1'),
   'failed', 'failTask without retry fails the task at once, with attempts left');
is(app(fill(q{SELECT state, errors -> 0 ->> 'error' FROM steward.jobs WHERE id = {{j}}}, j => $j_noretry)),
   'dead|request is out of scope', 'its job is dead at once with the error (steward.fail with retry => false)');

# -- failTask with the queue's backoff, then delete and restore the task ------
my $t_backoff = $new_task->('refactor the router');
my $j_backoff = $job_of->($t_backoff);
($tid, $tok) = $start->('agent-1');
is(app(fill(q{SELECT fail_task('{{t}}', {{k}}, 'rate limited');}, t => $t_backoff, k => $tok), actor => 'agent-1'), 'pending',
   'failTask with the queue\'s backoff');
is(app(fill(q{SELECT state, extract(epoch FROM run_at - now()) BETWEEN 30 * 0.8 - 1 AND 30 * 1.2
                FROM steward.jobs WHERE id = {{j}}}, j => $j_backoff)),
   'scheduled|t', 'the retry waits backoff_base (30 s, +-20% jitter)');
is(app(q{SELECT count(*) FROM start_task('agent-2')}), '0', 'no agent gets it before then');
is(app(fill(q{WITH d AS (DELETE FROM tasks WHERE id = '{{t}}' RETURNING id) SELECT count(*) FROM d;}, t => $t_backoff),
       actor => $john), '1', 'taskModel.delete(id): soft');
is($job_state->($j_backoff), 'cancelled|1|1', 'deleting an unfinished task cancels its job');
is(app(fill(q{SELECT steward.restore('tasks', '"{{t}}"');}, t => $t_backoff), actor => $john), '1', 'taskModel.restore(id)');
my $j_backoff2 = $job_of->($t_backoff);
isnt($j_backoff2, $j_backoff, 'the restored task has a new job');
is($job_state->($j_backoff2), 'ready|0|0', 'which is ready at once');
($tid, $tok) = $start->('agent-2');
is($tid, $t_backoff, 'agent-2 starts the restored task');
is(app(fill(q{SELECT status FROM complete_task('{{t}}', {{k}});}, t => $t_backoff, k => $tok), actor => 'agent-2'), 'completed',
   'and completes it');

# -- findOverdue: leases that ran out ------------------------------------------
my $t_slow = $new_task->('migrate the database', priority => 2);
my $t_lost = $new_task->('generate fixtures', priority => 1, max_retries => 0);
my ($slow_id, $slow_tok) = $start->('agent-slow', '1 second');
my ($lost_id, $lost_tok) = $start->('agent-lost', '1 second');
is("$slow_id,$lost_id", "$t_slow,$t_lost", 'two agents start tasks with one-second leases');
is(admin(q{SELECT count(*) FROM overdue_tasks}), '0', 'nothing is overdue while the leases run');
sleep 1.5;
is(admin(q{SELECT string_agg(title || ':' || assigned_to, ',' ORDER BY title) FROM overdue_tasks}),
   'generate fixtures:agent-lost,migrate the database:agent-slow', 'taskModel.findOverdue: both leases ran out');
is(admin(q{SELECT c ->> 'status' || '|' || (c ->> 'value') FROM jsonb_array_elements(steward.health() -> 'checks') c
            WHERE c ->> 'name' = 'queue_expired_leases:code_agent_tasks'}), 'warning|2', 'health() warns about the expired leases');
my ($fast_id, $fast_tok, $fast_att) = $start->('agent-fast');
is("$fast_id|$fast_att", "$t_slow|2", 'the next start_task hands the overdue task to another agent (attempt 2)');
is($task_row->($t_slow), 'in_progress|agent-fast|1|-', 'the task is now agent-fast\'s');
app_fails_like(fill(q{SELECT complete_task('{{t}}', {{k}})}, t => $t_slow, k => $slow_tok),
    qr/lease token $slow_tok is not the current lease/, 'the slow agent\'s late completion is refused');
is(app(fill(q{SELECT status FROM complete_task('{{t}}', {{k}});}, t => $t_slow, k => $fast_tok), actor => 'agent-fast'),
   'completed', 'agent-fast completes it');
is($task_row->($t_lost), 'failed|agent-lost|0|lease expired', 'the task without retries left failed when its lease ran out');
is($job_state->($job_of->($t_lost)), 'dead|1|1', 'its job is dead');
is(admin(q{SELECT count(*) FROM overdue_tasks}), '0', 'nothing is overdue any more');

# ---------------------------------------------------------------------------
# Concurrent agents on the task queue (lease mode: claim, work, complete)
# ---------------------------------------------------------------------------
my $N = 40;
my $req_ann = app(fill(q{INSERT INTO parsed_requests (user_id, raw_input, status) VALUES ('{{u}}', 'Port the app to TypeScript', 'completed')
                        RETURNING id;}, u => $ann), actor => $ann);
my $an_ann = app(fill(q{INSERT INTO project_analyses (parsed_request_id, project_path, status) VALUES ('{{r}}', 'repos/shop', 'completed')
                       RETURNING id;}, r => $req_ann), actor => 'agent:analyzer');
app(fill(q{INSERT INTO tasks (parsed_request_id, project_analysis_id, title)
           SELECT '{{r}}', '{{a}}', CASE WHEN i % 5 = 0 THEN 'flaky-' ELSE 'port-' END || i FROM generate_series(1, {{n}}) i;},
         r => $req_ann, a => $an_ann, n => $N), actor => 'agent:planner');
my $flaky = int($N / 5);
# test instrumentation: what each agent did; the agent's procedure
$ex->sql(q{
    CREATE TABLE work_log (worker text, task_id uuid, attempt int, outcome text, seen int);
    GRANT INSERT, SELECT ON work_log TO agent_app;
    CREATE PROCEDURE agent_work(parallel int) LANGUAGE plpgsql AS $$
    DECLARE
        me text := 'worker-' || pg_backend_pid();
        t record;
        first boolean := true;
        n int;
        waited int := 0;
    BEGIN
        LOOP
            SELECT * INTO t FROM start_task(me);
            COMMIT;                                   -- the claim commits (lease mode)
            EXIT WHEN t.task_id IS NULL;
            IF first THEN                             -- barrier: each agent holds its first task
                first := false;                       -- until all have one
                SELECT count(*) INTO n FROM tasks WHERE status = 'in_progress' AND assigned_to LIKE 'worker-%';
                INSERT INTO work_log (worker, outcome, seen) VALUES (me, 'barrier', n);
                COMMIT;
                LOOP
                    EXIT WHEN (SELECT count(*) FROM work_log WHERE outcome = 'barrier') >= parallel OR waited >= 400;
                    PERFORM pg_sleep(0.025);
                    waited := waited + 1;
                END LOOP;
            END IF;
            PERFORM set_config('steward.actor', me, true);
            IF t.title LIKE 'flaky-%' AND t.attempt = 1 THEN
                PERFORM fail_task(t.task_id, t.lease_token, 'LLM returned invalid JSON', true, '0 seconds');
                INSERT INTO work_log VALUES (me, t.task_id, t.attempt, 'failed');
            ELSE
                INSERT INTO code_files (project_analysis_id, task_id, path, content, content_hash)
                VALUES (t.project_analysis_id, t.task_id, 'src/' || t.title || '.ts', t.title, sha256(convert_to(t.title, 'UTF8')));
                PERFORM complete_task(t.task_id, t.lease_token, jsonb_build_object('worker', me));
                INSERT INTO work_log VALUES (me, t.task_id, t.attempt, 'completed');
            END IF;
            COMMIT;                                   -- the work and the completion commit together
        END LOOP;
    END $$;
});
my @outs = $ex->workers(4, q{
    SET ROLE agent_app;
    CALL agent_work(4);
    SELECT task_id FROM work_log WHERE worker = 'worker-' || pg_backend_pid() AND outcome = 'completed';
});
my %done;
$done{$_}++ for map { grep { /\S/ } split /\n/ } @outs;
my $ann_tasks = app(fill(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM tasks WHERE project_analysis_id = '{{a}}'}, a => $an_ann));
is(join(',', sort keys %done), $ann_tasks, "every one of the $N tasks was completed by some agent (none lost)");
is(scalar(grep { $done{$_} > 1 } keys %done), 0, 'no task was completed twice');
is(scalar(grep { /\S/ } @outs), 4, 'all four agents completed tasks');
is($ex->sql(q{SELECT count(*), max(seen) FROM work_log WHERE outcome = 'barrier'}), '4|4',
   'the four agents held four tasks at the same time (the last to arrive saw them all in progress)');
is(app(fill(q{SELECT count(*), count(DISTINCT task_id) FROM code_files_live WHERE project_analysis_id = '{{a}}'}, a => $an_ann)),
   "$N|$N", 'one file per task: no work was done twice');
is(app(fill(q{SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE retry_count = 1 AND title LIKE 'flaky-%')
                FROM tasks WHERE project_analysis_id = '{{a}}'}, a => $an_ann)), "$N|$flaky",
   'every task is completed; the flaky ones after one retry');
is(app(fill(q{SELECT count(*) FILTER (WHERE j.state = 'completed'),
                     count(*) FILTER (WHERE j.attempt = CASE WHEN t.title LIKE 'flaky-%' THEN 2 ELSE 1 END),
                     sum(coalesce(jsonb_array_length(j.errors), 0))
                FROM tasks t JOIN steward.jobs j ON j.id = t.job_id WHERE t.project_analysis_id = '{{a}}'}, a => $an_ann)),
   "$N|$N|$flaky", 'in the queue: every job completed, in one attempt (two for the flaky ones), one error per flaky job');
is($ex->sql(q{SELECT count(*) FROM work_log WHERE outcome = 'failed'}), $flaky, 'each flaky task failed exactly once');
is($ex->sql(q{SELECT count(*) FROM steward.audit_log WHERE table_name = 'tasks' AND actor LIKE 'worker-%'
               AND new_values ->> 'status' = 'completed'}), $N, 'every completion is audited with its agent as actor');

# ---------------------------------------------------------------------------
# A soft-deleted user comes back with its dependants
# ---------------------------------------------------------------------------
my $t_pending = $new_task->('write the changelog', priority => -10);
my $j_pending = $job_of->($t_pending);
my $deps_sql = fill(q{
    SELECT (SELECT count(*) FROM sessions_live WHERE user_id = '{{u}}'),
           (SELECT count(*) FROM api_keys_live WHERE user_id = '{{u}}'),
           (SELECT count(*) FROM parsed_requests_live WHERE user_id = '{{u}}'),
           (SELECT count(*) FROM project_analyses_live a JOIN parsed_requests r ON r.id = a.parsed_request_id WHERE r.user_id = '{{u}}'),
           (SELECT count(*) FROM tasks_live t JOIN parsed_requests r ON r.id = t.parsed_request_id WHERE r.user_id = '{{u}}'),
           (SELECT count(*) FROM code_files_live f JOIN project_analyses a ON a.id = f.project_analysis_id
                                                   JOIN parsed_requests r ON r.id = a.parsed_request_id WHERE r.user_id = '{{u}}')},
    u => $john);
# John: the session tok-d; the keys laptop (revoked) and ci; two requests; one
# analysis; the tasks hi, retry, noretry, backoff, slow, lost, pending; the
# files App.tsx and Login.tsx
my $deps = app($deps_sql);
is($deps, '1|2|2|1|7|2', 'John\'s live dependants before the delete');
is(app(fill(q{WITH d AS (DELETE FROM users WHERE id = '{{u}}' RETURNING id) SELECT count(*) FROM d;}, u => $john),
       actor => 'admin:support', context => '{"ip": "198.51.100.20", "ticket": "SUP-118"}'),
   '1', 'userModel.delete(id): soft, DELETE 1');
is(app($deps_sql), '0|0|0|0|0|0', 'every dependant went with the user (ON DELETE CASCADE between soft-delete tables)');
is(app(fill(q{SELECT (SELECT count(*) FROM sessions WHERE deleted_at = u.deleted_at) + (SELECT count(*) FROM api_keys WHERE deleted_at = u.deleted_at)
                   + (SELECT count(*) FROM parsed_requests WHERE deleted_at = u.deleted_at) + (SELECT count(*) FROM project_analyses WHERE deleted_at = u.deleted_at)
                   + (SELECT count(*) FROM tasks WHERE deleted_at = u.deleted_at) + (SELECT count(*) FROM code_files WHERE deleted_at = u.deleted_at)
                FROM users u WHERE id = '{{u}}'}, u => $john)), 1 + 2 + 2 + 1 + 7 + 2,
   'all marked with the user\'s timestamp');
is($job_state->($j_pending), 'cancelled|0|0', 'the pending task\'s job was cancelled with it');
is(app(q{SELECT count(*) FROM start_task('agent-1')}), '0', 'no agent works for a deleted user');
is(app(q{SELECT count(*) FROM find_session_by_token('tok-d')}), '0', 'the deleted user\'s session does not authenticate');
is(app(fill(q{SELECT count(*) FROM find_api_key('{{k}}')}, k => $KEY2)), '0', 'nor does the API key');
is(app(q{SELECT count(*) FROM users_live WHERE email = 'user@example.com'}), '0', 'findByEmail no longer finds the user');
is(admin(q{SELECT total_users, active_users, verified_users, deleted_users, new_users_7d, logged_in_24h FROM user_statistics}),
   '2|2|0|1|2|0', 'userModel.getUserStatistics: Ann and johnny live (active, unverified), John deleted');

my $taker = app(fill(q{INSERT INTO users (email, username, password_hash) VALUES ('user@example.com', 'testuser', '{{h}}') RETURNING id;},
                     h => $HASH), actor => 'signup');
like($taker, $UUID, 'a deleted user\'s email and username can be taken by a new account');
app_fails_like(fill(q{SELECT steward.restore('users', '"{{u}}"')}, u => $john),
    qr/duplicate key value violates unique constraint "users_email_key"/, 'so the old account cannot come back while they are taken');
is(app($deps_sql), '0|0|0|0|0|0', 'and the failed restore brought back nothing');
is(app(fill(q{SELECT steward.hard_delete('users', '"{{u}}"');}, u => $taker), actor => 'admin:support'), '1',
   'userModel.delete(id, true): a hard delete');
is(app(fill(q{SELECT count(*) FROM users WHERE id = '{{u}}'}, u => $taker)), '0', 'the row is really gone');
is($ex->sql(fill(q{SELECT string_agg(action, ',' ORDER BY id) FROM steward.history('users', '{{u}}')}, u => $taker)), 'INSERT,DELETE',
   'the hard delete is audited as DELETE');

is(app(fill(q{SELECT steward.restore('users', '"{{u}}"');}, u => $john), actor => 'admin:support',
       context => '{"ip": "198.51.100.20", "ticket": "SUP-118"}'),
   '1', 'userModel.restore(id)');
is(app($deps_sql), $deps, 'the user came back with every dependant deleted with it');
is(app(fill(q{SELECT name || ':' || (revoked_at IS NOT NULL) FROM api_keys_live WHERE user_id = '{{u}}' ORDER BY name}, u => $john)),
   "ci:false\nlaptop:true", 'the revoked key is back as revoked, not usable');
is(app(q{SELECT id FROM find_session_by_token('tok-d')}), $sess{'tok-d'}, 'the session authenticates again');
is(app(q{SELECT count(*) FROM sessions_deleted WHERE user_id IN (SELECT id FROM users WHERE email = 'user@example.com')}), '0',
   'the sessions terminated before stay purged');
my $j_pending2 = $job_of->($t_pending);
isnt($j_pending2, $j_pending, 'the restored pending task has a new job');
is($job_state->($j_pending2), 'ready|0|0', 'ready at once');
is($task_row->($t_retry), 'failed|agent-2|1|tests do not compile', 'a finished task comes back unchanged');
is($ex->sql(q{SELECT string_agg(DISTINCT table_name, ',' ORDER BY table_name) FROM steward.audit_log
               WHERE action = 'RESTORE' AND actor = 'admin:support' AND context ->> 'ticket' = 'SUP-118'}),
   'api_keys,code_files,parsed_requests,project_analyses,sessions,tasks,users', 'the restore is audited in every table, with the actor');
($tid, $tok) = $start->('agent-1');
is($tid, $t_pending, 'an agent picks the restored task up');
is(app(fill(q{SELECT status FROM complete_task('{{t}}', {{k}});}, t => $t_pending, k => $tok), actor => 'agent-1'), 'completed',
   'and completes it');

# ---------------------------------------------------------------------------
# Hard delete of a user with queued work; purge of old soft-deleted users
# ---------------------------------------------------------------------------
my $req_j = app(fill(q{INSERT INTO parsed_requests (user_id, raw_input) VALUES ('{{u}}', 'Add dark mode') RETURNING id;}, u => $johnny),
                actor => $johnny);
my $an_j = app(fill(q{INSERT INTO project_analyses (parsed_request_id, project_path) VALUES ('{{r}}', 'repos/blog') RETURNING id;},
                    r => $req_j), actor => 'agent:analyzer');
my $t_orphan = $new_task->('dark mode css', req => $req_j, an => $an_j);
my $j_orphan = $job_of->($t_orphan);
is(app(fill(q{SELECT steward.hard_delete('users', '"{{u}}"');}, u => $johnny), actor => 'admin:gdpr'), '1',
   'a user with a pending task is hard-deleted');
is(app(fill(q{SELECT count(*) FROM tasks WHERE id = '{{t}}'}, t => $t_orphan)), '0', 'the task went with it (foreign keys)');
is(app(q{SELECT count(*) FROM start_task('agent-1')}), '0', 'the orphaned job is not handed out');
is($job_state->($j_orphan), 'cancelled|1|0', 'start_task cancelled it');

# any role that may DELETE may also switch the soft delete off (documented:
# steward.hard_delete is a session setting); the audit shows it
is(app(q{SET steward.hard_delete = on; WITH d AS (DELETE FROM configuration WHERE key = 'agent.max_parallel_tasks' RETURNING id)
         SELECT count(*) FROM d;}, actor => 'app:bypass'), '1', 'the service role can bypass the soft delete with SET steward.hard_delete');
is($ex->sql(fill(q{SELECT action, actor FROM steward.history('configuration', '{{c}}') ORDER BY id DESC LIMIT 1}, c => $cfg)),
   'DELETE|app:bypass', 'the audit records that bypass as a DELETE with its actor');

# retention: Ann's account was deleted 31 days ago
app(fill(q{DELETE FROM users WHERE id = '{{u}}';}, u => $ann), actor => 'admin:support');
backdate(fill(q{UPDATE users SET deleted_at = deleted_at - interval '31 days' WHERE id = '{{u}}'}, u => $ann));
is(app(q{CALL steward.purge_deleted('users', '30 days')}), '1', 'purge_deleted removes the user deleted 31 days ago');
is(app(fill(q{SELECT (SELECT count(*) FROM sessions WHERE user_id = '{{u}}') + (SELECT count(*) FROM parsed_requests WHERE user_id = '{{u}}')
                   + (SELECT count(*) FROM tasks WHERE parsed_request_id = '{{r}}') + (SELECT count(*) FROM code_files WHERE project_analysis_id = '{{a}}')},
            u => $ann, r => $req_ann, a => $an_ann)), '0', 'and everything of hers, through the foreign keys');
is(app(q{SELECT total_users, deleted_users FROM user_statistics}), '1|0', 'only John is left');

# ---------------------------------------------------------------------------
# getTaskStatistics, the audit screens, checkHealth
# ---------------------------------------------------------------------------
# John's tasks: hi, backoff, slow, pending completed; retry, noretry, lost failed
is(admin(q{SELECT total_tasks, pending, in_progress, completed, failed, retries FROM task_statistics}), '7|0|0|4|3|2',
   'taskModel.getTaskStatistics: John\'s seven tasks by status, two retries (add tests, migrate the database)');
is(admin(q{SELECT queue_ready, queue_running, expired_leases, dead_jobs, avg_duration IS NOT NULL FROM task_statistics}), '0|0|0|3|t',
   'and the queue\'s figures: nothing waiting or running, three dead jobs (one failed without retry)');
app_fails_like(q{SELECT * FROM task_statistics}, qr/permission denied for view task_statistics/,
   'the queue figures are for the operators');

is(admin(fill(q{SELECT string_agg(action || ':' || entity_type, ',' ORDER BY id) FROM audit_logs
                WHERE user_id = 'admin:support' AND entity_id = '{{u}}' AND ip_address = '198.51.100.20'}, u => $john)),
   'SOFT_DELETE:users,RESTORE:users', 'auditLogModel: who deleted and restored John, from where');
app_fails_like(q{SELECT * FROM audit_logs}, qr/permission denied for view audit_logs/, 'the service itself cannot read the audit log');
app_fails_like(q{DELETE FROM steward.audit_records}, qr/permission denied for table audit_records/, 'nor change it');

is(admin(q{SELECT check_health()}), 't', 'dbManager.checkHealth(): healthy');
is(admin(q{SELECT c ->> 'status' || '|' || (c ->> 'value') FROM jsonb_array_elements(steward.health() -> 'checks') c
            WHERE c ->> 'name' = 'queue_dead_jobs_1d:code_agent_tasks'}), 'warning|3', 'health() reports the three dead jobs');
$ex->sql(q{ALTER TABLE users DISABLE TRIGGER steward_soft_delete});
is(admin(q{SELECT check_health(), steward.health() -> 'failing' ? 'soft_delete.soft_delete_unprotected_tables'}), 'f|t',
   'a disabled soft-delete trigger makes the database unhealthy');
$ex->sql(q{ALTER TABLE users ENABLE TRIGGER steward_soft_delete});
is(admin(q{SELECT check_health()}), 't', 'and healthy again once it is back');
app_fails_like(q{SELECT check_health()}, qr/permission denied for function check_health/, 'health is for the operators\' role');

done_testing();
