BEGIN;

-- location holds the canonical identity of the storage location (see
-- README "The manifest"): scheme, normalised bucket or path, the endpoint
-- where it changes where objects live, the Vercel store or Azure account.
-- Rows written before it hold the bucket URL as it was configured; they are
-- marked here, and the archiver rewrites each one to its identity when it
-- first opens that location (only it can: the identity of a Vercel or
-- Azure URL comes from the credentials in the environment).
ALTER TABLE archive_runs
    ADD COLUMN IF NOT EXISTS location_canonical boolean NOT NULL DEFAULT false;

CREATE INDEX IF NOT EXISTS archive_runs_location_idx ON archive_runs (location, object_key);

COMMIT;
