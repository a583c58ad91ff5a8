-- The stored dependant edges of the given jobs.  $1 id[]
SELECT id, dependants FROM {{table}}
WHERE id = ANY($1::bigint[]) AND dependants <> '';
