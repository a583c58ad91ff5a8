-- Params: :id. Returns: the job.
SELECT {{job_columns}} FROM "{{table}}" WHERE id = :id;
