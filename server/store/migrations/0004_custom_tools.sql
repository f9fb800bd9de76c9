-- Script tools a project admin defines (AdminService.CreateCustomTool).
-- `command` and `arguments_schema` are JSON text; `connector` is a connector id
-- or '' (the project's first connector with a checkout).

CREATE TABLE custom_tools (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL,
    name             TEXT NOT NULL,
    description      TEXT NOT NULL,
    command          TEXT NOT NULL,
    arguments_schema TEXT NOT NULL,
    timeout_seconds  INTEGER NOT NULL,
    max_output_bytes INTEGER NOT NULL,
    side_effects     INTEGER NOT NULL,
    connector        TEXT NOT NULL,
    enabled          INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    -- Also the listing order: by name within a project.
    UNIQUE (project_id, name)
);
