-- $1 id  $2 running  $3 now
UPDATE {{table_workers}}
SET running = $2::integer, last_heartbeat_at = $3::bigint
WHERE id = $1::text
RETURNING id;
