# pg_dump / pg_restore keeps queues, jobs in every state (live table and the
# daily history partitions created after CREATE EXTENSION, which are not
# extension members) and the id sequences, so restored queues keep working
# and new jobs never reuse an id.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StewardQueueHistory;

my $node = PostgreSQL::Test::Cluster->new('queue_dump');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
    CREATE EXTENSION pg_steward;
    SELECT steward.create_queue('mail', max_attempts => 1, retention => '30 days');
    SELECT steward.create_queue('reports', lease => '1 hour', notify => false);
    SELECT steward.pause_queue('reports');
    SELECT steward.enqueue('mail', '{"n": 1}');                                   -- completed
    SELECT steward.enqueue('mail', '{"n": 2}');                                   -- dead
    SELECT steward.enqueue('mail', '{"n": 3}');                                   -- running
    SELECT steward.enqueue('mail', '{"n": 4}', dedup_key => 'four');              -- ready
    SELECT steward.enqueue('mail', '{"n": 5}', run_at => now() + interval '1 day'); -- scheduled
    SELECT steward.complete(id, lease_token, '{"ok": true}') FROM steward.dequeue('mail') WHERE payload->>'n' = '1';
    SELECT steward.fail(id, lease_token, 'boom') FROM steward.dequeue('mail') WHERE payload->>'n' = '2';
    SELECT steward.log_job(id, lease_token, 'started', '{"pct": 10}') FROM steward.dequeue('mail') WHERE payload->>'n' = '3';
    SELECT steward.create_queue('retry', max_attempts => 3);
    SELECT steward.enqueue('retry', '{"n": 7}');                                  -- failed once, waits
    SELECT steward.fail(id, lease_token, 'flaky', retry_in => '1 hour') FROM steward.dequeue('retry');
});
my $jobs_sql = q{SELECT id, queue, state, payload, attempt, lease_token, worker, dedup_key, result, errors IS NOT NULL, progress
                   FROM steward.jobs ORDER BY id};
my $queues_sql = q{SELECT name, paused, max_attempts, lease, retention, notify FROM steward.queues ORDER BY name};
my $jobs_before = $node->safe_psql('src', $jobs_sql);
my $queues_before = $node->safe_psql('src', $queues_sql);
my $next_before = $node->safe_psql('src', q{SELECT last_value FROM steward._job_id_seq});
my $queue_seq_before = $node->safe_psql('src', q{SELECT last_value FROM steward._queue_id_seq});
like($node->safe_psql('src', q{SELECT count(*) FROM pg_inherits WHERE inhparent = 'steward._job_history'::regclass}),
     qr/^[5-9]$/, 'daily history partitions exist');
is($node->safe_psql('src', q{SELECT tableoid::regclass::text LIKE 'steward._job_history_p%' FROM steward._job_history WHERE state = 'completed'}),
   't', 'finished jobs live in a daily partition (not an extension member)');

my $dump = $PostgreSQL::Test::Utils::tmp_check . '/queue.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('src') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), $dump ], 'pg_restore');

is($node->safe_psql('dst', $queues_sql), $queues_before, 'queues and their options survive');
is($node->safe_psql('dst', $jobs_sql), $jobs_before, 'jobs in every state survive');
is($node->safe_psql('dst', q{SELECT last_value FROM steward._job_id_seq}), $next_before, 'job id sequence survives');
is($node->safe_psql('dst', q{SELECT last_value FROM steward._queue_id_seq}), $queue_seq_before, 'queue id sequence survives');
# every partition's indexes (method and columns), one line per distinct set
is($node->safe_psql('dst', StewardQueueHistory::partition_indexes_sql),
   'btree (id), btree (queue_id, finished_at)', 'every history partition has its two indexes after the restore (id; queue_id, finished_at)');
is($node->safe_psql('dst', q{SELECT dead, counts_exact FROM steward.queue_summary WHERE queue = 'mail'}), "1|t",
   'the restored dead job is counted (error log)');
is($node->safe_psql('dst', q{SELECT string_agg(queue || ':' || error || ':' || occurrences, ',' ORDER BY queue, error)
                               FROM steward.queue_error_summary}),
   'mail:boom:1,retry:flaky:1', 'errors of live and finished jobs survive (error log)');

# a queue created after the restore gets a fresh id (a restarted sequence
# would collide with a restored queue)
my ($rc, $new_queue, $err) = $node->psql('dst', q{SELECT steward.create_queue('after_restore') > (SELECT max(id) FROM steward._queue WHERE name <> 'after_restore')});
is("$rc:$new_queue", '0:t', 'a new queue after the restore gets a fresh id') or diag($err);

# the restored queues work
my $new_id = $node->safe_psql('dst', q{SELECT steward.enqueue('mail', '{"n": 6}')});
ok($new_id > $next_before, 'a new job gets a fresh id');
is($node->safe_psql('dst', q{SELECT steward.enqueue('mail', '{"n": 44}', dedup_key => 'four') = (SELECT id FROM steward.jobs WHERE dedup_key = 'four')}),
   't', 'dedup keys still hold');
is($node->safe_psql('dst', q{SELECT string_agg(payload->>'n', ',' ORDER BY id) FROM steward.dequeue('mail', max_jobs => 10)}),
   '4,6', 'ready jobs are claimable in order after the restore');
is($node->safe_psql('dst', q{SELECT count(*) FROM steward.dequeue('reports')}), '0', 'paused queue stays paused');
my $running = $node->safe_psql('dst', q{SELECT id || ',' || lease_token FROM steward.jobs WHERE payload->>'n' = '3'});
my ($rid, $rtok) = split /,/, $running;
$node->safe_psql('dst', "SELECT steward.complete($rid, $rtok)");
is($node->safe_psql('dst', "SELECT state FROM steward.jobs WHERE id = $rid"), 'completed',
   'the lease holder of a restored running job can complete it');
is($node->safe_psql('dst', q{SELECT steward.retry(id) > 0 FROM steward.jobs WHERE state = 'dead'}), 't',
   'a restored dead job can be retried');
is($node->safe_psql('dst', q{SELECT steward.queue_maintenance() >= 0}), 't', 'maintenance works on restored partitions');

# the restored database dumps again the same way
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$dump.2", '-d', $node->connstr('dst') ], 'second pg_dump');

$node->stop;
done_testing();
