-- Chats and their turns (ChatService). Same conventions as 0001: ISO-8601 UTC
-- text, JSON text for dicts and lists, no foreign keys (delete_project and
-- delete_chat remove the turns themselves).

CREATE TABLE chats (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    title           TEXT NOT NULL,
    llm_profile_id  TEXT NOT NULL,
    tool_policy     TEXT NOT NULL,  -- JSON
    memory_summary  TEXT NOT NULL,
    memory_through  INTEGER NOT NULL,
    turn_count      INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
-- A user's chats newest first, across projects or within one.
CREATE INDEX chats_by_user ON chats (user_id, id);
CREATE INDEX chats_by_user_project ON chats (user_id, project_id, id);
CREATE INDEX chats_by_project ON chats (project_id);

CREATE TABLE chat_turns (
    id            TEXT PRIMARY KEY,
    chat_id       TEXT NOT NULL,
    project_id    TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    status        TEXT NOT NULL,
    messages      TEXT NOT NULL,  -- JSON
    pending_calls TEXT NOT NULL,  -- JSON
    questions     TEXT NOT NULL,  -- JSON
    state         TEXT NOT NULL,  -- JSON
    error         TEXT NOT NULL,
    lease_until   TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    -- Two turns of a chat cannot start at once; also the listing order.
    UNIQUE (chat_id, seq)
);
CREATE INDEX chat_turns_by_project ON chat_turns (project_id);
