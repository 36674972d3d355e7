# Crash (immediate shutdown) during a bulk audited load: after recovery the
# log holds exactly the committed changes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', "fsync = on\nsynchronous_commit = on");
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION pg_steward;
    CREATE TABLE items (id int PRIMARY KEY, payload text, n int);
    SELECT steward.enable_audit('items');
    CREATE TABLE progress (batch int PRIMARY KEY);
    CREATE PROCEDURE load() LANGUAGE plpgsql AS $$
    BEGIN
        FOR b IN 0..100000 LOOP
            INSERT INTO items SELECT b * 1000 + g, repeat(md5(g::text), 3), g FROM generate_series(1, 1000) g;
            UPDATE items SET n = n + 1 WHERE id BETWEEN b * 1000 + 1 AND b * 1000 + 500;
            DELETE FROM items WHERE id BETWEEN b * 1000 + 1 AND b * 1000 + 100;
            INSERT INTO progress VALUES (b);
            COMMIT;
        END LOOP;
    END $$;
});

# Start the load in the background, let it commit some batches, crash.
my ($stdout, $stderr) = ('', '');
my $h = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', 'CALL load()' ],
                        '>', \$stdout, '2>', \$stderr);
my $batches = 0;
for (my $i = 0; $i < 600 && $batches < 5; $i++) {
    usleep(100_000);
    $batches = $node->safe_psql('postgres', 'SELECT count(*) FROM progress');
}
ok($batches >= 5, "load committed $batches batches before the crash");
$node->stop('immediate');
$h->finish;
$node->start;

my $committed = $node->safe_psql('postgres', 'SELECT count(*) FROM progress');
ok($committed >= $batches, "$committed batches committed");
# Every committed batch: 1000 inserts, 500 updates, 100 deletes; nothing else.
is($node->safe_psql('postgres', q{SELECT action || ':' || count(*) FROM steward.audit_log GROUP BY action ORDER BY action}),
   join("\n", 'DELETE:' . 100 * $committed, 'INSERT:' . 1000 * $committed, 'UPDATE:' . 500 * $committed),
   'log counts match the committed batches');
# The log replays to exactly the table.
is($node->safe_psql('postgres', q{
    WITH last AS (
        SELECT DISTINCT ON (row_key) row_key, action, id FROM steward.audit_log ORDER BY row_key, id DESC)
    SELECT count(*) FROM (
        (SELECT (row_key->>'id')::int FROM last WHERE action <> 'DELETE' EXCEPT SELECT id FROM items)
        UNION ALL
        (SELECT id FROM items EXCEPT SELECT (row_key->>'id')::int FROM last WHERE action <> 'DELETE')) d}),
   '0', 'live keys in the log = rows in the table');
is($node->safe_psql('postgres', q{SELECT count(*) FROM items i
    WHERE i.n <> (steward.row_as_of('items', i.id, now())->>'n')::int AND i.id % 97 = 0}),
   '0', 'row_as_of matches sampled rows');
# Auditing works after recovery.
$node->safe_psql('postgres', q{UPDATE items SET n = -1 WHERE id = (SELECT min(id) FROM items)});
is($node->safe_psql('postgres', q{SELECT new_values->>'n' FROM steward.audit_log ORDER BY id DESC LIMIT 1}), '-1',
   'auditing continues after recovery');
done_testing();
