-- Durable background jobs, and the record that makes each cron firing happen once.
-- Timestamps are Unix milliseconds (UTC). A retry is a queued job with a later run_after.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 3),
    owner_id         INTEGER REFERENCES users(id) ON DELETE SET NULL,
    state            TEXT    NOT NULL
                     CHECK (state IN ('queued', 'running', 'succeeded', 'dead', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    run_after        BIGINT  NOT NULL,
    idempotency_key  TEXT,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    progress_percent INTEGER,
    progress_done    BIGINT,
    progress_total   BIGINT,
    progress_message TEXT,
    last_error       TEXT,
    result           TEXT,
    created_at       BIGINT  NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT,
    updated_at       BIGINT  NOT NULL
);
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs(idempotency_key);
-- Claiming: the next queued job of a kind, highest priority first, then oldest.
CREATE INDEX jobs_claim ON jobs(state, kind, priority DESC, run_after, id);
CREATE INDEX jobs_owner ON jobs(owner_id);

-- One row per schedule and fire time; the instance whose insert succeeds enqueues the job.
CREATE TABLE cron_runs (
    name    TEXT   NOT NULL,
    fire_at BIGINT NOT NULL,
    PRIMARY KEY (name, fire_at)
);
