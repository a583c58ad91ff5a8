-- Claims up to $3 due jobs of the queues $1 in one statement.
--   $1 queue[]  $2 worker_id  $3 limit  $4 now  $5 lease_expires_at
--   $6 lease_token
--
-- due: per queue (LATERAL, so each queue walks job_claim_idx in claim order
-- and stops after $3 rows), the first due jobs that no other transaction has
-- locked (SKIP LOCKED: concurrent claimers never wait on each other and never
-- get the same job), skipping paused queues; then the best $3 overall.
-- claimed: those become running under the caller's lease.
-- promoted: other due scheduled/retryable jobs of these queues become
-- available (bounded, also SKIP LOCKED), so counts and listings show them as
-- ready; the claim itself does not depend on it.
-- async: the claim's commit does not wait for its WAL to reach the disk
-- (synchronous_commit off for this transaction only). A server crash can
-- lose at most the claims of the last moments (wal_writer_delay), whose jobs
-- are then available again: delivery stays at-least-once, and the worker's
-- completion of such a job is refused by the lease token (fencing). Every
-- completion, failure and enqueue still commits synchronously, and its WAL
-- flush carries every earlier claim with it, so an acknowledged completion
-- never depends on a claim that could be lost. One disk flush per claim
-- less: the claim is on the latency path of every job.
WITH async AS MATERIALIZED (
  SELECT set_config('synchronous_commit', 'off', true) AS setting
),
due AS MATERIALIZED (
  SELECT c.id, c.priority, c.run_at
  FROM (SELECT DISTINCT q.name
        FROM unnest($1::text[]) AS q(name)
        WHERE NOT EXISTS (SELECT 1 FROM {{table_queues}} AS p
                          WHERE p.name = q.name AND p.paused)) AS q
  CROSS JOIN LATERAL (
    SELECT j.id, j.priority, j.run_at
    FROM {{table}} AS j
    WHERE j.queue = q.name
      AND j.state IN ('available', 'scheduled', 'retryable')
      AND (j.state = 'available' OR j.run_at <= $4::bigint)
    ORDER BY j.priority, j.run_at, j.id
    LIMIT $3::integer
    FOR UPDATE SKIP LOCKED) AS c
  ORDER BY c.priority, c.run_at, c.id
  LIMIT $3::integer
),
claimed AS (
  UPDATE {{table}} AS j
  SET state = 'running',
      attempt = j.attempt + 1,
      picked_at = $4::bigint,
      worker_id = $2::text,
      lease_token = $6::bigint,
      lease_expires_at = $5::bigint,
      cancel_requested = false,
      stop_reason = NULL,
      stopping_since = NULL,
      stop_overdue = false
  FROM due
  WHERE j.id = due.id
  RETURNING j.*
),
promoted AS (
  UPDATE {{table}} AS j
  SET state = 'available'
  WHERE j.id IN (
    SELECT p.id FROM {{table}} AS p
    WHERE p.queue = ANY($1::text[])
      AND p.state IN ('scheduled', 'retryable')
      AND p.run_at <= $4::bigint
      AND p.id NOT IN (SELECT id FROM due)
    LIMIT 1000
    FOR UPDATE SKIP LOCKED)
)
SELECT claimed.* FROM claimed CROSS JOIN async ORDER BY priority, run_at, id;
