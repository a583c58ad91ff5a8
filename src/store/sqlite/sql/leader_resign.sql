-- Params: :name, :leader_id. No-op unless :leader_id holds it.
DELETE FROM "{{table}}_leaders" WHERE name = :name AND leader_id = :leader_id;
