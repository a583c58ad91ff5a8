-- Params: :identifier (non-empty). Returns: id, state of the non-final job
-- holding it, if any (the unique index allows at most one).
SELECT id, state FROM "{{table}}"
WHERE identifier = :identifier
  AND identifier <> ''  -- lets SQLite use the partial unique index
  AND state IN ('scheduled', 'available', 'running', 'retryable');
