-- A running attempt its worker asked to stop (Job::stopping), written with
-- the heartbeats: why, since when, and whether its handler is past the hard
-- limit. NULL reason = not asked; cleared by the next claim.
ALTER TABLE {{table}} ADD COLUMN stop_reason text;
ALTER TABLE {{table}} ADD COLUMN stopping_since bigint;
ALTER TABLE {{table}} ADD COLUMN stop_overdue boolean NOT NULL DEFAULT false;
