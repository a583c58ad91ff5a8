-- Params: :identifier, :name ('' = all), :queue ('' = all),
-- :states (JSON array, '[]' = all), :before_id, :limit.
SELECT {{job_columns}} FROM "{{table}}"
WHERE identifier = :identifier
  AND identifier <> ''  -- lets SQLite use the partial index
  AND (:name = '' OR name = :name)
  AND (:queue = '' OR queue = :queue)
  AND (:states = '[]' OR state IN (SELECT value FROM json_each(:states)))
  AND id < :before_id
ORDER BY id DESC
LIMIT :limit;
