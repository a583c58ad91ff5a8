-- Params: :queue, :now. Makes due scheduled/retryable jobs available.
UPDATE "{{table}}" SET state = 'available'
WHERE queue = :queue
  AND state IN ('scheduled', 'retryable')
  AND run_at <= :now;
