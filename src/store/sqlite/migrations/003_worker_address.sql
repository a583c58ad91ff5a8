-- Migration 003: the worker's network address as seen from its registry's
-- server (WorkerInfo address; the host name for SQLite, which has no
-- server). Rows written before read back as ''.
ALTER TABLE "{{table}}_workers" ADD COLUMN address TEXT NOT NULL DEFAULT '';
