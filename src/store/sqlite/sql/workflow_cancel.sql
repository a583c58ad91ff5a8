-- Params: :id, :now, :at_ms, :message. A parent of waiting job :id ended
-- dead or cancelled: the job is cancelled, the reason appended to errors.
-- Returns: its dependant edges (no row when it no longer waited).
UPDATE "{{table}}" SET
  state = 'cancelled',
  finished_at = :now,
  waiting = 0,
  errors = json_insert(errors, '$[#]',
                       json_object('attempt', attempt, 'at', :at_ms,
                                   'message', :message))
WHERE id = :id AND state = 'scheduled' AND waiting > 0
RETURNING dependants;
