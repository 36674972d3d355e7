# AI CI/CD system (seed 001_aa043f640c1a0934) on pg_steward: tasks with
# sub-tasks, agents claiming them from the queue, executions with logs, PR
# validations, error logs with recovery attempts, system_config and the audit,
# played as the document's models would, then dumped and restored.
use strict;
use warnings;
use StewardExample;
use PostgreSQL::Test::Utils;
use Test::More;

my $ex = StewardExample->new('cicd');
my $node = $ex->node;

# The application connects as cicd_app (not the tables' owner).
sub app { my ($sql, $db) = @_; return $ex->sql("SET ROLE cicd_app;\n$sql", $db) }
# One transaction of the app with its user as the audit actor (SET LOCAL: a
# pooled connection does not carry it to the next transaction; the agents
# below use set_config(..., true), the same with a bind parameter).
sub as_actor {
    my ($actor, $sql, $db) = @_;
    return app("BEGIN;\nSET LOCAL steward.actor = '$actor';\n$sql;\nCOMMIT;", $db);
}
sub app_fails_like {
    my ($sql, $re, $name) = @_;
    my ($ok, $out, $err) = $ex->try("SET ROLE cicd_app;\n$sql");
    ok(!$ok && $err =~ $re, $name) or diag("expected an error like $re, got: " . ($ok ? "success: $out" : $err));
}
# claim_task as an agent; returns (job_id, lease_token, task_id, execution_id, attempt) or () when idle
sub claim {
    my ($agent, $worker, $extra) = @_;
    $extra //= '';
    my $row = as_actor($worker,
        "SELECT job_id, lease_token, task_id, execution_id, attempt FROM claim_task('$agent', '$worker'$extra);");
    return $row eq '' ? () : split /\|/, $row;
}

# ---------------------------------------------------------------- system_config
as_actor('ops@example.com', q{
    INSERT INTO system_config (key, value, description) VALUES
        ('max_concurrent_agents', '4', 'agents that may run at once'),
        ('validation.required_checks', '["tests", "lint"]', 'checks a PR must pass'),
        ('codegen.model', '"claude-3-sonnet"', NULL);
});
my $config_created = $ex->sql(q{SELECT updated_at FROM system_config WHERE key = 'max_concurrent_agents'});
is( as_actor('ops@example.com', q{
        UPDATE system_config SET value = '8' WHERE key = 'max_concurrent_agents';
        SELECT updated_at = now()::timestamp FROM system_config WHERE key = 'max_concurrent_agents';}),
    't', 'system_config: an UPDATE that does not set updated_at gets the transaction time');
isnt($ex->sql(q{SELECT updated_at FROM system_config WHERE key = 'max_concurrent_agents'}), $config_created,
     'system_config: updated_at moved from its insert value');
is( app(q{SELECT string_agg(action || ':' || actor || ':' || coalesce(new_values->>'value', ''), ',' ORDER BY id)
            FROM steward.history('system_config', 'max_concurrent_agents'::varchar)}),
    'INSERT:ops@example.com:4,UPDATE:ops@example.com:8',
    'system_config: history of a key with its actor');

# ---------------------------------------------------------------- Task.create, findBy
my $parent = as_actor('developer@example.com', q{
    INSERT INTO tasks (title, description, requirements, priority, created_by, assigned_to)
    VALUES ('Implement new feature', 'Add user authentication', '{"auth": "oauth2", "provider": "github"}',
            5, 'developer@example.com', 'developer@example.com')
    RETURNING id;});
like($parent, qr/^[0-9a-f-]{36}$/, 'Task.create returns a uuid');
my ($sub_a, $sub_b) = split /\n/, as_actor('developer@example.com', qq{
    INSERT INTO tasks (title, requirements, priority, created_by, parent_task_id) VALUES
        ('Add OAuth2 callback', '{"files": ["auth.js"]}', 7, 'developer\@example.com', '$parent'),
        ('Write auth tests', '{}', 3, 'developer\@example.com', '$parent')
    RETURNING id;});
is( app(qq{SELECT string_agg(state || ':' || priority || ':' || (payload->>'task_id' = substr(dedup_key, 6))::text, ',' ORDER BY priority DESC)
             FROM steward.jobs WHERE dedup_key IN ('task:$parent', 'task:$sub_a', 'task:$sub_b')}),
    'ready:7:true,ready:5:true,ready:3:true',
    'each new task has a ready job with its priority, in the same transaction');
