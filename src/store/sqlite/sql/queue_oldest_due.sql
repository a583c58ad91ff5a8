-- Params: :queue. Returns one row: the least run_at of the queue's available
-- jobs and the least run_at of its scheduled/retryable ones (NULL when
-- none); the caller keeps each only when it is due (<= now).
-- The claim index (queue, priority, run_at, id) WHERE available orders each
-- priority level by run_at, so the oldest available job is the least of the
-- levels' first entries: a loose index scan, one seek per level (the
-- recursive `levels`), never a walk over the queue's jobs. The promotion
-- index (queue, run_at) answers the second in one seek.
WITH RECURSIVE levels(priority) AS (
  SELECT (SELECT MIN(priority) FROM "{{table}}"
          WHERE queue = :queue AND state = 'available')
  UNION ALL
  SELECT (SELECT MIN(priority) FROM "{{table}}"
          WHERE queue = :queue AND state = 'available'
            AND priority > levels.priority)
  FROM levels WHERE levels.priority IS NOT NULL
)
SELECT
  (SELECT MIN((SELECT MIN(run_at) FROM "{{table}}"
               WHERE queue = :queue AND state = 'available'
                 AND priority = levels.priority))
   FROM levels WHERE levels.priority IS NOT NULL),
  (SELECT MIN(run_at) FROM "{{table}}"
   WHERE queue = :queue AND state IN ('scheduled', 'retryable'));
