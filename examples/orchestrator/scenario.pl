# examples/orchestrator/scenario.pl -- the AI agent orchestrator (seed 002)
# on pg_steward: agents with heartbeats and statistics, the task queue
# (priorities, locking dequeue, complete_and_dequeue loop, retries, leases,
# a dead agent's task coming back), voting with its audit trail, an agent
# retired with its proposals and votes and brought back, and 4 concurrent
# agents working one queue.
use strict;
use warnings;
use StewardExample;
use Test::More;

my $ex = StewardExample->new('orchestrator');
# test helper: an audit entry's changed columns, sorted, as one string
$ex->sql(q{CREATE FUNCTION sorted(text[]) RETURNS text LANGUAGE sql IMMUTABLE
           RETURN (SELECT string_agg(c, ',' ORDER BY c) FROM unnest($1) c)});

# one row of "a|b|c" output as a list
sub fields { return split /\|/, $_[0], -1 }

# claim helpers: a claimed_task row is task_id|task_type|priority|payload|attempt|max_attempts|lease_token|lease_expires_at
sub claim { return claim_with(sub { $ex->sql($_[0]) }, $_[0]) }
sub claim_with {
    my ($run, $sql) = @_;
    my $out = $run->($sql);
    return undef if $out eq '';
    my @f = fields($out);
    return { task_id => $f[0], priority => $f[2], payload => $f[3], attempt => $f[4], max_attempts => $f[5], token => $f[6] };
}
sub dequeue_as {
    my ($agent, $lease) = @_;
    return claim("SELECT * FROM dequeue_task('$agent'" . ($lease ? ", '$lease'" : '') . ')');
}
sub audit_count {
    my ($table) = @_;
    return $ex->sql("SELECT count(*) FROM steward.audit_log WHERE schema_name = 'public' AND table_name = '$table'");
}

