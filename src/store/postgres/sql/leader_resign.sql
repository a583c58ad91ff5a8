-- $1 name  $2 leader_id
DELETE FROM {{table_leaders}} WHERE name = $1::text AND leader_id = $2::text;
