# steward.hard_delete can only be switched on inside a session. On a server
# that does not preload pg_steward, a session that has not loaded the library
# accepts `ALTER DATABASE ... SET steward.hard_delete = on` (and a connection
# option) as a placeholder; the library refuses that value when it loads,
# and nothing may act on the placeholder before: not DELETE, not the TRUNCATE
# guard (found in review: TRUNCATE emptied the table).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('plain');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE r2');
$node->safe_psql('r2', q{
    CREATE EXTENSION pg_steward;
    CREATE TABLE tg (id int PRIMARY KEY);
    INSERT INTO tg SELECT generate_series(1, 5);
    SET client_min_messages = warning;
    SELECT steward.enable_soft_delete('tg');
});

# from a session that never loaded the library: accepted as a placeholder
my ($ret, $out, $err) = $node->psql('postgres', 'ALTER DATABASE r2 SET steward.hard_delete = on');
is($ret, 0, 'ALTER DATABASE SET steward.hard_delete = on accepted by a session without the library');

my $rows = 'SELECT count(*) FROM tg';

# a new session of r2 starts with the placeholder on: TRUNCATE stays refused
($ret, $out, $err) = $node->psql('r2', 'TRUNCATE tg');
isnt($ret, 0, 'TRUNCATE refused although the database sets steward.hard_delete = on');
like($err, qr/cannot truncate "public\.tg": soft delete is enabled on it/, 'the guard says why');
like($err, qr/invalid value for parameter "steward\.hard_delete"/, 'loading the library refuses the value');
is($node->safe_psql('r2', $rows), '5', 'no row removed by TRUNCATE');

# the first DELETE of such a session (the trigger loads the library) marks
($ret, $out, $err) = $node->psql('r2', "DELETE FROM tg WHERE id = 1;\nSHOW steward.hard_delete;");
is($out, 'off', 'after loading, the setting reads off');
is($node->safe_psql('r2', "$rows WHERE deleted_at IS NOT NULL"), '1', 'first DELETE of the session marked the row');
is($node->safe_psql('r2', $rows), '5', 'no row removed by DELETE');

# the same from a connection option
{
	local $ENV{PGOPTIONS} = '-c steward.hard_delete=on';
	($ret, $out, $err) = $node->psql('r2', 'TRUNCATE tg');
	isnt($ret, 0, 'TRUNCATE refused with steward.hard_delete=on as a connection option');
	($ret, $out, $err) = $node->psql('r2', 'DELETE FROM tg WHERE id = 2');
	is($node->safe_psql('r2', $rows), '5', 'DELETE with the connection option marks, removes nothing');
}

# inside a session it may be switched on, also before the library is loaded
$node->safe_psql('postgres', 'ALTER DATABASE r2 RESET steward.hard_delete');
is( $node->safe_psql('r2', "BEGIN; SET LOCAL steward.hard_delete = on; TRUNCATE tg; SELECT count(*) FROM tg; ROLLBACK;"),
	'0', 'SET LOCAL steward.hard_delete = on in the session: TRUNCATE on purpose');
is($node->safe_psql('r2', $rows), '5', 'rolled back');

$node->stop;
done_testing();
