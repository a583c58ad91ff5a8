-- Completes running jobs whose lease token still matches (fencing).
--   $1 id[]  $2 lease_token[]  $3 result[] (NULL = none)  $4 now
UPDATE {{table}} AS j
SET state = 'completed',
    finished_at = $4::bigint,
    lease_expires_at = NULL,
    cancel_requested = false,
    result = u.result
FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS u(id, lease_token, result)
WHERE j.id = u.id AND j.state = 'running' AND j.lease_token = u.lease_token
RETURNING j.id;
