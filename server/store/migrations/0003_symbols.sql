-- Symbols: every definition found at ingestion (function, class, method, …)
-- with its exact lines, written and deleted with its document; and each
-- document's line count. Same conventions as 0001 and 0002.

ALTER TABLE documents ADD COLUMN line_count INTEGER NOT NULL DEFAULT 0;

CREATE TABLE symbols (
    id           TEXT PRIMARY KEY,  -- <document id>:<ordinal, zero-padded>
    project_id   TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    path         TEXT NOT NULL,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    start_line   INTEGER NOT NULL,
    end_line     INTEGER NOT NULL,
    language     TEXT NOT NULL
);
CREATE INDEX symbols_by_project ON symbols (project_id, id);
CREATE INDEX symbols_by_document ON symbols (document_id);
CREATE INDEX symbols_by_connector ON symbols (connector_id);

-- Documents ingested before this version have neither symbols nor a line
-- count: an empty content hash makes the next full run rewrite them (their
-- vectors are in the embedding cache, so nothing is embedded again).
UPDATE documents SET content_hash = '';
