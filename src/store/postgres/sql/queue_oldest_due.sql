-- The least run_at of each queue's due jobs (available, scheduled or
-- retryable with run_at <= now), NULL when none; one row per queue, in the
-- order given.
--   $1 queue names (text[])   $2 now (bigint us)
-- The claim index (queue, priority, run_at, id) orders each priority level
-- by run_at, so a queue's oldest due job is the least of the levels' first
-- due entries: a loose index scan (the recursive `levels`, one index seek
-- per level, then one per level for its first due entry), never a walk
-- over the queue's jobs (the run_at bound keeps the seek from walking the
-- level's future scheduled jobs).
SELECT q.ord, (
  WITH RECURSIVE levels(priority) AS (
    (SELECT j.priority FROM {{table}} AS j
     WHERE j.queue = q.name AND j.state IN ('available', 'scheduled', 'retryable')
     ORDER BY j.priority LIMIT 1)
    UNION ALL
    SELECT (SELECT j.priority FROM {{table}} AS j
            WHERE j.queue = q.name
              AND j.state IN ('available', 'scheduled', 'retryable')
              AND j.priority > l.priority
            ORDER BY j.priority LIMIT 1)
    FROM levels AS l WHERE l.priority IS NOT NULL
  )
  SELECT min(d.run_at)
  FROM levels AS l
  CROSS JOIN LATERAL (
    SELECT j.run_at FROM {{table}} AS j
    WHERE j.queue = q.name AND j.priority = l.priority
      AND j.state IN ('available', 'scheduled', 'retryable')
      AND j.run_at <= $2::bigint
    ORDER BY j.run_at LIMIT 1) AS d
  WHERE l.priority IS NOT NULL
) AS oldest
FROM unnest($1::text[]) WITH ORDINALITY AS q(name, ord)
ORDER BY q.ord;
