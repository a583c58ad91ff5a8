-- Params: :id, :host, :pid, :queues (JSON array), :started_at, :now.
INSERT INTO "{{table}}_workers"
  (id, host, pid, queues, started_at, last_heartbeat_at, running)
VALUES (:id, :host, :pid, :queues, :started_at, :now, 0)
ON CONFLICT (id) DO UPDATE SET
  host = excluded.host,
  pid = excluded.pid,
  queues = excluded.queues,
  started_at = excluded.started_at,
  last_heartbeat_at = excluded.last_heartbeat_at,
  running = 0;
