-- Params: :id, :lease_token, :lease_expires_at, :progress (NULL = keep).
-- Returns: id, cancel_requested when the lease matched.
UPDATE "{{table}}" SET
  lease_expires_at = :lease_expires_at,
  progress = COALESCE(:progress, progress)
WHERE id = :id AND lease_token = :lease_token AND state = 'running'
RETURNING id, cancel_requested;
