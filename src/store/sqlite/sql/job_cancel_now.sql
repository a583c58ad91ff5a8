-- Params: :id, :now. Cancels a job that is not running. Returns: the job.
UPDATE "{{table}}" SET state = 'cancelled', finished_at = :now
WHERE id = :id AND state IN ('scheduled', 'available', 'retryable')
RETURNING {{job_columns}};
