-- Params: :identifier, :id. Returns: a row when another non-final job holds
-- the identifier.
SELECT id FROM "{{table}}"
WHERE identifier = :identifier AND id <> :id
  AND identifier <> ''  -- lets SQLite use the partial unique index
  AND state IN ('scheduled', 'available', 'running', 'retryable');
