-- Running jobs whose lease expired before $1: retryable now when attempts
-- remain, dead otherwise, cancelled when a cancel was requested. Notifies the
-- queues that got retryable jobs. Returns the count, every rescued job as
-- "id=state" (comma-separated), and the ids of rescued dead or cancelled jobs
-- with workflow dependants (the caller's transaction then releases or
-- cancels those).
--   $1 now  $2 limit  $3 now in unix ms  $4 notification channel
WITH expired AS (
  SELECT id FROM {{table}}
  WHERE state = 'running' AND lease_expires_at < $1::bigint
  ORDER BY lease_expires_at
  LIMIT $2::integer
  FOR UPDATE SKIP LOCKED
),
rescued AS (
  UPDATE {{table}} AS j
  SET state = CASE WHEN j.cancel_requested THEN 'cancelled'
                   WHEN j.attempt < j.max_attempts THEN 'retryable'
                   ELSE 'dead' END,
      run_at = CASE WHEN NOT j.cancel_requested AND j.attempt < j.max_attempts
                    THEN $1::bigint ELSE j.run_at END,
      finished_at = CASE WHEN NOT j.cancel_requested
                              AND j.attempt < j.max_attempts
                         THEN NULL ELSE $1::bigint END,
      lease_expires_at = NULL,
      cancel_requested = false,
      errors = j.errors || jsonb_build_array(jsonb_build_object(
                 'attempt', j.attempt, 'at', $3::bigint,
                 'message', 'lease expired (worker ' || j.worker_id || ')'))
  FROM expired
  WHERE j.id = expired.id
  RETURNING j.id, j.queue, j.state, j.dependants
)
SELECT count(*) AS rescued,
       (SELECT count(pg_notify($4::text, q.queue))
        FROM (SELECT DISTINCT queue FROM rescued WHERE state = 'retryable') AS q)
         AS notified,
       COALESCE(string_agg(id::text || '=' || state, ','), '') AS moved,
       COALESCE(array_agg(id) FILTER (WHERE state <> 'retryable' AND dependants <> ''),
                '{}') AS parents
FROM rescued;
