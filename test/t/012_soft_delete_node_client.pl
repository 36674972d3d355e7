# What an ORM-like client sees: node-postgres (extended query protocol,
# parameters, as Sequelize/TypeORM use it) reads result.command, rowCount and
# the RETURNING rows of DELETE on a soft-delete-enabled table, on a server
# without preload and on one with shared_preload_libraries.
# Needs node and the `pg` module (npm install pg into build/node, or any
# NODE_PATH); skipped otherwise.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node_path = join(':', grep { -d } "$ENV{STEWARD_ROOT}/build/node/node_modules",
	split(/:/, $ENV{NODE_PATH} // ''));
$ENV{NODE_PATH} = $node_path;
if (system('node', '-e', 'require("pg")') != 0)
{
	plan skip_all => 'node or its pg module is not available (npm install pg into build/node)';
}

my $script = PostgreSQL::Test::Utils::tempdir() . '/client.js';
open(my $fh, '>', $script) or die $!;
print $fh <<'JS';
// argv: host port user; prints one line per DELETE: command rowCount ids
const { Client } = require('pg');
(async () => {
  const [host, port, user] = process.argv.slice(2);
  const client = new Client({ host, port: Number(port), user, database: 'postgres' });
  await client.connect();
  const out = [];
  for (const ids of [[1, 2], [3], [3, 4]]) {
    const r = await client.query('DELETE FROM items WHERE id = ANY($1::int[]) RETURNING id', [ids]);
    out.push(`${r.command} ${r.rowCount} [${r.rows.map((x) => x.id).join(',')}]`);
  }
  console.log(out.join('\n'));
  await client.end();
})().catch((e) => { console.error(e.message); process.exit(1); });
JS
close $fh;

sub run_client
{
	my ($node) = @_;
	my $user = $node->safe_psql('postgres', 'SELECT current_user');
	my ($stdout, $stderr);
	IPC::Run::run([ 'node', $script, $node->host, $node->port, $user ], '>', \$stdout, '2>', \$stderr)
	  or die "node client failed: $stderr";
	chomp $stdout;
	return $stdout;
}

my $setup = q{
CREATE EXTENSION pg_steward;
CREATE TABLE items (id int PRIMARY KEY);
INSERT INTO items SELECT generate_series(1, 10);
SELECT steward.enable_soft_delete('items');
};

my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', $setup);
# The connection has not loaded pg_steward: its first DELETE goes through the
# trigger (rows marked, reported 0); later ones are rewritten. Row 3 is
# counted once: deleting it again reports nothing.
is(run_client($plain), "DELETE 0 []\nDELETE 1 [3]\nDELETE 1 [4]", 'plain server: node-postgres results');

my $pre = PostgreSQL::Test::Cluster->new('preloaded');
$pre->init;
$pre->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_steward'");
$pre->start;
$pre->safe_psql('postgres', $setup);
is(run_client($pre), "DELETE 2 [1,2]\nDELETE 1 [3]\nDELETE 1 [4]", 'preloaded server: node-postgres results');

my $marked = "SELECT string_agg(id::text, ',' ORDER BY id) FROM items WHERE deleted_at IS NOT NULL";
is($plain->safe_psql('postgres', $marked), '1,2,3,4', 'plain: rows marked');
is($pre->safe_psql('postgres', $marked), '1,2,3,4', 'preloaded: same rows marked');

done_testing();
