-- Initial schema. Timestamps are ISO-8601 UTC text with milliseconds; dict
-- fields are JSON text. Scoped tables use '' for the global scope because SQL
-- UNIQUE treats NULLs as distinct. No foreign keys between records: MongoDB
-- has none either, and both backends must behave alike (the domain checks
-- that referenced records exist).

CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    global_admin INTEGER NOT NULL,
    created_at   TEXT NOT NULL
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT
);
CREATE INDEX tokens_by_user ON tokens (user_id, id);

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE memberships (
    project_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    role       TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (project_id, user_id)
) WITHOUT ROWID;
CREATE INDEX memberships_by_user ON memberships (user_id, project_id);

CREATE TABLE connectors (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    type       TEXT NOT NULL,
    name       TEXT NOT NULL,
    config     TEXT NOT NULL,
    secrets    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX connectors_by_project ON connectors (project_id, id);

CREATE TABLE llm_profiles (
    id                TEXT PRIMARY KEY,
    scope             TEXT NOT NULL,  -- project id, or '' for a global profile
    name              TEXT NOT NULL,
    provider          TEXT NOT NULL,
    base_url          TEXT NOT NULL,
    model             TEXT NOT NULL,
    api_key           TEXT NOT NULL,
    temperature       REAL NOT NULL,
    max_output_tokens INTEGER NOT NULL,
    timeout_seconds   INTEGER NOT NULL,
    is_default        INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (scope, name)
);
CREATE INDEX llm_profiles_by_scope ON llm_profiles (scope, id);
-- At most one default per scope, whatever the code above it does.
CREATE UNIQUE INDEX llm_profiles_one_default ON llm_profiles (scope) WHERE is_default;

CREATE TABLE flags (
    scope      TEXT NOT NULL,  -- project id, or '' for the global value
    key        TEXT NOT NULL,
    enabled    INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;

CREATE TABLE tool_settings (
    project_id TEXT NOT NULL,
    tool       TEXT NOT NULL,
    enabled    INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (project_id, tool)
) WITHOUT ROWID;
