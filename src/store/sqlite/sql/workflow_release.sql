-- Params: :id, :now. One parent of waiting job :id is done: the last one
-- makes it available, due now. Returns: queue, new state (no row when the
-- job no longer waits, e.g. it was cancelled).
UPDATE "{{table}}" SET
  waiting = waiting - 1,
  state = CASE WHEN waiting = 1 THEN 'available' ELSE state END,
  run_at = CASE WHEN waiting = 1 THEN :now ELSE run_at END
WHERE id = :id AND state = 'scheduled' AND waiting > 0
RETURNING queue, state;
