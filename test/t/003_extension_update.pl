# ALTER EXTENSION pg_steward UPDATE from every earlier release.
#
# 1. Same objects: a database updated from an old release must end up with
#    exactly the objects a fresh install of the current version creates.
#    Both are compared through pg_dump --binary-upgrade --schema-only (the
#    one pg_dump mode that writes out each member of an extension: its
#    definition, owner, privileges, comments), with the lines that carry
#    oids and transaction ids left out, plus the extension's configuration
#    tables (pg_extension.extconfig, and their data in a --data-only dump).
#    An upgrade script that forgets a change fails here with the diff. (A
#    member table's dropped column shows in that dump too: an upgrade that
#    drops one needs the filter below to leave "dropped column" lines out.)
# 2. Nothing lost: a database used with the old release (updated_at,
#    soft delete with a foreign key, audit trail, queue jobs in several
#    states) keeps every row, log entry and job across the update, the
#    features go on working after it, and a pg_dump/pg_restore of the
#    updated database keeps them again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StewardQueueHistory;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->start;

my $current = $node->safe_psql('postgres',
    q{SELECT default_version FROM pg_available_extensions WHERE name = 'pg_steward'});
my @old = split /\n/, $node->safe_psql('postgres', q{
    SELECT version FROM pg_available_extension_versions
     WHERE name = 'pg_steward' AND version <> (SELECT default_version FROM pg_available_extensions
                                                WHERE name = 'pg_steward')
     ORDER BY string_to_array(version, '.')::int[]});
ok(@old > 0, "earlier releases are installed beside $current: @old");

# The schema of a database as pg_dump --binary-upgrade writes it, without
# what differs between any two databases (oids, xids, the dump's random key).
sub schema_of {
    my ($db) = @_;
    my ($stdout, $stderr);
    my $ok = IPC::Run::run([ 'pg_dump', '--binary-upgrade', '--schema-only', '-d', $node->connstr($db) ],
                           '>', \$stdout, '2>', \$stderr);
    die "pg_dump $db failed: $stderr" unless $ok;
    return join "\n", grep {
        !/^\\(un)?restrict /
          && !/binary_upgrade_set_next_/
          && !/binary_upgrade_create_empty_extension/    # its oids; extconfig compared by name below
          && !/^SET relfrozenxid = /
          && !/^WHERE oid = '\d+';$/
    } split /\n/, $stdout;
}

sub data_of {
    my ($db) = @_;
    my ($stdout, $stderr);
    IPC::Run::run([ 'pg_dump', '--data-only', '-d', $node->connstr($db) ], '>', \$stdout, '2>', \$stderr)
      or die "pg_dump --data-only $db failed: $stderr";
    return join "\n", grep { !/^\\(un)?restrict / } split /\n/, $stdout;
}

my $config_sql = q{
    SELECT concat_ws(E'\n',
        (SELECT format('owner %s, schema %s, relocatable %s, version %s', e.extowner::regrole, e.extnamespace::regnamespace,
                       e.extrelocatable, e.extversion)
           FROM pg_extension e WHERE e.extname = 'pg_steward'),
        (SELECT string_agg(format('%s %s', c.oid::regclass, coalesce(w.cond, '')), E'\n' ORDER BY c.oid::regclass::text)
           FROM pg_extension e
          CROSS JOIN LATERAL unnest(e.extconfig, e.extcondition) AS w(rel, cond)
           JOIN pg_class c ON c.oid = w.rel
          WHERE e.extname = 'pg_steward'))};

# Show where two long texts differ (Test::More would print both whole).
sub same_text {
    my ($got, $want, $name) = @_;
    if ($got eq $want) { pass($name); return; }
    my $dir = PostgreSQL::Test::Utils::tempdir();
    open my $g, '>', "$dir/updated" or die; print $g "$got\n"; close $g;
    open my $w, '>', "$dir/fresh" or die; print $w "$want\n"; close $w;
    my ($diff, $err);
    IPC::Run::run([ 'diff', '-u', "$dir/fresh", "$dir/updated" ], '>', \$diff, '2>', \$err);
    fail($name);
    diag($diff);
}

# The updates run before the fresh install: objects outside the database
# (roles) that only a fresh install's script creates would otherwise exist
# already when an upgrade script forgets them.
my %updated;
for my $v (@old) {
    my $db = "updated_from_$v";
    $db =~ s/\./_/g;
    $updated{$v} = $db;
    $node->safe_psql('postgres', qq{CREATE DATABASE "$db"});
    $node->safe_psql($db, qq{CREATE EXTENSION pg_steward VERSION '$v'});
    is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_steward'}),
       $v, "$v installs");
    $node->safe_psql($db, 'ALTER EXTENSION pg_steward UPDATE');
    is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'pg_steward'}),
       $current, "$v updates to $current");
}

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION pg_steward');
my $fresh_schema = schema_of('fresh');
like($fresh_schema, qr/ALTER EXTENSION pg_steward ADD FUNCTION steward\.enqueue/,
     'the binary-upgrade dump lists the members of the extension');

