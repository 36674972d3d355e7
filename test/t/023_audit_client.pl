# The session's client address and application name are recorded: over TCP
# the address of the client, over a Unix socket none.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'");
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_steward;
    CREATE TABLE items (id int PRIMARY KEY);
    SELECT steward.enable_audit('items');
});
$node->command_ok(
    [ 'psql', '-X', '-d', $node->connstr('postgres') . ' host=127.0.0.1 application_name=tap-tcp',
      '-c', 'INSERT INTO items VALUES (1)' ],
    'insert over TCP');
$node->safe_psql('postgres', 'INSERT INTO items VALUES (2)');
is($node->safe_psql('postgres', q{
    SELECT string_agg(row_key->>'id' || ':' || coalesce(host(client_addr), '-') || ':' || application_name, ',' ORDER BY id)
      FROM steward.audit_log}),
   '1:127.0.0.1:tap-tcp,2:-:023_audit_client.pl', 'client address over TCP, none over a Unix socket');
done_testing();