is( app(q{SELECT string_agg(title, ',') FROM (SELECT title FROM tasks
            WHERE status = 'pending' AND assigned_to = 'developer@example.com'
            ORDER BY priority DESC LIMIT 10) t}),
    'Implement new feature', 'Task.findBy(status, assigned_to)');
is( app(qq{SELECT subtasks || '/' || subtasks_completed FROM active_tasks WHERE id = '$parent'}),
    '2/0', 'active_tasks: the parent with its two sub-tasks');
is(app(q{SELECT count(*) FROM active_tasks}), '3', 'active_tasks: three pending tasks');

# the document's value lists
app_fails_like(q{INSERT INTO tasks (title, status) VALUES ('x', 'done')},
    qr/violates check constraint "tasks_status_check"/, 'a task status outside the list is refused');
app_fails_like(q{INSERT INTO tasks (title, priority) VALUES ('x', 11)},
    qr/violates check constraint "tasks_priority_check"/, 'priority 11 is outside 0-10');
app_fails_like(q{INSERT INTO tasks (requirements) VALUES ('{}')},
    qr/null value in column "title" of relation "tasks" violates not-null constraint/, 'a task needs a title');
app_fails_like(qq{INSERT INTO task_executions (task_id, agent_type) VALUES ('$parent', 'gpt-engineer')},
    qr/violates check constraint "task_executions_agent_type_check"/, 'an unknown agent type is refused');
app_fails_like(qq{INSERT INTO task_executions (task_id, agent_type, status) VALUES ('$parent', 'codegen', 'paused')},
    qr/violates check constraint "task_executions_status_check"/, 'an unknown execution status is refused');
app_fails_like(qq{INSERT INTO pr_validations (task_id, pr_number, repository, status) VALUES ('$parent', 1, 'o/r', 'merged')},
    qr/violates check constraint "pr_validations_status_check"/, 'an unknown validation status is refused');
app_fails_like(qq{INSERT INTO error_logs (task_id, error_type) VALUES ('$parent', 'disk')},
    qr/violates check constraint "error_logs_error_type_check"/, 'an unknown error type is refused');
app_fails_like(q{INSERT INTO tasks (title, parent_task_id) VALUES ('orphan', gen_random_uuid())},
    qr/violates foreign key constraint "tasks_parent_task_id_fkey"/, 'a sub-task needs an existing parent');

# ---------------------------------------------------------------- an agent runs a task (lease mode)
# Highest priority first: the priority-7 sub-task.
my ($job1, $tok1, $task1, $exec1, $att1) =
    claim('claude-code', 'claude-1', q{, '{"model": "claude-3-sonnet", "temperature": 0.1}'});
is($task1, $sub_a, 'the agent gets the highest-priority task (the priority-7 sub-task)');
is( app(qq{SELECT t.status || ',' || e.status || ',' || (e.started_at IS NOT NULL) || ',' || (e.agent_config->>'model') || ',' || (e.agent_config->>'worker')
             FROM tasks t JOIN task_executions e ON e.task_id = t.id WHERE e.id = '$exec1'}),
    'in_progress,running,true,claude-3-sonnet,claude-1',
    'claim: the task is in_progress and its execution running with the agent config');
is( app(qq{SELECT state || ',' || worker || ',' || (progress->>'execution_id') || ',' || jsonb_array_length(log) FROM steward.jobs WHERE id = $job1}),
    "running,claude-1,$exec1,1", 'the job is running and points at its execution (log_job progress)');

as_actor('claude-1', qq{
    SELECT add_execution_log('$exec1', '{"level": "info", "message": "Starting code generation"}');
    SELECT add_execution_log('$exec1', '[{"level": "debug", "message": "edited auth.js"}, {"level": "info", "message": "opened PR 123"}]');
});
as_actor('claude-1', qq{SELECT finish_task($job1, $tok1,
    '[{"level": "info", "message": "Code generation completed successfully"}]', '{"pr_number": 123}')});
is( app(qq{SELECT string_agg(x->>'message', ' / ' ORDER BY n) || ' | ' || bool_and(x ? 'timestamp')
             FROM task_executions, jsonb_array_elements(logs) WITH ORDINALITY a(x, n) WHERE id = '$exec1'}),
    'Starting code generation / edited auth.js / opened PR 123 / Code generation completed successfully | true',
    'addLog and complete(logs) appended four entries in order, each with a timestamp');
