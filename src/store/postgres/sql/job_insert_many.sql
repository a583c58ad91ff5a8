-- Inserts a batch; duplicates of a non-final identifier are skipped and
-- reported with the existing job. One pg_notify per queue that received
-- available jobs (delivered at commit; PostgreSQL folds duplicates within a
-- transaction).
--   $1 id[]  $2 queue[]  $3 name[]  $4 identifier[]  $5 data[]  $6 priority[]
--   $7 max_attempts[]  $8 run_at[]  $9 timeout_us[]  $10 backoff_base_us[]
--   $11 now  $12 notification channel  $13 metadata[] (NULL = none)
-- Returns per input row, in input order: ord, result_id (NULL when the
-- conflicting job committed after this statement's snapshot: look it up
-- again), inserted, state.
WITH input AS (
  SELECT *
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
              $6::integer[], $7::integer[], $8::bigint[], $9::bigint[],
              $10::bigint[], $13::text[])
       WITH ORDINALITY AS t(id, queue, name, identifier, data, priority,
                            max_attempts, run_at, timeout_us, backoff_base_us,
                            metadata, ord)
),
inserted AS (
  INSERT INTO {{table}} AS j
    (id, queue, name, identifier, data, priority, state, max_attempts, run_at,
     created_at, timeout_us, backoff_base_us, metadata)
  SELECT id, queue, name, identifier, data, priority,
         CASE WHEN run_at > $11::bigint THEN 'scheduled' ELSE 'available' END,
         max_attempts, run_at, $11::bigint, timeout_us, backoff_base_us,
         metadata
  FROM input
  ORDER BY ord
  ON CONFLICT (identifier)
    WHERE identifier <> ''
      AND state IN ('scheduled', 'available', 'running', 'retryable')
    DO NOTHING
  RETURNING j.id, j.identifier, j.state, j.queue
),
notified AS (
  SELECT count(pg_notify($12::text, q.queue)) AS n
  FROM (SELECT DISTINCT queue FROM inserted WHERE state = 'available') AS q
)
SELECT i.ord,
       COALESCE(ins.id, batch.id, existing.id) AS result_id,
       ins.id IS NOT NULL AS inserted,
       COALESCE(ins.state, batch.state, existing.state) AS state,
       (SELECT n FROM notified) AS notified
FROM input AS i
LEFT JOIN inserted AS ins ON ins.id = i.id
LEFT JOIN LATERAL (
  SELECT b.id, b.state FROM inserted AS b
  WHERE ins.id IS NULL AND i.identifier <> '' AND b.identifier = i.identifier
  LIMIT 1) AS batch ON true
LEFT JOIN LATERAL (
  SELECT e.id, e.state FROM {{table}} AS e
  WHERE ins.id IS NULL AND batch.id IS NULL AND i.identifier <> ''
    AND e.identifier <> '' AND e.identifier = i.identifier
    AND e.state IN ('scheduled', 'available', 'running', 'retryable')
  LIMIT 1) AS existing ON true
ORDER BY i.ord;
