-- $1 id
SELECT * FROM {{table}} WHERE id = $1::bigint;
