-- ToolsService.ListFiles pages through a project's files by (path, connector id),
-- also below a folder (a range of paths): one index range scan per page.
CREATE INDEX documents_files_by_path ON documents (project_id, kind, path, connector_id);
