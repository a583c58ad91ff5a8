-- Params: :state (final), :before, :id_limit (the first id issued after
-- :before), :limit. Count via changes(). Walks the (state, id) index from
-- the oldest id: a job created after :before cannot have finished before it,
-- so the walk stops at :id_limit rather than scanning every recent job.
DELETE FROM "{{table}}"
WHERE id IN (SELECT id FROM "{{table}}" INDEXED BY "{{table}}_state_id_idx"
             WHERE state = :state AND id < :id_limit
               AND finished_at IS NOT NULL AND finished_at < :before
             ORDER BY id
             LIMIT :limit);
