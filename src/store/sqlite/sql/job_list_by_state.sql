-- Params: :state (exactly one), :before_id, :limit.
SELECT {{job_columns}} FROM "{{table}}"
WHERE state = :state AND id < :before_id
ORDER BY id DESC
LIMIT :limit;
