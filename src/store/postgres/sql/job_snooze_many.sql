-- Running jobs (matching lease token) their handlers snoozed: scheduled
-- again at run_at, the attempt given back (the claim counted it), no error
-- appended.
--   $1 id[]  $2 lease_token[]  $3 run_at[]
UPDATE {{table}} AS j
SET state = 'scheduled',
    run_at = u.run_at,
    attempt = GREATEST(j.attempt - 1, 0),
    finished_at = NULL,
    lease_expires_at = NULL,
    cancel_requested = false
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(id, lease_token, run_at)
WHERE j.id = u.id AND j.state = 'running' AND j.lease_token = u.lease_token
RETURNING j.id;
