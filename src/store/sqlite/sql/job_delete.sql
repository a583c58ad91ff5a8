-- Params: :id. Deletes a job that is not running.
DELETE FROM "{{table}}" WHERE id = :id AND state <> 'running';
