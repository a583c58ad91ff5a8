-- The worker's network address as the database server sees it (WorkerInfo
-- address); rows written before this migration read back as ''.
ALTER TABLE {{table_workers}} ADD COLUMN address text NOT NULL DEFAULT '';
