-- Params: :queue, :now. Idempotent.
INSERT INTO "{{table}}_queues" (name, paused_at) VALUES (:queue, :now)
ON CONFLICT (name) DO NOTHING;
