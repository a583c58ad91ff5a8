-- Params: :states (JSON array, '[]' = all), :before_id, :limit.
-- Walks the primary key newest first.
SELECT {{job_columns}} FROM "{{table}}"
WHERE (:states = '[]' OR state IN (SELECT value FROM json_each(:states)))
  AND id < :before_id
ORDER BY id DESC
LIMIT :limit;
