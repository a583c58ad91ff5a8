-- Returns: queue, state, count, from the kept counts (migration 007).
SELECT queue, state, n FROM "{{table}}_counts"
WHERE n <> 0
ORDER BY queue, state;
