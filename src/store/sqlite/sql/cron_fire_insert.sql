-- Params: :schedule, :fire_time, :job_id, :now. changes() = 0 when this fire
-- was already recorded.
INSERT INTO "{{table}}_cron_fires" (schedule, fire_time, job_id, created_at)
VALUES (:schedule, :fire_time, :job_id, :now)
ON CONFLICT (schedule, fire_time) DO NOTHING;
