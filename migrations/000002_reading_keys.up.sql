BEGIN;

-- Reading identity and checkouts (see README "Keys and corrections").
--   key_mode: what an archive was merged by: 'sensor_time' when the clean
--     table has a primary key or unique constraint on exactly its sensor and
--     time columns (the table's reading replaces the archived one with its
--     key), 'none' when a reading is identified by all its fields.
--   rows_replaced: archive: archived readings replaced by the table's newer
--     reading with their key; restore: table readings overwritten
--     (--on-conflict replace).
--   checkout: on a restore row, 'open' while the day is checked out
--     (restore --checkout), then 'checked-in' or 'abandoned'; 'checkin' on
--     the archive row a checkin wrote. checkout_id: on that archive row, the
--     restore row it checked in.
ALTER TABLE archive_runs
    ADD COLUMN IF NOT EXISTS key_mode      text CHECK (key_mode IN ('none', 'sensor_time')),
    ADD COLUMN IF NOT EXISTS rows_replaced bigint,
    ADD COLUMN IF NOT EXISTS checkout      text CHECK (checkout IN ('open', 'checked-in', 'abandoned', 'checkin')),
    ADD COLUMN IF NOT EXISTS checkout_id   bigint;

-- A day is checked out at most once at a time per storage location.
CREATE UNIQUE INDEX IF NOT EXISTS archive_runs_open_checkout_idx ON archive_runs (location, object_key) WHERE checkout = 'open';

COMMIT;
