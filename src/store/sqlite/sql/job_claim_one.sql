-- Params: :id, :now, :worker_id, :lease_token, :lease_expires_at.
-- Returns: the claimed job.
UPDATE "{{table}}" SET
  state = 'running',
  attempt = attempt + 1,
  picked_at = :now,
  worker_id = :worker_id,
  lease_token = :lease_token,
  lease_expires_at = :lease_expires_at,
  stop_reason = NULL,
  stopping_since = NULL,
  stop_overdue = 0
WHERE id = :id AND state = 'available'
RETURNING {{job_columns}};
