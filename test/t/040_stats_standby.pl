# Stats views and health() with real sessions and a real streaming standby:
# blocking, long-running and idle-in-transaction sessions and a prepared
# transaction seen by a pg_monitor-only login role; on the standby every view
# and health() answer (is_standby, replay lag), writes are refused naming the
# primary; thresholds work from SQL before the library is loaded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "max_prepared_transactions = 5\n");
$primary->start;
$primary->safe_psql('postgres', q{
    CREATE EXTENSION pg_steward;
    CREATE ROLE regress_stats_monitor LOGIN IN ROLE pg_monitor;
    CREATE ROLE regress_stats_stmon LOGIN IN ROLE steward_monitor;
    CREATE TABLE accounts (id serial PRIMARY KEY, balance int);
    INSERT INTO accounts (balance) SELECT 0 FROM generate_series(1, 10);
    SELECT setval('accounts_id_seq', 2040109465);
    CREATE INDEX accounts_balance ON accounts (balance);
    CREATE INDEX accounts_balance_again ON accounts (balance);
    CREATE ROLE regress_stats_plain LOGIN;
    SELECT steward.create_queue('standby_q');
    CREATE TABLE claimed_job AS SELECT id, lease_token FROM steward.dequeue('standby_q') LIMIT 0;
    INSERT INTO claimed_job SELECT 0, 0;
});
my @monitor = (extra_params => [ '-U', 'regress_stats_monitor' ]);
# steward_monitor holds pg_read_all_stats only, not all of pg_monitor: it
# must see the same as a pg_monitor member
my @stmon = (extra_params => [ '-U', 'regress_stats_stmon' ]);
my @observers = ([ 'pg_monitor', \@monitor ], [ 'steward_monitor', \@stmon ]);

# Thresholds before the library is loaded: a SET makes a placeholder, the SQL
# side reads and validates it the way the GUC would, defaults otherwise.
my $out = $primary->safe_psql('postgres', q{
    SET steward.long_query_warning = '2min';
    SELECT name, value, source FROM steward.health_thresholds
     WHERE name IN ('steward.long_query_warning', 'steward.long_query_critical') ORDER BY name;
    SELECT count(*) FROM pg_settings WHERE name = 'steward.long_query_critical';
});
is($out, "steward.long_query_critical|300|default\nsteward.long_query_warning|120|placeholder\n0",
   'placeholder and default read without the library');
my ($rc, $stdout, $stderr) = $primary->psql('postgres', q{
    SET steward.sequence_warning = 'lots';
    SELECT steward._stats_setting('steward.sequence_warning');
});
like($stderr, qr/invalid value for parameter "steward.sequence_warning": "lots"\nHINT:  Use a percentage from 0 to 100\./,
     'a bad placeholder is refused with the GUC message and hint');
($rc, $stdout, $stderr) = $primary->psql('postgres', q{
    \set VERBOSITY verbose
    SET steward.queue_expired_leases_warning = 'some';
    SELECT * FROM steward.health_thresholds WHERE name = 'steward.queue_expired_leases_warning';
});
like($stderr, qr/ERROR:  22023: invalid value for parameter "steward.queue_expired_leases_warning": "some"\nHINT:  Use a number from -2147483648 to 2147483647\./,
     'a bad queue threshold placeholder too');
# health() loads the library: a bad queue threshold set before is refused
# then (a WARNING with the hint; the default applies), never a cast error
# in the queue's check
($rc, $stdout, $stderr) = $primary->psql('postgres', q{
    SET steward.queue_expired_leases_warning = 'some';
    SELECT count(*) FROM jsonb_array_elements(steward.health()->'checks') c
     WHERE c->>'feature' = 'queue' AND c->>'name' = 'check_failed';
    SELECT current_setting('steward.queue_expired_leases_warning');
});
like($stderr, qr/WARNING:  invalid value for parameter "steward.queue_expired_leases_warning": "some"\nHINT:  Use a number from -2147483648 to 2147483647\./,
     'a bad queue threshold placeholder: refused when health() loads the library');
