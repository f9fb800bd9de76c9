-- How a run chunked files (ingestion/prepare.py CHUNK_FORMAT): runs stored before were
-- format 1; an incremental run after a run of an older format reads everything again.
ALTER TABLE ingestion_runs ADD COLUMN chunk_format INTEGER NOT NULL DEFAULT 1;
