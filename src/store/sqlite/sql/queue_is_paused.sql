-- Params: :queue. Returns: a row when the queue is paused.
SELECT 1 FROM "{{table}}_queues" WHERE name = :queue;
