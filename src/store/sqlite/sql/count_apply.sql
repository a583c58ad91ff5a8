-- Params: :queue, :state, :n. Adds a transaction's net change of one
-- (queue, state) count (migration 007).
INSERT INTO "{{table}}_counts" (queue, state, n) VALUES (:queue, :state, :n)
ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n;