is( app(qq{SELECT e.status || ',' || (e.completed_at >= e.started_at) || ',' || t.status || ',' || j.state || ',' || (j.result->>'pr_number')
             FROM task_executions e JOIN tasks t ON t.id = e.task_id, steward.jobs j WHERE e.id = '$exec1' AND j.id = $job1}),
    'completed,true,completed,completed,123', 'complete: execution, task and job completed together');
is( app(qq{SELECT count(*) FROM steward.history('task_executions', '$exec1'::uuid) WHERE 'logs' = ANY (changed_columns)}),
    '0', 'log lines are not copied into the audit (logs is excluded)');
app_fails_like(qq{SELECT add_execution_log('$exec1', '{"message": "late"}')},
    qr/execution $exec1 is not running/, 'addLog on a completed execution is refused');
app_fails_like(qq{SELECT finish_task($job1, $tok1)},
    qr/cannot complete job $job1: it is already completed/, 'a task cannot be completed twice');

# ---------------------------------------------------------------- PR validation
my $val = as_actor('webhook-handler', qq{
    INSERT INTO pr_validations (task_id, execution_id, pr_number, repository, branch_name, webhook_payload)
    VALUES ('$sub_a', '$exec1', 123, 'owner/repo', 'feature/new-auth', '{"action": "opened", "number": 123}')
    RETURNING id;});
my $val_created = $ex->sql(qq{SELECT updated_at FROM pr_validations WHERE id = '$val'});
# addValidationResult(name, result) and updateStatus(status, results): one UPDATE each
as_actor('validation-engine', qq{
    UPDATE pr_validations SET status = 'running',
           validation_results = validation_results || jsonb_build_object('tests', '{"status": "passed", "details": {"passed": 15, "failed": 0, "skipped": 2}}'::jsonb)
     WHERE id = '$val';});
as_actor('validation-engine', qq{
    UPDATE pr_validations SET status = 'passed',
           validation_results = validation_results || '{"overall_score": 95, "checks_passed": 5, "checks_failed": 0}'
     WHERE id = '$val';});
is( app(qq{SELECT status || ',' || (validation_results->'tests'->'details'->>'passed') || ',' || (validation_results->>'overall_score')
                 || ',' || (updated_at > '$val_created') FROM pr_validations WHERE id = '$val'}),
    'passed,15,95,true', 'validation: results merged, status passed, updated_at maintained');
is(app(q{SELECT validations || ',' || pull_requests FROM pr_validation_summary WHERE repository = 'owner/repo' AND status = 'passed'}),
   '1,1', 'pr_validation_summary counts the passed validation');
is( app(qq{SELECT string_agg(action || ':' || actor || ':' || coalesce(new_values->>'status', '-'), ',' ORDER BY id)
             FROM steward.history('pr_validations', '$val'::uuid)}),
    'INSERT:webhook-handler:pending,UPDATE:validation-engine:running,UPDATE:validation-engine:passed',
    'validation history: who changed the status, in order');

# ---------------------------------------------------------------- a failure, recovered by the retry
my ($job2, $tok2, $task2, $exec2, $att2) = claim('codegen', 'codegen-1');
is("$task2:$att2", "$parent:1", 'next claim: the parent task (priority 5), first attempt');
app_fails_like(qq{SELECT fail_task($job2, $tok2, 'disk', 'no space left')},
    qr/violates check constraint "error_logs_error_type_check"/, 'fail_task with an unknown error type is refused');
is(app(qq{SELECT state || ',' || attempt || ',' || (errors IS NULL) FROM steward.jobs WHERE id = $job2}),
   'running,1,true', 'and the refused failure left the job running, with no error recorded');
is( as_actor('codegen-1', qq{SELECT fail_task($job2, $tok2, 'api', 'rate limited by the model API', 'Error: 429\n  at call()', '{"status": 429}', retry_in => '0')}),
    'ready', 'an API error with attempts left: the job is ready again');
is( app(qq{SELECT t.status || ',' || e.status || ',' || (e.error_details->>'message') || ',' || l.error_type || ',' || l.recovery_attempts || ',' || l.resolved
                 || ',' || (l.context->>'status') || ',' || (l.execution_id = e.id)
             FROM tasks t JOIN task_executions e ON e.task_id = t.id JOIN error_logs l ON l.task_id = t.id WHERE t.id = '$parent'}),
    'pending,failed,rate limited by the model API,api,0,false,429,true',
    'the task is pending again, its execution failed and an unresolved error is logged');
