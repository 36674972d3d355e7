# Wake-ups: one LISTEN channel per queue; notifications are coalesced per
# transaction and queue (PostgreSQL drops a duplicate channel + payload
# pair within one transaction), never one per job. Scheduled jobs do not
# notify; a queue with notify => false never does.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('queue_notify');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_steward;
    SELECT steward.create_queue('a');
    SELECT steward.create_queue('b');
    SELECT steward.create_queue('quiet', notify => false);
});

# Run a script in one session that listens on a and b; count notifications.
sub notifications {
    my ($sql) = @_;
    my ($ret, $out, $err) = $node->psql('postgres', "LISTEN steward_queue_a; LISTEN steward_queue_b;\n$sql");
    die $err if $ret;
    my %n;
    $n{$1}++ while $out =~ /Asynchronous notification "([^"]+)"/g;
    return join(',', map { "$_=$n{$_}" } sort keys %n) || 'none';
}

is(notifications(q{SELECT steward.enqueue('a', '{}');}), 'steward_queue_a=1', 'one job: one notification');
is(notifications(q{BEGIN; SELECT count(*) FROM generate_series(1, 500) i, steward.enqueue('a', jsonb_build_object('i', i)) e; COMMIT;}),
   'steward_queue_a=1', '500 jobs in one transaction: one notification');
is(notifications(q{SELECT count(*) FROM steward.enqueue_batch('a', array_fill('{}'::jsonb, ARRAY[100]));}),
   'steward_queue_a=1', 'a batch: one notification');
is(notifications(q{BEGIN; SELECT steward.enqueue('a', '{}'), steward.enqueue('b', '{}'), steward.enqueue('a', '{}'); COMMIT;}),
   'steward_queue_a=1,steward_queue_b=1', 'two queues in one transaction: one each');
is(notifications(q{SELECT steward.enqueue('a', '{}'); SELECT steward.enqueue('a', '{}');}),
   'steward_queue_a=2', 'two transactions: two notifications');
is(notifications(q{BEGIN; SELECT steward.enqueue('a', '{}'); ROLLBACK;}), 'none', 'a rolled back enqueue wakes nobody');
is(notifications(q{SELECT steward.enqueue('a', '{}', run_at => now() + interval '1 hour');}), 'none',
   'a scheduled job does not notify');
my ($ret, $out) = $node->psql('postgres', q{LISTEN steward_queue_quiet; SELECT steward.enqueue('quiet', '{}');});
unlike($out, qr/Asynchronous notification/, 'notify => false: no notification');
is(notifications(q{SELECT steward.pause_queue('b'); SELECT steward.resume_queue('b');}), 'steward_queue_b=1',
   'resume wakes the workers');

$node->stop;
done_testing();
