-- dead/cancelled/completed/retryable -> available with a fresh attempt
-- budget; errors are kept. Notifies the job's queue.
--   $1 id  $2 now  $3 notification channel
WITH requeued AS (
  UPDATE {{table}}
  SET state = 'available',
      attempt = 0,
      run_at = $2::bigint,
      finished_at = NULL,
      lease_expires_at = NULL,
      lease_token = 0,
      worker_id = '',
      cancel_requested = false,
      progress = 0,
      result = NULL
  WHERE id = $1::bigint
    AND state IN ('dead', 'cancelled', 'completed', 'retryable')
  RETURNING *
)
SELECT r.*, pg_notify($3::text, r.queue)::text AS notified FROM requeued AS r;