my ($job3, $tok3, $task3, $exec3, $att3) = claim('codegen', 'codegen-2');
is("$job3:$task3:$att3", "$job2:$parent:2", 'the retry is claimed: same job, second attempt');
is(app(qq{SELECT recovery_attempts FROM error_logs WHERE task_id = '$parent'}), '1', 'the new claim counts as a recovery attempt');
as_actor('codegen-2', qq{SELECT finish_task($job3, $tok3)});
is( app(qq{SELECT status || ',' || (SELECT bool_and(resolved) FROM error_logs WHERE task_id = '$parent')
             || ',' || (SELECT string_agg(status, ',' ORDER BY created_at, status) FROM task_executions WHERE task_id = '$parent') FROM tasks WHERE id = '$parent'}),
    'completed,true,failed,completed', 'after the successful retry the task is completed and its error resolved');
is(app(q{SELECT errors || ',' || resolved || ',' || recovery_attempts FROM error_summary WHERE error_type = 'api'}),
   '1,true,1', 'error_summary: one api error, resolved after one recovery attempt');

# ---------------------------------------------------------------- a lease runs out: not your task any more
my ($job4, $tok4, $task4, $exec4) = claim('claude-code', 'claude-1', q{, lease => '1 second'});
is($task4, $sub_b, 'the last pending task (priority 3) is claimed with a 1-second lease');
$ex->sql(q{SELECT pg_sleep(1.5)});
my ($job5, $tok5, $task5, $exec5, $att5) = claim('claude-code', 'claude-2');
is("$job5:$task5:$att5", "$job4:$sub_b:2", 'after the lease ran out another agent claims the same job');
app_fails_like(qq{SELECT finish_task($job4, $tok4)},
    qr/cannot complete job $job4: lease token $tok4 is not the current lease/,
    'the first agent cannot complete a task that is no longer its own');
is( app(qq{SELECT string_agg(status || ':' || coalesce(error_details->>'error', '-') || ':' || (agent_config->>'worker'), ',' ORDER BY created_at, agent_config->>'worker')
             FROM task_executions WHERE task_id = '$sub_b'}),
    'failed:lease expired:claude-1,running:-:claude-2',
    'the expired attempt is failed, the new one runs (the refused completion changed nothing)');
as_actor('claude-2', qq{SELECT finish_task($job5, $tok5, '[{"level": "info", "message": "tests written"}]')});
is(app(qq{SELECT status FROM tasks WHERE id = '$sub_b'}), 'completed', 'the second agent completes it');
is(app(qq{SELECT subtasks || '/' || subtasks_completed FROM active_tasks WHERE id = '$parent'}), '',
   'the completed parent has left active_tasks');

# ---------------------------------------------------------------- a task that fails every attempt (dead)
my $flaky = as_actor('developer@example.com', q{INSERT INTO tasks (title, priority) VALUES ('Deploy to staging', 2) RETURNING id});
my @states;
for my $n (1 .. 3) {
    my ($j, $t, $task, $e, $a) = claim('webhook-handler', "hook-$n");
    push @states, "$a:" . as_actor("hook-$n", qq{SELECT fail_task($j, $t, 'network', 'connection reset', retry_in => '0')});
}
is(join(',', @states), '1:ready,2:ready,3:dead', 'three failed attempts: the job is dead after max_attempts = 3');
is( app(qq{SELECT t.status || ',' || j.state || ',' || jsonb_array_length(j.errors) FROM tasks t, steward.jobs j
             WHERE t.id = '$flaky' AND j.dedup_key = 'task:$flaky'}),
    'failed,dead,3', 'the task failed; its dead job keeps the three errors');
is( app(qq{SELECT string_agg(recovery_attempts::text, ',' ORDER BY created_at, recovery_attempts DESC) || ',' || bool_or(resolved)
             FROM error_logs WHERE task_id = '$flaky'}),
    '2,1,0,false', 'each error counts the recovery attempts made after it; none resolved');

# ---------------------------------------------------------------- cancel a running task
my $obsolete = as_actor('developer@example.com', q{INSERT INTO tasks (title) VALUES ('Obsolete refactoring') RETURNING id});
my ($job6, $tok6, $task6, $exec6) = claim('codegen', 'codegen-3');
is($task6, $obsolete, 'the obsolete task is claimed');
is(as_actor('developer@example.com', qq{SELECT cancel_task('$obsolete')}), 't', 'the developer cancels it');
app_fails_like(qq{SELECT finish_task($job6, $tok6)},
    qr/cannot complete job $job6: it is already cancelled/, 'the agent of a cancelled task cannot complete it');
