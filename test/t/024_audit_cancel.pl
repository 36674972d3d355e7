# A statement cancelled while the audit trigger reads its transition tables
# (statement_timeout) leaves the backend's cache usable: later statements on
# the same table in the same session are audited as before, and the log
# holds exactly the committed changes. With work_mem at its minimum the
# transition tables go to disk, so the rows the trigger reads belong to the
# statement's memory, which the error frees (the trigger's cached slots must
# not free them again).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $rows = 30000;
my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->start;
$node->safe_psql('postgres', qq{
    CREATE EXTENSION pg_steward;
    CREATE TABLE victim (id int PRIMARY KEY, n int NOT NULL, pad text);
    CREATE TABLE bare (id int PRIMARY KEY, n int NOT NULL, pad text);
    INSERT INTO victim SELECT g, 0, repeat('x', 40) FROM generate_series(1, $rows) g;
    INSERT INTO bare SELECT * FROM victim;
    SELECT steward.enable_audit('victim');
    VACUUM ANALYZE victim, bare;
});

# How long a DELETE of every row takes without and with the audit pass (a
# bare DELETE only marks rows, so the pass is most of the audited one):
# timeouts between the two mostly fire while the trigger runs.
sub timed {
	my ($sql) = @_;
	my $out = $node->safe_psql('postgres', "SET work_mem = '64kB';\n\\timing on\nBEGIN;\n$sql;\nROLLBACK;");
	$out =~ /Time: [0-9.]+ ms.*?Time: ([0-9.]+) ms/s or die "no timing in: $out";
	return $1;
}
timed('DELETE FROM bare');
my $bare = timed('DELETE FROM bare');
my $audited = timed('DELETE FROM victim');
$audited = $bare + 20 if $audited < $bare + 20;
note(sprintf('DELETE of %d rows: %.0f ms bare, %.0f ms audited', $rows, $bare, $audited));

# One session: the cache is built by a committed statement first; then
# DELETEs that time out at points spread over the audited statement's run,
# each followed by a single-row UPDATE of the same table (and the rows put
# back when the DELETE went through).
my $script = "SET work_mem = '64kB';\nUPDATE victim SET n = n + 1 WHERE id = 1;\n";
my $attempts = 24;
for my $k (1 .. $attempts) {
	my $ms = int($bare + ($audited - $bare) * ($k % 12 + 0.5) / 12);
	$ms = 1 if $ms < 1;
	$script .= "SET statement_timeout = $ms;\nDELETE FROM victim;\nRESET statement_timeout;\n"
	  . "UPDATE victim SET n = n + 1 WHERE id = 1;\n"
	  . "INSERT INTO victim SELECT g, 0, repeat('x', 40) FROM generate_series(1, $rows) g WHERE NOT EXISTS (SELECT FROM victim);\n";
}
my ($ret, $out, $err) = $node->psql('postgres', $script, on_error_stop => 0);
my @errors = grep { /ERROR/ } split /\n/, $err;
my @timeouts = grep { /canceling statement due to statement timeout/ } @errors;
my @other = grep { !/canceling statement due to statement timeout/ } @errors;
note(scalar(@timeouts) . " of $attempts DELETEs timed out");
ok(@timeouts >= 1, 'some DELETEs were cancelled');
is(join("\n", @other), '', 'no error but the timeouts (every statement after a cancelled one worked)');

# The log holds exactly the committed changes: the rows there are now are
# the rows inserted minus the rows deleted, and the single-row UPDATEs of
# id 1 since it was last inserted are its history.
is( $node->safe_psql('postgres', q{
        SELECT (SELECT count(*) FROM victim)
             = (SELECT count(*) FILTER (WHERE action = 'INSERT') - count(*) FILTER (WHERE action = 'DELETE')
                  FROM steward.audit_log WHERE table_name = 'victim')
               + (SELECT 30000)}),
	't', 'inserted minus deleted entries match the rows left');
is( $node->safe_psql('postgres', q{
        SELECT count(*) FROM steward.history('victim', 1) h
         WHERE h.action = 'UPDATE'
           AND h.id > coalesce((SELECT max(x.id) FROM steward.history('victim', 1) x WHERE x.action = 'INSERT'), 0)}),
	$node->safe_psql('postgres', 'SELECT n FROM victim WHERE id = 1'),
	'the history of a row the cancelled statements touched matches its changes');

$node->stop;
done_testing();
