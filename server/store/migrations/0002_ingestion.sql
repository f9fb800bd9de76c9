-- Ingestion: runs, documents, chunks, the embedding cache, index generations
-- and webhook deliveries. Same conventions as 0001 (ISO-8601 UTC text, JSON
-- text for dicts and lists, no foreign keys).

CREATE TABLE ingestion_runs (
    id                  TEXT PRIMARY KEY,
    project_id          TEXT NOT NULL,
    connector_id        TEXT NOT NULL,
    mode                TEXT NOT NULL,
    "trigger"           TEXT NOT NULL,
    status              TEXT NOT NULL,
    phase               TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    started_at          TEXT,
    finished_at         TEXT,
    owner               TEXT NOT NULL,
    scan_id             TEXT NOT NULL,
    cursor              TEXT NOT NULL,  -- JSON
    revision            TEXT NOT NULL,
    documents_seen      INTEGER NOT NULL,
    documents_changed   INTEGER NOT NULL,
    documents_unchanged INTEGER NOT NULL,
    documents_deleted   INTEGER NOT NULL,
    documents_failed    INTEGER NOT NULL,
    chunks_written      INTEGER NOT NULL,
    chunks_embedded     INTEGER NOT NULL,
    chunks_cached       INTEGER NOT NULL,
    warnings            TEXT NOT NULL,  -- JSON
    warning_count       INTEGER NOT NULL,
    error               TEXT NOT NULL,
    cancel_requested    INTEGER NOT NULL,
    -- The connector id while the run is queued or running, NULL otherwise; set
    -- by the store, not part of the record. The unique index below makes "at
    -- most one active run per connector" atomic (NULLs are distinct).
    active_connector    TEXT
);
CREATE UNIQUE INDEX ingestion_runs_one_active ON ingestion_runs (active_connector);
CREATE INDEX ingestion_runs_by_project ON ingestion_runs (project_id, id);
CREATE INDEX ingestion_runs_by_connector ON ingestion_runs (connector_id, id);
CREATE INDEX ingestion_runs_by_status ON ingestion_runs (connector_id, status, id);

CREATE TABLE documents (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    key          TEXT NOT NULL,
    kind         TEXT NOT NULL,
    title        TEXT NOT NULL,
    path         TEXT NOT NULL,
    url          TEXT NOT NULL,
    version      TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    language     TEXT NOT NULL,
    metadata     TEXT NOT NULL,  -- JSON
    scan_id      TEXT NOT NULL,
    chunk_count  INTEGER NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (connector_id, key)
);
CREATE INDEX documents_by_project ON documents (project_id, id);

CREATE TABLE chunks (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    document_key TEXT NOT NULL,
    kind         TEXT NOT NULL,
    path         TEXT NOT NULL,
    url          TEXT NOT NULL,
    title        TEXT NOT NULL,
    ordinal      INTEGER NOT NULL,
    start_line   INTEGER NOT NULL,
    end_line     INTEGER NOT NULL,
    symbol       TEXT NOT NULL,
    symbol_kind  TEXT NOT NULL,
    language     TEXT NOT NULL,
    text         TEXT NOT NULL,
    embed_hash   TEXT NOT NULL
);
CREATE INDEX chunks_by_project ON chunks (project_id, id);
CREATE INDEX chunks_by_document ON chunks (document_id);
CREATE INDEX chunks_by_connector ON chunks (connector_id);

-- A rowid table, not WITHOUT ROWID: a vector (1.5 KB for 384 float32) is far
-- larger than the ~1 KB an index b-tree keeps in-page, so a WITHOUT ROWID row
-- would spill to an overflow page of its own (measured: twice the file size).
CREATE TABLE embeddings (
    model  TEXT NOT NULL,
    hash   TEXT NOT NULL,
    vector BLOB NOT NULL,  -- float32, little-endian
    PRIMARY KEY (model, hash)
);

CREATE TABLE index_generations (
    project_id TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
) WITHOUT ROWID;

-- Keyed per connector: a generic webhook's ids need only be unique per source.
CREATE TABLE webhook_deliveries (
    connector_id TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (connector_id, delivery_id)
) WITHOUT ROWID;
