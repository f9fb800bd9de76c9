-- How many times a run was taken over from a worker that stopped renewing its lease:
-- a run that stops its workers again and again fails instead of stopping them forever.
ALTER TABLE ingestion_runs ADD COLUMN takeovers INTEGER NOT NULL DEFAULT 0;
