-- Params: :identifier, :id. Returns: a row when another non-final job holds
-- the identifier.
SELECT id FROM "{{table}}"
WHERE identifier = :identifier AND id <> :id
  -- The partial unique index's own terms, so SQLite uses it; finished_at
  -- IS NULL exactly for non-final jobs (a CHECK in 001_create.sql).
  AND identifier <> '' AND finished_at IS NULL;