is($stdout, "0\n0", '... and the queue check runs with the default');
($rc, $stdout, $stderr) = $primary->psql('postgres', q{
    SET steward.cache_hit_warning = '101';
    SELECT steward._stats_setting('steward.cache_hit_warning');
});
like($stderr, qr/101 is outside the valid range for parameter "steward.cache_hit_warning" \(0 \.\. 100\)\nHINT:  Use a percentage from 0 to 100\./,
     'an out-of-range placeholder is refused');

# -- sessions: a holder idle in transaction, a waiter blocked by it, a
#    prepared transaction; observed by a pg_monitor-only login role
my $holder = $primary->background_psql('postgres');
$holder->query_safe(q{SET application_name = 'regress_holder'});
$holder->query_safe(q{BEGIN});
$holder->query_safe(q{UPDATE accounts SET balance = 1 WHERE id = 1});
my $holder_pid = $holder->query_safe(q{SELECT pg_backend_pid()});

my $waiter = $primary->background_psql('postgres');
$waiter->query_safe(q{SET application_name = 'regress_waiter'});
my $waiter_pid = $waiter->query_safe(q{SELECT pg_backend_pid()});
$waiter->query_until(qr/waiting/, qq{\\echo waiting\nUPDATE accounts SET balance = 2 WHERE id = 1;\n});

$primary->safe_psql('postgres', q{
    BEGIN; UPDATE accounts SET balance = 3 WHERE id = 5; PREPARE TRANSACTION 'regress_stats_gxact';
});

ok($primary->poll_query_until('postgres',
        q{SELECT count(*) = 1 FROM steward.blocking WHERE blocked_application = 'regress_waiter'}),
   'the blocked session appears');
for my $o (@observers) {
    my ($who, $as) = @$o;
    $out = $primary->safe_psql('postgres', q{
        SELECT blocked_pid, blocking_pid, blocking_application, blocking_state, waiting_for,
               wait_duration >= '0'::interval, blocked_query
          FROM steward.blocking}, @$as);
    is($out, "$waiter_pid|$holder_pid|regress_holder|idle in transaction|ShareLock on transactionid"
           . "|t|UPDATE accounts SET balance = 2 WHERE id = 1;",
       "steward.blocking: who blocks whom, seen by a $who-only role");

    $out = $primary->safe_psql('postgres', q{
        SET steward.long_query_warning = 0;
        SET steward.long_transaction_warning = 0;
        SET steward.idle_in_transaction_warning = 0;
        SELECT kind, COALESCE(application_name, '-'), state FROM steward.long_running
         WHERE application_name IN ('regress_holder', 'regress_waiter') OR kind = 'prepared transaction'
         ORDER BY kind, application_name;}, @$as);
    is($out, "idle in transaction|regress_holder|idle in transaction\n"
           . "prepared transaction|-|prepared\n"
           . "query|regress_waiter|active",
       "steward.long_running separates idle in transaction, queries and prepared transactions ($who)");
}

$out = $primary->safe_psql('postgres', q{
    SELECT count(*) FROM steward.long_running
     WHERE application_name IN ('regress_holder', 'regress_waiter') OR kind = 'prepared transaction'});
is($out, '0', 'nothing listed at the default thresholds');

$out = $primary->safe_psql('postgres', q{
    SELECT state, connections FROM steward.connections
     WHERE state IN ('idle in transaction', 'active') ORDER BY state}, @monitor);
like($out, qr/^active\|[2-9]\d*\nidle in transaction\|1$/,
     'steward.connections counts the idle-in-transaction session separately');

$out = $primary->safe_psql('postgres', q{
    SET steward.lock_wait_warning = 0;
    SET steward.idle_in_transaction_warning = 0;
    SET steward.long_transaction_warning = 0;
    SELECT c->>'name', c->>'status', c->>'detail' FROM jsonb_array_elements(steward.health()->'checks') c
     WHERE c->>'name' IN ('lock_waits', 'idle_in_transaction') ORDER BY 1;
    SELECT steward.health()->'connections'->>'idle_in_transaction';}, @monitor);