is( app(qq{SELECT t.status || ',' || e.status || ',' || j.state FROM tasks t JOIN task_executions e ON e.task_id = t.id, steward.jobs j
             WHERE t.id = '$obsolete' AND j.id = $job6}),
    'cancelled,cancelled,cancelled', 'task, execution and job are cancelled');
is(as_actor('developer@example.com', qq{SELECT cancel_task('$obsolete')}), 'f', 'cancelling twice does nothing');

# ---------------------------------------------------------------- a pending task deleted before any agent got to it
my $dropped = as_actor('developer@example.com', q{INSERT INTO tasks (title) VALUES ('Dropped idea') RETURNING id});
as_actor('developer@example.com', qq{DELETE FROM tasks WHERE id = '$dropped'});
is(app(q{SELECT count(*) FROM claim_task('codegen', 'codegen-4')}), '0', 'the job of a deleted task gives no work');
is(app(qq{SELECT state || ',' || (result->>'skipped') FROM steward.jobs WHERE dedup_key = 'task:$dropped'}),
   'completed,deleted', 'its job was completed as skipped');

# ---------------------------------------------------------------- a rolled-back Task.create leaves nothing
my $ghost = '00000000-0000-4000-8000-0000000000aa';
is( app(qq{BEGIN;
        SELECT set_config('steward.actor', 'ghost\@example.com', true) \\g /dev/null
        INSERT INTO tasks (id, title) VALUES ('$ghost', 'never');
        SELECT (SELECT count(*) FROM steward.history('tasks', '$ghost'::uuid)) || ',' ||
               (SELECT count(*) FROM steward.jobs WHERE dedup_key = 'task:$ghost');
        ROLLBACK;}),
    '1,1', 'inside the transaction the insert has its audit entry and its job');
is( app(qq{SELECT (SELECT count(*) FROM steward.history('tasks', '$ghost'::uuid)) || ',' ||
                  (SELECT count(*) FROM steward.audit_log WHERE actor = 'ghost\@example.com') || ',' ||
                  (SELECT count(*) FROM steward.jobs WHERE dedup_key = 'task:$ghost') || ',' ||
                  (SELECT count(*) FROM tasks WHERE id = '$ghost')}),
    '0,0,0,0', 'after ROLLBACK: no audit row, no job, no task');

# ---------------------------------------------------------------- actors in the history of a task
is( app(qq{SELECT string_agg(action || ':' || actor || ':' || coalesce(new_values->>'status', ''), ',' ORDER BY id)
             FROM steward.history('tasks', '$parent'::uuid)}),
    'INSERT:developer@example.com:pending,UPDATE:codegen-1:in_progress,UPDATE:codegen-1:pending,'
  . 'UPDATE:codegen-2:in_progress,UPDATE:codegen-2:completed',
    'history of a task: created by the developer, moved by the agents that ran it');
is( app(qq{SELECT role_name || ',' || session_role FROM steward.history('tasks', '$parent'::uuid) ORDER BY id LIMIT 1}),
    'cicd_app,' . $ex->sql('SELECT session_user'), 'the database role is recorded next to the app actor');

# ---------------------------------------------------------------- concurrent agents
my $ntasks = 40;
as_actor('scheduler', qq{
    INSERT INTO tasks (title, priority, requirements, created_by)
    SELECT 'batch task ' || g, g % 11, jsonb_build_object('flaky', g % 5 = 0), 'scheduler'
      FROM generate_series(1, $ntasks) g;});
