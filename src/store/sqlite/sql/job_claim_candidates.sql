-- Params: :queue, :limit. Returns: id, priority, run_at of the first
-- available jobs of the queue in claim order (the claim index).
SELECT id, priority, run_at FROM "{{table}}"
WHERE queue = :queue AND state = 'available'
ORDER BY priority, run_at, id
LIMIT :limit;
