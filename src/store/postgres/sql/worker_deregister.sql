-- $1 id
DELETE FROM {{table_workers}} WHERE id = $1::text;
