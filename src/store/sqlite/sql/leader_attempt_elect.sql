-- Params: :name, :leader_id, :now, :expires_at. Takes the leadership when it
-- is free or expired, extends it when :leader_id holds it.
-- Returns: a row when :leader_id now holds it.
INSERT INTO "{{table}}_leaders" (name, leader_id, elected_at, expires_at)
VALUES (:name, :leader_id, :now, :expires_at)
ON CONFLICT (name) DO UPDATE SET
  elected_at = CASE WHEN leader_id = excluded.leader_id THEN elected_at
                    ELSE excluded.elected_at END,
  leader_id = excluded.leader_id,
  expires_at = excluded.expires_at
WHERE leader_id = excluded.leader_id OR expires_at <= :now
RETURNING leader_id;
