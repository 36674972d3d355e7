# steward.slow_queries against a real pg_stat_statements: installed in a
# schema of its own, filtered by the steward.slow_query_* thresholds, most
# total time first, with the standard deviation, read by
# a pg_monitor-only role; an old extension version (total_time instead of
# total_exec_time); installing and dropping it never touches our view.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('pgss');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_stat_statements'\n");
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_steward;
    CREATE ROLE regress_stats_monitor LOGIN IN ROLE pg_monitor;
    CREATE ROLE regress_stats_stmon LOGIN IN ROLE steward_monitor;
});
my @monitor = (extra_params => [ '-U', 'regress_stats_monitor' ]);
my @stmon = (extra_params => [ '-U', 'regress_stats_stmon' ]);

my $out = $node->safe_psql('postgres', q{SELECT note FROM steward.slow_queries});
like($out, qr/^pg_stat_statements is not installed: add it to shared_preload_libraries/,
     'without the extension the view says how to enable it');

$node->safe_psql('postgres', q{
    CREATE SCHEMA monitoring;
    CREATE EXTENSION pg_stat_statements SCHEMA monitoring;
    SELECT monitoring.pg_stat_statements_reset();
});
$node->safe_psql('postgres', q{SELECT pg_sleep(0.03)}) for 1 .. 3;
$node->safe_psql('postgres', q{SELECT 1 + 1}) for 1 .. 3;

$out = $node->safe_psql('postgres', q{
    SET steward.slow_query_min_calls = 3;
    SET steward.slow_query_min_mean = '20ms';
    SELECT query, calls, mean_ms >= 30, total_ms >= 90, rows, user_name, percent_of_total > 0, note IS NULL
      FROM steward.slow_queries ORDER BY total_ms DESC}, @monitor);
is($out, 'SELECT pg_sleep($1)|3|t|t|3|' . getpwuid($<) . '|t|t',
   'only statements over both thresholds, query text visible to pg_monitor');
$out = $node->safe_psql('postgres', q{
    SET steward.slow_query_min_calls = 3;
    SELECT query FROM steward.slow_queries ORDER BY total_ms DESC}, @stmon);
is($out, 'SELECT pg_sleep($1)', 'query text visible to steward_monitor (pg_read_all_stats)');

$out = $node->safe_psql('postgres', q{
    SET steward.slow_query_min_calls = 4;
    SELECT count(*) FROM steward.slow_queries});
is($out, '0', 'min_calls filters');

# Most total time first (whatever the times are), with the standard
# deviation of the execution time.
$node->safe_psql('postgres', q{SELECT pg_sleep(0.06), 'slower'}) for 1 .. 3;
$out = $node->safe_psql('postgres', q{
    SET steward.slow_query_min_calls = 1;
    SET steward.slow_query_min_mean = 0;
    SELECT count(*) > 3, array_agg(total_ms) = array_agg(total_ms ORDER BY total_ms DESC),
           bool_and(stddev_ms >= 0), count(DISTINCT total_ms) > 1
      FROM steward.slow_queries});
is($out, 't|t|t|t', 'ordered by total time, with stddev_ms');

$out = $node->safe_psql('postgres', q{
    SET steward.slow_query_min_calls = 1;
    SET steward.slow_query_min_mean = 0;
    SELECT count(*) > 1, bool_or(query = 'SELECT $1 + $2') FROM steward.slow_queries});
is($out, 't|t', 'thresholds at zero list every statement of this database');

# An extension version from before PostgreSQL 13 names the columns total_time.
$node->safe_psql('postgres', q{CREATE DATABASE old_pgss});
$node->safe_psql('old_pgss', q{
    CREATE EXTENSION pg_steward;
    CREATE EXTENSION pg_stat_statements VERSION '1.7';
});
$node->safe_psql('old_pgss', q{SELECT pg_sleep(0.03)}) for 1 .. 2;
$out = $node->safe_psql('old_pgss', q{
    SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements';
    SET steward.slow_query_min_calls = 2;
    SET steward.slow_query_min_mean = 20;
    SELECT query, calls, mean_ms >= 30 FROM steward.slow_queries});
is($out, "1.7\nSELECT pg_sleep(\$1)|2|t", 'pg_stat_statements 1.7 (total_time) works too');

# The view does not depend on the extension.
$node->safe_psql('postgres', q{DROP EXTENSION pg_stat_statements});
$out = $node->safe_psql('postgres', q{SELECT count(*), bool_and(note IS NOT NULL) FROM steward.slow_queries});
is($out, '1|t', 'dropping pg_stat_statements leaves the view working');

$node->stop;
done_testing();
