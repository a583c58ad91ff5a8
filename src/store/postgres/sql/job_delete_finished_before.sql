-- $1 final state  $2 before  $3 limit
DELETE FROM {{table}}
WHERE id IN (SELECT id FROM {{table}}
             WHERE state = $1::text AND finished_at < $2::bigint
             ORDER BY id
             LIMIT $3::integer)
RETURNING id;
