BEGIN;
DROP INDEX IF EXISTS archive_runs_open_checkout_idx;
ALTER TABLE archive_runs
    DROP COLUMN IF EXISTS key_mode,
    DROP COLUMN IF EXISTS rows_replaced,
    DROP COLUMN IF EXISTS checkout,
    DROP COLUMN IF EXISTS checkout_id;
COMMIT;