like($out, qr/^idle_in_transaction\|warning\|longest idle in transaction: [\d.]+s, pid $holder_pid\n/m,
     'health(): idle in transaction warns');
like($out, qr/^lock_waits\|warning\|pid $waiter_pid has waited longest, blocked by pid $holder_pid$/m,
     'health(): lock waits warn and name the blocker');
like($out, qr/\n1$/, 'health(): connections report one idle in transaction');

$holder->query_safe(q{ROLLBACK});
$waiter->quit;
$holder->quit;
$primary->safe_psql('postgres', q{COMMIT PREPARED 'regress_stats_gxact'});

# -- nothing waits behind an ACCESS EXCLUSIVE lock: sizes and sequence values
#    are read without (waiting for) locks on the reported relations
$primary->safe_psql('postgres', q{CREATE SEQUENCE lonely_seq; SELECT nextval('lonely_seq')});
my $locker = $primary->background_psql('postgres');
$locker->query_safe(q{BEGIN});
$locker->query_safe(q{LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE});
$locker->query_safe(q{DROP SEQUENCE lonely_seq});
$out = $primary->safe_psql('postgres', q{
    SET lock_timeout = '3s';
    SELECT total_bytes > 0 FROM steward.table_health WHERE table_name = 'accounts';
    SELECT count(*) FROM steward.index_health WHERE table_name = 'accounts';
    SELECT coalesce(last_value::text, 'null') FROM steward.sequence_health WHERE sequence_name = 'lonely_seq';
    SELECT steward.health()->>'status' IS NOT NULL;}, @monitor);
is($out, "t\n3\nnull\nt", 'views and health() answer while a table and a sequence are locked');
($rc, $stdout, $stderr) = $primary->psql('postgres', q{
    SET lock_timeout = '200ms'; SELECT pg_total_relation_size('accounts')});
like($stderr, qr/canceling statement due to lock timeout/, 'where pg_total_relation_size() would wait');
$locker->query_safe(q{ROLLBACK});
$locker->quit;

# -- a streaming standby
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$primary->safe_psql('postgres', q{CREATE TABLE after_backup (id int)});
$primary->wait_for_catchup($standby, 'replay');

for my $o (@observers) {
    my ($who, $as) = @$o;
    $out = $standby->safe_psql('postgres', q{
        SELECT (SELECT count(*) FROM steward.table_health WHERE table_name IN ('accounts', 'after_backup')),
               (SELECT string_agg(index_name || ':' || issue, ',' ORDER BY index_name) FROM steward.index_health
                 WHERE issue IN ('duplicate', 'invalid')),
               (SELECT percent_used || ':' || status FROM steward.sequence_health WHERE sequence_name = 'accounts_id_seq'),
               (SELECT count(*) FROM steward.connections),
               (SELECT count(*) FROM steward.long_running) >= 0,
               (SELECT count(*) FROM steward.blocking),
               (SELECT count(*) FROM steward.cache_hit),
               (SELECT note IS NOT NULL FROM steward.slow_queries),
               (SELECT count(*) FROM steward.health_thresholds)}, @$as);
    is($out, '2|accounts_balance_again:duplicate|95.00:warning|7|t|0|3|t|31',
       "every view answers on the standby for a $who-only role");
}

$out = $standby->safe_psql('postgres', q{
    SELECT h->>'is_standby', h->>'replay_lag_seconds',
           (SELECT (c->>'status') || ':' || (c->>'value') FROM jsonb_array_elements(h->'checks') c
             WHERE c->>'name' = 'replication_lag'),
           (SELECT c->>'status' FROM jsonb_array_elements(h->'checks') c WHERE c->>'name' = 'sequences'),
           (SELECT count(*) FROM jsonb_array_elements(h->'checks') c WHERE c->>'feature' = 'stats')
      FROM steward.health() h}, @monitor);
