-- Installing, inspecting and dropping the extension.
SELECT extname, extversion, extrelocatable FROM pg_extension WHERE extname = 'pg_steward';
-- The schema steward belongs to the extension.
SELECT pg_describe_object(d.classid, d.objid, 0) AS member_schema
  FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
 WHERE e.extname = 'pg_steward' AND d.deptype = 'e' AND d.classid = 'pg_namespace'::regclass;

-- Every SECURITY DEFINER function pins search_path (expect no rows).
SELECT p.oid::regprocedure AS unpinned_security_definer
  FROM pg_proc p
 WHERE p.pronamespace = 'steward'::regnamespace AND p.prosecdef
   AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false);

-- Every SQL-language or PL/pgSQL function pins search_path too (expect no
-- rows). Procedures that COMMIT between batches cannot carry a SET clause;
-- they qualify every name instead and are not SECURITY DEFINER.
SELECT p.oid::regprocedure AS unpinned_function
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'steward'::regnamespace AND l.lanname IN ('sql', 'plpgsql')
   AND p.prokind <> 'p'
   AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
   AND NOT p.proname LIKE '\_%';

-- The schema is usable but not writable by PUBLIC (expect t, f).
SELECT has_schema_privilege('public', 'steward', 'USAGE') AS public_usage,
       has_schema_privilege('public', 'steward', 'CREATE') AS public_create;

-- Not relocatable.
CREATE SCHEMA elsewhere;
ALTER EXTENSION pg_steward SET SCHEMA elsewhere;
DROP SCHEMA elsewhere;

-- DROP EXTENSION refuses while user tables depend on its triggers; CASCADE
-- removes the triggers and keeps the tables and their data.
CREATE TABLE install_t (id int, updated_at timestamptz);
SELECT steward.track_updated_at('install_t');
INSERT INTO install_t VALUES (1, '2000-01-01');
\set VERBOSITY terse
DROP EXTENSION pg_steward;
\set VERBOSITY default
SET client_min_messages = warning;
DROP EXTENSION pg_steward CASCADE;
RESET client_min_messages;
SELECT count(*) AS steward_triggers_left FROM pg_trigger WHERE tgname LIKE 'steward\_%';
SELECT * FROM install_t;
SELECT count(*) AS steward_schema_left FROM pg_namespace WHERE nspname = 'steward';

-- A schema named steward that is not ours stops CREATE EXTENSION cleanly.
CREATE SCHEMA steward;
CREATE EXTENSION pg_steward;
DROP SCHEMA steward;
-- And back (other tests in this database expect it).
CREATE EXTENSION pg_steward;
SELECT steward.track_updated_at('install_t');
DROP TABLE install_t;