my $nflaky = $ex->sql(q{SELECT count(*) FROM tasks WHERE requirements->>'flaky' = 'true'});
is($nflaky, int($ntasks / 5), 'every fifth batch task fails on its first attempt');
my $worker_script = q{
SET ROLE cicd_app;
DO $$
DECLARE
    me text := 'agent-' || pg_backend_pid();
    c record;
BEGIN
    LOOP
        PERFORM set_config('steward.actor', me, true);
        SELECT * INTO c FROM claim_task('claude-code', me);
        EXIT WHEN c.job_id IS NULL;
        PERFORM pg_sleep(0.01);                     -- the agent works
        IF (SELECT requirements->>'flaky' = 'true' FROM tasks WHERE id = c.task_id) AND c.attempt = 1 THEN
            PERFORM fail_task(c.job_id, c.lease_token, 'network', 'connection reset', retry_in => '0');
        ELSE
            PERFORM add_execution_log(c.execution_id, jsonb_build_object('level', 'info', 'message', 'done by ' || me));
            PERFORM finish_task(c.job_id, c.lease_token, result => jsonb_build_object('worker', me));
        END IF;
        COMMIT;                                     -- claim, work and completion commit together
    END LOOP;
END $$;
SELECT count(*) FROM task_executions WHERE agent_config->>'worker' = 'agent-' || pg_backend_pid() AND status = 'completed';
};
my @done = $ex->workers(4, $worker_script);
s/\s+//g for @done;
my $sum = 0; $sum += $_ for @done;
is($sum, $ntasks, "4 concurrent agents completed $ntasks tasks between them (@done)");
cmp_ok(scalar(grep { $_ > 0 } @done), '>=', 2, 'more than one agent did work');
is( $ex->sql(q{SELECT count(*) FILTER (WHERE completed = 1) || ',' || count(*) FILTER (WHERE completed <> 1)
                 FROM (SELECT t.id, count(*) FILTER (WHERE e.status = 'completed') AS completed
                         FROM tasks t LEFT JOIN task_executions e ON e.task_id = t.id
                        WHERE t.created_by = 'scheduler' GROUP BY t.id) x}),
    "$ntasks,0", 'every batch task was completed exactly once: none lost, none done twice');
is( $ex->sql(q{SELECT count(*) FROM tasks t JOIN steward.jobs j ON j.dedup_key = 'task:' || t.id
                WHERE t.created_by = 'scheduler' AND t.status = 'completed' AND j.state = 'completed'
                  AND j.attempt = CASE WHEN t.requirements->>'flaky' = 'true' THEN 2 ELSE 1 END
                  AND j.result->>'worker' = (SELECT agent_config->>'worker' FROM task_executions e
                                               WHERE e.task_id = t.id AND e.status = 'completed')}),
    $ntasks, 'each job completed once, by the agent whose execution completed it, flaky ones on attempt 2');
is( $ex->sql(q{SELECT count(*) || ',' || bool_and(resolved) || ',' || sum(recovery_attempts)
                 FROM error_logs l JOIN tasks t ON t.id = l.task_id WHERE t.created_by = 'scheduler'}),
    "$nflaky,true,$nflaky", 'each flaky task logged one network error, resolved by one recovery attempt');
is( $ex->sql(q{SELECT count(*) FROM task_executions e JOIN tasks t ON t.id = e.task_id
                WHERE t.created_by = 'scheduler'
                  AND (SELECT a.actor FROM steward.history('task_executions', e.id) a ORDER BY a.id LIMIT 1)
                      = e.agent_config->>'worker'}),
    $ntasks + $nflaky, 'every execution is audited with the agent that created it as actor');
is( app(q{SELECT executions || ',' || tasks FROM task_execution_summary WHERE agent_type = 'claude-code' AND status = 'completed'}),
    ($ntasks + 2) . ',' . ($ntasks + 2), 'task_execution_summary: completed claude-code executions (batch + the two sub-tasks)');

# ---------------------------------------------------------------- soft delete and restore of a task
my $epic = as_actor('developer@example.com', q{INSERT INTO tasks (title, status) VALUES ('Epic', 'completed') RETURNING id});
as_actor('developer@example.com', qq{INSERT INTO tasks (title, status, parent_task_id) VALUES ('Story', 'completed', '$epic')});
app_fails_like(qq{DELETE FROM tasks WHERE id = '$epic'},
    qr/soft delete on table "tasks" violates foreign key constraint "tasks_parent_task_id_fkey"/,
    'a task with live sub-tasks cannot be deleted, as with a real DELETE (NO ACTION)');
app_fails_like(qq{DELETE FROM tasks WHERE id = '$flaky'},
    qr/soft delete on table "tasks" violates foreign key constraint "error_logs_task_id_fkey"/,
    'a task with error logs cannot be deleted');
# The sub-task's validation references its execution (NO ACTION) and both
# cascade from the task: a diamond. pg_steward checks NO ACTION once the
# statement has run all its cascades, as PostgreSQL does for a real DELETE
# (this was a finding of the port: it used to check at once, in
# constraint-name order, and worked here only by the names' luck).
is(as_actor('developer@example.com', qq{DELETE FROM tasks WHERE id = '$sub_a' RETURNING title}),
   'Add OAuth2 callback', 'DELETE of a sub-task reports the row it marked');
