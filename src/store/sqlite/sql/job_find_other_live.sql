-- Params: :identifier, :id. Returns: a row when another non-final job holds
-- the identifier.
SELECT id FROM "{{table}}"
WHERE identifier = :identifier AND id <> :id
  AND state IN ('scheduled', 'available', 'running', 'retryable');
