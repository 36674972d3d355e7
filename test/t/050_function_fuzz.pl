# Every SQL-callable function and procedure of the schema steward, called
# with NULLs and with edge values: no call may crash the backend, restart the
# server, hang past its statement_timeout, raise an internal error (SQLSTATE
# class XX, "cache lookup failed") or word an error against PostgreSQL's
# message style guide (a primary message starts with a lower-case letter and
# does not end with a period).
#
# The functions come from pg_proc, so a new function is fuzzed without
# editing this file. Each gets one call with every argument NULL and
# $calls_per_function calls whose arguments are drawn from per-type pools of
# edge values by a pseudo-random generator seeded from a fixed seed and the
# function's signature (the same calls every run, whatever else changes).
# Functions with a baseline (%baseline: a call that gets far on the fixture)
# are also called with each argument in turn swept over its type's pool.
# Class XX001 (data corrupted, which the audit readers raise on purpose for
# input that does not parse) is reported, not failed; calls cancelled by
# statement_timeout are reported too (cancellable, so not hangs).
# Each call runs in its own transaction, rolled back, under statement_timeout
# and lock_timeout, in a psql session per function; after each call the
# session checks that the server is still the same one (postmaster start
# time and checkpointer pid: a crash restart keeps the start time). A call
# that kills the connection or the server is recorded and the run goes on
# from the next call. All of it runs twice: on a plain server and on one
# that preloads pg_steward.
#
# Knobs (for digging, not for CI): STEWARD_FUZZ_CALLS (default 30),
# STEWARD_FUZZ_SEED, STEWARD_FUZZ_ONLY (regex on the function signature),
# STEWARD_FUZZ_MODES ("plain,preload"), STEWARD_FUZZ_STALL (seconds without
# progress that make a hang, default 30). Every call with its messages is
# written to $TESTDIR/050_function_fuzz.<mode>.log, and the distinct
# messages to $TESTDIR/050_function_fuzz.messages.txt.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);

