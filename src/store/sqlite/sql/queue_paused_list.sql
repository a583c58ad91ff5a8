-- Returns: name of every paused queue.
SELECT name FROM "{{table}}_queues" ORDER BY name;
