-- Params: :since. Returns: workers heard from at or after :since.
SELECT id, host, pid, queues, started_at, last_heartbeat_at, running, address
FROM "{{table}}_workers"
WHERE last_heartbeat_at >= :since
ORDER BY id;
