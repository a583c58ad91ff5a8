-- Params: :id. Asks the worker running the job to stop. Returns: the job.
UPDATE "{{table}}" SET cancel_requested = 1
WHERE id = :id AND state = 'running'
RETURNING {{job_columns}};
