-- Params: :id.
DELETE FROM "{{table}}_workers" WHERE id = :id;
