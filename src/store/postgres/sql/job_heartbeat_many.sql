-- Extends the leases of running jobs whose token matches; stores progress.
--   $1 id[]  $2 lease_token[]  $3 progress[] (NULL = unchanged)
--   $4 lease_expires_at
UPDATE {{table}} AS j
SET lease_expires_at = $4::bigint,
    progress = COALESCE(u.progress, j.progress)
FROM unnest($1::bigint[], $2::bigint[], $3::integer[])
     AS u(id, lease_token, progress)
WHERE j.id = u.id AND j.state = 'running' AND j.lease_token = u.lease_token
RETURNING j.id, j.cancel_requested;
