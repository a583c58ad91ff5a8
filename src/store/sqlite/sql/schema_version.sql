-- Returns: the highest applied migration version (0 when none).
SELECT COALESCE(MAX(version), 0) FROM "{{table}}_schema_migrations";
