-- Records a fire; a row comes back iff this call recorded it. Run in the
-- transaction that inserts the job.
--   $1 schedule  $2 fire_time  $3 job_id  $4 now
INSERT INTO {{table_cron_fires}} (schedule, fire_time, job_id, created_at)
VALUES ($1::text, $2::bigint, $3::bigint, $4::bigint)
ON CONFLICT (schedule, fire_time) DO NOTHING
RETURNING job_id;
