-- steward._audit_decode() takes any bytea: forged or damaged images are
-- errors, never reads outside the buffer; and only the log's readers may
-- call it.
CREATE SCHEMA adec;
CREATE TABLE adec.t (id int PRIMARY KEY, label text, n numeric);
SET client_min_messages = warning;
SELECT steward.enable_audit('adec.t') IS NOT NULL AS enabled;
RESET client_min_messages;
INSERT INTO adec.t VALUES (1, 'one', 1.5);
SELECT r.version_id AS v, r.new_image AS img
  FROM steward.audit_records r JOIN steward.audit_tables a USING (table_id)
 WHERE a.tbl = 'adec.t'::regclass \gset
-- the real image decodes
SELECT steward._audit_decode(:v, :'img'::bytea, NULL) AS decoded;
-- forged ones do not (the version number in the message depends on earlier tests)
CREATE FUNCTION pg_temp.try_decode(v int, img bytea) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN steward._audit_decode(v, img, NULL)::text;
EXCEPTION WHEN data_corrupted THEN
    RETURN 'data_corrupted: ' || regexp_replace(SQLERRM, '[0-9]+', 'N');
END $$;
SELECT pg_temp.try_decode(:v, '\x'::bytea) AS empty,
       pg_temp.try_decode(:v, '\x0000ffff'::bytea) AS short,
       pg_temp.try_decode(:v, decode(repeat('ff', 64), 'hex')) AS all_ones;
-- the real image cut short, and with lengths inflated after the header
SELECT pg_temp.try_decode(:v, substr(:'img'::bytea, 1, length(:'img'::bytea) - 3)) AS cut,
       pg_temp.try_decode(:v, substr(:'img'::bytea, 1, 24) || decode(repeat('7f', 40), 'hex')) AS inflated;
-- every truncation of the real image is either the image or an error
DO $$
DECLARE
    v int := (SELECT r.version_id FROM steward.audit_records r JOIN steward.audit_tables a USING (table_id)
               WHERE a.tbl = 'adec.t'::regclass LIMIT 1);
    img bytea := (SELECT r.new_image FROM steward.audit_records r JOIN steward.audit_tables a USING (table_id)
                   WHERE a.tbl = 'adec.t'::regclass LIMIT 1);
    errors int := 0;
BEGIN
    FOR i IN 0 .. length(img) - 1 LOOP
        BEGIN
            PERFORM steward._audit_decode(v, substr(img, 1, i), NULL);
        EXCEPTION WHEN data_corrupted THEN
            errors := errors + 1;
        END;
    END LOOP;
    RAISE NOTICE 'truncations rejected: % of %', errors, length(img);
END $$;
-- values with an internal structure (jsonb, numeric, arrays, inet, bit
-- strings) are checked before decoding: every byte of a real image
-- overwritten in turn decodes, or is data_corrupted, never a crash
CREATE TABLE adec.s (id int PRIMARY KEY, j jsonb, a int[], n numeric, ip inet, b varbit);
SET client_min_messages = warning;
SELECT steward.enable_audit('adec.s') IS NOT NULL AS enabled;
RESET client_min_messages;
INSERT INTO adec.s VALUES (1, '{"a": [1, 2.5, {"b": null}], "c": true}', '{1,NULL,3}', 12.25, '10.1.2.3/24', B'10110');
CREATE TEMP TABLE decode_outcomes (outcome text);
DO $$
DECLARE
    v int := (SELECT r.version_id FROM steward.audit_records r JOIN steward.audit_tables a USING (table_id)
               WHERE a.tbl = 'adec.s'::regclass LIMIT 1);
    img bytea := (SELECT r.new_image FROM steward.audit_records r JOIN steward.audit_tables a USING (table_id)
                   WHERE a.tbl = 'adec.s'::regclass LIMIT 1);
BEGIN
    FOR i IN 24 .. length(img) - 1 LOOP
        BEGIN
            PERFORM steward._audit_decode(v, overlay(img placing '\xff'::bytea from i + 1), NULL);
            INSERT INTO decode_outcomes VALUES ('decoded');
        EXCEPTION WHEN data_corrupted THEN
            INSERT INTO decode_outcomes VALUES (regexp_replace(SQLERRM, 'version [0-9]+', 'version N'));
        END;
    END LOOP;
END $$;
SELECT outcome FROM decode_outcomes GROUP BY outcome ORDER BY outcome;
-- not callable by PUBLIC
CREATE ROLE regress_adec_user;
SET ROLE regress_adec_user;
SELECT steward._audit_decode(1, '\x'::bytea, NULL);
RESET ROLE;
DROP ROLE regress_adec_user;
SET client_min_messages = warning;
SELECT steward.disable_audit('adec.t');
DROP SCHEMA adec CASCADE;

-- Keys with a typmod: history() finds the record whatever form the caller
-- passes (numeric(10,2) stores 1.50; char(5) stores 'ab   ').
CREATE SCHEMA akey;
CREATE TABLE akey.prices (code char(5), amount numeric(10,2), note text, PRIMARY KEY (code, amount));
SET client_min_messages = warning;
SELECT steward.enable_audit('akey.prices') IS NOT NULL AS enabled;
RESET client_min_messages;
INSERT INTO akey.prices VALUES ('ab', 1.5, 'x');
UPDATE akey.prices SET note = 'y';
SELECT action FROM steward.history('akey.prices', 'ab', 1.5) ORDER BY 1;
SELECT action FROM steward.history('akey.prices', 'ab   '::char(5), 1.50::numeric) ORDER BY 1;
SELECT row_as_of->>'note' AS note FROM steward.row_as_of('akey.prices', 'ab', 1.5, now()) AS row_as_of;
SET client_min_messages = warning;
SELECT steward.disable_audit('akey.prices');
DROP SCHEMA akey CASCADE;
