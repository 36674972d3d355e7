# pg_dump / pg_restore of a database using soft delete: the list of enabled
# tables (an extension configuration table, regclass columns), the triggers,
# the cascade trigger, the reference check and the views come back and work;
# marked rows keep their marks; a partition created after enabling (not an
# extension member) is restored with its rows and its trigger.
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
    CREATE SCHEMA "App Data";
    CREATE TABLE "App Data".users (id int PRIMARY KEY, email text);
    CREATE TABLE "App Data".sessions (id int PRIMARY KEY,
        user_id int REFERENCES "App Data".users ON DELETE CASCADE);
    SELECT steward.enable_soft_delete('"App Data".users');
    SELECT steward.enable_soft_delete('"App Data".sessions', 'Removed At', create_views => false);
    INSERT INTO "App Data".users VALUES (1, 'a'), (2, 'b');
    INSERT INTO "App Data".sessions VALUES (10, 1), (20, 2);
    DELETE FROM "App Data".users WHERE id = 2;
    CREATE TABLE events (kind text, id int, PRIMARY KEY (kind, id)) PARTITION BY LIST (kind);
    CREATE TABLE events_a PARTITION OF events FOR VALUES IN ('a');
    SELECT steward.enable_soft_delete('events');
    CREATE TABLE events_b PARTITION OF events FOR VALUES IN ('b');
    INSERT INTO events VALUES ('a', 1), ('b', 2), ('b', 3);
    DELETE FROM events WHERE id = 3;
});

my $dump = $node->basedir . '/src.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('src') ], 'pg_dump -Fc');
# a non-superuser can dump it too (no row security on the list)
$node->safe_psql('postgres', 'CREATE ROLE dumper LOGIN; GRANT pg_read_all_data TO dumper');
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump . '.nonsuper', '-d', $node->connstr('src') . ' user=dumper' ],
	'pg_dump as a non-superuser');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), $dump ],
	'pg_restore into a fresh database');

my $list = q{SELECT string_agg(format('%s:%s:%s:%s', table_name, column_name, live_view, deleted_view), ' '
                               ORDER BY table_name::text) FROM steward.soft_delete_tables};
is($node->safe_psql('dst', $list), $node->safe_psql('src', $list), 'enabled tables restored');
is( $node->safe_psql('dst', $list),
	'"App Data".sessions:Removed At:: "App Data".users:deleted_at:"App Data".users_live:"App Data".users_deleted '
	  . 'events:deleted_at:events_live:events_deleted',
	'list names tables, columns and views');

my $triggers = q{SELECT string_agg(format('%s.%s', tgrelid::regclass, tgname), ' ' ORDER BY tgrelid::regclass::text, tgname)
                   FROM pg_trigger WHERE tgname LIKE 'steward%'};
is($node->safe_psql('dst', $triggers), $node->safe_psql('src', $triggers), 'triggers restored, none twice');

is( $node->safe_psql('dst', q{
        SELECT string_agg(format('%s:%s', id, deleted_at IS NOT NULL), ',' ORDER BY id) FROM "App Data".users}),
	'1:f,2:t', 'marks restored');
is( $node->safe_psql('dst', q{SELECT string_agg(format('%s%s', kind, id), ',' ORDER BY id) FROM events_deleted}),
	'b3', 'partition created after enabling: rows and marks restored');

# soft delete, cascade and restore work in the restored database
is( $node->safe_psql('dst', q{
        DELETE FROM "App Data".users WHERE id = 1;
        DELETE FROM events WHERE id = 2;
        SELECT (SELECT "Removed At" IS NOT NULL FROM "App Data".sessions WHERE id = 10)
           AND (SELECT count(*) = 3 FROM events)
           AND (SELECT count(*) = 1 FROM events_live);}),
	't', 'restored triggers mark rows, cascade included');
