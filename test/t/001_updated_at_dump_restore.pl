# pg_dump / pg_restore of a database that uses updated_at tracking: the
# triggers come back working, with their column arguments, on plain and
# partitioned tables (including partitions), and restored rows keep their
# stamps (the INSERT rule keeps explicit values during COPY).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
    CREATE EXTENSION pg_steward;
    CREATE SCHEMA app;
    CREATE TABLE app.users (id int PRIMARY KEY, name text, "Modified" timestamptz);
    SELECT steward.track_updated_at('app.users', 'Modified');
    INSERT INTO app.users VALUES (1, 'ann', '2001-01-01'), (2, 'bob', '2002-02-02');
    CREATE TABLE app.log (kind text, id int, updated_at timestamptz) PARTITION BY LIST (kind);
    CREATE TABLE app.log_a PARTITION OF app.log FOR VALUES IN ('a');
    SELECT steward.track_updated_at('app.log');
    INSERT INTO app.log VALUES ('a', 1, '2003-03-03');
});

my $dump = $node->basedir . '/src.dump';
$node->command_ok(
    [ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('src') ],
    'pg_dump -Fc');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok(
    [ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), $dump ],
    'pg_restore into a fresh database');

is( $node->safe_psql('dst',
        q{SELECT string_agg(format('%s:%s:%s', table_name, column_name, inherited), ',' ORDER BY table_name::text)
            FROM steward.tracked_tables}),
    'app.log:updated_at:f,app.log_a:updated_at:t,app.users:Modified:f',
    'tracked tables restored with their columns');

is( $node->safe_psql('dst', q{SELECT string_agg("Modified"::date::text, ',' ORDER BY id) FROM app.users}),
    '2001-01-01,2002-02-02',
    'restored rows keep their stamps');

is( $node->safe_psql('dst', q{
        BEGIN;
        UPDATE app.users SET name = 'carl' WHERE id = 1;
        UPDATE app.log SET id = 2;
        SELECT (SELECT "Modified" = now() FROM app.users WHERE id = 1)
            AND (SELECT "Modified" = '2002-02-02' FROM app.users WHERE id = 2)
            AND (SELECT updated_at = now() FROM app.log);
        COMMIT;}),
    't',
    'restored triggers stamp updates');

is( $node->safe_psql('dst', q{SELECT e.extversion = a.default_version FROM pg_extension e
                                   JOIN pg_available_extensions a ON a.name = e.extname
                                  WHERE e.extname = 'pg_steward'}),
    't', 'extension restored at the current version');

$node->stop;
done_testing();
