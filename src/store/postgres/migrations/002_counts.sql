-- Counts by (queue, state) without scanning the jobs table.
--
-- Statement-level triggers append one delta row per (queue, state) that a
-- statement changed (a batch of 1000 inserts adds one row, a claim of 100 adds
-- two, a heartbeat adds none). Writers only ever INSERT here, so concurrent
-- workers never wait on each other for a counter row. Readers sum the deltas;
-- counts_compact.sql folds them into one row per (queue, state) now and then
-- (under an advisory lock, in one statement, so readers see either the
-- deltas or their sum, never both or neither).

CREATE TABLE {{table_counts}} (
  queue text   NOT NULL,
  state text   NOT NULL,
  n     bigint NOT NULL
);

CREATE FUNCTION {{table_counts_on_insert}}() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO {{table_counts}} (queue, state, n)
  SELECT queue, state, count(*) FROM new_rows GROUP BY queue, state;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION {{table_counts_on_update}}() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO {{table_counts}} (queue, state, n)
  SELECT queue, state, sum(d) FROM (
    SELECT queue, state, -1 AS d FROM old_rows
    UNION ALL
    SELECT queue, state, 1 AS d FROM new_rows) AS t
  GROUP BY queue, state
  HAVING sum(d) <> 0;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION {{table_counts_on_delete}}() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO {{table_counts}} (queue, state, n)
  SELECT queue, state, -count(*) FROM old_rows GROUP BY queue, state;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION {{table_counts_on_truncate}}() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  DELETE FROM {{table_counts}};
  RETURN NULL;
END
$fn$;

CREATE TRIGGER {{table_counts_insert}} AFTER INSERT ON {{table}}
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION {{table_counts_on_insert}}();
CREATE TRIGGER {{table_counts_update}} AFTER UPDATE ON {{table}}
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION {{table_counts_on_update}}();
CREATE TRIGGER {{table_counts_delete}} AFTER DELETE ON {{table}}
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION {{table_counts_on_delete}}();
CREATE TRIGGER {{table_counts_truncate}} AFTER TRUNCATE ON {{table}}
  FOR EACH STATEMENT EXECUTE FUNCTION {{table_counts_on_truncate}}();

-- Jobs that exist already (none when 001 ran in the same start).
INSERT INTO {{table_counts}} (queue, state, n)
SELECT queue, state, count(*) FROM {{table}} GROUP BY queue, state;
