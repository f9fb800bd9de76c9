"""Indexed files as MCP resources: ``projectqa://PROJECT/PATH``, read through OpenFile.

The gRPC server confines every read to the project's checkout (``..``, absolute paths
and symlinks leaving it are refused there); the URI is also checked here so a path
escape is refused before any call, with a message naming the problem. Listing is
bounded: the top-level files of each project (from GetProjectMetadata's layout), with a
template for everything else.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    Resource,
    ResourceTemplate,
    TextResourceContents,
)

from projectqa.client.errors import ClientError
from projectqa.mcp.calls import ServerCalls
from projectqa.mcp.render import SCHEME, resource_uri

# The MCP specification's code for a resource that does not exist.
RESOURCE_NOT_FOUND = -32002
MAX_LISTED_PER_PROJECT = 100
MAX_LISTED_PROJECTS = 20

TEMPLATE = ResourceTemplate(
    name="project-file",
    uri_template=f"{SCHEME}://{{project}}/{{+path}}",
    description="A file of a ProjectQA project, at the commit last indexed "
    "(path relative to the repository root).",
    mime_type="text/plain",
)


def parse_uri(uri: str) -> tuple[str, str]:
    """(project, path) of a ``projectqa://PROJECT/PATH`` URI; INVALID_PARAMS otherwise."""
    parts = urlsplit(uri)
    if parts.scheme != SCHEME or not parts.netloc:
        raise MCPError(INVALID_PARAMS, f"uri: expected {SCHEME}://PROJECT/PATH, got {uri!r}")
    project, path = unquote(parts.netloc), unquote(parts.path)[1:]
    if parts.query or parts.fragment:
        raise MCPError(INVALID_PARAMS, "uri: a file URI takes no query or fragment")
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        raise MCPError(INVALID_PARAMS, f"uri: path must be relative to the project root: {path!r}")
    if ".." in path.split("/"):
        raise MCPError(INVALID_PARAMS, "uri: path must not leave the project ('..')")
    return project, path


async def read(calls: ServerCalls, uri: str) -> TextResourceContents:
    project, path = parse_uri(uri)
    try:
        response = await calls.open_file(project, path)
    except ClientError as error:
        if error.code_name == "NOT_FOUND":
            raise MCPError(RESOURCE_NOT_FOUND, f"not found: {uri}") from None
        raise MCPError(INVALID_PARAMS, f"cannot read {uri}: {error.details}") from None
    return TextResourceContents(uri=uri, mime_type="text/plain", text=response.content)


async def listed(calls: ServerCalls, projects: list[str]) -> list[Resource]:
    """The top-level files of each project, at most 100 each (the template covers the rest)."""
    resources: list[Resource] = []
    for project in projects[:MAX_LISTED_PROJECTS]:
        try:
            metadata = await calls.project_metadata(project)
        except ClientError:
            continue  # a project this token cannot read lists nothing
        files = [entry.name for entry in metadata.layout if not entry.is_dir]
        resources += [
            Resource(
                name=f"{project}/{name}",
                uri=resource_uri(project, name),
                mime_type="text/plain",
            )
            for name in sorted(set(files))[:MAX_LISTED_PER_PROJECT]
        ]
    return resources
