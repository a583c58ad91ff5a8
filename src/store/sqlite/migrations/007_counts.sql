-- Migration 007: the job counts by (queue, state), kept so that counts,
-- the queue list and /metrics never scan the jobs table. No trigger and no
-- statement writes them row by row: the writer connection gathers the net
-- change of each transaction from SQLite's pre-update hook and adds it here
-- in one upsert per changed (queue, state) just before COMMIT
-- (sqlite_db.h, TrackCounts). Rows may hold 0 (readers skip them).
CREATE TABLE "{{table}}_counts" (
  queue TEXT    NOT NULL,
  state TEXT    NOT NULL,
  n     INTEGER NOT NULL,
  PRIMARY KEY (queue, state)
) WITHOUT ROWID;

-- The jobs that exist already.
INSERT INTO "{{table}}_counts" (queue, state, n)
SELECT queue, state, COUNT(*) FROM "{{table}}" GROUP BY queue, state;
