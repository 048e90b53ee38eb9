BEGIN;

-- One row per thing the archiver did to one piece of data: an archive object
-- written (kind 'archive'), a raw purge (kind 'purge'), a restore of one day
-- (kind 'restore'), an orphan object adopted by verify (kind 'adopt').
-- Failed attempts are rows too, so one query answers "what happened, where,
-- with what checksum, and why did it fail".
CREATE TABLE archive_runs (
    id              bigserial   PRIMARY KEY,
    run_id          uuid        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('archive', 'purge', 'restore', 'adopt')),
    status          text        NOT NULL CHECK (status IN ('committed', 'failed', 'skipped')),
    day             date,
    source_table    text,
    object_key      text,
    location        text,        -- bucket URL with credentials removed
    public_url      text,
    readings        bigint,      -- readings in the archive object
    sensors         integer,
    rows_deleted    bigint,      -- rows removed from the database by this run
    rows_inserted   bigint,      -- restore: readings inserted
    rows_present    bigint,      -- restore: readings already in the table
    bytes           bigint,
    sha256          text,
    min_time        timestamptz,
    max_time        timestamptz,
    format_version  integer,
    error           text,
    host            text,
    os_user         text,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX archive_runs_day_idx ON archive_runs (kind, day, finished_at DESC);
CREATE INDEX archive_runs_run_idx ON archive_runs (run_id);

COMMENT ON TABLE archive_runs IS 'Manifest of every archive object, raw purge and restore performed by archiver';

COMMIT;