# Caught up means 0 unless WAL without a commit (a checkpoint, a running-xacts
# record) is received but not yet replayed at that instant.
like($out, qr/^true\|([\d.]+)\|ok:\1\|warning\|13$/, 'health() on the standby: standby, replay lag, same checks');

$out = $primary->safe_psql('postgres', q{
    SELECT c->>'status', c->>'detail' FROM jsonb_array_elements(steward.health()->'checks') c
     WHERE c->>'name' = 'replication_lag'});
like($out, qr/^ok\|1 standby streaming$/, 'health() on the primary sees the standby');

# Writes on the standby are refused by the functions themselves, before
# any statement inside them runs, naming the primary as the place to run
# them (with its address for roles that may read all statistics).
$primary->safe_psql('postgres', q{
    SELECT steward.enqueue('standby_q', '{"n": 1}');
    UPDATE claimed_job SET (id, lease_token) = (SELECT id, lease_token FROM steward.dequeue('standby_q'));
    SELECT steward.enqueue('standby_q', '{"n": 2}');
});
$primary->wait_for_catchup($standby, 'replay');
for my $case (
    [ q{SELECT steward.enqueue('standby_q', '{}')}, 'enqueue jobs' ],
    [ q{SELECT count(*) FROM steward.enqueue_batch('standby_q', ARRAY['{}'::jsonb])}, 'enqueue jobs' ],
    [ q{SELECT * FROM steward.dequeue('standby_q', 'w')}, 'claim jobs' ],
    [ q{SELECT steward.complete(id, lease_token) FROM claimed_job}, 'complete jobs' ],
    [ q{SELECT * FROM steward.complete_and_dequeue((SELECT id FROM claimed_job), (SELECT lease_token FROM claimed_job))},
      'complete and claim jobs' ],
    [ q{SELECT steward.fail(id, lease_token, 'boom') FROM claimed_job}, 'fail a job' ],
    [ q{SELECT steward.extend_lease(id, lease_token, '1 minute') FROM claimed_job}, 'extend a lease' ],
    [ q{SELECT steward.create_queue('another')}, 'create a queue' ],
    [ q{SELECT steward.pause_queue('standby_q')}, 'pause or resume a queue' ],
    [ q{SELECT steward.queue_maintenance()}, 'run queue maintenance' ],
    [ q{SELECT steward.track_updated_at('accounts')}, 'track updated_at' ],
    [ q{SELECT steward.enable_soft_delete('accounts')}, 'enable soft delete' ],
    [ q{SELECT steward.enable_audit('accounts')}, 'enable auditing' ],
    [ q{SELECT steward.purge_audit('1 day')}, 'purge the audit log' ]) {
    my ($sql, $action) = @$case;
    ($rc, $stdout, $stderr) = $standby->psql('postgres', $sql);
    like($stderr, qr/ERROR:  cannot \Q$action\E on a standby server\nDETAIL:  This server is a read-only hot standby: .*\nHINT:  Run it on the primary server \(.+:\d+\)\./,
         "standby: $sql is refused naming the primary");
}
($rc, $stdout, $stderr) = $standby->psql('postgres', q{SELECT steward._require_primary('enqueue jobs')},
                                         extra_params => [ '-U', 'regress_stats_plain' ]);
like($stderr, qr/ERROR:  cannot enqueue jobs on a standby server\n.*\nHINT:  Run it on the primary server\.$/m,
     "the primary's address is not shown to a role without pg_read_all_stats");
$out = $primary->safe_psql('postgres', q{
    SELECT steward._require_primary('enqueue jobs');
    SELECT steward.complete(id, lease_token) FROM claimed_job;
    SELECT count(*) FROM steward.dequeue('standby_q', 'w');});
is($out, "t\n\n1", 'the same calls pass on the primary');

$standby->stop;
$primary->stop;
done_testing();