is( app(qq{SELECT (SELECT count(*) FROM tasks_live WHERE id = '$sub_a') || ',' ||
                  (SELECT count(*) FROM task_executions_live WHERE task_id = '$sub_a') || ',' ||
                  (SELECT count(*) FROM pr_validations_live WHERE task_id = '$sub_a') || ',' ||
                  (SELECT count(*) FROM task_executions_deleted WHERE task_id = '$sub_a') || ',' ||
                  (SELECT count(*) FROM pr_validations_deleted WHERE task_id = '$sub_a') || ',' ||
                  (SELECT count(*) FROM pr_validation_summary WHERE repository = 'owner/repo')}),
    '0,0,0,1,1,0', 'its execution and validation went with it (ON DELETE CASCADE), the summaries no longer count them');
is(as_actor('developer@example.com', qq{SELECT steward.restore('tasks', to_jsonb('$sub_a'::text))}), '1',
   'steward.restore brings the task back');
is( app(qq{SELECT (SELECT count(*) FROM tasks_live WHERE id = '$sub_a') || ',' ||
                  (SELECT count(*) FROM task_executions_live WHERE task_id = '$sub_a') || ',' ||
                  (SELECT count(*) FROM pr_validations_live WHERE task_id = '$sub_a' AND status = 'passed')}),
    '1,1,1', 'with its execution and its validation');
is( app(qq{SELECT string_agg(action || ':' || actor, ',' ORDER BY id) FROM steward.history('tasks', '$sub_a'::uuid)
            WHERE action IN ('SOFT_DELETE', 'RESTORE')}),
    'SOFT_DELETE:developer@example.com,RESTORE:developer@example.com', 'the audit records the soft delete and the restore');

# ---------------------------------------------------------------- recent_activity and audit_logs
is( app(qq{SELECT string_agg(entity_type || ':' || action, ',' ORDER BY audit_id)
             FROM (SELECT * FROM recent_activity WHERE task_id = '$sub_a' AND action = 'RESTORE') r}),
    'tasks:RESTORE,task_executions:RESTORE,pr_validations:RESTORE',
    'recent_activity: the restore of the task, its execution and validation, with the task they belong to');
is( app(qq{SELECT task_title || ',' || user_id || ',' || (task_deleted_at IS NULL) FROM recent_activity
            WHERE entity_type = 'pr_validations' AND entity_id = '$val' ORDER BY audit_id DESC LIMIT 1}),
    'Add OAuth2 callback,developer@example.com,true', 'recent_activity: a validation entry names its task');
is( app(qq{SELECT count(*) FROM audit_logs WHERE entity_type = 'tasks' AND entity_id = '$parent'}),
    app(qq{SELECT count(*) FROM steward.history('tasks', '$parent'::uuid)}),
    'audit_logs (the document\'s shape) lists the same entries as steward.history');
is( app(qq{SELECT action || ',' || user_id || ',' || (new_values->>'title') FROM audit_logs
            WHERE entity_type = 'tasks' AND entity_id = '$parent' ORDER BY id LIMIT 1}),
    'INSERT,developer@example.com,Implement new feature', 'audit_logs: entity, action, user and values');

# ---------------------------------------------------------------- pg_dump / pg_restore
# Left for the dump: a pending task (ready job), a running job held by an
# agent, the dead job, completed and cancelled jobs.
my $pending = as_actor('developer@example.com', q{INSERT INTO tasks (title, priority) VALUES ('Update changelog', 1) RETURNING id});
my $running = as_actor('developer@example.com', q{INSERT INTO tasks (title, priority) VALUES ('Bump dependencies', 9) RETURNING id});
my ($jobr, $tokr, $taskr, $execr) = claim('claude-code', 'claude-9', q{, lease => '1 hour'});
is($taskr, $running, 'a task is running when the database is dumped');
as_actor('claude-9', qq{SELECT add_execution_log('$execr', '{"level": "info", "message": "before the dump"}')});

my $config_q = q{SELECT key, value, description, updated_at FROM system_config ORDER BY key};
my $history_q = qq{SELECT id, logged_at, action, actor, row_key, old_values, new_values, changed_columns
                     FROM steward.history('tasks', '$parent'::uuid)};
my $jobs_q = q{SELECT id, state, payload, priority, run_at, attempt, max_attempts, lease_token, worker, lease_expires_at,
                      enqueued_at, finished_at, dedup_key, result, errors, progress, log FROM steward.jobs ORDER BY id};
my %before = (config => app($config_q), history => app($history_q), jobs => app($jobs_q),
              sub_a => app(qq{SELECT action, actor FROM steward.history('tasks', '$sub_a'::uuid)}));
