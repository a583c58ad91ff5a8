-- Migration 004: a running attempt its worker asked to stop (Job::stopping),
-- written with the heartbeats: why, since when, and whether its handler is
-- past the hard limit. NULL reason = not asked; cleared by the next claim.
ALTER TABLE "{{table}}" ADD COLUMN stop_reason TEXT;
ALTER TABLE "{{table}}" ADD COLUMN stopping_since INTEGER;
ALTER TABLE "{{table}}" ADD COLUMN stop_overdue INTEGER NOT NULL DEFAULT 0
  CHECK (stop_overdue IN (0, 1));
