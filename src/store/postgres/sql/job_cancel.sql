-- scheduled/available/retryable -> cancelled; running -> cancel_requested.
--   $1 id  $2 now
UPDATE {{table}}
SET state = CASE WHEN state = 'running' THEN 'running' ELSE 'cancelled' END,
    cancel_requested = (state = 'running'),
    finished_at = CASE WHEN state = 'running' THEN NULL ELSE $2::bigint END
WHERE id = $1::bigint
  AND state IN ('scheduled', 'available', 'retryable', 'running')
RETURNING *;
