-- The jobs table and the tables beside it. Times are bigint microseconds
-- since the Unix epoch (UTC): exact round trips of absl::Time, cheap to
-- compare and index. Read them with to_timestamp(col / 1e6).

CREATE TABLE {{table}} (
  id               bigint  PRIMARY KEY CHECK (id > 0),
  queue            text    NOT NULL CHECK (queue <> ''),
  name             text    NOT NULL CHECK (name <> ''),
  identifier       text    NOT NULL DEFAULT '',
  data             text    NOT NULL DEFAULT '',
  priority         integer NOT NULL DEFAULT 0,
  state            text    NOT NULL CHECK (state IN ('scheduled', 'available',
                     'running', 'retryable', 'completed', 'dead', 'cancelled')),
  attempt          integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
  max_attempts     integer NOT NULL CHECK (max_attempts >= 1),
  run_at           bigint  NOT NULL,
  created_at       bigint  NOT NULL,
  picked_at        bigint,
  finished_at      bigint,
  worker_id        text    NOT NULL DEFAULT '',
  lease_token      bigint  NOT NULL DEFAULT 0,
  lease_expires_at bigint,
  errors           jsonb   NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(errors) = 'array'),
  result           text,
  progress         integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
  timeout_us       bigint  NOT NULL DEFAULT 0 CHECK (timeout_us >= 0),
  backoff_base_us  bigint  NOT NULL DEFAULT 0 CHECK (backoff_base_us >= 0),
  cancel_requested boolean NOT NULL DEFAULT false,
  -- A running job holds a lease; only running jobs do.
  CONSTRAINT {{table_running_lease}} CHECK
    ((state = 'running') = (lease_expires_at IS NOT NULL)),
  -- Exactly the final states carry finished_at.
  CONSTRAINT {{table_final_finished}} CHECK
    ((state IN ('completed', 'dead', 'cancelled')) = (finished_at IS NOT NULL)),
  -- Only a running job can have a pending cancel request.
  CONSTRAINT {{table_cancel_running}} CHECK
    (NOT cancel_requested OR state = 'running')
);

-- At most one non-final job per non-empty identifier. JobInsertMany names
-- this exact predicate in ON CONFLICT.
CREATE UNIQUE INDEX {{table_identifier_uidx}} ON {{table}} (identifier)
  WHERE identifier <> '' AND state IN ('scheduled', 'available', 'running', 'retryable');

-- The claim walks this in claim order per queue (see job_claim.sql).
CREATE INDEX {{table_claim_idx}} ON {{table}} (queue, priority, run_at, id)
  WHERE state IN ('available', 'scheduled', 'retryable');

-- Promotion of due scheduled/retryable jobs.
CREATE INDEX {{table_due_idx}} ON {{table}} (queue, run_at)
  WHERE state IN ('scheduled', 'retryable');

-- The rescuer.
CREATE INDEX {{table_lease_idx}} ON {{table}} (lease_expires_at)
  WHERE state = 'running';

-- Listing by state (newest first) and the cleaner (oldest finished first:
-- ids are time-ordered). Every index costs each state change an entry, so
-- there is no separate (state, finished_at) index.
CREATE INDEX {{table_state_id_idx}} ON {{table}} (state, id);

-- Listing by name (newest first).
CREATE INDEX {{table_name_id_idx}} ON {{table}} (name, id);

-- Pause records: a queue listed here with paused = true is never claimed.
CREATE TABLE {{table_queues}} (
  name       text    PRIMARY KEY,
  paused     boolean NOT NULL,
  updated_at bigint  NOT NULL
);

-- One row per contested leadership; the holder renews expires_at.
CREATE TABLE {{table_leaders}} (
  name       text   PRIMARY KEY,
  leader_id  text   NOT NULL,
  elected_at bigint NOT NULL,
  expires_at bigint NOT NULL
);

CREATE TABLE {{table_workers}} (
  id                text    PRIMARY KEY,
  host              text    NOT NULL,
  pid               bigint  NOT NULL,
  queues            text[]  NOT NULL,
  started_at        bigint  NOT NULL,
  last_heartbeat_at bigint  NOT NULL,
  running           integer NOT NULL DEFAULT 0
);

-- One row per (schedule, fire instant) ever enqueued: the primary key makes
-- CronFireOnce insert at most once across processes.
CREATE TABLE {{table_cron_fires}} (
  schedule   text   NOT NULL,
  fire_time  bigint NOT NULL,
  job_id     bigint NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (schedule, fire_time)
);
