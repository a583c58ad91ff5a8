-- The non-final job holding each identifier (a fresh snapshot after an
-- insert raced with a concurrent one).  $1 identifier[]
SELECT identifier, id, state FROM {{table}}
WHERE identifier = ANY($1::text[]) AND identifier <> ''
  AND state IN ('scheduled', 'available', 'running', 'retryable');
