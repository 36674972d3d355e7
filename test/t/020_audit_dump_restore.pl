# The audit log, its partitions, versions, options and sequences survive
# pg_dump/pg_restore; auditing continues afterwards with the same history.
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
    CREATE TYPE mood AS ENUM ('sad', 'happy');
    CREATE TABLE acct (id int PRIMARY KEY, owner text, m mood, secret text, note text);
    SELECT steward.enable_audit('acct', full_row => true, redacted => '{secret}', excluded => '{note}');
    BEGIN;
    SET LOCAL steward.actor = 'user-1';
    INSERT INTO acct VALUES (1, 'ann', 'sad', 's1', 'n'), (2, 'bob', 'happy', 's2', 'n');
    UPDATE acct SET m = 'happy' WHERE id = 1;
    DELETE FROM acct WHERE id = 2;
    COMMIT;
    CREATE TABLE gone (k text PRIMARY KEY);
    SELECT steward.enable_audit('gone');
    INSERT INTO gone VALUES ('x');
    DROP TABLE gone;
    SELECT steward._audit_partition_for('2001-02-03');
    -- a partitioned table: its partitions carry copies of its triggers,
    -- which pg_dump leaves out and the restore makes again
    CREATE TABLE ev (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
    CREATE TABLE ev_eu PARTITION OF ev FOR VALUES IN ('eu') PARTITION BY RANGE (id);
    CREATE TABLE ev_eu_lo PARTITION OF ev_eu FOR VALUES FROM (0) TO (100);
    SELECT steward.enable_audit('ev');
    INSERT INTO ev_eu_lo VALUES (1, 'eu', 1);
    -- bulk statements: packed log rows
    CREATE TABLE bulk (id int PRIMARY KEY, v int);
    SELECT steward.enable_audit('bulk');
    INSERT INTO bulk SELECT g, g FROM generate_series(1, 100) g;
    UPDATE bulk SET v = v + 1;
});
my $triggers_q = q{SELECT string_agg(tgrelid::regclass || '.' || tgname || ':' || (tgparentid <> 0), ',' ORDER BY tgrelid::regclass::text, tgname)
      FROM pg_trigger WHERE tgname LIKE 'steward_audit%' AND tgrelid::regclass::text LIKE 'ev%'};
my $triggers_before = $node->safe_psql('src', $triggers_q);
like($triggers_before, qr/ev_eu_lo\.steward_audit_truncate:true/, 'partitions carry copies of the triggers');

my $log_query = q{
    SELECT id, action, schema_name, table_name, row_key, old_values, new_values, changed_columns, actor
      FROM steward.audit_log ORDER BY id};
my $before = $node->safe_psql('src', $log_query);
my $partitions_q = q{SELECT string_agg(c.relname, ',' ORDER BY c.relname)
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'steward.audit_records'::regclass};
my $parts_before = $node->safe_psql('src', $partitions_q);
my $seq_before = $node->safe_psql('src', 'SELECT last_value FROM steward.audit_records_id_seq');
like($before, qr/INSERT/, 'source has a log');

my $dump = $node->basedir . '/src.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', $dump ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), $dump ], 'pg_restore');

is($node->safe_psql('dst', $log_query), $before, 'log restored with the same content and order');
is($node->safe_psql('dst', $partitions_q), $parts_before, 'partitions restored (incl. an empty old one)');
is($node->safe_psql('dst', 'SELECT last_value FROM steward.audit_records_id_seq'), $seq_before,
   'id sequence restored');
is($node->safe_psql('dst', q{SELECT full_row, redacted::text, excluded::text FROM steward.audited_tables WHERE relation_name = 'acct'}),
   't|{secret}|{note}', 'options restored');
is($node->safe_psql('dst', $triggers_q), $triggers_before, 'the partitions\' triggers are made again');
$node->safe_psql('dst', q{INSERT INTO ev_eu_lo VALUES (2, 'eu', 2); UPDATE ev_eu SET v = 3 WHERE id = 1});
is($node->safe_psql('dst', q{SELECT string_agg(action || ':' || (row_key->>'id'), ',' ORDER BY id) FROM steward.audit_log WHERE table_name = 'ev'}),
   'INSERT:1,INSERT:2,UPDATE:1', 'direct writes to partitions recorded after restore');
my $packed_q = q{SELECT count(*) FILTER (WHERE entries IS NOT NULL) > 0, sum(steward._audit_entry_count(hashes, entries))
      FROM steward.audit_records r JOIN steward.audit_tables t USING (table_id) WHERE t.table_name = 'bulk'};
is($node->safe_psql('src', $packed_q), 't|200', 'bulk statements wrote packed log rows');
is($node->safe_psql('dst', $packed_q), 't|200', 'packed log rows restored');
is($node->safe_psql('dst', q{SET enable_seqscan = off; SELECT string_agg(action || ':' || (new_values->>'v'), ',' ORDER BY id) FROM steward.history('bulk', 50)}),
   'INSERT:50,UPDATE:51', 'history of a packed record after restore (through the restored key indexes)');
is($node->safe_psql('dst', q{SELECT count(*) FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid
      WHERE i.inhparent = 'steward.audit_records'::regclass AND NOT COALESCE(c.reloptions, '{}') @> '{toast_tuple_target=8160}'}),
   '0', 'restored partitions keep packed rows in the heap page');
is($node->safe_psql('dst', q{SELECT count(*) FROM steward.audit_tables WHERE dropped_at IS NOT NULL AND table_name = 'gone'}),
   '1', 'history of a dropped table restored');

# Auditing continues in the restored database, in the same history.
$node->safe_psql('dst', q{UPDATE acct SET owner = 'anna' WHERE id = 1});
is($node->safe_psql('dst', q{SELECT string_agg(action, ',' ORDER BY id) FROM steward.history('acct', 1)}),
   'INSERT,UPDATE,UPDATE', 'history continues after restore');
is($node->safe_psql('dst', q{SELECT count(DISTINCT table_id) FROM steward.audit_log WHERE table_name = 'acct'}),
   '1', 'same table id');
is($node->safe_psql('dst', q{SELECT steward.row_as_of('acct', 1, now())->>'owner'}), 'anna', 'row_as_of after restore');
is($node->safe_psql('dst', q{SELECT max(id) > } . $node->safe_psql('src', 'SELECT max(id) FROM steward.audit_records') . q{ FROM steward.audit_records}),
   't', 'new ids after the old ones');
# a new table gets a new table id (the identity sequence was restored too)
$node->safe_psql('dst', q{CREATE TABLE fresh (id int PRIMARY KEY); SELECT steward.enable_audit('fresh')});
is($node->safe_psql('dst', q{SELECT count(*) FROM (SELECT table_id FROM steward.audit_tables GROUP BY table_id HAVING count(*) > 1) d}),
   '0', 'table ids stay unique');

# A second round trip of the restored database gives the same log again.
my $dump2 = $node->basedir . '/dst.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('dst'), '-f', $dump2 ], 'pg_dump of the restored db');
$node->safe_psql('postgres', 'CREATE DATABASE dst2');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst2'), $dump2 ], 'pg_restore again');
is($node->safe_psql('dst2', $log_query), $node->safe_psql('dst', $log_query), 'second round trip');

done_testing();
