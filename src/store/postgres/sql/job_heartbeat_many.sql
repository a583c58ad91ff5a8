-- Extends the leases of running jobs whose token matches; stores progress
-- and, for attempts the worker asked to stop, why and since when.
--   $1 id[]  $2 lease_token[]  $3 progress[] (NULL = unchanged)
--   $4 lease_expires_at
--   $5 stop_reason[] (NULL = leave the three stop columns)  $6 stopping_since[]
--   $7 stop_overdue[]
UPDATE {{table}} AS j
SET lease_expires_at = $4::bigint,
    progress = COALESCE(u.progress, j.progress),
    stop_reason = COALESCE(u.stop_reason, j.stop_reason),
    stopping_since = CASE WHEN u.stop_reason IS NULL THEN j.stopping_since
                          ELSE u.stopping_since END,
    stop_overdue = CASE WHEN u.stop_reason IS NULL THEN j.stop_overdue
                        ELSE u.stop_overdue END
FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $5::text[], $6::bigint[],
            $7::boolean[])
     AS u(id, lease_token, progress, stop_reason, stopping_since, stop_overdue)
WHERE j.id = u.id AND j.state = 'running' AND j.lease_token = u.lease_token
RETURNING j.id, j.cancel_requested;
