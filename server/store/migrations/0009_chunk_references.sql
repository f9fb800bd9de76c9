-- Chunk references: what a chunk imports and calls ("import:pkg.mod", "call:request"),
-- found at ingestion, as a JSON array of strings ('' when none); the index's file graph
-- is built from them. Chunks written before read as none: their files get references
-- when they are chunked again (ingestion/prepare.py CHUNK_FORMAT makes a full run
-- re-chunk every file once; their vectors stay in the embedding cache).
ALTER TABLE chunks ADD COLUMN "references" TEXT NOT NULL DEFAULT '';
