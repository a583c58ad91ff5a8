-- Params: :id. Returns: state, identifier.
SELECT state, identifier FROM "{{table}}" WHERE id = :id;
