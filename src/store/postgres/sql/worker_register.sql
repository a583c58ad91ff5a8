-- $1 id  $2 host  $3 pid  $4 queues[]  $5 started_at  $6 now  $7 running
-- $8 address
INSERT INTO {{table_workers}} AS w
  (id, host, pid, queues, started_at, last_heartbeat_at, running, address)
VALUES ($1::text, $2::text, $3::bigint, $4::text[], $5::bigint, $6::bigint,
        $7::integer, $8::text)
ON CONFLICT (id) DO UPDATE
SET host = EXCLUDED.host, pid = EXCLUDED.pid, queues = EXCLUDED.queues,
    started_at = EXCLUDED.started_at,
    last_heartbeat_at = EXCLUDED.last_heartbeat_at,
    running = EXCLUDED.running, address = EXCLUDED.address;
