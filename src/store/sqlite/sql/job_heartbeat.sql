-- Params: :id, :lease_token, :lease_expires_at, :progress (NULL = keep),
-- :stop_reason, :stopping_since, :stop_overdue (reason NULL = keep all three).
-- Returns: id, cancel_requested when the lease matched.
UPDATE "{{table}}" SET
  lease_expires_at = :lease_expires_at,
  progress = COALESCE(:progress, progress),
  stop_reason = COALESCE(:stop_reason, stop_reason),
  stopping_since = CASE WHEN :stop_reason IS NULL THEN stopping_since ELSE :stopping_since END,
  stop_overdue = CASE WHEN :stop_reason IS NULL THEN stop_overdue ELSE :stop_overdue END
WHERE id = :id AND lease_token = :lease_token AND state = 'running'
RETURNING id, cancel_requested;