for my $v (@old) {
    my $db = $updated{$v};
    same_text(schema_of($db), $fresh_schema, "$v updated to $current: the same objects as a fresh $current");
    same_text($node->safe_psql($db, $config_sql), $node->safe_psql('fresh', $config_sql),
              "$v updated to $current: the extension's row and its configuration tables");
    same_text(data_of($db), data_of('fresh'), "$v updated to $current: the same configuration data");
}

# An upgrade script runs while the older library may still be loaded (it
# is preloaded until the server restarts), and PostgreSQL looks a new C
# function's symbol up in the loaded library: every C function an upgrade
# script declares must name a symbol the release it starts from had, unless
# the script says it needs the new library ("-- needs the new library").
my $extdir = $node->config_data('--sharedir') . '/extension';
for my $script (glob("$extdir/pg_steward--*--*.sql")) {
    my ($from) = $script =~ /pg_steward--([^-]+)--/;
    open my $fh, '<', $script or die "$script: $!";
    my $text = do { local $/; <$fh> };
    close $fh;
    open my $rh, '<', "$extdir/pg_steward--$from.sql" or die "release $from: $!";
    my $release = do { local $/; <$rh> };
    close $rh;
    my %had = map { $_ => 1 } $release =~ /'MODULE_PATHNAME',\s*'(\w+)'/g;
    my @new = grep { !$had{$_} } $text =~ /'MODULE_PATHNAME',\s*'(\w+)'/g;
    ok(!@new || $text =~ /^-- needs the new library/m,
       "$script declares no C function the $from library lacks" . (@new ? " (@new)" : ''));
}

# -- 2. nothing lost -----------------------------------------------------------
my $oldest = $old[0];
$node->safe_psql('postgres', 'CREATE DATABASE used');
$node->safe_psql('used', qq{
    CREATE EXTENSION pg_steward VERSION '$oldest';
    CREATE TABLE users (id int PRIMARY KEY, name text, updated_at timestamptz, deleted_at timestamptz);
    CREATE TABLE tasks (id int PRIMARY KEY, user_id int REFERENCES users ON DELETE CASCADE, title text,
                        updated_at timestamptz, deleted_at timestamptz);
    SELECT steward.track_updated_at('users');
    SELECT steward.track_updated_at('tasks');
    SELECT steward.enable_soft_delete('users');
    SELECT steward.enable_soft_delete('tasks');
    SELECT steward.enable_audit('users');
    SELECT steward.enable_audit('tasks', full_row => true);
    INSERT INTO users VALUES (1, 'ann', '2001-01-01'), (2, 'bob', '2001-01-01'), (3, 'cy', '2001-01-01');
    INSERT INTO tasks VALUES (10, 1, 'write'), (11, 2, 'read'), (12, 2, 'test');
    UPDATE users SET name = 'ann b' WHERE id = 1;
    DELETE FROM users WHERE id = 2;          -- soft: tasks 11 and 12 are marked too
    SELECT steward.create_queue('mail', max_attempts => 2);
    SELECT steward.queue_maintenance();     -- the history's daily partitions, made by 0.1.0
    SELECT steward.enqueue('mail', jsonb_build_object('n', n)) FROM generate_series(1, 6) AS n;
});
# a claimed job, a completed one, a failed one waiting for its retry
$node->safe_psql('used', q{
    SELECT steward.complete(j.id, j.lease_token, '{"ok": true}')
      FROM steward.dequeue('mail', 'w1') AS j;
    SELECT steward.fail(j.id, j.lease_token, 'smtp down', retry_in => '1 hour')
      FROM steward.dequeue('mail', 'w1') AS j;
    SELECT count(*) FROM steward.dequeue('mail', 'w2');
});

my $facts_sql = q{
    SELECT concat_ws(E'\n',
        (SELECT string_agg(format('user %s %s %s %s', id, name, updated_at IS NOT NULL, deleted_at IS NOT NULL), ' ' ORDER BY id)
           FROM users),
        (SELECT string_agg(format('task %s %s', id, deleted_at IS NOT NULL), ' ' ORDER BY id) FROM tasks),
        (SELECT string_agg(format('%s %s %s %s', table_name, action, row_key, coalesce(changed_columns::text, '-')),
                           ' | ' ORDER BY id)
           FROM steward.audit_log),
        (SELECT string_agg(format('%s %s', action, new_values), ' | ') FROM steward.history('users', 1)),
        (SELECT string_agg(format('job %s %s %s %s', id, state, attempt, payload), ' ' ORDER BY id)
           FROM steward.jobs WHERE queue = 'mail'),
        (SELECT string_agg(format('%s %s %s', table_name, column_name, live_view), ' ' ORDER BY table_name::text)
           FROM steward.soft_delete_tables),
        (SELECT string_agg(format('%s %s', table_name, full_row), ' ' ORDER BY table_name::text)
           FROM steward.audited_tables),
        (SELECT string_agg(table_name::text, ' ' ORDER BY table_name::text) FROM steward.tracked_tables))};
