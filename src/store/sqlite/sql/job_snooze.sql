-- Params: :id, :lease_token, :run_at.
-- A running job its handler snoozed: scheduled again at :run_at, the attempt
-- given back (the claim counted it), no error appended.
-- Returns: id when the lease matched.
UPDATE "{{table}}" SET
  state = 'scheduled',
  run_at = :run_at,
  attempt = max(attempt - 1, 0),
  finished_at = NULL,
  lease_expires_at = NULL
WHERE id = :id AND lease_token = :lease_token AND state = 'running'
RETURNING id;
