-- Sums the count deltas (see migration 002). `rows` tells the caller when
-- a compaction is due.
SELECT queue, state, sum(n)::bigint AS n, count(*) AS rows
FROM {{table_counts}}
GROUP BY queue, state
ORDER BY queue, state;
