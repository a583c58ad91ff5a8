-- Params: :table. Returns: cid, name of the jobs table's queue and state
-- columns (where the pre-update hook reads them).
SELECT cid, name FROM pragma_table_info(:table)
WHERE name = 'queue' OR name = 'state';
