-- Chunks are written before they are embedded (ingestion/pipeline.py): a run publishes how
-- many of the chunks it must embed are still waiting for their vectors.
ALTER TABLE ingestion_runs ADD COLUMN chunks_pending_embedding INTEGER NOT NULL DEFAULT 0;
