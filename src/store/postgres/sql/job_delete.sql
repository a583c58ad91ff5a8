-- $1 id
DELETE FROM {{table}} WHERE id = $1::bigint AND state <> 'running'
RETURNING id;
