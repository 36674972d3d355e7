# Job queue failure model: a worker killed mid-job (pg_terminate_backend and
# kill -9) gets its job back after the lease and the job is done exactly
# once; an immediate shutdown during a 4-worker load loses no job and
# completes none twice. Runs with the library preloaded, so the shared-memory
# scan cursor (src/queue/cursor.cpp) is in play, and is re-created empty by
# the crash restarts.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('queue_crash');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_steward'\nrestart_after_crash = on\n");
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_steward;
    SELECT steward.create_queue('crash', lease => '2 seconds', max_attempts => 10);
    -- the work a job does: one row per execution
    CREATE TABLE done (job_id bigint, worker text, at timestamptz DEFAULT clock_timestamp());
});

# Start a worker that claims one job (lease mode: the claim commits), then
# "works" for a long time. Returns its harness and backend pid.
sub start_sleeping_worker {
    my ($mode) = @_;
    my $bg = $node->background_psql('postgres');
    if ($mode eq 'transactional') {
        $bg->query_safe('BEGIN');
    }
    my $claimed = $bg->query_safe(q{SELECT id || ':' || lease_token FROM steward.dequeue('crash', 'sleeper', lease => '6 seconds')});
    my $pid = $bg->query_safe('SELECT pg_backend_pid()');
    $bg->{stdin} .= "SELECT pg_sleep(600);\n";
    $bg->{run}->pump_nb;
    return ($bg, $pid, $claimed);
}

# Finish every claimable job once (with the work in the same transaction).
sub drain {
    my ($worker) = @_;
    $node->safe_psql('postgres', qq{
        DO \$\$
        DECLARE j record;
        BEGIN
            LOOP
                SELECT * INTO j FROM steward.dequeue('crash', '$worker');
                EXIT WHEN j.id IS NULL;
                INSERT INTO done (job_id, worker) VALUES (j.id, '$worker');
                PERFORM steward.complete(j.id, j.lease_token);
            END LOOP;
        END \$\$;
    });
}

for my $how ('terminate', 'kill9') {
    my $job = $node->safe_psql('postgres', qq{SELECT steward.enqueue('crash', '{"how": "$how"}')});
    my ($bg, $pid, $claimed) = start_sleeping_worker('lease');
    like($claimed, qr/^$job:1$/, "$how: worker claimed the job");
    if ($how eq 'terminate') {
        $node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
    } else {
        kill 'KILL', $pid;
    }
    eval { $bg->quit };
    $node->poll_query_until('postgres', 'SELECT true') or die "server did not come back";
    is($node->safe_psql('postgres', "SELECT state FROM steward.jobs WHERE id = $job"), 'running',
       "$how: the claim survived the worker (it had committed)");
    is($node->safe_psql('postgres', q{SELECT count(*) FROM steward.dequeue('crash', 'early')}), '0',
       "$how: nobody gets the job before its lease ends");
    sleep 7;
    drain("rescuer_$how");
    is($node->safe_psql('postgres', "SELECT state || ' ' || attempt FROM steward.jobs WHERE id = $job"),
       'completed 2', "$how: job reclaimed after the lease, attempt 2, completed");
    is($node->safe_psql('postgres', "SELECT count(*) FROM done WHERE job_id = $job"), '1',
       "$how: the job's work was done exactly once");
}

# Transactional mode: the claim dies with the transaction; the job is
# claimable at once and no attempt is used.
{
    my $job = $node->safe_psql('postgres', q{SELECT steward.enqueue('crash', '{"how": "tx"}')});
    my ($bg, $pid, $claimed) = start_sleeping_worker('transactional');
    like($claimed, qr/^$job:1$/, 'transactional: worker claimed the job');
    kill 'KILL', $pid;
    eval { $bg->quit };
    $node->poll_query_until('postgres', 'SELECT true') or die "server did not come back";
    drain('rescuer_tx');
    is($node->safe_psql('postgres', "SELECT state || ' ' || attempt FROM steward.jobs WHERE id = $job"),
       'completed 1', 'transactional: the killed claim rolled back, job done at once on attempt 1');
    is($node->safe_psql('postgres', "SELECT count(*) FROM done WHERE job_id = $job"), '1',
       'transactional: work done exactly once');
}