my $before = $node->safe_psql('used', $facts_sql);
note($before);
like($before, qr/user 2 bob t t/, 'the old release soft-deleted a user');
like($before, qr/job \d+ running/, 'the old release left a job claimed');
like($before, qr/job \d+ completed/, 'and a job completed');

# 0.1.0 let soft delete be enabled on a temporary table, whose row stayed
# behind when its session ended (reported as an unprotected table); the
# update removes such rows
$node->safe_psql('used', q{
    SET client_min_messages = warning;
    CREATE TEMP TABLE scratch (id int PRIMARY KEY, deleted_at timestamptz);
    SELECT steward.enable_soft_delete('scratch', create_views => false)});
my $stale_sql = q{SELECT count(*) FROM steward.soft_delete_tables s
                   WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = s.table_name)};
is($node->safe_psql('used', $stale_sql), '1', "$oldest left the temporary table's row behind");

# the history's partitions and their indexes, by access method, per partition
my $history_indexes_sql = StewardQueueHistory::partition_indexes_sql;
my $history_parts_sql = q{SELECT count(*) FROM pg_inherits WHERE inhparent = 'steward._job_history'::regclass};
my $history_parts = $node->safe_psql('used', $history_parts_sql);
cmp_ok($history_parts, '>', 1, "$oldest made daily history partitions besides the default one");
is($node->safe_psql('used', $history_indexes_sql), 'brin (finished_at), btree (id), btree (queue_id, finished_at)',
   "$oldest indexed each of them by finished_at (BRIN), id and queue");

$node->safe_psql('used', 'ALTER EXTENSION pg_steward UPDATE');
is($node->safe_psql('used', $stale_sql), '0', 'the update removed it');
is($node->safe_psql('used', $history_parts_sql), $history_parts, 'the history keeps its partitions');
is($node->safe_psql('used', $history_indexes_sql), 'btree (id), btree (queue_id, finished_at)',
   'the update dropped the BRIN index of each and kept the rest');
is($node->safe_psql('used', q{
    SELECT count(*) FROM pg_inherits i JOIN pg_index x ON x.indrelid = i.inhrelid
     WHERE i.inhparent = 'steward._job_history'::regclass}),
   2 * $history_parts, 'two indexes on each partition');
same_text($node->safe_psql('used', $facts_sql), $before,
          "$oldest -> $current: every row, log entry and job is kept");

# the features go on working after the update
is($node->safe_psql('used', q{
    UPDATE users SET name = 'cy d' WHERE id = 3;
    SELECT updated_at > '2001-01-01' FROM users WHERE id = 3}),
   't', 'updated_at still stamps updates');
my ($rc, $out, $err) = $node->psql('used', 'INSERT INTO tasks VALUES (13, 2, $$new$$)');
like($err, qr/refers to a soft-deleted row of table "users"/,
     'a new reference to the soft-deleted user is refused');
# the updated sync: a table created now gets its reference check
($rc, $out, $err) = $node->psql('used', q{
    CREATE TABLE notes (id int PRIMARY KEY, user_id int REFERENCES users);
    INSERT INTO notes VALUES (1, 2)});
like($err, qr/Key \(user_id\)=\(2\) refers to a soft-deleted row of table "users"/,
     'a foreign key created after the update is checked too');
is($node->safe_psql('used', q{SELECT count(*) FROM notes}), '0', 'and nothing was inserted');
$node->safe_psql('used', 'DROP TABLE notes');
is($node->safe_psql('used', q{SELECT steward.restore('users', '2')}), '1', 'restore() of the user');
is($node->safe_psql('used', q{
    SELECT string_agg(format('%s %s', id, deleted_at IS NULL), ' ' ORDER BY id) FROM tasks}),
   '10 t 11 t 12 t', 'its tasks are restored with it');
is($node->safe_psql('used', q{
    SELECT string_agg(action::text, ',' ORDER BY id) FROM steward.history('users', 3)}),
   'INSERT,UPDATE', 'the audit trail records changes made after the update');
is($node->safe_psql('used', q{
    SELECT count(*) FROM (SELECT steward.complete(j.id, j.lease_token) FROM steward.dequeue('mail', 'w3', max_jobs => 10) AS j) s}),
   '3', 'the remaining ready jobs are claimed and completed');
is($node->safe_psql('used', q{SELECT steward.health() ->> 'status'}),
   'ok', 'health() after the update')
  or diag($node->safe_psql('used', q{SELECT steward.health()::text}));

# pg_dump/pg_restore of the updated database keeps it all again
my $after = $node->safe_psql('used', $facts_sql);
my $dump = $node->basedir . '/used.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('used') ], 'pg_dump -Fc of the updated database');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ],
                  'pg_restore into a fresh database');
is($node->safe_psql('restored', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_steward'}),
   $current, "restored at $current");
same_text($node->safe_psql('restored', $facts_sql), $after, 'the restored copy holds the same rows, log and jobs');

$node->stop;
done_testing();
