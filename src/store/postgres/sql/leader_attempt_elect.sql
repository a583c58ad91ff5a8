-- Takes the leadership when free or expired, or renews it for its holder.
-- Returns a row iff $2 is the leader until $4.
--   $1 name  $2 leader_id  $3 now  $4 expires_at
INSERT INTO {{table_leaders}} AS l (name, leader_id, elected_at, expires_at)
VALUES ($1::text, $2::text, $3::bigint, $4::bigint)
ON CONFLICT (name) DO UPDATE
SET leader_id = EXCLUDED.leader_id,
    expires_at = EXCLUDED.expires_at,
    elected_at = CASE WHEN l.leader_id = EXCLUDED.leader_id THEN l.elected_at
                      ELSE EXCLUDED.elected_at END
WHERE l.leader_id = EXCLUDED.leader_id OR l.expires_at <= EXCLUDED.elected_at
RETURNING leader_id;