# The cursors live in shared memory, queue ids per database: two databases
# whose queues share id 1 must not share a cursor. Jobs of db_b are older
# than those of db_a; draining db_a must not hide them.
$node->safe_psql('postgres', 'CREATE DATABASE db_a');
$node->safe_psql('postgres', 'CREATE DATABASE db_b');
for my $db ('db_b', 'db_a') {
    $node->safe_psql($db, q{CREATE EXTENSION pg_steward; SELECT steward.create_queue('same');
        SELECT count(*) FROM steward.enqueue_batch('same', array_fill('{}'::jsonb, ARRAY[50]));});
}
is($node->safe_psql('db_a', q{SELECT count(*) FROM steward.dequeue('same', max_jobs => 100)}), '50', 'db_a drained');
is($node->safe_psql('db_b', q{SELECT count(*) FROM steward.dequeue('same', max_jobs => 100)}), '50',
   'db_b still sees all its jobs (cursors are per database)');
# DROP and CREATE EXTENSION restarts queue ids: the old cursor must not hide new jobs
$node->safe_psql('db_b', q{DROP EXTENSION pg_steward; CREATE EXTENSION pg_steward; SELECT steward.create_queue('same');
    INSERT INTO steward._job (queue_id, state, prio, run_at, payload, max_attempts)
    SELECT 1, 'ready', 0, now() - interval '1 day', '{}', 5 FROM generate_series(1, 5);});
is($node->safe_psql('db_b', q{SELECT count(*) FROM steward.dequeue('same', max_jobs => 100)}), '5',
   'rows that arrived without an enqueue (as in a restore) are found after CREATE EXTENSION');

# Immediate shutdown during a load of 4 workers: two in transactional mode
# (claim, work and complete in one transaction), two in lease mode (the
# claim commits first).
$node->safe_psql('postgres', q{
    TRUNCATE done;
    SELECT count(*) FROM steward.enqueue_batch('crash',
        (SELECT array_agg(jsonb_build_object('n', i)) FROM generate_series(1, 20000) i));
    CREATE PROCEDURE work(w text, lease_mode boolean) LANGUAGE plpgsql AS $$
    DECLARE j record;
    BEGIN
        LOOP
            SELECT * INTO j FROM steward.dequeue('crash', w);
            EXIT WHEN j.id IS NULL;
            IF lease_mode THEN COMMIT; END IF;
            INSERT INTO done (job_id, worker) VALUES (j.id, w);
            PERFORM steward.complete(j.id, j.lease_token);
            COMMIT;
        END LOOP;
    END $$;
});
my $total = $node->safe_psql('postgres', q{SELECT count(*) FROM steward._job});
my @workers;
for my $i (1 .. 4) {
    my $lease = $i % 2 ? 'true' : 'false';
    my ($out, $err) = ('', '');
    push @workers, IPC::Run::start(
        [ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', "CALL work('w$i', $lease)" ],
        '>', \$out, '2>', \$err);
}
$node->poll_query_until('postgres', 'SELECT count(*) > 2000 FROM done') or die 'workers made no progress';
$node->stop('immediate');
$_->finish for @workers;
$node->start;

my $counts = $node->safe_psql('postgres', q{
    SELECT (SELECT count(*) FROM steward.jobs WHERE queue = 'crash' AND payload ? 'n') || ' ' ||
           (SELECT count(*) FROM steward.jobs WHERE queue = 'crash' AND payload ? 'n' AND state = 'completed') || ' ' ||
           (SELECT count(*) FROM (SELECT job_id FROM done GROUP BY job_id HAVING count(*) > 1) d)});
my ($all, $completed, $twice) = split / /, $counts;
is($all, $total, "after the crash all $total jobs exist (none lost)");
ok($completed > 2000 && $completed < $total, "some jobs completed before the crash ($completed)");
is($twice, '0', 'no job was worked twice');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM steward.jobs j WHERE queue = 'crash' AND payload ? 'n' AND state = 'completed'
       AND NOT EXISTS (SELECT FROM done d WHERE d.job_id = j.id)}), '0',
   'every completed job has its work recorded');
is($node->safe_psql('postgres', q{
    SELECT count(*) FROM done d WHERE NOT EXISTS (
        SELECT FROM steward.jobs j WHERE j.id = d.job_id AND j.state = 'completed')}), '0',
   'no work recorded for a job that is not completed');
my $running = $node->safe_psql('postgres', q{SELECT count(*) FROM steward.jobs WHERE queue = 'crash' AND state = 'running'});
note("claims committed by lease-mode workers before the crash: $running");

# Everything left is claimable: ready at once, running ones after their lease.
sleep 3;
drain('after_restart_1');
drain('after_restart_2');
is($node->safe_psql('postgres', q{SELECT count(*) FROM steward.jobs WHERE queue = 'crash' AND state <> 'completed'}),
   '0', 'after the lease every remaining job was claimed and completed');
is($node->safe_psql('postgres', q{SELECT count(*) FROM done}), $total,
   'each job worked exactly once overall');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT job_id FROM done GROUP BY job_id HAVING count(*) > 1) d}),
   '0', 'no duplicates overall');

$node->stop;
done_testing();
