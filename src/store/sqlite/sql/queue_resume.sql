-- Params: :queue. Idempotent.
DELETE FROM "{{table}}_queues" WHERE name = :queue;
