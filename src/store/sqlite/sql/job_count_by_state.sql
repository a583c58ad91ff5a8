-- Returns: queue, state, count.
SELECT queue, state, COUNT(*) FROM "{{table}}"
GROUP BY queue, state
ORDER BY queue, state;
