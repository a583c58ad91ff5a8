-- Params: :id, :lease_token, :to ('retryable', 'dead' or 'cancelled'),
-- :run_at (next attempt, for retryable), :now, :at_ms, :message.
-- Appends {attempt, at, message} to errors. Returns: id when the lease matched.
UPDATE "{{table}}" SET
  state = :to,
  run_at = CASE WHEN :to = 'retryable' THEN :run_at ELSE run_at END,
  finished_at = CASE WHEN :to = 'retryable' THEN NULL ELSE :now END,
  lease_expires_at = NULL,
  errors = json_insert(errors, '$[#]',
                       json_object('attempt', attempt, 'at', :at_ms,
                                   'message', :message))
WHERE id = :id AND lease_token = :lease_token AND state = 'running'
RETURNING id;
