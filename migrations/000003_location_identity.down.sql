BEGIN;
DROP INDEX IF EXISTS archive_runs_location_idx;
ALTER TABLE archive_runs DROP COLUMN IF EXISTS location_canonical;
COMMIT;
