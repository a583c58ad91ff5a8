-- Params: :id, :now. The caller checked the state. Returns: the job.
UPDATE "{{table}}" SET
  state = 'available',
  attempt = 0,
  run_at = :now,
  finished_at = NULL,
  lease_expires_at = NULL,
  cancel_requested = 0,
  progress = 0,
  result = NULL
WHERE id = :id
RETURNING {{job_columns}};
