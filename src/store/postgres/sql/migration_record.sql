-- $1 version  $2 file name
INSERT INTO {{table_migrations}} (version, name) VALUES ($1::integer, $2::text);
