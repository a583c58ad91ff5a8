-- Keyset page, newest first. Run unprepared so that each call is planned
-- with its values: the unused filters fold away and the planner picks the
-- pkey, state or name index for the ones that remain.
--   $1 state[] (empty = all)  $2 queue  $3 name  $4 identifier
--   $5 before_id (NULL = first page)  $6 limit
SELECT * FROM {{table}}
WHERE (cardinality($1::text[]) = 0 OR state = ANY($1::text[]))
  AND ($2::text = '' OR queue = $2::text)
  AND ($3::text = '' OR name = $3::text)
  AND ($4::text = '' OR identifier = $4::text)
  AND ($5::bigint IS NULL OR id < $5::bigint)
ORDER BY id DESC
LIMIT $6::integer;
