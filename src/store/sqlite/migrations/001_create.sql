-- Migration 001: the jobs table and its companions.
-- {{table}} is the validated collection name (an identifier, always quoted
-- here); every value elsewhere is a bound parameter. Times are integer
-- microseconds since the Unix epoch.

CREATE TABLE "{{table}}" (
  id               INTEGER PRIMARY KEY,
  queue            TEXT    NOT NULL CHECK (queue <> ''),
  name             TEXT    NOT NULL,
  identifier       TEXT    NOT NULL DEFAULT '',
  data             TEXT    NOT NULL DEFAULT '',
  priority         INTEGER NOT NULL DEFAULT 0
                   CHECK (priority BETWEEN -2147483648 AND 2147483647),
  -- Written as OR chains, not IN lists: SQLite builds a temporary b-tree
  -- for an IN list of more than two constants on every statement run, which
  -- would dominate the cost of a one-row INSERT or UPDATE.
  state            TEXT    NOT NULL
                   CHECK (state = 'scheduled' OR state = 'available' OR
                          state = 'running' OR state = 'retryable' OR
                          state = 'completed' OR state = 'dead' OR
                          state = 'cancelled'),
  attempt          INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
  max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
  run_at           INTEGER NOT NULL,
  created_at       INTEGER NOT NULL,
  picked_at        INTEGER,
  finished_at      INTEGER,
  worker_id        TEXT    NOT NULL DEFAULT '',
  lease_token      INTEGER NOT NULL DEFAULT 0,
  lease_expires_at INTEGER,
  errors           TEXT    NOT NULL DEFAULT '[]',
  result           TEXT,
  progress         INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
  timeout_us       INTEGER NOT NULL DEFAULT 0 CHECK (timeout_us >= 0),
  backoff_base_us  INTEGER NOT NULL DEFAULT 0 CHECK (backoff_base_us >= 0),
  cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
  -- A running job always holds a lease. finished_at is set exactly when the
  -- job is final (completed, dead, cancelled): "finished_at IS NULL" means
  -- "non-final" in the identifier index and queries below.
  CHECK (state <> 'running' OR lease_expires_at IS NOT NULL),
  CHECK ((finished_at IS NOT NULL) =
         (state = 'completed' OR state = 'dead' OR state = 'cancelled'))
);

-- At most one non-final job per non-empty identifier.
CREATE UNIQUE INDEX "{{table}}_identifier_live_uq" ON "{{table}}" (identifier)
  WHERE identifier <> '' AND finished_at IS NULL;

-- Claim: due jobs of one queue in claim order.
CREATE INDEX "{{table}}_claim_idx" ON "{{table}}" (queue, priority, run_at, id)
  WHERE state = 'available';

-- Promotion of scheduled/retryable jobs whose run_at has come.
CREATE INDEX "{{table}}_promote_idx" ON "{{table}}" (queue, run_at)
  WHERE state IN ('scheduled', 'retryable');

-- Rescue of expired leases walks (state, id) below: running jobs are few
-- (bounded by worker concurrency), so no index on lease_expires_at.

-- Listing, newest first (keyset on id).
CREATE INDEX "{{table}}_state_id_idx" ON "{{table}}" (state, id);
CREATE INDEX "{{table}}_queue_id_idx" ON "{{table}}" (queue, id);
CREATE INDEX "{{table}}_name_id_idx" ON "{{table}}" (name, id);
CREATE INDEX "{{table}}_identifier_id_idx" ON "{{table}}" (identifier, id)
  WHERE identifier <> '';

-- Retention cleanup of finished jobs (dropped by 002: retention walks
-- (state, id) instead).
CREATE INDEX "{{table}}_finished_idx" ON "{{table}}" (state, finished_at)
  WHERE finished_at IS NOT NULL;

-- Pause records: a queue is paused while its row exists.
CREATE TABLE "{{table}}_queues" (
  name      TEXT    PRIMARY KEY,
  paused_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Leadership leases (e.g. "maintenance").
CREATE TABLE "{{table}}_leaders" (
  name       TEXT    PRIMARY KEY,
  leader_id  TEXT    NOT NULL,
  elected_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The worker registry (used when no coordinator is configured).
CREATE TABLE "{{table}}_workers" (
  id                TEXT    PRIMARY KEY,
  host              TEXT    NOT NULL,
  pid               INTEGER NOT NULL,
  queues            TEXT    NOT NULL DEFAULT '[]',
  started_at        INTEGER NOT NULL,
  last_heartbeat_at INTEGER NOT NULL,
  running           INTEGER NOT NULL DEFAULT 0 CHECK (running >= 0)
) WITHOUT ROWID;
CREATE INDEX "{{table}}_workers_heartbeat_idx"
  ON "{{table}}_workers" (last_heartbeat_at);

-- One row per cron fire: the primary key makes each fire happen once.
CREATE TABLE "{{table}}_cron_fires" (
  schedule   TEXT    NOT NULL,
  fire_time  INTEGER NOT NULL,
  job_id     INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (schedule, fire_time)
) WITHOUT ROWID;
