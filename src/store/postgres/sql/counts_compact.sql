-- Folds the count deltas into one row per (queue, state), in one statement
-- (one transaction), unless another session is compacting.
--   $1 advisory lock key
WITH locked AS (
  SELECT pg_try_advisory_xact_lock($1::bigint) AS ok
),
gone AS (
  DELETE FROM {{table_counts}}
  WHERE (SELECT ok FROM locked)
  RETURNING queue, state, n
)
INSERT INTO {{table_counts}} (queue, state, n)
SELECT queue, state, sum(n) FROM gone
GROUP BY queue, state
HAVING sum(n) <> 0;