my ($ret, $out, $err) = $node->psql('dst', 'TRUNCATE events_b');
like($err, qr/cannot truncate "public.events_b": soft delete is enabled on it/, 'restored TRUNCATE guard on a partition');
($ret, $out, $err) = $node->psql('dst', q{INSERT INTO "App Data".sessions VALUES (30, 2)});
like($err, qr/Key \(user_id\)=\(2\) refers to a soft-deleted row of table "users"/,
	'restored reference check: a new session of the soft-deleted user is refused');
is( $node->safe_psql('dst', q{SELECT count(*) FROM pg_trigger WHERE tgname = 'steward_soft_delete_parent'
                               AND tgrelid = '"App Data".sessions'::regclass}),
	'1', 'the reference check trigger is restored once');
is( $node->safe_psql('dst', q{SELECT steward.restore('"App Data".users', '1')}), '1', 'restore works');
is( $node->safe_psql('dst', q{SELECT "Removed At" IS NULL FROM "App Data".sessions WHERE id = 10}),
	't', 'restore brought the cascaded child back');

# the restored check trigger does not keep its columns from being dropped
# (it has no column list, so it does not depend on them)
($ret, $out, $err) = $node->psql('dst', q{ALTER TABLE "App Data".sessions DROP COLUMN user_id});
is($err, '', 'a referencing column can be dropped in the restored database');
is( $node->safe_psql('dst', q{SELECT count(*) FROM pg_trigger WHERE tgname = 'steward_soft_delete_parent'
                               AND tgrelid = '"App Data".sessions'::regclass}),
	'0', 'the check went with the last foreign key');

# pg_restore -j restores foreign keys and triggers in any order: the DDL
# event triggers stay out of the way while it runs (check_function_bodies =
# off), so the dump's CREATE TRIGGERs never find one made already.
$node->safe_psql('postgres', 'CREATE DATABASE many');
$node->safe_psql('many', q{
    CREATE EXTENSION pg_steward;
    DO $$
    BEGIN
        FOR i IN 1 .. 12 LOOP
            EXECUTE format('CREATE TABLE parent_%s (id int PRIMARY KEY)', i);
            EXECUTE format('CREATE TABLE child_%s (id int, parent_id int REFERENCES parent_%s) PARTITION BY RANGE (id)', i, i);
            EXECUTE format('CREATE TABLE child_%s_1 PARTITION OF child_%s FOR VALUES FROM (0) TO (100)', i, i);
            EXECUTE format('CREATE TABLE plain_child_%s (id int PRIMARY KEY, parent_id int REFERENCES parent_%s ON DELETE CASCADE)', i, i);
            EXECUTE format('INSERT INTO parent_%s VALUES (1), (2)', i);
            EXECUTE format('INSERT INTO child_%s VALUES (1, 1)', i);
            PERFORM steward.enable_soft_delete(format('parent_%s', i)::regclass, create_views => false);
            PERFORM steward.enable_soft_delete(format('plain_child_%s', i)::regclass, create_views => false);
        END LOOP;
    END $$;
});
my $many = $node->basedir . '/many.dump';
$node->command_ok([ 'pg_dump', '-Fd', '-j', '2', '-f', $many, '-d', $node->connstr('many') ], 'pg_dump -Fd of 12 enabled parents');
$node->safe_psql('postgres', 'CREATE DATABASE many_dst');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-j', '4', '-d', $node->connstr('many_dst'), $many ],
	'pg_restore -j 4 --exit-on-error');
my $all_triggers = q{SELECT string_agg(format('%s.%s', tgrelid::regclass, tgname), ' ' ORDER BY tgrelid::regclass::text, tgname)
                       FROM pg_trigger WHERE tgname LIKE 'steward%'};
is($node->safe_psql('many_dst', $all_triggers), $node->safe_psql('many', $all_triggers),
	'parallel restore: the same triggers, none twice');
($ret, $out, $err) = $node->psql('many_dst', q{DELETE FROM parent_3 WHERE id = 2; INSERT INTO child_3 VALUES (2, 2)});
like($err, qr/refers to a soft-deleted row of table "parent_3"/, 'parallel restore: the checks work');

$node->stop;
done_testing();
