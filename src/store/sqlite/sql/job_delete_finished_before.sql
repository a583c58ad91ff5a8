-- Params: :state (final), :before, :limit. Count via changes().
DELETE FROM "{{table}}"
WHERE id IN (SELECT id FROM "{{table}}"
             WHERE state = :state AND finished_at IS NOT NULL
               AND finished_at < :before
             LIMIT :limit);
