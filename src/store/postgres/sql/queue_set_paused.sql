-- $1 queue  $2 paused  $3 now
INSERT INTO {{table_queues}} AS q (name, paused, updated_at)
VALUES ($1::text, $2::boolean, $3::bigint)
ON CONFLICT (name) DO UPDATE
SET paused = EXCLUDED.paused, updated_at = EXCLUDED.updated_at;