is(app(q{SELECT string_agg(DISTINCT state, ',') FROM steward.jobs}), 'cancelled,completed,dead,ready,running',
   'the dump will hold jobs in every state the workflow reached');

my $dump = "$PostgreSQL::Test::Utils::tmp_check/cicd.dump";
$node->command_ok(['pg_dump', '-Fc', '-d', $node->connstr('app'), '-f', $dump], 'pg_dump -Fc of the app database');
# an empty database: the dump's own CREATE EXTENSION installs pg_steward
$node->safe_psql('postgres', 'CREATE DATABASE app_restored');
$node->command_ok(['pg_restore', '--exit-on-error', '-d', $node->connstr('app_restored'), $dump],
                  'pg_restore into a new database on the same server');
my $r = 'app_restored';

is(app($config_q, $r), $before{config}, 'restored: system_config with its values and stamps');
is(app($history_q, $r), $before{history}, "restored: the task's audit history, entry for entry");
is(app(qq{SELECT action, actor FROM steward.history('tasks', '$sub_a'::uuid)}, $r), $before{sub_a},
   'restored: the soft delete and restore in a history');
is(app($jobs_q, $r), $before{jobs}, "restored: the queue's jobs in every state");

# ... and usable
is( as_actor('ops@example.com', q{
        UPDATE system_config SET value = '6' WHERE key = 'max_concurrent_agents';
        SELECT value::text || ',' || (updated_at = now()::timestamp) FROM system_config WHERE key = 'max_concurrent_agents';}, $r),
    '6,true', 'restored: system_config is updated and updated_at still maintained');
is( app(q{SELECT string_agg(action || ':' || (new_values->>'value'), ',' ORDER BY id)
            FROM steward.history('system_config', 'max_concurrent_agents'::varchar)}, $r),
    'INSERT:4,UPDATE:8,UPDATE:6', 'restored: the config history continues');
is( as_actor('claude-9', qq{SELECT finish_task($jobr, $tokr, '[{"level": "info", "message": "after the restore"}]')}, $r),
    $running, 'restored: the agent holding the running job completes it with its lease token');
is( app(qq{SELECT t.status || ',' || jsonb_array_length(e.logs) FROM tasks t JOIN task_executions e ON e.task_id = t.id WHERE t.id = '$running'}, $r),
    'completed,2', 'restored: that task and its execution (with both log lines) are completed');
my @next = split /\|/, as_actor('claude-1', q{SELECT job_id, task_id FROM claim_task('claude-code', 'claude-1')}, $r);
is($next[1], $pending, 'restored: the pending task is claimed from the queue');
as_actor('claude-1', qq{SELECT finish_task($next[0], (SELECT lease_token FROM steward.jobs WHERE id = $next[0]))}, $r);
ok(app(qq{SELECT retry_task('$flaky')}, $r) > 0, 'restored: the dead task is retried');
my @again = split /\|/, as_actor('hook-4', q{SELECT task_id, attempt FROM claim_task('webhook-handler', 'hook-4')}, $r);
is("@again", "$flaky 1", 'restored: the retried task is claimed again with a fresh attempt');
is(app(q{SELECT count(*) FROM claim_task('codegen', 'codegen-9')}, $r), '0', 'restored: no other job was waiting');
my $newtask = as_actor('developer@example.com', q{INSERT INTO tasks (title) VALUES ('after restore') RETURNING id}, $r);
my $maxjob = $ex->sql(q{SELECT max(id) FROM steward.jobs});
cmp_ok(app(qq{SELECT id FROM steward.jobs WHERE dedup_key = 'task:$newtask'}, $r), '>', $maxjob,
       'restored: a new task gets a job with a fresh id');
as_actor('developer@example.com', qq{UPDATE tasks SET description = 'edited after restore' WHERE id = '$parent'}, $r);
my @tail = split /\n/, app(qq{SELECT action || ':' || actor FROM steward.history('tasks', '$parent'::uuid) ORDER BY id}, $r);
is($tail[-1], 'UPDATE:developer@example.com', "restored: the task's history continues");
is(scalar(@tail), 1 + scalar(split /\n/, $before{history}), 'restored: one entry more than before the dump');
is( app(qq{SELECT entity_type || ':' || action || ':' || task_title FROM recent_activity ORDER BY audit_id DESC LIMIT 1}, $r),
    'tasks:UPDATE:Implement new feature', 'restored: recent_activity shows the newest change with its task');

done_testing();
