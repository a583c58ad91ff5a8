-- Params: :id. Returns: the job's stored dependant edges.
SELECT dependants FROM "{{table}}" WHERE id = :id;
