-- Leases of ingestion runs: workers claim, renew and end runs by comparing and
-- setting lease_seq (see ingestion/worker.py).
ALTER TABLE ingestion_runs ADD COLUMN lease_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ingestion_runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ingestion_runs ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE ingestion_runs ADD COLUMN documents_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ingestion_runs ADD COLUMN checkpoint_counts TEXT NOT NULL DEFAULT '{}';  -- JSON
ALTER TABLE ingestion_runs ADD COLUMN rerun_requested INTEGER NOT NULL DEFAULT 0;
