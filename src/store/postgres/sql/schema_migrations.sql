-- The applied migrations (numbered files in migrations/). Created under the
-- migration advisory lock.
CREATE TABLE IF NOT EXISTS {{table_migrations}} (
  version    integer     PRIMARY KEY,
  name       text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
