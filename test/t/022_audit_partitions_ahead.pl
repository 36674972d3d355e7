# Log partitions are created outside the writers' transactions: a writer
# that finds its day's partition missing has a background worker create it
# (committed at once), so neither readers of the log nor other writers wait
# for the writer's commit; and writers keep partitions a week ahead, without
# any schedule.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_steward;
    CREATE TABLE items (id int PRIMARY KEY, v int);
    SELECT steward.enable_audit('items');
});
# The test takes "today" once: keep clear of midnight UTC (wait for the new
# day when fewer than two minutes of this one are left).
my $left = $node->safe_psql('postgres', q{
    SELECT extract(epoch FROM date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day'
                              - (now() AT TIME ZONE 'UTC'))::int});
sleep($left + 2) if $left < 120;
my $day = q{(now() AT TIME ZONE 'UTC')::date};
my $today = $node->safe_psql('postgres', "SELECT steward._audit_partition_name($day)");

# Today's partition is missing (nothing created it ahead).
$node->safe_psql('postgres', "DROP TABLE steward.$today");
my $writer = $node->background_psql('postgres');
$writer->query_safe('BEGIN');
$writer->query_safe('INSERT INTO items VALUES (1, 1)');
is($node->safe_psql('postgres', "SELECT to_regclass('steward.$today') IS NOT NULL"), 't',
   'the missing partition exists for other sessions while the writer is still open');
is($node->safe_psql('postgres', "SET lock_timeout = '5s'; SELECT count(*) FROM steward.audit_log"), '0',
   'the log can be read meanwhile');
$node->safe_psql('postgres', "SET lock_timeout = '5s'; INSERT INTO items VALUES (2, 2)");
pass('another writer is not held up');
$writer->query_safe('COMMIT');
$writer->quit;
is($node->safe_psql('postgres', q{SELECT string_agg(row_key->>'id', ',' ORDER BY id) FROM steward.audit_log}),
   '1,2', 'both writes are logged');
is($node->safe_psql('postgres',
       "SELECT count(*) FROM steward.audit_records WHERE tableoid = 'steward.$today'::regclass"),
   '2', 'in the day\'s partition');

# Partitions ahead run short (nobody ran audit_create_partitions): the next
# session's first write has a worker create the next week's.
$node->safe_psql('postgres', qq{
    DO \$\$ BEGIN
        FOR i IN 3..7 LOOP
            EXECUTE format('DROP TABLE steward.%I', steward._audit_partition_name($day + i));
        END LOOP;
    END \$\$});
is($node->safe_psql('postgres', q{SELECT value FROM steward._health_checks_audit() WHERE check_name = 'audit_partitions_ahead'}),
   '3', 'three days of partitions left');
$node->safe_psql('postgres', 'INSERT INTO items VALUES (3, 3)');
ok($node->poll_query_until('postgres',
       "SELECT count(*) = 8 FROM generate_series(0, 7) i WHERE to_regclass(format('steward.%I', steward._audit_partition_name($day + i))) IS NOT NULL"),
   'a week of partitions ahead again');
is($node->safe_psql('postgres', q{SELECT status FROM steward._health_checks_audit() WHERE check_name = 'audit_partitions_ahead'}),
   'ok', 'health check ok');
done_testing();
