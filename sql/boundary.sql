-- The C++/PostgreSQL error boundary (src/boundary/), probed through the
-- test-only module pg_steward_test.
CREATE FUNCTION pg_temp.throw_cpp(text) RETURNS text
    LANGUAGE c STRICT AS 'pg_steward_test', 'steward_test_throw_cpp';
CREATE FUNCTION pg_temp.pg_error_under_raii(int) RETURNS int
    LANGUAGE c STRICT AS 'pg_steward_test', 'steward_test_pg_error_under_raii';
CREATE FUNCTION pg_temp.pg_error_void() RETURNS void
    LANGUAGE c AS 'pg_steward_test', 'steward_test_pg_error_void';
CREATE FUNCTION pg_temp.live_objects() RETURNS int
    LANGUAGE c AS 'pg_steward_test', 'steward_test_live_objects';

-- C++ exceptions become clean errors with a fitting SQLSTATE ...
SELECT pg_temp.throw_cpp('runtime');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT pg_temp.throw_cpp('sql');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT pg_temp.throw_cpp('bad_sqlstate');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT pg_temp.throw_cpp('bad_alloc');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT pg_temp.throw_cpp('unknown');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- an overlong C++ message is cut at 1023 bytes (after the prefix), not overflowed
DO $$
BEGIN
    PERFORM pg_temp.throw_cpp('long');
EXCEPTION WHEN internal_error THEN
    RAISE NOTICE 'message length %', length(SQLERRM);
END $$;
-- ... destructors ran during unwinding, and the session keeps working.
SELECT pg_temp.live_objects() AS live_after_cpp_exceptions;
SELECT pg_temp.throw_cpp('none');

-- A PostgreSQL error raised under C++ frames that own objects keeps its
-- SQLSTATE, detail and hint, and the objects are destroyed.
SELECT pg_temp.pg_error_under_raii(0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT pg_temp.pg_error_void();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT pg_temp.live_objects() AS live_after_pg_errors;
SELECT pg_temp.pg_error_under_raii(4);

-- Inside a transaction: the error aborts it cleanly, a savepoint recovers.
BEGIN;
SAVEPOINT s;
SELECT pg_temp.pg_error_under_raii(0);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT pg_temp.throw_cpp('none');
COMMIT;
