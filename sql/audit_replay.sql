-- Replaying the audit log of a randomized workload (inserts, changed-only
-- and no-op updates, key changes, deletes, NULLs, a TRUNCATE, a schema
-- change) rebuilds exactly the table's current contents; row_as_of() of
-- every key ever used agrees with the table.
SET client_min_messages = warning;
CREATE TABLE regress_replay (
    a int, b text, n numeric, arr int[], j jsonb, ts timestamptz, flag boolean,
    PRIMARY KEY (a, b));
SELECT steward.enable_audit('regress_replay');
SELECT setseed(0.42);
CREATE PROCEDURE pg_temp.workload(first int, last int, num name) LANGUAGE plpgsql AS $$
DECLARE
    k int;
BEGIN
    FOR i IN first..last LOOP
        k := (random() * 40)::int;
        CASE (random() * 6)::int
            WHEN 0, 1 THEN
                INSERT INTO regress_replay VALUES (k, 'k' || (k % 3), round((random() * 100)::numeric, 2),
                    CASE WHEN random() < 0.3 THEN NULL ELSE ARRAY[k, i] END,
                    jsonb_build_object('i', i), '2024-01-01'::timestamptz + i * interval '1 hour',
                    CASE WHEN random() < 0.2 THEN NULL ELSE random() < 0.5 END)
                ON CONFLICT DO NOTHING;
            WHEN 2 THEN
                EXECUTE format('UPDATE regress_replay SET %1$I = CASE WHEN random() < 0.2 THEN NULL ELSE %1$I + 1 END WHERE a = $1', num)
                  USING k;
            WHEN 3 THEN
                UPDATE regress_replay SET flag = flag, j = j WHERE a = k;          -- no-op
            WHEN 4 THEN                                                         -- key change
                UPDATE regress_replay SET a = a + 100, arr = arr || i
                 WHERE a = k AND NOT EXISTS (SELECT FROM regress_replay r WHERE r.a = k + 100);
            ELSE
                DELETE FROM regress_replay WHERE a = k AND random() < 0.5;
        END CASE;
        IF i = 200 THEN
            TRUNCATE regress_replay;
        END IF;
    END LOOP;
END $$;
CALL pg_temp.workload(1, 500, 'n');
SELECT count(*) > 10 AS has_rows, (SELECT count(*) FROM steward.audit_log WHERE table_name = 'regress_replay') > 100 AS has_log
  FROM regress_replay;
-- replay the whole log, in order, into a key -> row map
CREATE FUNCTION pg_temp.replay() RETURNS TABLE(k jsonb, r jsonb) LANGUAGE plpgsql AS $$
DECLARE
    state jsonb := '{}';
    e record;
BEGIN
    FOR e IN SELECT * FROM steward.audit_log WHERE table_name = 'regress_replay' ORDER BY id LOOP
        CASE e.action
            WHEN 'TRUNCATE' THEN state := '{}';
            WHEN 'INSERT' THEN state := state || jsonb_build_object(e.row_key::text, e.new_values);
            WHEN 'DELETE' THEN state := state - e.row_key::text;
            ELSE
                IF e.old_row_key IS NOT NULL THEN
                    state := (state - e.old_row_key::text)
                             || jsonb_build_object(e.row_key::text, (state -> (e.old_row_key::text)) || e.new_values);
                ELSE
                    state := jsonb_set(state, ARRAY[e.row_key::text], (state -> (e.row_key::text)) || e.new_values);
                END IF;
        END CASE;
    END LOOP;
    RETURN QUERY SELECT s.key::jsonb, s.value FROM jsonb_each(state) s;
END $$;
SELECT count(*) AS replayed_rows_differing FROM (
    (SELECT (jsonb_populate_record(NULL::regress_replay, r))::text FROM pg_temp.replay()
     EXCEPT ALL SELECT t::text FROM regress_replay t)
    UNION ALL
    (SELECT t::text FROM regress_replay t
     EXCEPT ALL SELECT (jsonb_populate_record(NULL::regress_replay, r))::text FROM pg_temp.replay())) d;
-- row_as_of(now()) of every key the log knows equals the table (NULL when gone)
CREATE FUNCTION pg_temp.row_as_of_differing() RETURNS bigint LANGUAGE sql AS $$
SELECT count(*) FROM (
    SELECT DISTINCT (k->>'a')::int AS a, k->>'b' AS b FROM pg_temp.replay()
    UNION SELECT a, b FROM regress_replay) keys
 WHERE (SELECT t::text FROM regress_replay t WHERE (t.a, t.b) = (keys.a, keys.b))
       IS DISTINCT FROM
       (SELECT jsonb_populate_record(NULL::regress_replay, steward.row_as_of('regress_replay', keys.a, keys.b, now()))::text
         WHERE steward.row_as_of('regress_replay', keys.a, keys.b, now()) IS NOT NULL) $$;
SELECT pg_temp.row_as_of_differing();
-- schema changes, then more of the workload: row_as_of() follows them (a
-- sentinel row written before them is rebuilt in today's shape)
INSERT INTO regress_replay VALUES (999, 's', 1.5, '{1}', '{}', '2024-01-01', true);
ALTER TABLE regress_replay ADD COLUMN extra text;
ALTER TABLE regress_replay RENAME COLUMN n TO amount;
ALTER TABLE regress_replay ALTER COLUMN flag TYPE text;
CALL pg_temp.workload(501, 700, 'amount');
UPDATE regress_replay SET extra = 'e' WHERE a < 20;
SELECT steward.row_as_of('regress_replay', 999, 's', now());
SELECT pg_temp.row_as_of_differing();
