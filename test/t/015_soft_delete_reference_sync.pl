# The reference checks' sync (steward._soft_delete_sync_references()) when a
# table it has to change is locked by another session:
# - after DDL it waits at most a second, then warns (with a hint) instead of
#   failing the DDL; health() then names the table, and enable_soft_delete()
#   of an enabled table again brings the check back;
# - called by enable_soft_delete() it waits like any DDL, bounded by the
#   caller's own lock_timeout, and fails as a whole when that runs out.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
    SET client_min_messages = warning;
    CREATE EXTENSION pg_steward;
    CREATE TABLE parent (id int PRIMARY KEY, deleted_at timestamptz);
    CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent);
    INSERT INTO parent VALUES (1), (2);
    SELECT steward.enable_soft_delete('parent', create_views => false);
    DELETE FROM parent WHERE id = 2;
    -- the check goes missing without a sync (DROP TRIGGER runs none)
    DROP TRIGGER steward_soft_delete_parent ON child;
});
my $health = q{SELECT status || ': ' || detail FROM steward._health_checks_soft_delete()
                WHERE check_name = 'soft_delete_unchecked_references'};
like($node->safe_psql('postgres', $health), qr/^warning: .*accepted in these tables .*: public\.child\./,
     'health() names the table whose check is missing');

# Another session writes to child (ROW EXCLUSIVE, which conflicts with the
# SHARE ROW EXCLUSIVE the sync takes) and stays open.
my $writer = $node->background_psql('postgres');
$writer->query_safe('BEGIN');
$writer->query_safe('INSERT INTO child VALUES (1, 1)');

# Unrelated DDL: its sync tries to bring child's check back, waits a second,
# warns, and the DDL itself succeeds.
my $t0 = time();
my ($rc, $out, $err) = $node->psql('postgres', 'CREATE TABLE unrelated (id int)');
my $elapsed = time() - $t0;
is($rc, 0, 'the DDL succeeds while the table is locked');
like($err, qr/WARNING:  pg_steward could not update the soft delete reference check of "public\.child": canceling statement due to lock timeout/,
     'it warns about the table it could not change');
like($err, qr/HINT:  SELECT steward\.enable_soft_delete\(\) of a soft-delete-enabled table again brings the checks in step/,
     'with a hint');
ok($elapsed < 30, "it waited about a second, not for the writer (${elapsed}s)");
is($node->safe_psql('postgres', q{SELECT to_regclass('unrelated') IS NOT NULL}), 't', 'the table exists');

# enable_soft_delete() waits like DDL; with the caller's lock_timeout it
# fails as a whole (nothing changed).
($rc, $out, $err) = $node->psql('postgres', q{
    SET lock_timeout = '500ms';
    SELECT steward.enable_soft_delete('parent', create_views => false)});
isnt($rc, 0, 'enable_soft_delete() under the caller\'s lock_timeout fails');
like($err, qr/ERROR:  canceling statement due to lock timeout/, 'with the lock timeout');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_trigger WHERE tgrelid = 'child'::regclass AND tgname LIKE 'steward%'}),
   '0', 'and no trigger was made');

$writer->query_safe('COMMIT');
$writer->quit;

# Once the writer is gone, enable_soft_delete() of the enabled table brings
# the check back (returns false: it was enabled already).
is($node->safe_psql('postgres', q{SELECT steward.enable_soft_delete('parent', create_views => false)}),
   'f', 'enable_soft_delete() again');
like($node->safe_psql('postgres', $health), qr/^ok: /, 'health() is ok again');
($rc, $out, $err) = $node->psql('postgres', 'INSERT INTO child VALUES (2, 2)');
like($err, qr/Key \(parent_id\)=\(2\) refers to a soft-deleted row of table "parent"/,
     'a new reference to the soft-deleted row is refused again');

$node->stop;
done_testing();
