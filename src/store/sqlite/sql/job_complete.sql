-- Params: :id, :lease_token, :now, :result (NULL for none).
-- Returns: id when the lease matched.
UPDATE "{{table}}" SET
  state = 'completed',
  finished_at = :now,
  lease_expires_at = NULL,
  result = :result
WHERE id = :id AND lease_token = :lease_token AND state = 'running'
RETURNING id;
