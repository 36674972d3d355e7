# What a client sees from DELETE on a soft-delete-enabled table, in each
# server configuration: the command tag (row count) and RETURNING, through
# psql's simple query protocol. The same rows are marked everywhere; only the
# reported count and RETURNING differ, exactly as docs/soft_delete.md says.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
my $pre = PostgreSQL::Test::Cluster->new('preloaded');
$pre->init;
$pre->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_steward'");
$pre->start;

my $setup = q{
CREATE EXTENSION pg_steward;
CREATE TABLE items (id int PRIMARY KEY, v text);
INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 20) g;
SELECT steward.enable_soft_delete('items');
};
$_->safe_psql('postgres', $setup) for $plain, $pre;

# Run sql in a new session with command tags shown; returns stdout.
sub client
{
	my ($node, $sql, $db) = @_;
	my ($out, $err);
	$node->psql($db // 'postgres', "\\set QUIET off\n$sql",
		stdout => \$out, stderr => \$err, on_error_die => 1);
	return $out;
}

# 1. A fresh session of a server without preload: the library is not loaded
# before the first DELETE, so the trigger marks the rows and the client sees
# DELETE 0 and no RETURNING rows. The trigger call loads the library: the
# next DELETE in the same session reports the real count and RETURNING.
is( client($plain, "DELETE FROM items WHERE id IN (1, 2) RETURNING id;\n"
		  . "DELETE FROM items WHERE id = 3 RETURNING id;"),
	"DELETE 0\n3\nDELETE 1",
	'plain: first DELETE of a session reports 0, later ones the real count');

# 2. A statement prepared before the library was loaded is planned again
# once it is (the plan cache is reset on load): its second run counts.
is( client($plain, "PREPARE d(int) AS DELETE FROM items WHERE id = \$1 RETURNING id;\n"
		  . "EXECUTE d(4);\nEXECUTE d(5);"),
	"PREPARE\nDELETE 0\n5\nDELETE 1",
	'plain: a prepared DELETE counts from its first run after the load');

# 3. Loading the library first (any pg_steward function, e.g. in a pool's
# connection-init SQL) gives real counts from the first DELETE.
is( client($plain, "SELECT steward.soft_delete_mode();\n"
		  . "DELETE FROM items WHERE id IN (6, 7) RETURNING id;"),
	"rewrite\n6\n7\nDELETE 2",
	'plain: after SELECT steward.soft_delete_mode() the first DELETE counts');

# 4. session_preload_libraries per database (no restart): every new session
# of that database has the rewrite from its first statement.
$plain->safe_psql('postgres', "ALTER DATABASE postgres SET session_preload_libraries = 'pg_steward'");
is(client($plain, "DELETE FROM items WHERE id = 8 RETURNING id;"),
	"8\nDELETE 1", 'plain + session_preload_libraries: first DELETE counts');
$plain->safe_psql('postgres', "ALTER DATABASE postgres RESET session_preload_libraries");

# 5. shared_preload_libraries: real counts and RETURNING from the first
# statement of every session, run on the same rows as 1-4.
is( client($pre, "DELETE FROM items WHERE id IN (1, 2) RETURNING id;\n"
		  . "DELETE FROM items WHERE id = 3 RETURNING id;"),
	"1\n2\nDELETE 2\n3\nDELETE 1",
	'preloaded: the first DELETE of a session counts');
is( client($pre, "PREPARE d(int) AS DELETE FROM items WHERE id = \$1 RETURNING id;\n"
		  . "EXECUTE d(4);\nEXECUTE d(5);"),
	"PREPARE\n4\nDELETE 1\n5\nDELETE 1",
	'preloaded: prepared DELETE counts');
client($pre, "DELETE FROM items WHERE id IN (6, 7);");
client($pre, "DELETE FROM items WHERE id = 8;");

# Already deleted rows are not counted again, in either path.
is(client($pre, "DELETE FROM items WHERE id <= 9 RETURNING id;"),
	"9\nDELETE 1", 'preloaded: a second DELETE counts only rows it marked');

# 6. The rewrite switched off: the trigger path, DELETE 0.
is( client($pre, "SET steward.soft_delete_rewrite = off;\n"
		  . "DELETE FROM items WHERE id = 10 RETURNING id;"),
	"SET\nDELETE 0", 'preloaded, rewrite off: DELETE 0');
client($plain, "DELETE FROM items WHERE id IN (9, 10);");

# Same rows marked in both servers, whatever the client was told.
my $marked = "SELECT string_agg(id::text, ',' ORDER BY id) FROM items WHERE deleted_at IS NOT NULL";
is($plain->safe_psql('postgres', $marked), '1,2,3,4,5,6,7,8,9,10', 'plain: rows marked');
is($pre->safe_psql('postgres', $marked), $plain->safe_psql('postgres', $marked),
	'preloaded: the same rows marked');
is($pre->safe_psql('postgres', "SELECT count(*) FROM items"), '20', 'nothing removed');

# Enabling and disabling say nothing but what matters: no NOTICE from the
# internal DROP TRIGGER IF EXISTS (found in review); without preloading only
# the notice that sessions report DELETE 0 until they load the library.
my $quiet = "CREATE TABLE quiet (id int PRIMARY KEY);\n"
  . "SELECT steward.enable_soft_delete('quiet');\n"
  . "SELECT steward.disable_soft_delete('quiet');\nDROP TABLE quiet;";
my ($ret, $out, $err) = $pre->psql('postgres', $quiet);
is($err, '', 'preloaded: enable and disable print no NOTICE');
($ret, $out, $err) = $plain->psql('postgres', $quiet);
my @notices = $err =~ /(?:NOTICE|WARNING):  (.*)$/mg;
is_deeply(\@notices, ['pg_steward is not preloaded: a session reports DELETE 0 for soft deletes until it has loaded the library'],
	'plain: only the notice about preloading');

# The trigger's own error paths never take the server down.
$pre->safe_psql('postgres', 'SELECT 1');
ok($pre->log_contains('terminated by signal') == 0, 'no backend crashed');

$plain->stop;
$pre->stop;
done_testing();
