-- Schema of the original measurement service that the archiver reads from.
-- Single source for tests (embedded by internal/pgtest) and scripts
-- (psql -f internal/pgtest/schema.sql). Idempotent so it can be re-applied.
CREATE SCHEMA IF NOT EXISTS shizuku;

CREATE TABLE IF NOT EXISTS shizuku.raw_measurements (
    id        bigserial PRIMARY KEY,
    sensor_id text NOT NULL,
    ts        timestamptz NOT NULL,
    value_mm  double precision,
    payload   jsonb
);
CREATE INDEX IF NOT EXISTS raw_measurements_ts_idx ON shizuku.raw_measurements (ts);

CREATE TABLE IF NOT EXISTS shizuku.clean_measurements (
    id                bigserial PRIMARY KEY,
    sensor_id         text NOT NULL,
    ts                timestamptz NOT NULL,
    value_mm          double precision,
    qc_flags          integer,
    imputation_method text
);
CREATE INDEX IF NOT EXISTS clean_measurements_ts_idx ON shizuku.clean_measurements (ts);
