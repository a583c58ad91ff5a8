-- Forgets fires of a schedule older than $2 (a week before the current
-- fire): no process lags that far behind.
--   $1 schedule  $2 horizon
DELETE FROM {{table_cron_fires}}
WHERE schedule = $1::text AND fire_time < $2::bigint;
