# The first statement of a session on a server without preload, before the
# library is loaded: a DELETE takes the trigger path, and an UPDATE of the
# column is a soft delete too. Foreign keys are checked as in any other
# statement: after all cascades (found in review: the first DELETE of a
# self-referencing tree, and a "diamond" of cascades, failed with 23503).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('plain');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_steward;
    CREATE TABLE nodes (id int PRIMARY KEY, parent_id int REFERENCES nodes ON DELETE NO ACTION);
    INSERT INTO nodes VALUES (1, NULL), (2, 1), (3, 2);
    CREATE TABLE parent (id int PRIMARY KEY);
    CREATE TABLE a_exec (id int PRIMARY KEY, parent_id int REFERENCES parent ON DELETE CASCADE);
    CREATE TABLE z_val (id int PRIMARY KEY, parent_id int REFERENCES parent ON DELETE CASCADE,
                        exec_id int REFERENCES a_exec);
    INSERT INTO parent VALUES (1), (2);
    INSERT INTO a_exec VALUES (10, 1), (20, 2);
    INSERT INTO z_val VALUES (100, 1, 10), (200, 2, 20);
    -- deeper: dp -> da, dp -> db -> dz (CASCADE), dz -> da (NO ACTION)
    CREATE TABLE dp (id int PRIMARY KEY);
    CREATE TABLE da (id int PRIMARY KEY, dp_id int REFERENCES dp ON DELETE CASCADE);
    CREATE TABLE db (id int PRIMARY KEY, dp_id int REFERENCES dp ON DELETE CASCADE);
    CREATE TABLE dz (id int PRIMARY KEY, db_id int REFERENCES db ON DELETE CASCADE, da_id int REFERENCES da);
    INSERT INTO dp VALUES (1), (2);
    INSERT INTO da VALUES (1, 1), (2, 2);
    INSERT INTO db VALUES (1, 1), (2, 2);
    INSERT INTO dz VALUES (1, 1, 1), (2, 2, 2);
    SET client_min_messages = warning;
    SELECT steward.enable_soft_delete(t, create_views => false)
      FROM unnest('{nodes,parent,a_exec,z_val,dp,da,db,dz}'::regclass[]) AS t;
});

# Run sql as the first statement of a new session; returns (stdout, stderr).
sub first_statement
{
	my ($sql) = @_;
	my ($out, $err);
	$node->psql('postgres', "\\set QUIET off\n$sql", stdout => \$out, stderr => \$err);
	return ($out, $err);
}
my $marked = q{SELECT string_agg(id::text, ',' ORDER BY id) FROM %s WHERE deleted_at IS NOT NULL};

my ($out, $err) = first_statement('DELETE FROM nodes WHERE id IN (1, 2, 3);');
is($err, '', 'self-referencing rows deleted together: no error');
is($out, 'DELETE 0', 'trigger path: DELETE 0');
is($node->safe_psql('postgres', sprintf($marked, 'nodes')), '1,2,3', 'all three marked');

($out, $err) = first_statement('DELETE FROM parent WHERE id = 1;');
is($err, '', 'diamond of cascades: no error');
is( $node->safe_psql('postgres', sprintf($marked, 'a_exec') . ' UNION ALL ' . sprintf($marked, 'z_val')),
	"10\n100", 'both cascades marked');

($out, $err) = first_statement('UPDATE parent SET deleted_at = now() WHERE id = 2;');
is($err, '', 'diamond, soft delete by UPDATE of the column: no error');
is($node->safe_psql('postgres', sprintf($marked, 'z_val')), '100,200', 'cascaded by the UPDATE');

# two levels of cascades: the reference check waits for all of them (the
# cascade trigger's WHEN clause loads the library while the UPDATE runs, so
# the end of the statement is seen even in this first statement)
($out, $err) = first_statement('UPDATE dp SET deleted_at = now() WHERE id = 1;');
is($err, '', 'two levels of cascades, soft delete by UPDATE: no error');
is($node->safe_psql('postgres', sprintf($marked, 'dz')), '1', 'cascaded two levels down');
($out, $err) = first_statement('DELETE FROM dp WHERE id = 2;');
is($err, '', 'two levels of cascades, DELETE: no error');
is($node->safe_psql('postgres', sprintf($marked, 'dz')), '1,2', 'cascaded two levels down');

# a reference that stays live still fails the first statement
$node->safe_psql('postgres', q{SELECT steward.restore('nodes', '[1, 2, 3]')});
($out, $err) = first_statement('DELETE FROM nodes WHERE id IN (1, 2);');
like($err, qr/violates foreign key constraint "nodes_parent_id_fkey"/, 'a live child still refuses');
is($node->safe_psql('postgres', sprintf($marked, 'nodes')), '', 'nothing marked');

$node->stop;
done_testing();
