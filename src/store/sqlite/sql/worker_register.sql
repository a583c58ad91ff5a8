-- Params: :id, :host, :address, :pid, :queues (JSON array), :started_at, :now.
INSERT INTO "{{table}}_workers"
  (id, host, address, pid, queues, started_at, last_heartbeat_at, running)
VALUES (:id, :host, :address, :pid, :queues, :started_at, :now, 0)
ON CONFLICT (id) DO UPDATE SET
  host = excluded.host,
  address = excluded.address,
  pid = excluded.pid,
  queues = excluded.queues,
  started_at = excluded.started_at,
  last_heartbeat_at = excluded.last_heartbeat_at,
  running = 0;
