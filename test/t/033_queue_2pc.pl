# Two-phase commit and the dequeue scan floor (src/queue/cursor.cpp), with
# the library preloaded: a job that a prepared transaction claims and gives
# back with ROLLBACK PREPARED, or enqueues and makes ready with COMMIT
# PREPARED, is claimed by the next dequeue, not only after the periodic
# rescan (found in review: the floor was reset at PREPARE, for enqueues only,
# and the dequeues that ran while the transaction was prepared raised it
# again past the job). The rescan is pushed out to an hour so that it cannot
# hide a stale floor.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('queue_2pc');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_steward'\nmax_prepared_transactions = 5\n"
                                      . "steward.queue_rescan_interval = 3600000\n");
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_steward;
    SELECT steward.create_queue('claims');
    SELECT steward.create_queue('adds', notify => false);   -- PREPARE refuses a transaction that notified
});
sub claim {
    my ($queue) = @_;
    return $node->safe_psql('postgres', qq{SELECT payload->>'n' FROM steward.dequeue('$queue', 'w')});
}

# a prepared claim, rolled back
$node->safe_psql('postgres', q{SELECT steward.enqueue_batch('claims', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[])});
is($node->safe_psql('postgres', q{BEGIN; SELECT payload->>'n' FROM steward.dequeue('claims', 'prepared'); PREPARE TRANSACTION 'claim';}),
   '1', 'the prepared transaction claims job 1');
is(claim('claims'), '2', 'meanwhile job 1 is locked: another worker claims job 2 (and raises the floor)');
$node->safe_psql('postgres', q{ROLLBACK PREPARED 'claim'});
is(claim('claims'), '1', 'after ROLLBACK PREPARED job 1 is claimed next');
is(claim('claims'), '3', 'then job 3');

# a prepared enqueue, committed
$node->safe_psql('postgres', q{SELECT steward.enqueue_batch('adds', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[])});
is(claim('adds'), '1', 'job 1 claimed: the floor is at it');
$node->safe_psql('postgres', q{BEGIN; SELECT steward.enqueue('adds', '{"n": 9}', priority => 5); PREPARE TRANSACTION 'add';});
is(claim('adds'), '2', 'the prepared job is not visible yet: job 2 is claimed (and raises the floor)');
$node->safe_psql('postgres', q{COMMIT PREPARED 'add'});
is(claim('adds'), '9', 'after COMMIT PREPARED the high-priority job is claimed next');
is(claim('adds'), '3', 'then job 3');

$node->stop;
done_testing();
