-- Params: :now, :at_ms, :limit. Running jobs whose lease expired before :now
-- become cancelled (cancel requested), retryable (attempts remain, due now)
-- or dead, with the error "lease expired (worker W)".
-- Returns: queue, new state, id, dependants of each rescued job.
UPDATE "{{table}}" SET
  state = CASE
    WHEN cancel_requested = 1 THEN 'cancelled'
    WHEN attempt < max_attempts THEN 'retryable'
    ELSE 'dead' END,
  run_at = CASE
    WHEN cancel_requested = 0 AND attempt < max_attempts THEN :now
    ELSE run_at END,
  finished_at = CASE
    WHEN cancel_requested = 0 AND attempt < max_attempts THEN NULL
    ELSE :now END,
  lease_expires_at = NULL,
  errors = json_insert(errors, '$[#]',
                       json_object('attempt', attempt, 'at', :at_ms,
                                   'message',
                                   'lease expired (worker ' || worker_id || ')'))
WHERE id IN (SELECT id FROM "{{table}}"
             WHERE state = 'running' AND lease_expires_at < :now
             ORDER BY lease_expires_at
             LIMIT :limit)
RETURNING queue, state, id, dependants;
