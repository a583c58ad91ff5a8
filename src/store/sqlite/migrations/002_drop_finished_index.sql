-- Migration 002: retention walks the (state, id) index instead of its own.
-- Ids are time-ordered (src/common/ids.h) and a job finishes after it was
-- created, so the jobs finished before a cutoff are among those whose id
-- was issued before it: job_delete_finished_before.sql bounds its walk of
-- (state, id) by that id. One index less to update on every completion
-- (burn-down about +10% in bench/; docs/store-contract.md, SQLite specifics).
DROP INDEX IF EXISTS "{{table}}_finished_idx";
