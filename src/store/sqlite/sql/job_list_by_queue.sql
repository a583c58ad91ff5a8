-- Params: :queue, :states (JSON array, '[]' = all), :before_id, :limit.
SELECT {{job_columns}} FROM "{{table}}"
WHERE queue = :queue
  AND (:states = '[]' OR state IN (SELECT value FROM json_each(:states)))
  AND id < :before_id
ORDER BY id DESC
LIMIT :limit;
