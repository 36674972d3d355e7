-- Keys of steward.restore() and steward.hard_delete(): jsonb, or text. As
-- text, the value of a one-column key as written ('1111...-uuid'), and the
-- JSON forms (object, array, JSON string) as before (found in review: a
-- plain uuid failed with "invalid input syntax for type json").
CREATE SCHEMA sdk;
SET search_path = sdk, public;
SET client_min_messages = warning;

CREATE TABLE tasks (id uuid PRIMARY KEY, title text);
INSERT INTO tasks VALUES ('11111111-1111-1111-1111-111111111111', 'a'), ('22222222-2222-2222-2222-222222222222', 'b'),
                         ('33333333-3333-3333-3333-333333333333', 'c'), ('44444444-4444-4444-4444-444444444444', 'd');
SELECT steward.enable_soft_delete('tasks', create_views => false);
DELETE FROM tasks;
SELECT steward.restore('tasks', '11111111-1111-1111-1111-111111111111');            -- plain text
SELECT steward.restore('tasks', '"22222222-2222-2222-2222-222222222222"');          -- JSON string
SELECT steward.restore('tasks', '[{"id": "33333333-3333-3333-3333-333333333333"}]'); -- JSON array of objects
SELECT steward.restore('tasks', to_jsonb('44444444-4444-4444-4444-444444444444'::uuid));  -- jsonb
SELECT count(*) AS live FROM tasks WHERE deleted_at IS NULL;
SELECT steward.restore('tasks', '11111111-1111-1111-1111-111111111111');            -- live: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.restore('tasks', 'not-a-uuid');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.restore('tasks', NULL::text);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.restore('tasks', 'null');                                           -- JSON null
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.hard_delete('tasks', '11111111-1111-1111-1111-111111111111');
SELECT steward.hard_delete('tasks', '11111111-1111-1111-1111-111111111111');        -- gone: error
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT id FROM tasks ORDER BY id;

-- a text key: every text is a value; one that reads as a JSON number or
-- boolean stays as written; a JSON string names the value inside it
CREATE TABLE codes (code text PRIMARY KEY);
INSERT INTO codes VALUES ('ann@example.com'), ('1e5'), ('100000'), ('true'), ('[1]'), ('x');
SELECT steward.enable_soft_delete('codes', create_views => false);
DELETE FROM codes;
SELECT steward.restore('codes', 'ann@example.com'), steward.restore('codes', '1e5'),
       steward.restore('codes', 'true'), steward.restore('codes', '"[1]"');
SELECT code FROM codes WHERE deleted_at IS NULL ORDER BY code;
SELECT steward.restore('codes', '[1]');                                            -- a JSON array: key "1"
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- an integer key: '42' as before
CREATE TABLE nums (id int PRIMARY KEY);
INSERT INTO nums VALUES (42), (43);
SELECT steward.enable_soft_delete('nums', create_views => false);
DELETE FROM nums;
SELECT steward.restore('nums', '42'), steward.restore('nums', ' 43 ');
SELECT steward.hard_delete('nums', '42');
SELECT steward.restore('nums', '4.2');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- a composite key needs the JSON object
CREATE TABLE lines (tenant int, line int, PRIMARY KEY (tenant, line));
INSERT INTO lines VALUES (1, 1);
SELECT steward.enable_soft_delete('lines', create_views => false);
DELETE FROM lines;
SELECT steward.restore('lines', '1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT steward.restore('lines', '{"tenant": 1, "line": 1}');
SELECT steward.hard_delete('lines', 'x');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

RESET search_path;
DROP SCHEMA sdk CASCADE;
