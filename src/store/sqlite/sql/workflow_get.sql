-- Params: :workflow_id. Returns: its jobs by id.
SELECT {{job_columns}} FROM "{{table}}" WHERE workflow_id = :workflow_id ORDER BY id;