my $calls_per_function = $ENV{STEWARD_FUZZ_CALLS} // 30;
my $seed = $ENV{STEWARD_FUZZ_SEED} // 20261202;
my $only = $ENV{STEWARD_FUZZ_ONLY};
my @modes = split /,/, ($ENV{STEWARD_FUZZ_MODES} // 'plain,preload');
my $statement_timeout = '3s';
my $lock_timeout = '1s';
my $stall_seconds = $ENV{STEWARD_FUZZ_STALL} // 30;    # no progress for this long after a call started: a hang
my $db = 'fuzz';
my $outdir = $ENV{TESTDIR} // '.';

# -- the fixture -------------------------------------------------------------------
# A table that is audited, soft-delete-enabled and has updated_at
# maintenance, with history, a deleted row and a soft-delete child; a
# partitioned audited table; a view; a queue "x" (the text pool has 'x') with
# jobs 1..6 in every state (the integer pools have 1, 2, 3; lease tokens are 1).
my $fixture = q{
SET client_min_messages = warning;
CREATE EXTENSION pg_steward;
CREATE DOMAIN public.fz_stamp AS timestamptz;
CREATE SEQUENCE public.fz_seq;
CREATE TABLE public.fz (id int PRIMARY KEY, v text CONSTRAINT fz_v_key UNIQUE, n int, secret text,
                        j jsonb, a int[], num numeric, updated_at timestamptz);
CREATE TABLE public.fz_child (id int PRIMARY KEY, fz_id int REFERENCES public.fz ON DELETE CASCADE, note text,
                              changed_at timestamptz);
CREATE TABLE public.fz_part (id int, r text, v int, PRIMARY KEY (id, r)) PARTITION BY LIST (r);
CREATE TABLE public.fz_part_a PARTITION OF public.fz_part FOR VALUES IN ('a');
SELECT steward.enable_audit('public.fz', redacted => '{secret}');
SELECT steward.enable_audit('public.fz_part');
SELECT steward.enable_soft_delete('public.fz');
SELECT steward.enable_soft_delete('public.fz_child');
SELECT steward.track_updated_at('public.fz');
INSERT INTO public.fz SELECT g, 'v' || g, g, 's' || g, jsonb_build_object('k', g, 'l', jsonb_build_array(g, 'x', NULL)),
                             ARRAY[g, g + 1, NULL], g * 1.5 FROM generate_series(1, 10) g;
INSERT INTO public.fz SELECT g, 'v' || g, g, 's' || g, '{"b": [1, 2]}', '{1}', 0.5 FROM generate_series(11, 100) g;
INSERT INTO public.fz_child SELECT g, g, 'c' FROM generate_series(1, 5) g;
INSERT INTO public.fz_part VALUES (1, 'a', 1);
UPDATE public.fz SET n = n + 1 WHERE id <= 3;
UPDATE public.fz SET n = n + 1;
DELETE FROM public.fz WHERE id = 2;
CREATE VIEW public.fz_view AS SELECT * FROM public.fz;
-- the audit log of public.fz, for the pools (short names keep the calls readable)
CREATE FUNCTION public.fz_log() RETURNS SETOF steward.audit_records LANGUAGE sql STABLE
AS $$ SELECT r.* FROM steward.audit_records r JOIN steward.audit_tables t USING (table_id)
       WHERE t.tbl = 'public.fz'::regclass ORDER BY r.id $$;
CREATE FUNCTION public.fz_image() RETURNS bytea LANGUAGE sql STABLE     -- INSERT of id 1: every column
AS $$ SELECT new_image FROM public.fz_log() WHERE action = 'I' AND new_image IS NOT NULL LIMIT 1 $$;
CREATE FUNCTION public.fz_version() RETURNS int LANGUAGE sql STABLE
AS $$ SELECT version_id FROM public.fz_log() WHERE action = 'I' AND new_image IS NOT NULL LIMIT 1 $$;
CREATE FUNCTION public.fz_hash() RETURNS bigint LANGUAGE sql STABLE
AS $$ SELECT row_hash FROM public.fz_log() WHERE action = 'I' AND new_image IS NOT NULL LIMIT 1 $$;
CREATE FUNCTION public.fz_entries() RETURNS bytea LANGUAGE sql STABLE  -- packed entries of a bulk INSERT
AS $$ SELECT entries FROM public.fz_log() WHERE entries IS NOT NULL LIMIT 1 $$;
CREATE FUNCTION public.fz_hashes() RETURNS bigint[] LANGUAGE sql STABLE
AS $$ SELECT hashes FROM public.fz_log() WHERE entries IS NOT NULL LIMIT 1 $$;
CREATE FUNCTION public.fz_table_id() RETURNS int LANGUAGE sql STABLE
AS $$ SELECT table_id FROM steward.audit_tables WHERE tbl = 'public.fz'::regclass $$;
SELECT steward.create_queue('x');
SELECT steward.enqueue('x', jsonb_build_object('n', g)) FROM generate_series(1, 6) g;
SELECT count(*) FROM steward.dequeue('x', 'w1', 3);
SELECT steward.complete(1, 1, '{"ok": true}');
SELECT steward.fail(2, 1, 'boom', retry => false);
SELECT steward.log_job(3, 1, 'working', '{"pct": 50}');
};

# -- per-type pools of edge values (SQL expressions) --------------------------------
my $big = q{repeat('x', 100000)};
my $deep_json = q{(repeat('[', 5000) || repeat(']', 5000))::jsonb};
# A real row image of public.fz and its version, packed entries of a bulk
# statement (fixture functions fz_*()); images forged from the real one (one
# byte after the tuple header overwritten, at every offset: the lengths stay
# right, the values inside do not) are added once the image is known
# (forge_images).
my $real_image = 'public.fz_image()';
my $real_version = 'public.fz_version()';
my $real_hash = 'public.fz_hash()';
my $real_entries = 'public.fz_entries()';
my $real_hashes = 'public.fz_hashes()';
my $fz_table_id = 'public.fz_table_id()';
my %pool = (
	'integer' => [qw(0 -1 1 2 3 2147483647 -2147483648), $real_version],
	'bigint' => [qw(0 -1 1 2 3 9223372036854775807 -9223372036854775808),
		q{(SELECT max(id) FROM steward.audit_records)}, $real_hash],
	'smallint' => [qw(0 -1 1 2 32767 -32768)],
	'numeric' => [qw(0 -1 1 0.000001), q{'NaN'}, q{'Infinity'}, q{'-Infinity'}, q{1e100}, q{-1e400}, q{1e400}],
	'double precision' => [qw(0 -1 1 0.5), q{'NaN'}, q{'Infinity'}, q{'-Infinity'}, q{1e308}, q{5e-324}],
	'oid' => [qw(0 1 4294967295),
		q{'public.fz'::regclass}, q{'pg_class'::regclass}, q{'steward._job'::regclass},
		q{'public.fz_seq'::regclass}, q{'steward._job_id_seq'::regclass}, q{'public.fz_pkey'::regclass},
		q{'public.fz_view'::regclass}, q{'steward.set_updated_at'::regproc},
		q{(SELECT oid FROM pg_trigger WHERE tgrelid = 'public.fz'::regclass ORDER BY tgname LIMIT 1)},
		q{(SELECT reltoastrelid FROM pg_class WHERE oid = 'public.fz'::regclass)}],
	'regclass' => [qw(0), q{'public.fz'}, q{'pg_class'}, q{'steward._job'}, q{'public.fz_view'},
		q{'public.fz_child'}, q{'public.fz_part'}, q{'public.fz_part_a'}, q{'public.fz_pkey'},
		q{'public.fz_seq'}, q{'steward.audit_records'}, q{'steward._queue'}, q{'pg_toast.pg_toast_2619'}],
	'regtype' => [qw(0), q{'int4'}, q{'text'}, q{'timestamptz'}, q{'timestamp'}, q{'public.fz_stamp'},
		q{'steward._job_finished_state'}, q{'record'}, q{'anyelement'}, q{'int4[]'}, q{'trigger'}, q{'public.fz'}],
	'name' => [q{'updated_at'}, q{'deleted_at'}, q{'id'}, q{'v'}, q{'fz_v_key'}, q{''}, q{'x'},
		q{repeat('n', 63)}, q{repeat('n', 200)}, q{E'it''s \u00e9 "q"'}, q{'steward_soft_delete'}],
	'text' => [q{''}, q{'x'}, q{'1'}, q{'id = 1'}, $big, q{E'it''s \u00e9\u2603 "q" \\\\'}, q{'public.fz'},
		q{'true'}, q{'{"id": 1}'}, q{'SELECT 1'}],
	'jsonb' => [q{'null'}, q{'{}'}, q{'[]'}, q{'"x"'}, $deep_json, q{'1'}, q{'{"id": 1}'}, q{'{"id": "2"}'},
		q{'{"id": null}'}, q{'[1]'}, q{'-1e1000'}, q{jsonb_build_object('k', repeat('x', 100000))}],
	'boolean' => [qw(true false)],
	'timestamp with time zone' => [q{'infinity'}, q{'-infinity'}, q{now()}, q{'epoch'},
		q{'4714-11-24 00:00:00+00 BC'}, q{'294276-12-31 23:59:59+00'}, q{now() - interval '1 day'}],
	'date' => [q{'infinity'}, q{'-infinity'}, q{current_date}, q{'epoch'}, q{'4714-11-24 BC'}, q{'5874897-12-31'}],
	'interval' => [q{'0'}, q{'-1 day'}, q{'1000000 years'}, q{'1 microsecond'}, q{'1 day'}, q{'-178000000 years'},
		q{'178000000 years'}, q{'1 month'}],
	'bytea' => [q{'\x'}, q{'\xdeadbeef'}, q{'\x00'}, q{'\xffffffff'}, q{decode(repeat('ff', 1000), 'hex')},
		$real_image, "substring($real_image from 1 for 10)", "substring($real_image from 1 for length($real_image) - 1)",
		$real_entries, "substring($real_entries from 1 for length($real_entries) - 3)",
		(map { "overlay($real_entries placing '\\xffff'::bytea from $_)" } 17, 19, 21),
		q{(SELECT tgargs FROM pg_trigger WHERE tgrelid = 'public.fz'::regclass AND tgnargs > 0 ORDER BY tgname LIMIT 1)}],
	'"char"' => [q{'I'}, q{'U'}, q{'D'}, q{'T'}, q{'S'}, q{'x'}, q{''}],
	'inet' => [q{'127.0.0.1'}, q{'::1'}, q{'0.0.0.0/0'}],
	'xid8' => [q{'0'}, q{'1'}, q{'18446744073709551615'}, q{pg_current_xact_id()}],
	'tid' => [q{'(0,1)'}, q{'(0,0)'}, q{'(4294967295,65535)'}, q{'(0,2)'}],
	# anything, for "any" and anyelement: a value of some type
	'"any"' => [qw(1 -1 0 2147483647 NULL), q{NULL::int}, q{'x'::text}, q{'1'::text}, q{'1'}, q{''::text},
		q{'{"id": 1}'::jsonb}, q{'{"id": 2}'::jsonb}, q{now()}, q{'infinity'::timestamptz}, q{1::bigint},
		q{true}, q{ROW(1, 'x')}, q{'{1,2}'::int[]}, q{1.5::numeric}, q{2::int2}, $big, q{'(0,1)'::tid}],
);
$pool{anyelement} = [ (grep { $_ ne 'NULL' && $_ ne q{'1'} } @{ $pool{'"any"'} }), q{(SELECT f FROM public.fz f WHERE id = 1)} ];

# Arrays: these values first, then, from the element type's pool, an empty
# array, one NULL, one and two values, a large one (100,000), a
# two-dimensional one and one with a lower bound of 0.
my %array_extra = (
	'smallint[]' => [q{'{1,2,3}'}, q{'{-1}'}, q{'{32767}'}],
	'bigint[]' => [$real_hashes],
	'tid[]' => [q{ARRAY(SELECT ('(0,' || g || ')')::tid FROM generate_series(1, 10000) g)}],
	'oid[]' => [q{ARRAY(SELECT indexrelid FROM pg_index WHERE indrelid = 'public.fz'::regclass)}],
);
sub array_pool {
	my ($type) = @_;
	(my $elem = $type) =~ s/\[\]$//;
	my @v = grep { $_ ne 'NULL' } @{ $pool{$elem} // [] };
	my ($a, $b) = ($v[0] // 'NULL', $v[1] // $v[0] // 'NULL');
	return [ @{ $array_extra{$type} // [] }, q{'{}'}, q{'{NULL}'}, "ARRAY[($a)::$elem]",
		"ARRAY[($a)::$elem, ($b)::$elem, NULL]", "array_fill(($b)::$elem, ARRAY[100000])",
		"ARRAY[[($a)::$elem], [($b)::$elem]]", "array_fill(($a)::$elem, ARRAY[2], ARRAY[0])" ];
}

# -- baselines -----------------------------------------------------------------------
# A call that gets far into the function (usually a successful one, on the
# fixture). Besides the random calls, every function with a baseline is
# called with the baseline itself and with each argument in turn replaced by
# every value of its type's pool (and NULL): a sweep that reaches the checks
# behind the first ones. Variadic values follow the fixed arguments.
my $fz = q{'public.fz'};
my $fk = q{(SELECT oid FROM pg_constraint WHERE conrelid = 'public.fz_child'::regclass AND contype = 'f')};
my $audit_trigger = q{(SELECT oid FROM pg_trigger WHERE tgrelid = 'public.fz_part'::regclass AND tgname = 'steward_audit_insert')};
my $sd_trigger = q{(SELECT oid FROM pg_trigger WHERE tgrelid = 'public.fz'::regclass AND tgname = 'steward_soft_delete')};
my %baseline = (
	'steward._audit_action_name("char")' => [q{'I'}],
	'steward._audit_apply(jsonb,text,jsonb)' => [q{'{"id": 1, "v": "a"}'}, q{'UPDATE'}, q{'{"v": "b"}'}],
	'steward._audit_check_columns(regclass,name[])' => [$fz, q{'{v}'}],
	'steward._audit_clone_trigger(oid,regclass)' => [$audit_trigger, q{'public.fz_part_a'}],
	'steward._audit_create_key_index(name)' => [q{(SELECT relname FROM pg_class WHERE oid = steward._audit_partition_for(current_date))}],
	'steward._audit_decode(integer,bytea,smallint[])' => [$real_version, $real_image, 'NULL'],
	'steward._audit_drop_triggers(regclass)' => [$fz],
	'steward._audit_entries(bigint,bigint,bigint,smallint[],smallint[],bytea,bytea,bytea)' =>
	  [qw(1 NULL NULL NULL NULL NULL NULL), $real_entries],
	'steward._audit_entry_count(bigint[],bytea)' => [$real_hashes, $real_entries],
	'steward._audit_key_columns(regclass)' => [$fz],
	'steward._audit_key_point(integer,bigint)' => [$fz_table_id, $real_hash],
	'steward._audit_log_rows(integer,bigint)' => [$fz_table_id, $real_hash],
	'steward._audit_partition_for(date)' => ['current_date'],
	'steward._audit_partition_name(date)' => ['current_date'],
	'steward._audit_partitions_ahead(date,date)' => ['current_date', 'current_date + 3'],
	'steward._audit_prepare(oid)' => [q{'public.fz'::regclass}],
	'steward._audit_recent(integer)' => ['5'],
	'steward._audit_reshape(jsonb,integer,integer)' => [q{'{"id": 1, "v": "a"}'}, $real_version, $real_version . ' + 1'],
	'steward._audit_storage_type(regtype)' => [q{'int4'}],
	'steward._audit_sync_partitions(regclass)' => [q{'public.fz_part'}],
	'steward._audit_trigger_count(regclass,boolean)' => [$fz, 'true'],
	'steward._audit_triggers_ok(regclass)' => [$fz],
	'steward._base_type(regtype)' => [q{'public.fz_stamp'}],
	'steward._capped_count(text,integer)' => [q{'SELECT 1 FROM public.fz'}, '10'],
	'steward._check_priority(integer)' => ['0'],
	'steward._check_trigger_target(regclass,text)' => [$fz, q{'auditing'}],
	'steward._dead_tuples_worst(bigint)' => ['0'],
	'steward._duplicate_indexes_among(oid[])' => [q{ARRAY(SELECT indexrelid FROM pg_index WHERE indrelid = 'public.fz'::regclass)}],
	'steward._estimated_rows(text)' => [q{'SELECT * FROM public.fz'}],
	'steward._extension_update_check(text,text,text)' => [q{'0.1.0'}, q{'0.2.0'}, q{'0.2.0'}],
	'steward._health_check(text,numeric,numeric,numeric,text)' => [q{'x'}, '1', '2', '3', q{'info'}],
	'steward._is_user_schema(name)' => [q{'public'}],
	'steward._job_finish(bigint[],integer[],steward._job_finished_state,jsonb[],timestamp with time zone)' =>
	  [q{'{3}'}, q{'{1}'}, q{'completed'}, 'NULL', 'now()'],
	'steward._job_history_indexes(regclass)' => [q{(SELECT inhrelid FROM pg_inherits WHERE inhparent = 'steward._job_history'::regclass ORDER BY 1 LIMIT 1)}],
	'steward._job_not_yours(bigint,integer,text)' => ['3', '1', q{'complete'}],
	'steward._queue_backoff(integer,interval,interval,double precision)' => ['3', q{'10 seconds'}, q{'1 hour'}, '0.2'],
	'steward._queue_channel(text)' => [q{'x'}],
	'steward._queue_check_options(text,integer,interval,interval,interval,double precision,interval)' =>
	  [q{'x'}, '5', q{'5 minutes'}, q{'10 seconds'}, q{'1 hour'}, '0.2', q{'7 days'}],
	'steward._queue_cursor(integer)' => ['1'],
	'steward._queue_for_enqueue(text)' => [q{'x'}],
	'steward._queue_get(text)' => [q{'x'}],
	'steward._queue_ready_hint(integer,integer,timestamp with time zone,bigint)' => ['1', '0', 'now()', '4'],
	'steward._queue_reset_on_abort(integer)' => ['1'],
	'steward._queue_set_paused(text,boolean)' => [q{'x'}, 'true'],
	'steward._relation_bytes(oid)' => [q{'public.fz'::regclass}],
	'steward._relation_label(regclass)' => [$fz],
	'steward._relation_name(regclass)' => [$fz],
	'steward._require_primary(text)' => [q{'write'}],
	'steward._row_as_of(regclass,bigint,timestamp with time zone,bigint,integer)' => [$fz, $real_hash, 'now()', 'NULL', 'NULL'],
	'steward._sequence_last_value(oid)' => [q{'steward._job_id_seq'::regclass}],
	'steward._sequence_summary(bigint)' => ['8000'],
	'steward._soft_delete_cascade_update(text,anyelement)' =>
	  [q{'UPDATE public.fz_child SET deleted_at = now() WHERE fz_id = ($1).id AND deleted_at IS NULL'}, q{(SELECT f FROM public.fz f WHERE id = 1)}],
	'steward._soft_delete_check_owner(regclass)' => [$fz],
	'steward._soft_delete_check_references(oid,jsonb)' => [$fk, q{'[{"id": 1}]'}],
	'steward._soft_delete_config(regclass)' => [$fz],
	'steward._soft_delete_count_deleted(regclass,name)' => [$fz, q{'deleted_at'}],
	'steward._soft_delete_counts(regclass,name)' => [$fz, q{'deleted_at'}],
	'steward._soft_delete_defer_check(oid,text)' => [$fk, q{'{"id": 1}'}],
	'steward._soft_delete_drop_trigger(regclass,name)' => [$fz, q{'steward_soft_delete'}],
	'steward._soft_delete_execute_hard(text,jsonb,oid[],tid[])' =>
	  [q{'DELETE FROM public.fz WHERE id = ($1->>''id'')::int'}, q{'{"id": 5}'}, 'NULL', 'NULL'],
	'steward._soft_delete_hard_delete(regclass,text,jsonb,oid[],tid[])' => [$fz, q{'id = 5'}, 'NULL', 'NULL', 'NULL'],
	'steward._soft_delete_key_condition(regclass,jsonb)' => [$fz, q{'{"id": 1}'}],
	'steward._soft_delete_key_from_text(text)' => [q{'1'}],
	'steward._soft_delete_reference_state(boolean)' => ['false'],
	'steward._soft_delete_register(regclass,name,regclass,regclass)' => [$fz, q{'deleted_at'}, q{'public.fz_live'}, q{'public.fz_deleted'}],
	'steward._soft_delete_restore(regclass,name,text,jsonb,boolean)' => [$fz, q{'deleted_at'}, q{'t.id = 2'}, 'NULL', 'true'],
	'steward._soft_delete_sync(regclass)' => [$fz],
	'steward._soft_delete_sync_references(boolean,boolean)' => ['false', 'NULL'],
	'steward._soft_delete_unregister(regclass)' => [$fz],
	'steward._soft_delete_view_name(name,text)' => [q{'fz'}, q{'_live'}],
	'steward._stats_setting(text)' => [q{'steward.cache_hit_critical'}],
	'steward._stats_setting_hint(text,numeric,numeric)' => [q{'ms'}, '0', '100'],
	'steward._trigger_args(bytea)' => [q{(SELECT tgargs FROM pg_trigger WHERE oid = } . $sd_trigger . ')'],
	'steward._trigger_first_arg(oid,name)' => [$sd_trigger, q{'x'}],
	'steward.alter_queue(text,integer,interval,interval,interval,double precision,interval,boolean)' =>
	  [q{'x'}, '3', q{'1 minute'}, q{'1 second'}, q{'1 minute'}, '0.5', q{'1 day'}, 'false'],
	'steward.audit_create_partitions(integer)' => ['2'],
	'steward.audit_key_hash(regclass,"any")' => [$fz, '1'],
	'steward.cancel(bigint)' => ['4'],
	'steward.complete(bigint,integer,jsonb)' => ['3', '1', q{'{"ok": 1}'}],
	'steward.complete_and_dequeue(bigint,integer,jsonb,text,text,integer,interval)' => ['3', '1', 'NULL', 'NULL', q{'w'}, '1', 'NULL'],
	'steward.complete_batch(bigint[],integer[],jsonb[])' => [q{'{3}'}, q{'{1}'}, 'NULL'],
	'steward.create_queue(text,integer,interval,interval,interval,double precision,interval,boolean)' =>
	  [q{'y'}, '5', q{'5 minutes'}, q{'10 seconds'}, q{'1 hour'}, '0.2', q{'7 days'}, 'true'],
	'steward.dequeue(text,text,integer,interval)' => [q{'x'}, q{'w'}, '2', 'NULL'],
	'steward.disable_audit(regclass)' => [$fz],
	'steward.disable_soft_delete(regclass)' => [$fz],
	'steward.drop_queue(text,boolean)' => [q{'x'}, 'true'],
	'steward.enable_audit(regclass,boolean,boolean,boolean,name[],name[])' => [q{'public.fz_child'}, 'true', 'false', 'true', q{'{note}'}, 'NULL'],
	'steward.enable_soft_delete(regclass,name,boolean)' => [q{'public.fz_part'}, q{'deleted_at'}, 'true'],
	'steward.enqueue(text,jsonb,timestamp with time zone,integer,text,integer)' => [q{'x'}, q{'{"a": 1}'}, 'NULL', '0', q{'k1'}, 'NULL'],
	'steward.enqueue_batch(text,jsonb[],timestamp with time zone,integer,integer)' =>
	  [q{'x'}, q{ARRAY['{}'::jsonb, '{"a": 1}']}, 'NULL', '0', 'NULL'],
	'steward.extend_lease(bigint,integer,interval)' => ['3', '1', q{'1 minute'}],
	'steward.fail(bigint,integer,text,interval,boolean)' => ['3', '1', q{'boom'}, 'NULL', 'true'],
	'steward.hard_delete(regclass,jsonb)' => [$fz, q{'{"id": 2}'}],
	'steward.hard_delete(regclass,text)' => [$fz, q{'2'}],
	'steward.hard_delete_where(regclass,text)' => [$fz, q{'id = 2'}],
	'steward.health_status(numeric,numeric,numeric)' => ['1', '2', '3'],
	'steward.history(regclass,"any")' => [$fz, '1'],
	'steward.job(bigint)' => ['3'],
	'steward.log_job(bigint,integer,text,jsonb)' => ['3', '1', q{'msg'}, q{'{"p": 1}'}],
	'steward.pause_queue(text)' => [q{'x'}],
	'steward.purge_audit(interval)' => [q{'30 days'}],
	'steward.purge_deleted(regclass,interval,integer,boolean,bigint)' => [$fz, q{'0'}, '10', 'false', 'NULL'],
	'steward.purge_deleted_batch(regclass,interval,integer)' => [$fz, q{'0'}, '10'],
	'steward.release(bigint,integer,interval)' => ['3', '1', 'NULL'],
	'steward.restore(regclass,jsonb,boolean)' => [$fz, q{'{"id": 2}'}, 'true'],
	'steward.restore(regclass,text,boolean)' => [$fz, q{'2'}, 'true'],
	'steward.restore_where(regclass,text,boolean)' => [$fz, q{'id = 2'}, 'true'],
	'steward.resume_queue(text)' => [q{'x'}],
	'steward.retry(bigint)' => ['2'],
	'steward.row_as_of(regclass,"any")' => [$fz, '1', 'now()'],
	'steward.soft_delete_unique(regclass,name)' => [$fz, q{'fz_v_key'}],
	'steward.track_updated_at(regclass,name)' => [q{'public.fz_child'}, q{'changed_at'}],
	'steward.untrack_updated_at(regclass)' => [$fz],
);

# -- a deterministic generator -------------------------------------------------------
sub fnv1a {
	my $h = 0x811c9dc5;
	for my $c (unpack 'C*', $_[0]) { $h = (($h ^ $c) * 0x01000193) & 0xffffffff; }
	return $h || 1;
}
sub make_rng {
	my $s = fnv1a(shift);
	return sub {    # xorshift32: an integer in [0, n)
		my ($n) = @_;
		$s ^= ($s << 13) & 0xffffffff;
		$s ^= $s >> 17;
		$s ^= ($s << 5) & 0xffffffff;
		return $s % $n;
	};
}

# -- the functions ------------------------------------------------------------------
# Input arguments in order (for procedures also OUT ones, which CALL takes as
# NULL), with their types; skipped when an argument or the result is a
# pseudo-type that SQL cannot pass or call (trigger, event_trigger, internal...).
my $functions_q = q{
SELECT p.oid::regprocedure, p.prokind, p.pronargdefaults,
       (SELECT typtype = 'p' AND typname NOT IN ('void', 'record', 'any', 'anyelement')
          FROM pg_type WHERE oid = p.prorettype),
       coalesce((SELECT string_agg(format_type(t.type, NULL) || ':' || coalesce(t.mode::text, 'i') || ':' ||
                                   (SELECT typtype::text FROM pg_type WHERE oid = t.type), ';' ORDER BY t.n)
                   FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargmodes)
                        WITH ORDINALITY AS t(type, mode, n)), '')
  FROM pg_proc p
 WHERE p.pronamespace = 'steward'::regnamespace
 ORDER BY p.oid::regprocedure::text};

my %enum_labels;

sub pool_of {
	my ($type) = @_;
	return $pool{$type} if $pool{$type};
	return $pool{$type} = array_pool($type) if $type =~ /\[\]$/;
	return $enum_labels{$type} // [];
}

# An argument as SQL: NULL typed so that overloads resolve ("any" takes it
# untyped, anyelement as integer), values cast to the argument's type.
sub arg_sql {
	my ($type, $v) = @_;
	if ($v eq 'NULL') {
		return 'NULL' if $type eq '"any"';
		return 'NULL::integer' if $type eq 'anyelement';
		return "NULL::$type";
	}
	return $v if $type eq '"any"' || $type eq 'anyelement';
	return "($v)::$type";
}

sub pick_value {
	my ($rng, $type) = @_;
	return 'NULL' if $rng->(8) == 0 && $type ne 'anyelement';
	my $p = pool_of($type);
	return @$p ? $p->[ $rng->(scalar @$p) ] : 'NULL';
}

my $forged = 0;
sub forge_images {
	my ($node) = @_;
	return if $forged++;
	# the image is a heap tuple header without its 4 length bytes: t_hoff is
	# byte 18 of it, the data starts at (1-based) position t_hoff - 3
	my ($hoff, $len) = split /\|/, $node->safe_psql($db, 'SELECT get_byte(fz_image(), 18), length(fz_image())');
	push @{ $pool{bytea} }, map { "overlay($real_image placing '\\xff'::bytea from $_)" } ($hoff - 3) .. $len;
}

# Returns ([calls], [skipped], [baselines that name no function]); a call is
# { fn, sql, kind }.
sub plan_calls {
	my ($node) = @_;
	forge_images($node);
	for my $row (split /\n/, $node->safe_psql($db, q{
			SELECT format_type(t.oid, NULL), string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder)
			  FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
			 WHERE t.typnamespace = 'steward'::regnamespace GROUP BY 1})) {
		my ($t, $labels) = split /\|/, $row;
		$enum_labels{$t} = [ split /,/, $labels ];
	}
	my (@calls, @skipped, %seen_fn);
	for my $row (split /\n/, $node->safe_psql($db, $functions_q)) {
		my ($sig, $kind, $ndefaults, $pseudo_result, $args) = split /\|/, $row, 5;
		$seen_fn{$sig} = 1;
		next if defined $only && $sig !~ /$only/;
		my @args = map { my ($t, $m, $tt) = /^(.*):(\w):(\w)$/; { type => $t, mode => $m, typtype => $tt } }
		  grep { length } split /;/, $args;
		if ($pseudo_result eq 't' || grep { $_->{typtype} eq 'p' && $_->{type} !~ /^("any"|anyelement)$/ } @args) {
			push @skipped, $sig;
			next;
		}
		(my $fname = $sig) =~ s/\(.*//s;
		my @in = grep { $_->{mode} =~ /[ibv]/ || ($kind eq 'p' && $_->{mode} eq 'o') } @args;
		my @fixed = grep { $_->{mode} ne 'v' } @in;
		my ($var) = grep { $_->{mode} eq 'v' } @in;
		my %seen;
		my $add = sub {    # ($what, @sql_args)
			my ($what, @vals) = @_;
			my $text = join(', ', @vals);
			return if $seen{$text}++;
			push @calls, { fn => $sig, kind => $what,
				sql => ($kind eq 'p' ? "CALL $fname($text)" : "SELECT $fname($text)") };
		};
		my $type_at = sub { my ($i) = @_; $i < @fixed ? $fixed[$i]{type} : $var->{type} };
		my $as_sql = sub {    # values -> SQL arguments
			my @v = @_;
			return map { $_ < @fixed && $fixed[$_]{mode} eq 'o' ? 'NULL' : arg_sql($type_at->($_), $v[$_]) } 0 .. $#v;
		};

		# every argument NULL
		$add->('null', $as_sql->(('NULL') x (@fixed + ($var ? 1 : 0))));

		# the baseline, and each argument swept over its pool
		if (my $b = $baseline{$sig}) {
			my @b = @$b;
			$add->('baseline', $as_sql->(@b));
			for my $i (0 .. $#b) {
				next if $i < @fixed && $fixed[$i]{mode} eq 'o';
				for my $v ('NULL', @{ pool_of($type_at->($i)) }) {
					my @c = @b;
					$c[$i] = $v;
					$add->('sweep', $as_sql->(@c));
				}
			}
		}

		# random combinations
		my $rng = make_rng("$seed/$sig");
		for (1 .. $calls_per_function) {
			my $n = scalar @fixed;
			# sometimes leave out trailing arguments that have defaults
			$n -= $rng->($ndefaults + 1) if !$var && $ndefaults > 0 && $rng->(4) == 0;
			my @v = map { pick_value($rng, $_->{type}) } @fixed[ 0 .. $n - 1 ];
			my @sql = $as_sql->(@v);
			if ($var) {
				my $r = $rng->(10);
				if ($r == 0) {
					push @sql, ('VARIADIC NULL::int[]', q{VARIADIC '{}'::text[]}, q{VARIADIC ARRAY[1, 2]},
						q{VARIADIC ARRAY[NULL]::jsonb[]})[ $rng->(4) ];
				} else {
					push @sql, map { arg_sql($var->{type}, pick_value($rng, $var->{type})) } 1 .. ($r == 1 ? 0 : 1 + $rng->(3));
				}
			}
			$add->('random', @sql);
		}
	}
	my @stale = grep { !$seen_fn{$_} } sort keys %baseline;
	return (\@calls, \@skipped, \@stale);
}

# -- running calls -------------------------------------------------------------------
# Server identity: a crash restart keeps pg_postmaster_start_time(), but
# starts a new checkpointer.
my $identity_q = q{SELECT pg_postmaster_start_time() || '/' || coalesce((SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer')::text, '?')};

sub call_block {
	my ($i, $c) = @_;
	return "\\warn \@\@CALL $i\nBEGIN;\nSET LOCAL statement_timeout = '$statement_timeout';\n"
	  . "SET LOCAL lock_timeout = '$lock_timeout';\n$c->{sql};\n\\warn \@\@RET $i\nROLLBACK;\n"
	  . "$identity_q AS fz_identity \\gset\n\\warn \@\@DONE $i :fz_identity\n";
}

sub wait_for_server {
	my ($node) = @_;
	for (1 .. 240) {
		my ($ret) = $node->psql('postgres', 'SELECT 1');
		return 1 if $ret == 0;
		usleep(250_000);
	}
	return 0;
}

sub log_size { return -s $_[0]->logfile // 0; }
sub log_since {
	my ($node, $offset) = @_;
	open my $fh, '<', $node->logfile or return '';
	seek $fh, $offset, 0;
	local $/;
	my $s = <$fh> // '';
	close $fh;
	return $s;
}

# Parse the psql stderr of one call into messages.
sub parse_messages {
	my ($text) = @_;
	my @msgs;
	for my $line (split /\n/, $text) {
		$line =~ s/^psql:[^:]*:\d+: //;
		if ($line =~ /^(ERROR|WARNING|NOTICE|INFO|FATAL|PANIC|LOG|DEBUG\d?):  (?:([0-9A-Z]{5}): )?(.*)$/) {
			push @msgs, { level => $1, sqlstate => $2 // '', message => $3, detail => '', hint => '', location => '', context => '' };
		} elsif (@msgs && $line =~ /^(DETAIL|HINT|LOCATION|CONTEXT):  (.*)$/) {
			$msgs[-1]{ lc $1 } = $2;
		}
	}
	return @msgs;
}

# Runs all calls on a node; returns a hash of results.
sub run_calls {
	my ($node, $mode, $calls) = @_;
	my %r = (crash => [], restart => [], hang => [], lost => [], results => []);
	my $identity = $node->safe_psql($db, $identity_q);
	my $logf = "$outdir/050_function_fuzz.$mode.log";
	open my $log, '>', $logf or die "$logf: $!";
	# batches: the calls of one function, in one session
	my @batches;
	for my $i (0 .. $#$calls) {
		if (!@batches || $calls->[ $batches[-1][0] ]{fn} ne $calls->[$i]{fn}) { push @batches, []; }
		push @{ $batches[-1] }, $i;
	}
	while (my $batch = shift @batches) {
		my $script = "\\set VERBOSITY verbose\n\\o /dev/null\nSELECT pg_backend_pid() AS fz_pid \\gset\n\\warn \@\@PID :fz_pid\n";
		$script .= call_block($_, $calls->[$_]) for @$batch;
		my $sf = "$outdir/050_function_fuzz.batch.sql";
		open my $sfh, '>', $sf or die "$sf: $!";
		print $sfh $script;
		close $sfh;
		my ($out, $err) = ('', '');
		my $log_offset = log_size($node);
		my $timer = IPC::Run::timer($stall_seconds);
		my $h = IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr($db), '-f', $sf ], '<', '/dev/null', '>', \$out, '2>', \$err, $timer);
		my ($markers, $hung) = (0, 0);
		$timer->start;
		while ($h->pumpable) {
			eval { $h->pump; };
			my $m = () = $err =~ /^\@\@/mg;
			if ($m != $markers) { $markers = $m; $timer->start($stall_seconds); }
			elsif ($timer->is_expired) { $hung = 1; last; }
		}
		my ($pid) = $err =~ /^\@\@PID (\d+)/m;
		if ($hung) {
			# cancel, then terminate the backend; then the session goes
			my $gone = 0;
			for my $f ('pg_cancel_backend', 'pg_terminate_backend') {
				next unless $pid;
				$node->psql('postgres', "SELECT $f($pid)");
				for (1 .. 40) {
					my $left = $node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid AND state = 'active'");
					if ($left eq '0') { $gone = $f; last; }
					usleep(250_000);
				}
				last if $gone;
			}
			$h->kill_kill;
			$err .= "\n\@\@HUNG " . ($gone ? "(ended by $gone)" : '(could not be ended)') . "\n";
		} else {
			$h->finish;
		}
		# split the output per call
		my %chunk;
		# (what follows @@RET: ROLLBACK and the identity check, not the call)
		my (%after, %done, %ident);
		my ($cur, $dest);
		for my $line (split /\n/, $err) {
			if ($line =~ /^\@\@CALL (\d+)$/) { $cur = $1; $chunk{$cur} = ''; $dest = \$chunk{$cur}; next; }
			if ($line =~ /^\@\@RET (\d+)$/) { $after{$1} = ''; $dest = \$after{$1}; next; }
			if ($line =~ /^\@\@DONE (\d+) (.*)$/) { $done{$1} = 1; $ident{$1} = $2; $dest = undef; next; }
			next if $line =~ /^\@\@PID/;
			$$dest .= "$line\n" if $dest;
		}
		# A session that ended inside a call: once the server accepts
		# connections again, its log and its identity tell a crash (the
		# postmaster logs it after the session saw its connection go) from
		# a lost connection.
		my $ended_early = $hung || grep { exists $chunk{$_} && !$done{$_} } @$batch;
		my $new_identity = $identity;
		my $crash_re = qr/terminated by signal|was terminated by exception|all server processes terminated; reinitializing|PANIC:/;
		if ($ended_early) {
			for (1 .. 30) {
				last if log_since($node, $log_offset) =~ $crash_re;
				usleep(100_000);
			}
			wait_for_server($node) or BAIL_OUT("server $mode did not come back");
			$new_identity = $node->safe_psql($db, $identity_q);
		}
		my $new_log = log_since($node, $log_offset);
		my $restarted = $new_identity ne $identity
		  || $new_log =~ $crash_re;
		my $next;    # index into the batch to go on from
		for my $k (0 .. $#$batch) {
			my $i = $batch->[$k];
			last unless exists $chunk{$i};
			my $c = $calls->[$i];
			my @msgs = parse_messages($chunk{$i});
			push @{ $r{results} }, { call => $c, msgs => \@msgs };
			print $log "-- $c->{fn}\n$c->{sql};\n";
			print $log "   $_->{level} $_->{sqlstate}: $_->{message} [$_->{location}]\n" for @msgs;
			print $log "   after the call: $after{$i}" if $after{$i};
			if ($done{$i}) {
				if ($ident{$i} ne $identity) {
					push @{ $r{restart} }, { call => $c, what => "server identity changed: $identity -> $ident{$i}" };
					$identity = $ident{$i};
				}
				next;
			}
			# the session ended inside this call (or it hung)
			my @lines = grep { !/^\s*(This probably means|before or while)/ } split /\n/, $chunk{$i};
			my $what = join(' ', map { s/^psql:[^:]*:\d+: //r } @lines);
			$what =~ s/\s+/ /g;
			if ($hung) {
				push @{ $r{hang} }, { call => $c, what => short_msg($what) };
				print $log "   HANG\n";
			} elsif ($restarted) {
				push @{ $r{crash} }, { call => $c, what => short_msg($what) };
				print $log "   CRASH\n";
			} else {
				push @{ $r{lost} }, { call => $c, what => short_msg($what) };
				print $log "   CONNECTION LOST\n";
			}
			$next = $k + 1;
			last;
		}
		if ($restarted && !defined $next) {
			push @{ $r{restart} }, { call => $calls->[ $batch->[-1] ], what => 'server log shows a restart after this batch' };
		}
		if ($restarted && !$ended_early) {
			wait_for_server($node) or BAIL_OUT("server $mode did not come back");
		}
		$identity = $node->safe_psql($db, $identity_q) if $restarted || $ended_early;
		unshift @batches, [ @$batch[ $next .. $#$batch ] ] if defined $next && $next <= $#$batch;
	}
	close $log;
	return \%r;
}

# -- judging messages ---------------------------------------------------------------
# Raised by PostgreSQL itself (its own C code, not a RAISE of the
# extension's PL/pgSQL or the extension's C++): LOCATION names a .c file
# other than PL/pgSQL's RAISE.
sub from_postgres {
	my ($m) = @_;
	return $m->{location} =~ /\.c:\d+$/ && $m->{location} !~ /^exec_stmt_raise,/;
}

# Style exemptions: [regex on the message, reason]. Checked in order.
my @style_exempt = (
	[ qr/^[A-Z][A-Z0-9_]+\b/, 'begins with an SQL keyword or acronym, which stays upper case' ],
);

sub style_problem {
	my ($m) = @_;
	my $msg = $m->{message};
	my @p;
	push @p, 'starts with an upper-case letter' if $msg =~ /^\p{Lu}/;
	push @p, 'ends with a period' if $msg =~ /(?<!\.)\.$/;
	return () unless @p;
	for my $e (@style_exempt) {
		return ('exempt', $e->[1]) if $msg =~ $e->[0];
	}
	if (from_postgres($m)) {
		return ('exempt', "raised by PostgreSQL ($m->{location})");
	}
	return ('problem', join(' and ', @p));
}

# The message with the values it quotes and numbers left out, so that one
# check raised with different values counts once.
sub normalize {
	my ($s) = @_;
	$s =~ s/"(?:[^"\\]|\\.)*"/"..."/g;
	$s =~ s/x{20,}/xxx.../g;
	$s =~ s/-?\b\d+\b/N/g;
	$s = substr($s, 0, 300) . '...' if length $s > 300;
	return $s;
}

sub short_msg {
	my ($s) = @_;
	$s =~ s/x{20,}/xxx.../g;
	return length $s > 300 ? substr($s, 0, 300) . '...' : $s;
}

sub short_sql {
	my ($s) = @_;
	return length $s > 400 ? substr($s, 0, 400) . '...' : $s;
}

# -- run it -------------------------------------------------------------------------
my %distinct;
my $started = time;
for my $mode (@modes) {
	my $t0 = time;
	my $node = PostgreSQL::Test::Cluster->new("fuzz_$mode");
	$node->init;
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_steward'") if $mode eq 'preload';
	# crashes must restart the server, not end the test
	$node->append_conf('postgresql.conf', "restart_after_crash = on");
	$node->start;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, $fixture);

	my ($calls, $skipped, $stale) = plan_calls($node);
	my %fns = map { $_->{fn} => 1 } @$calls;
	my %kinds;
	$kinds{ $_->{kind} }++ for @$calls;
	note("$mode: " . scalar(keys %fns) . ' functions, ' . scalar(@$calls) . ' calls ('
		  . join(', ', map { "$kinds{$_} $_" } sort keys %kinds) . '); skipped (pseudo-type arguments or result): '
		  . join(', ', @$skipped));
	cmp_ok(scalar(keys %fns), '>=', defined $only ? 1 : 100, "$mode: functions found in pg_proc");
	is(join(', ', @$stale), '', "$mode: every baseline names an existing function");

	my $r = run_calls($node, $mode, $calls);

	my $fmt = sub { join '', map { "\n  $_->{call}{fn}: " . short_sql($_->{call}{sql}) . ";\n      -- $_->{what}" } @_ };
	is(scalar @{ $r->{crash} }, 0, "$mode: no call crashes the backend") or diag("crashes:" . $fmt->(@{ $r->{crash} }));
	is(scalar @{ $r->{restart} }, 0, "$mode: the server never restarts") or diag("restarts:" . $fmt->(@{ $r->{restart} }));
	is(scalar @{ $r->{lost} }, 0, "$mode: no call ends the connection") or diag("connections lost:" . $fmt->(@{ $r->{lost} }));
	is(scalar @{ $r->{hang} }, 0, "$mode: every call ends within statement_timeout") or diag("hangs:" . $fmt->(@{ $r->{hang} }));
	is(scalar(@{ $r->{results} }) + 0, scalar(@$calls), "$mode: every call ran");

	my (@internal, @corrupt, @style, %exempt, %timeouts, %listed);
	for my $res (@{ $r->{results} }) {
		my $fn = $res->{call}{fn};
		for my $m (@{ $res->{msgs} }) {
			my $norm = normalize($m->{message});
			my $key = join "\x01", $fn, $m->{level}, $m->{sqlstate}, $norm;
			my $d = $distinct{$key} //= { fn => $fn, level => $m->{level}, sqlstate => $m->{sqlstate},
				message => $norm, example => $res->{call}{sql}, location => $m->{location}, count => {} };
			$d->{count}{$mode}++;
			# once per function, SQLSTATE and message (quoted values, which
			# may contain quotes themselves, left out) in the lists below
			(my $coarse = $norm) =~ s/".*"/"..."/;
			my $first = !$listed{$mode}{"$fn\x01$m->{sqlstate}\x01$coarse"}++;
			my $line = "$fn: $m->{sqlstate}: " . short_msg($m->{message}) . " [$m->{location}]\n    " . short_sql($res->{call}{sql}) . ';';
			# XX001 (data corrupted) is what the audit readers raise, on
			# purpose, for an image or packed entries that do not parse:
			# reported, not failed. Every other XX, and the messages of
			# PostgreSQL's internal lookups, are internal errors.
			if ($m->{sqlstate} eq 'XX001') {
				push @corrupt, $line if $first;
			} elsif ($m->{sqlstate} =~ /^XX/
				|| $m->{message} =~ /cache lookup failed|could not open relation with OID|invalid memory alloc request size|unrecognized node type/) {
				push @internal, $line if $first;
			}
			$timeouts{$fn} //= short_sql($res->{call}{sql}) if $m->{sqlstate} eq '57014';
			my ($kind, $why) = style_problem($m);
			if ($kind && $kind eq 'problem') {
				push @style, "$fn: $m->{sqlstate}: " . short_msg($m->{message}) . " ($why) [$m->{location}]\n    " . short_sql($res->{call}{sql}) . ';'
				  if $first;
			} elsif ($kind) {
				$exempt{$norm} //= $why;
			}
		}
	}
	is(scalar @internal, 0, "$mode: no internal errors (XX000, cache lookup failed)") or diag("internal errors:\n  " . join("\n  ", @internal));
	is(scalar @style, 0, "$mode: error messages follow the style guide") or diag("style problems:\n  " . join("\n  ", @style));
	diag("$mode: style exemptions:\n" . join('', map { "  $_  -- $exempt{$_}\n" } sort keys %exempt)) if %exempt;
	diag("$mode: XX001 (data corrupted) on forged input, accepted:\n  " . join("\n  ", @corrupt)) if @corrupt;
	diag("$mode: functions with calls cancelled by statement_timeout ($statement_timeout; cancellable, so not a hang):\n"
		  . join('', map { "  $_: $timeouts{$_};\n" } sort keys %timeouts)) if %timeouts;

	# the server log: no crash, no assertion, nothing fatal but our own hang handling
	my $serverlog = slurp_file($node->logfile);
	my @bad = grep { /PANIC:|TRAP:|terminated by signal|was terminated by exception/ } split /\n/, $serverlog;
	is(scalar @bad, 0, "$mode: server log has no PANIC, failed assertion or killed process") or diag(join("\n", @bad[ 0 .. ($#bad > 9 ? 9 : $#bad) ]));

	# the fixture and the features are intact after the fuzzing
	is($node->safe_psql($db, q{
		SELECT (SELECT count(*) FROM public.fz) || ',' || (SELECT count(*) FROM public.fz_live) || ','
		    || (SELECT count(*) FROM steward.jobs WHERE queue = 'x') || ','
		    || (SELECT string_agg(action, ',' ORDER BY id) FROM steward.history('public.fz', 1))}),
	   '100,99,6,INSERT,UPDATE,UPDATE', "$mode: fixture unchanged after the calls");
	is($node->safe_psql($db, q{
		BEGIN;
		UPDATE public.fz SET n = -5 WHERE id = 1;
		DELETE FROM public.fz WHERE id = 3;
		SELECT steward.enqueue('x', '{}') IS NOT NULL, (SELECT count(*) FROM steward.dequeue('x', 'w2', 10)),
		       (SELECT updated_at = now() FROM public.fz WHERE id = 1),
		       (SELECT deleted_at IS NOT NULL FROM public.fz WHERE id = 3),
		       (SELECT string_agg(action, ',' ORDER BY id) FROM steward.history('public.fz', 1));
		ROLLBACK;}),
	   't|4|t|t|INSERT,UPDATE,UPDATE,UPDATE', "$mode: the features still work after the calls");
	$node->stop;
	note(sprintf('%s: %d calls in %.0f s', $mode, scalar(@$calls), time - $t0));
}

# Every distinct (function, SQLSTATE, message), with the modes that saw it.
my $report = '';
for my $k (sort keys %distinct) {
	my $d = $distinct{$k};
	my $counts = join ' ', map { "$_=" . ($d->{count}{$_} // 0) } @modes;
	$report .= "$d->{fn}: $d->{level} $d->{sqlstate}: $d->{message}  [$counts] [$d->{location}]\n    e.g. " . short_sql($d->{example}) . ";\n";
}
my $rf = "$outdir/050_function_fuzz.messages.txt";
open my $fh, '>', $rf or die "$rf: $!";
print $fh $report;
close $fh;
diag("distinct messages (function, level, SQLSTATE, message) [calls per mode] [location]; also in $rf:\n$report");
note(sprintf('total %.0f s', time - $started));
done_testing();
