-- One parent of waiting job $1 is done: the last one makes it available,
-- due now, and notifies its queue. No change when the job no longer waits.
--   $1 id  $2 now  $3 notification channel
WITH released AS (
  UPDATE {{table}}
  SET waiting = waiting - 1,
      state = CASE WHEN waiting = 1 THEN 'available' ELSE state END,
      run_at = CASE WHEN waiting = 1 THEN $2::bigint ELSE run_at END
  WHERE id = $1::bigint AND state = 'scheduled' AND waiting > 0
  RETURNING queue, state
)
SELECT (SELECT count(pg_notify($3::text, queue)) FROM released
        WHERE state = 'available') AS notified;