# ---------------------------------------------------------------------------
# AgentRepository: create, findById, updateStatus, updateHeartbeat, statistics
# ---------------------------------------------------------------------------
my @agents = (
    [ 'orchestrator', 'Orchestrator', 'orchestrator', '{planning}' ],
    [ 'agent-1', 'Claude Agent', 'worker', '{coding,testing}' ],
    [ 'agent-2', 'Review Agent', 'reviewer', '{code_review}' ],
    [ 'agent-3', 'Gamma', 'specialist', '{research}' ],
    [ 'agent-4', 'Flaky Agent', 'worker', '{coding}' ],
);
for my $ag (@agents) {
    $ex->sql("BEGIN; SET LOCAL steward.actor = 'orchestrator';
              INSERT INTO agents (agent_id, agent_name, agent_type, capabilities)
              VALUES ('$ag->[0]', '$ag->[1]', '$ag->[2]', '$ag->[3]'); COMMIT;");
}
is($ex->sql(q{SELECT count(*) FROM agents_live}), scalar(@agents), 'the five agents are registered');
is($ex->sql(q{SELECT agent_name, agent_type, array_to_string(capabilities, ','), status
                FROM agents WHERE agent_id = 'agent-1'}),
   'Claude Agent|worker|coding,testing|idle', 'findById: agent-1 with its capabilities, idle by default');
is($ex->sql(q{SELECT string_agg(agent_id, ',' ORDER BY agent_id) FROM agents_live WHERE capabilities @> '{coding}'}),
   'agent-1,agent-4', 'agents by capability');

$ex->fails_like(q{INSERT INTO agents (agent_id, agent_name, status) VALUES ('agent-9', 'Nine', 'sleeping')},
    qr/violates check constraint "agents_status_check"/, 'an agent status outside the list is refused');
$ex->fails_like(q{INSERT INTO agents (agent_id, agent_name, agent_type) VALUES ('agent-9', 'Nine', 'robot')},
    qr/violates check constraint "agents_agent_type_check"/, 'an unknown agent type is refused');
$ex->fails_like(q{INSERT INTO agents (agent_id, agent_name) VALUES ('Agent 9', 'Nine')},
    qr/violates check constraint "agents_agent_id_check"/, 'an agent id that is no worker name is refused');
$ex->fails_like(q{INSERT INTO agents (agent_id, agent_name) VALUES ('agent-9', 'Claude Agent')},
    qr/duplicate key value violates unique constraint "agents_agent_name_key"/, 'two live agents cannot share a name');
$ex->fails_like(q{INSERT INTO agents (agent_id, agent_name) VALUES ('agent-1', 'Other')},
    qr/duplicate key value violates unique constraint "agents_pkey"/, 'agent ids are unique');

# updateStatus, by the orchestrator: audited with the actor
my $updated_before = $ex->sql(q{SELECT updated_at FROM agents WHERE agent_id = 'agent-1'});
$ex->sql(q{BEGIN; SET LOCAL steward.actor = 'orchestrator';
           UPDATE agents SET status = 'busy' WHERE agent_id = 'agent-1'; COMMIT;});
is($ex->sql(q{SELECT action, actor, sorted(changed_columns), old_values ->> 'status', new_values ->> 'status'
                FROM steward.history('agents', 'agent-1') ORDER BY id}),
   "INSERT|orchestrator|||idle\nUPDATE|orchestrator|status,updated_at|idle|busy",
   'the audit trail has agent-1 registered and set busy by the orchestrator');
is($ex->sql(qq{SELECT updated_at > '$updated_before' FROM agents WHERE agent_id = 'agent-1'}), 't',
   'updateStatus moved updated_at');

# updateHeartbeat and statistics: telemetry, no stamp and no audit entry
my $audit_agents = audit_count('agents');
$updated_before = $ex->sql(q{SELECT updated_at FROM agents WHERE agent_id = 'agent-1'});
my $hb1 = $ex->sql(q{SELECT update_heartbeat('agent-1')});
my $hb2 = $ex->sql(q{SELECT update_heartbeat('agent-1')});
is($ex->sql(qq{SELECT '$hb2'::timestamptz > '$hb1'::timestamptz}), 't', 'each heartbeat stores a later time');
$ex->sql(q{SELECT update_agent_statistics('agent-1', p_messages_processed => 7)});
$ex->sql(q{SELECT update_agent_statistics('agent-1', p_messages_processed => 5)});
is($ex->sql(q{SELECT messages_processed, last_heartbeat = } . "'$hb2'" . q{, updated_at FROM agents WHERE agent_id = 'agent-1'}),
   "12|t|$updated_before", 'statistics and heartbeat are stored, updated_at is left alone');
is(audit_count('agents'), $audit_agents, 'heartbeats and statistics updates write no audit entries');
is($ex->sql(q{SELECT update_heartbeat('nobody') IS NULL}), 't', 'a heartbeat of an unknown agent updates nothing');

# ---------------------------------------------------------------------------
# TaskRepository: create (enqueue), priorities, dequeue, updateStatus
# ---------------------------------------------------------------------------
# enqueued in this order; the queue hands them out by priority, then age
my @created = ([ 'task-low', 'low' ], [ 'task-high', 'high' ], [ 'task-medium', 'medium' ], [ 'task-high-2', 'high' ]);
for my $t (@created) {
    $ex->sql("SELECT create_task('$t->[0]', 'code_review', '$t->[1]', '{\"file\": \"$t->[0].js\"}')");
}
is($ex->sql(q{SELECT string_agg(task_id || ':' || status || ':' || coalesce(assigned_agent_id, '-'), ',' ORDER BY created_at)
                FROM task_queue}),
   join(',', map { "$_->[0]:pending:-" } @created), 'four tasks wait, unassigned');
is($ex->sql(q{SELECT string_agg(t.priority || '=' || j.priority, ',' ORDER BY t.created_at)
                FROM tasks t JOIN steward.jobs j ON j.id = t.job_id}),
   'low=-1,high=1,medium=0,high=1', "priority labels map to the queue's integer priority");

$ex->fails_like(q{SELECT create_task('task-x', 'code_review', 'urgent')},
    qr/invalid task priority "urgent"/, 'an unknown priority is refused');
$ex->fails_like(q{INSERT INTO tasks (task_id, task_type, priority, job_id) VALUES ('task-x', 'code_review', 'urgent', 0)},
    qr/violates check constraint "tasks_priority_check"/, '... also when the row is written directly');
$ex->fails_like(q{SELECT create_task('task-high', 'code_review', 'low')},
    qr/duplicate key value violates unique constraint "tasks_pkey"/, 'a task id is used once');
is($ex->sql(q{SELECT count(*) FROM steward.jobs WHERE queue = 'tasks'}), scalar(@created),
   'the refused creates left no job in the queue (task row and job commit together)');
$ex->fails_like(q{SELECT * FROM dequeue_task('ghost')},
    qr/agent "ghost" is not registered or has been retired/, 'an unregistered agent cannot dequeue');

my $c = dequeue_as('agent-1');
is_deeply([ $c->{task_id}, $c->{attempt}, $c->{payload} ], [ 'task-high', 1, '{"file": "task-high.js"}' ],
    "dequeue('agent-1') takes the oldest high-priority task, first attempt, with its payload");
is($ex->sql(q{SELECT status, assigned_agent_id FROM task_queue WHERE task_id = 'task-high'}),
   'in_progress|agent-1', 'the task is in progress and assigned to agent-1');
$ex->fails_like("SELECT complete_task('task-high', 'agent-2', $c->{token})",
    qr/task "task-high" is assigned to agent "agent-1", not to "agent-2"/,
    'another agent cannot complete the task, even with the right lease token');
$ex->fails_like("SELECT update_task_status('task-high', 'in_progress', 'agent-1', $c->{token})",
    qr/cannot set task "task-high" to status "in_progress"/, 'updateStatus refuses a status an agent cannot set');
is($ex->sql("SELECT update_task_status('task-high', 'completed', 'agent-1', $c->{token}, '{\"success\": true}')"),
   'completed', "updateStatus('task-high', 'completed', { result })");
is($ex->sql(q{SELECT status, result ->> 'success', assigned_agent_id FROM task_queue WHERE task_id = 'task-high'}),
   'completed|true|agent-1', 'the task is completed with its result');
$ex->fails_like("SELECT complete_task('task-high', 'agent-1', $c->{token})",
    qr/cannot complete job \d+: it is already completed/, 'a task is completed once');
$ex->fails_like(q{SELECT complete_task('task-nope', 'agent-1', 1)},
    qr/task "task-nope" does not exist/, 'completing an unknown task');

# the agent loop: complete_and_next completes and claims in one statement
my @order;
$c = dequeue_as('agent-1');
while ($c) {
    push @order, $c->{task_id};
    $c = claim("SELECT * FROM complete_and_next('$c->{task_id}', 'agent-1', $c->{token}, '{\"ok\": true}')");
}
is(join(',', @order), 'task-high-2,task-medium,task-low',
   'the agent loop takes the rest by priority (high, medium, low) until the queue is empty');
is($ex->sql(q{SELECT tasks_completed FROM agents WHERE agent_id = 'agent-1'}), 1 + @order,
   "agent-1's tasks_completed counts every task it completed");
is($ex->sql(q{SELECT count(*) FROM task_queue WHERE status = 'completed'}), scalar(@created), 'all four are completed');

# ---------------------------------------------------------------------------
# Retry handling
# ---------------------------------------------------------------------------
$ex->sql(q{SELECT create_task('flaky-1', 'test_run', 'high', '{}', p_max_retries => 1)});
$c = dequeue_as('agent-4');
is($ex->sql("SELECT fail_task('flaky-1', 'agent-4', $c->{token}, 'tool timeout', p_retry_in => '0')"),
   'pending', 'a failed attempt with retries left goes back to pending');
is($ex->sql(q{SELECT status, retry_count, assigned_agent_id IS NULL FROM task_queue WHERE task_id = 'flaky-1'}),
   'pending|1|t', 'one retry counted, no longer assigned');
my $c2 = dequeue_as('agent-2');
is_deeply([ $c2->{task_id}, $c2->{attempt}, $c2->{max_attempts} ], [ 'flaky-1', 2, 2 ], 'the retry is the second and last attempt');
is($ex->sql("SELECT fail_task('flaky-1', 'agent-2', $c2->{token}, 'tool timeout again')"),
   'failed', 'failing the last attempt leaves the task failed');
is($ex->sql(q{SELECT status, retry_count FROM task_queue WHERE task_id = 'flaky-1'}), 'failed|2',
   'the task is failed with both attempts counted');
is($ex->sql(q{SELECT dead FROM steward.queue_summary WHERE queue = 'tasks'}), '1', 'queue_summary shows one dead task');
is($ex->sql(q{SELECT string_agg(event || ':' || coalesce(agent_id, '-') || ':' || coalesce(detail, '-'), ',' ORDER BY at, event)
                FROM task_history('flaky-1') WHERE event IN ('attempt_failed', 'created')}),
   'created:-:high,attempt_failed:agent-4:tool timeout,attempt_failed:agent-2:tool timeout again',
   'task history: created, then each failed attempt with its agent and error');
is($ex->sql(q{SELECT tasks_failed FROM agents WHERE agent_id IN ('agent-4', 'agent-2') ORDER BY agent_id}), "1\n1",
   'each agent counted its failed attempt');

$ex->sql(q{SELECT retry_task('flaky-1')});
is($ex->sql(q{SELECT status, attempt, retry_count FROM task_queue WHERE task_id = 'flaky-1'}), 'pending|0|2',
   'retry_task puts the failed task back with fresh attempts and its errors kept');
$c = dequeue_as('agent-1');
$ex->sql("SELECT complete_task('flaky-1', 'agent-1', $c->{token}, '{\"passed\": 12}')");
is($ex->sql(q{SELECT status, assigned_agent_id FROM task_queue WHERE task_id = 'flaky-1'}), 'completed|agent-1',
   'the retried task completes');
is($ex->sql(q{SELECT dead FROM steward.queue_summary WHERE queue = 'tasks'}), '0', 'no dead task is left');
$ex->fails_like(q{SELECT retry_task('flaky-1')}, qr/cannot retry job \d+: it completed/, 'a completed task cannot be retried');

# without p_retry_in the queue's backoff applies (5 s base, +-20 % jitter)
$ex->sql(q{SELECT create_task('flaky-2', 'test_run', 'medium')});
$c = dequeue_as('agent-4');
$ex->sql("SELECT fail_task('flaky-2', 'agent-4', $c->{token}, 'rate limited')");
is($ex->sql(q{SELECT status, run_at - (errors -> 0 ->> 'at')::timestamptz BETWEEN '4 s' AND '6 s'
                FROM task_queue WHERE task_id = 'flaky-2'}),
   'pending|t', 'the retry waits for the backoff');
is(dequeue_as('agent-1'), undef, 'nothing to dequeue while the only task waits out its backoff');
is($ex->sql(q{SELECT cancel_task('flaky-2')}), 't', 'the waiting task is cancelled');
is($ex->sql(q{SELECT status FROM task_queue WHERE task_id = 'flaky-2'}), 'cancelled', 'cancelled');

# ---------------------------------------------------------------------------
# Leases: the heartbeat of a running task, and a dead agent's task
# ---------------------------------------------------------------------------
# lease-c has no retries: losing its only lease is its end
$ex->sql(q{SELECT create_task('lease-a', 'code_review', 'medium');
           SELECT create_task('lease-c', 'code_review', 'medium', p_max_retries => 0);
           SELECT create_task('lease-b', 'code_review', 'medium')});
my $dead = dequeue_as('agent-4', '2 seconds');    # agent-4 claims two tasks, then dies (no heartbeat, no complete)
my $dead_c = dequeue_as('agent-4', '2 seconds');
$ex->sql(q{SELECT update_heartbeat('agent-4')});
my $alive = dequeue_as('agent-1', '2 seconds');
is("$dead->{task_id},$dead_c->{task_id},$alive->{task_id}", 'lease-a,lease-c,lease-b',
   'agent-4 holds two tasks and agent-1 one, on 2 s leases');
# agent-1 works on and sends the task heartbeat; the other live agents send theirs
for my $step ([ 50, 'halfway' ], [ 90, 'almost done' ]) {
    $ex->sql("SELECT pg_sleep(1.1);
              SELECT task_heartbeat('lease-b', 'agent-1', $alive->{token}, '2 seconds',
                                    '{\"pct\": $step->[0], \"message\": \"$step->[1]\"}');
              SELECT update_heartbeat(agent_id) FROM agents_live WHERE agent_id NOT IN ('agent-1', 'agent-4');");
}
is($ex->sql(q{SELECT running, expired_leases FROM steward.queue_stats WHERE queue = 'tasks'}), '3|2',
   "queue_stats: three running, agent-4's two leases have run out, agent-1's was extended");
is($ex->sql(q{SELECT string_agg(agent_id, ',') FROM find_stale_agents('2 seconds')}), 'agent-4',
   'agent-4 is the only agent whose heartbeat is stale');
is($ex->sql(q{BEGIN; SET LOCAL steward.actor = 'orchestrator'; SELECT * FROM mark_stale_agents_offline('2 seconds'); COMMIT;}),
   'agent-4', 'the sweep marks it offline');
is($ex->sql(q{SELECT actor, new_values ->> 'status' FROM steward.history('agents', 'agent-4') ORDER BY id DESC LIMIT 1}),
   'orchestrator|offline', "... recorded in the audit trail as the orchestrator's change");

$c = claim("SELECT * FROM complete_and_next('lease-b', 'agent-1', $alive->{token}, '{\"ok\": true}')");
is_deeply([ $c->{task_id}, $c->{attempt} ], [ 'lease-a', 2 ],
    "completing its task, agent-1 is handed the dead agent's task (second attempt)");
is($ex->sql(q{SELECT status, assigned_agent_id, errors -> 0 ->> 'error' FROM task_queue WHERE task_id = 'lease-c'}),
   'failed|agent-4|lease expired', "the dead agent's task without retries is failed, its lost lease recorded");
$ex->fails_like("SELECT complete_task('lease-c', 'agent-4', $dead_c->{token})",
    qr/cannot complete job \d+: it is already dead/, '... and cannot be completed late either');
$ex->fails_like("SELECT complete_task('lease-a', 'agent-4', $dead->{token}, '{\"late\": true}')",
    qr/cannot complete job \d+: lease token $dead->{token} is not the current lease/,
    "the dead agent's late complete is refused");
$ex->fails_like("SELECT task_heartbeat('lease-a', 'agent-4', $dead->{token})",
    qr/cannot extend the lease of job \d+: lease token $dead->{token} is not the current lease/,
    '... and so is its late heartbeat');
$ex->sql("SELECT complete_task('lease-a', 'agent-1', $c->{token}, '{\"ok\": true}')");
is($ex->sql(q{SELECT status, assigned_agent_id, retry_count, errors -> 0 ->> 'worker', errors -> 0 ->> 'error'
                FROM task_queue WHERE task_id = 'lease-a'}),
   'completed|agent-1|1|agent-4|lease expired', 'lease-a was done once, by agent-1; the lost lease is in its errors');
is($ex->sql(q{SELECT string_agg(event || ':' || agent_id, ',' ORDER BY at, event) FROM task_history('lease-a')
               WHERE agent_id IS NOT NULL}),
   'lease_expired:agent-4,started:agent-1,completed:agent-1', 'task history of lease-a');
is($ex->sql(q{SELECT progress ->> 'pct', jsonb_array_length(log), log -> 1 ->> 'message' FROM task_queue WHERE task_id = 'lease-b'}),
   '90|2|almost done', 'the task heartbeats left their progress and log lines with lease-b');
is($ex->sql(q{SELECT lost_leases_in_queue_history, tasks_running FROM agent_statistics WHERE agent_id = 'agent-4'}), '2|0',
   'agent statistics: agent-4 lost two leases and holds nothing');

# ---------------------------------------------------------------------------
# Four agents work one queue at the same time
# ---------------------------------------------------------------------------
my $bulk = 300;
$ex->sql(qq{CREATE TABLE scenario_work_log (task_id text NOT NULL, agent_id text NOT NULL, attempt int NOT NULL,
                                           outcome text NOT NULL);
            SELECT count(create_task('bulk-' || i, 'code_review', (ARRAY['high', 'medium', 'low'])[1 + i % 3],
                                     jsonb_build_object('n', i, 'flaky', i % 10 = 0)))
              FROM generate_series(1, $bulk) i;});
my $flaky = int($bulk / 10);
my @out = $ex->workers(4, q{
DO $$
DECLARE
    me text := 'worker-' || pg_backend_pid();
    t claimed_task;
BEGIN
    INSERT INTO agents (agent_id, agent_name, agent_type, capabilities) VALUES (me, 'Worker ' || me, 'worker', '{code_review}');
    COMMIT;
    SELECT * INTO t FROM dequeue_task(me);
    COMMIT;
    WHILE t.task_id IS NOT NULL LOOP
        IF (t.payload ->> 'flaky')::boolean AND t.attempt = 1 THEN
            -- the first attempt of every tenth task fails; the retry is due at once
            INSERT INTO scenario_work_log VALUES (t.task_id, me, t.attempt, 'failed');
            PERFORM fail_task(t.task_id, me, t.lease_token, 'flaky tool', p_retry_in => '0');
            SELECT * INTO t FROM dequeue_task(me);
        ELSE
            INSERT INTO scenario_work_log VALUES (t.task_id, me, t.attempt, 'done');
            SELECT * INTO t FROM complete_and_next(t.task_id, me, t.lease_token, jsonb_build_object('by', me));
        END IF;
        COMMIT;
    END LOOP;
END $$;
SELECT 'worker-' || pg_backend_pid() || '|' || count(*) FROM scenario_work_log
 WHERE agent_id = 'worker-' || pg_backend_pid() AND outcome = 'done';
});
my ($sum, $busy) = (0, 0);
for (@out) { my (undef, $n) = split /\|/, (split /\n/)[-1]; $sum += $n; $busy++ if $n > 0; }
note('tasks done per worker: ' . join(', ', map { (split /\n/)[-1] } @out));
is($sum, $bulk, 'the four workers report every bulk task done');
cmp_ok($busy, '>=', 2, 'more than one worker took part');
is($ex->sql(q{SELECT count(*), count(DISTINCT task_id) FROM scenario_work_log WHERE outcome = 'done'}), "$bulk|$bulk",
   'no task was done twice, none was lost');
is($ex->sql(q{SELECT count(*), count(DISTINCT task_id), count(*) FILTER (WHERE attempt = 1) FROM scenario_work_log WHERE outcome = 'failed'}),
   "$flaky|$flaky|$flaky", 'every flaky task failed exactly once, on its first attempt');
is($ex->sql(q{SELECT count(*) FROM scenario_work_log d WHERE outcome = 'done' AND (attempt = 2) <> (task_id IN
                 (SELECT task_id FROM scenario_work_log WHERE outcome = 'failed'))}), '0',
   'flaky tasks were done on their second attempt, all others on the first');
is($ex->sql(q{SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE retry_count = 1)
                FROM task_queue WHERE task_id LIKE 'bulk-%'}), "$bulk|$flaky", 'task_queue: all bulk tasks completed');
is($ex->sql(q{SELECT count(*) FROM agent_statistics a
               WHERE a.agent_id LIKE 'worker-%'
                 AND (a.tasks_completed, a.tasks_failed) IS DISTINCT FROM
                     ((SELECT count(*) FROM scenario_work_log w WHERE w.agent_id = a.agent_id AND outcome = 'done')::int,
                      (SELECT count(*) FROM scenario_work_log w WHERE w.agent_id = a.agent_id AND outcome = 'failed')::int)}),
   '0', "each worker's tasks_completed / tasks_failed counters match the work it did");
is($ex->sql(q{SELECT count(*) FROM agent_statistics WHERE agent_id LIKE 'worker-%'
                AND (tasks_completed <> completed_in_queue_history OR tasks_failed <> failed_runs_in_queue_history)}),
   '0', "... and the queue's history attributes the same completions and failures to each worker");

# per queue statistics
my $completed = $ex->sql(q{SELECT completed FROM task_statistics});
is($ex->sql(q{SELECT ready, scheduled, running, expired_leases, completed_last_5min, dead_last_5min
                FROM steward.queue_stats WHERE queue = 'tasks'}),
   "0|0|0|0|$completed|1", 'queue_stats: the queue is drained, every completion of this scenario counted, lease-c dead');
is($ex->sql(q{SELECT ready, running, dead FROM steward.queue_summary WHERE queue = 'tasks'}), '0|0|1',
   'queue_summary: nothing waits or runs, one task is dead');
is($ex->sql(q{SELECT failed, cancelled FROM task_statistics}), '1|1', 'task_statistics: lease-c failed, flaky-2 cancelled');
# failed runs of this scenario: flaky-1 twice, flaky-2 once, the flaky bulk
# tasks once each, and agent-4's two lost leases
my $errors = $ex->sql(q{SELECT count(*) FROM steward.jobs j, jsonb_array_elements(j.errors) e
                         WHERE j.queue = 'tasks' AND (e ->> 'at')::timestamptz > now() - interval '5 minutes'});
is($errors, 2 + 1 + $flaky + 2, 'the jobs keep one error entry per failed run');
# (this was a finding of the port: failed_last_5min used to forget the
# failures of jobs that later completed or were cancelled)
is($ex->sql(q{SELECT failed_last_5min FROM steward.queue_stats WHERE queue = 'tasks'}), $errors,
   'queue_stats.failed_last_5min counts the failed runs of the last 5 minutes');

# ---------------------------------------------------------------------------
# VotingRepository: proposals, votes, tallies, audit logging
# ---------------------------------------------------------------------------
# every change is made in a transaction that names the acting agent
sub as_agent {
    my ($agent, $sql) = @_;
    return $ex->sql("BEGIN; SET LOCAL steward.actor = '$agent'; $sql; COMMIT;");
}
my $p1 = as_agent('agent-1', q{INSERT INTO proposals (title, proposed_by, quorum)
                               VALUES ('Adopt a lint policy', 'agent-1', 3) RETURNING proposal_id});
my $p2 = as_agent('agent-3', q{INSERT INTO proposals (title, proposed_by, quorum)
                               VALUES ('Switch the test runner', 'agent-3', 2) RETURNING proposal_id});
as_agent('agent-1', "SELECT cast_vote($p1, 'agent-1', 'approve', 'fewer review rounds')");
as_agent('agent-2', "SELECT cast_vote($p1, 'agent-2', 'approve')");
as_agent('agent-3', "SELECT cast_vote($p1, 'agent-3', 'reject', 'too strict')");
as_agent('agent-1', "SELECT cast_vote($p2, 'agent-1', 'approve')");
as_agent('agent-2', "SELECT cast_vote($p2, 'agent-2', 'reject')");
as_agent('agent-3', "SELECT cast_vote($p2, 'agent-3', 'approve')");
is($ex->sql("SELECT approve, reject, abstain, total_votes, quorum_met FROM proposal_results WHERE proposal_id = $p1"),
   '2|1|0|3|t', 'proposal 1 is tallied: 2 approve, 1 reject, quorum met');

$ex->fails_like("SELECT cast_vote($p1, 'agent-1', 'reject')",
    qr/duplicate key value violates unique constraint "votes_proposal_agent_key"/, 'one vote per agent per proposal');
$ex->fails_like("SELECT cast_vote($p1, 'orchestrator', 'maybe')",
    qr/violates check constraint "votes_vote_check"/, 'a vote is approve, reject or abstain');
$ex->fails_like("SELECT cast_vote($p1, 'ghost', 'approve')",
    qr/agent "ghost" is not registered or has been retired/, 'only registered agents vote');
$ex->fails_like(q{SELECT cast_vote(999, 'agent-1', 'approve')}, qr/proposal 999 does not exist/, 'no vote on a missing proposal');
$ex->fails_like("SELECT change_vote($p1, 'orchestrator', 'approve')",
    qr/agent "orchestrator" has no vote on proposal $p1/, 'an agent without a vote cannot change it');

# a vote cast in a transaction that rolls back leaves neither vote nor audit entry
my $audit_votes = audit_count('votes');
$ex->sql("BEGIN; SET LOCAL steward.actor = 'agent-4'; SELECT cast_vote($p1, 'agent-4', 'reject'); ROLLBACK;");
is($ex->sql("SELECT count(*) FROM votes WHERE agent_id = 'agent-4'"), '0', 'the rolled-back vote is not there');
is(audit_count('votes'), $audit_votes, '... and left no audit row');

# agent-2 changes its vote on proposal 2; agent-4 votes and withdraws
as_agent('agent-2', "SELECT change_vote($p2, 'agent-2', 'approve', 'convinced by the benchmark')");
as_agent('agent-4', "SELECT cast_vote($p2, 'agent-4', 'reject')");
as_agent('agent-4', "DELETE FROM votes WHERE proposal_id = $p2 AND agent_id = 'agent-4' RETURNING vote");
is($ex->sql("SELECT string_agg(action || ':' || entity || ':' || actor, ',' ORDER BY audit_id) FROM voting_audit_log($p2)"),
   'INSERT:proposals:agent-3,INSERT:votes:agent-1,INSERT:votes:agent-2,INSERT:votes:agent-3,'
   . 'UPDATE:votes:agent-2,INSERT:votes:agent-4,SOFT_DELETE:votes:agent-4',
   "the voting audit log of proposal 2: the proposal, each vote, agent-2's change and agent-4's withdrawal, each by its agent");
is($ex->sql("SELECT sorted(changed_columns), old_values ->> 'vote', new_values ->> 'vote', new_values ->> 'agent_id'
               FROM voting_audit_log($p2) WHERE action = 'UPDATE'"),
   'rationale,updated_at,vote|reject|approve|agent-2', 'the changed vote is logged with its old and new value');
is($ex->sql("SELECT approve, reject, total_votes FROM proposal_results WHERE proposal_id = $p2"), '3|0|3',
   "proposal 2's tally counts the changed vote and not the withdrawn one");
# a withdrawn vote lets the agent vote again
as_agent('agent-4', "SELECT cast_vote($p2, 'agent-4', 'abstain')");
as_agent('agent-4', "DELETE FROM votes WHERE proposal_id = $p2 AND agent_id = 'agent-4' RETURNING vote");
is($ex->sql("SELECT count(*) FILTER (WHERE deleted_at IS NULL), count(*) FROM votes WHERE proposal_id = $p2 AND agent_id = 'agent-4'"),
   '0|2', 'agent-4 voted twice on proposal 2 and withdrew both times');

# ---------------------------------------------------------------------------
# Retiring an agent takes its proposals and votes with it; restore brings them back
# ---------------------------------------------------------------------------
my $live_votes_p1 = $ex->sql("SELECT count(*) FROM votes_live WHERE proposal_id = $p1");
my $votes_p2 = $ex->sql("SELECT count(*) FROM votes_live WHERE proposal_id = $p2");
is($ex->sql(q{BEGIN; SET LOCAL steward.actor = 'orchestrator'; DELETE FROM agents WHERE agent_id = 'agent-3' RETURNING agent_id; COMMIT;}),
   'agent-3', "DELETE FROM agents retires agent-3 (the document's delete('agents'))");
is($ex->sql(q{SELECT count(*) FROM agents WHERE agent_id = 'agent-3' AND deleted_at IS NOT NULL}), '1', 'the row is kept, marked');
is($ex->sql("SELECT count(*) FROM proposals_live WHERE proposal_id = $p2"), '0', "agent-3's proposal went with it");
is($ex->sql("SELECT count(*) FROM votes_live WHERE proposal_id = $p2"), '0', '... with all the votes on it');
is($ex->sql("SELECT approve, reject, total_votes FROM proposal_results WHERE proposal_id = $p1"), '2|0|2',
   "agent-3's vote on proposal 1 no longer counts");
is($ex->sql(q{SELECT string_agg(table_name || ':' || action || ':' || actor, ',' ORDER BY table_name)
                FROM (SELECT DISTINCT table_name, action, actor FROM steward.audit_log
                       WHERE action = 'SOFT_DELETE' AND actor = 'orchestrator') a}),
   'agents:SOFT_DELETE:orchestrator,proposals:SOFT_DELETE:orchestrator,votes:SOFT_DELETE:orchestrator',
   'the retirement and its cascade are audited as soft deletes by the orchestrator');
$ex->fails_like("SELECT cast_vote($p1, 'agent-3', 'approve')",
    qr/agent "agent-3" is not registered or has been retired/, 'a retired agent cannot vote');
$ex->fails_like(q{SELECT * FROM dequeue_task('agent-3')},
    qr/agent "agent-3" is not registered or has been retired/, '... nor take tasks');

# its name is free for a new agent, which then blocks the restore
$ex->sql(q{INSERT INTO agents (agent_id, agent_name, agent_type) VALUES ('agent-5', 'Gamma', 'specialist')});
$ex->fails_like(q{SELECT steward.restore('agents', '"agent-3"')},
    qr/duplicate key value violates unique constraint "agents_agent_name_key"/,
    'agent-3 cannot come back while a live agent has its name');
is($ex->sql("SELECT count(*) FROM proposals_live WHERE proposal_id = $p2"), '0', 'the refused restore restored nothing');
$ex->sql(q{UPDATE agents SET agent_name = 'Gamma 2' WHERE agent_id = 'agent-5'});
is($ex->sql(q{BEGIN; SET LOCAL steward.actor = 'orchestrator'; SELECT steward.restore('agents', '"agent-3"'); COMMIT;}),
   '1', 'agent-3 is restored');
is($ex->sql("SELECT count(*) FROM proposals_live WHERE proposal_id = $p2"), '1', 'its proposal is back');
is($ex->sql("SELECT count(*) FROM votes_live WHERE proposal_id = $p2"), $votes_p2, '... with the votes others cast on it');
is($ex->sql("SELECT count(*) FROM votes_live WHERE proposal_id = $p1"), $live_votes_p1, 'its vote on proposal 1 counts again');
is($ex->sql("SELECT count(*) FROM votes WHERE proposal_id = $p2 AND agent_id = 'agent-4' AND deleted_at IS NOT NULL"), '2',
   "agent-4's votes withdrawn earlier stay withdrawn");
is($ex->sql(q{SELECT count(*) FROM steward.audit_log WHERE action = 'RESTORE' AND actor = 'orchestrator'}),
   1 + 1 + $votes_p2 + 1, 'the restore is audited: the agent, its proposal, the votes on it and its own vote');

# ---------------------------------------------------------------------------
# Voting results: close and tally
# ---------------------------------------------------------------------------
my $p3 = as_agent('agent-2', q{INSERT INTO proposals (title, proposed_by, quorum) VALUES ('Nightly builds', 'agent-2', 3)
                               RETURNING proposal_id});
as_agent('agent-2', "SELECT cast_vote($p3, 'agent-2', 'approve')");
my $p4 = as_agent('agent-1', q{INSERT INTO proposals (title, proposed_by, voting_ends_at)
                               VALUES ('Late idea', 'agent-1', now() - interval '1 second') RETURNING proposal_id});
$ex->fails_like("SELECT cast_vote($p4, 'agent-2', 'approve')", qr/voting on proposal $p4 is closed/,
    'no vote after the deadline');

my %closed;
for my $p ($p1, $p2, $p3) {
    $closed{$p} = as_agent('orchestrator', "SELECT status, result ->> 'approve', result ->> 'reject', result ->> 'quorum_met'
                                             FROM close_proposal($p)");
}
is($closed{$p1}, 'passed|2|1|true', 'proposal 1 passes: 2 of 3 approve, quorum 3 met');
is($closed{$p2}, 'passed|3|0|true', 'proposal 2 passes unanimously');
is($closed{$p3}, 'rejected|1|0|false', 'proposal 3 is rejected for want of a quorum');
$ex->fails_like("SELECT close_proposal($p1)", qr/proposal $p1 is already passed/, 'a proposal is closed once');
$ex->fails_like("SELECT cast_vote($p1, 'orchestrator', 'approve')", qr/voting on proposal $p1 is closed/,
    'no vote on a closed proposal');
$ex->fails_like("SELECT change_vote($p1, 'agent-1', 'reject')", qr/voting on proposal $p1 is closed/,
    'no vote change on a closed proposal');
$ex->fails_like("UPDATE proposals SET status = 'archived', closed_at = now() WHERE proposal_id = $p4",
    qr/violates check constraint "proposals_status_check"/, 'a proposal status outside the list is refused');
$ex->fails_like("UPDATE proposals SET status = 'passed' WHERE proposal_id = $p4",
    qr/violates check constraint "proposals_closed_check"/, 'a proposal cannot be decided without being closed');
is($ex->sql("SELECT actor, sorted(changed_columns), new_values ->> 'status'
               FROM steward.history('proposals', $p1) WHERE action = 'UPDATE'"),
   'orchestrator|closed_at,result,status,updated_at|passed', 'closing proposal 1 is audited with the orchestrator as actor');

# ---------------------------------------------------------------------------
# The same workflow from the application's own role (no owner, no superuser)
# ---------------------------------------------------------------------------
my @as_app = (extra_params => [ '-U', 'orchestrator_app' ]);
sub app_sql { return $ex->node->safe_psql('app', $_[0], @as_app) }
sub app_fails_like {
    my ($sql, $re, $name) = @_;
    my ($ret, $out, $err) = $ex->node->psql('app', $sql, @as_app);
    ok($ret != 0 && $err =~ $re, $name) or diag("expected an error like $re, got: " . ($ret == 0 ? "success: $out" : $err));
}
app_sql(q{BEGIN; SET LOCAL steward.actor = 'orchestrator';
          INSERT INTO agents (agent_id, agent_name, agent_type) VALUES ('agent-app', 'App Agent', 'worker'); COMMIT;});
app_sql(q{SELECT create_task('app-1', 'code_review', 'high'); SELECT create_task('app-2', 'code_review', 'low')});
$c = claim_with(\&app_sql, q{SELECT * FROM dequeue_task('agent-app')});
my $next = claim_with(\&app_sql, "SELECT * FROM complete_and_next('app-1', 'agent-app', $c->{token}, '{\"ok\": true}')");
app_sql("SELECT complete_task('app-2', 'agent-app', $next->{token})");
is("$c->{task_id},$next->{task_id}", 'app-1,app-2', 'the app role enqueues, dequeues and runs the agent loop');
is(app_sql(q{SELECT string_agg(status, ',' ORDER BY task_id) FROM task_queue WHERE task_id LIKE 'app-%'}), 'completed,completed',
   '... and reads the task view');
my $p5 = app_sql(q{BEGIN; SET LOCAL steward.actor = 'agent-app';
                   INSERT INTO proposals (title, proposed_by) VALUES ('App proposal', 'agent-app') RETURNING proposal_id; COMMIT;});
app_sql("BEGIN; SET LOCAL steward.actor = 'agent-1'; SELECT cast_vote($p5, 'agent-1', 'approve'); COMMIT;");
is(app_sql("SELECT string_agg(action || ':' || entity || ':' || actor || ':' || role_name, ',') FROM voting_audit_log($p5)"),
   'INSERT:proposals:agent-app:orchestrator_app,INSERT:votes:agent-1:orchestrator_app',
   'the app reads the voting audit log: each entry names the agent (actor) and the database role');
app_fails_like(q{SELECT count(*) FROM steward.audit_log}, qr/permission denied for view audit_log/,
    'the app role cannot read the whole audit log');
app_fails_like(q{DELETE FROM steward.audit_records}, qr/permission denied for table audit_records/,
    '... nor remove entries from it');
is(app_sql(q{DELETE FROM agents WHERE agent_id = 'agent-app' RETURNING agent_id; SELECT steward.restore('agents', '"agent-app"');
             SELECT count(*) FROM proposals_live WHERE proposed_by = 'agent-app'}),
   "agent-app\n1\n1", 'the app role retires an agent and restores it with its proposal');
is(app_sql(q{SELECT ready, running FROM steward.queue_summary WHERE queue = 'tasks'}), '0|0',
   'the app role reads queue_summary (steward_monitor)');

# the soft-delete summary sees what is live and what is retired
is($ex->sql(q{SELECT string_agg(table_name::text || '=' || live_rows || '/' || deleted_rows, ',' ORDER BY table_name::text)
                FROM steward.soft_delete_summary}),
   join(',', map { my ($t) = $_; "$t=" . $ex->sql("SELECT count(*) FILTER (WHERE deleted_at IS NULL) || '/' || count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM $t") }
        qw(agents proposals votes)),
   'soft_delete_summary counts live and deleted agents, proposals and votes');

done_testing();
