-- Params: :id, :running, :now. changes() = 0 for unknown workers.
UPDATE "{{table}}_workers" SET last_heartbeat_at = :now, running = :running
WHERE id = :id;
