-- The schema version table: one row per applied migration.
CREATE TABLE IF NOT EXISTS "{{table}}_schema_migrations" (
  version    INTEGER PRIMARY KEY,
  applied_at INTEGER NOT NULL
);
