-- Moves failed running jobs (matching lease token) to retryable, dead or
-- cancelled, appending {attempt, at (unix ms), message} to errors.
--   $1 id[]  $2 lease_token[]  $3 to_state[]  $4 run_at[]  $5 error[]
--   $6 now  $7 now in unix ms
UPDATE {{table}} AS j
SET state = u.to_state,
    run_at = CASE WHEN u.to_state = 'retryable' THEN u.run_at ELSE j.run_at END,
    finished_at = CASE WHEN u.to_state = 'retryable' THEN NULL
                       ELSE $6::bigint END,
    lease_expires_at = NULL,
    cancel_requested = false,
    errors = j.errors || jsonb_build_array(jsonb_build_object(
               'attempt', j.attempt, 'at', $7::bigint, 'message', u.error))
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[])
     AS u(id, lease_token, to_state, run_at, error)
WHERE j.id = u.id AND j.state = 'running' AND j.lease_token = u.lease_token
RETURNING j.id;
