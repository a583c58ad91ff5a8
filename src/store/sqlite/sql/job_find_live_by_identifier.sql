-- Params: :identifier (non-empty). Returns: id, state of the non-final job
-- holding it, if any (the unique index allows at most one).
SELECT id, state FROM "{{table}}"
WHERE identifier = :identifier
  -- The partial unique index's own terms, so SQLite uses it; finished_at
  -- IS NULL exactly for non-final jobs (a CHECK in 001_create.sql).
  AND identifier <> '' AND finished_at IS NULL;
