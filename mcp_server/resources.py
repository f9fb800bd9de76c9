"""Indexed files as MCP resources: ``projectqa://PROJECT/PATH``, read through OpenFile.

The gRPC server confines every read to the project's checkout (``..``, absolute paths
and symlinks leaving it are refused there); the URI is also checked here so a path
escape is refused before any call, with a message naming the problem. Listing is
paged: every indexed file of each project (ToolsService.ListFiles), at most
``PAGE_SIZE`` per ``resources/list`` page, the MCP cursor carrying ListFiles' page token.
"""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import unquote, urlsplit

from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    Resource,
    ResourceTemplate,
    TextResourceContents,
)

from projectqa.client import AsyncServerCalls as ServerCalls
from projectqa.client.errors import ClientError
from projectqa.mcp.errors import bound
from projectqa.mcp.render import SCHEME, resource_uri
from projectqa.v1 import tools_pb2

# The MCP specification's code for a resource that does not exist.
RESOURCE_NOT_FOUND = -32002
PAGE_SIZE = 200  # resources per resources/list page

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


# Statuses the caller can do something about; the rest are the server's (INTERNAL_ERROR).
CALLER_STATUSES = ("INVALID_ARGUMENT", "PERMISSION_DENIED", "UNAUTHENTICATED", "OUT_OF_RANGE")


async def read(calls: ServerCalls, uri: str, max_chars: int) -> TextResourceContents:
    """The file's text; a file the server cut, or one longer than ``max_chars``, ends with
    a note naming the lines returned and how to read the rest."""
    project, path = parse_uri(uri)
    try:
        response = await calls.open_file(project, path)
    except ClientError as error:
        if error.code_name == "NOT_FOUND":
            raise MCPError(RESOURCE_NOT_FOUND, f"not found: {uri}") from None
        code = INVALID_PARAMS if error.code_name in CALLER_STATUSES else INTERNAL_ERROR
        message = f"cannot read {uri}: {error.code_name}: {error.details}"
        raise MCPError(code, bound(message)) from None
    return TextResourceContents(uri=uri, mime_type="text/plain", text=_text(response, max_chars))


def _text(response: tools_pb2.OpenFileResponse, max_chars: int) -> str:
    text, start = response.content, response.start_line
    end, cut = response.end_line, response.truncated
    if len(text) > max_chars:
        newline = text.rfind("\n", 0, max_chars)
        text = text[: newline + 1] if newline >= 0 else text[:max_chars]  # whole lines
        end, cut = max(start, start + text.count("\n") - 1), True
    if not cut:
        return text
    return text + (
        f"\n[cut: lines {start}-{end} of {response.total_lines} returned; read on with the "
        f"open_file tool: path {response.path!r}, start_line {end + 1}]"
    )


async def listed(
    calls: ServerCalls, projects: list[str], cursor: str | None, page_size: int = PAGE_SIZE
) -> tuple[list[Resource], str | None]:
    """One page of the indexed files of ``projects`` (in that order, each by path) and the
    cursor of the next page (None after the last).

    The MCP cursor carries the project being listed and ListFiles' page token for it, so a
    page costs a ListFiles call per project it touches, whatever the projects' sizes.
    A project this token cannot read lists nothing.
    """
    if not projects:
        return [], None
    project, token = _decode(cursor, projects) if cursor else (projects[0], "")
    page: list[Resource] = []
    for position in range(projects.index(project), len(projects)):
        project = projects[position]
        token = await _fill(calls, project, token, page, page_size)
        if token:  # the page filled up inside this project
            return page, _encode(project, token)
        if len(page) >= page_size:  # ... exactly at its end
            later = projects[position + 1 : position + 2]
            return page, _encode(later[0], "") if later else None
    return page, None


async def _fill(
    calls: ServerCalls, project: str, token: str, page: list[Resource], page_size: int
) -> str:
    """Adds ``project``'s files from ``token`` on until ``page`` is full; the token where it
    stopped ("" when the project is done)."""
    while len(page) < page_size:
        try:
            response = await calls.list_files_page(
                project, page_size=page_size - len(page), page_token=token
            )
        except ClientError as error:
            if error.code_name in ("NOT_FOUND", "PERMISSION_DENIED"):
                return ""  # a project this token cannot read (or no longer) lists nothing
            if error.code_name == "INVALID_ARGUMENT":  # a page token edited in the cursor
                raise MCPError(INVALID_PARAMS, f"cursor: {error.details}") from None
            message = f"cannot list the files of {project!r}: {error.code_name}: {error.details}"
            raise MCPError(INTERNAL_ERROR, message) from None
        for file in response.files:
            resource = _resource(project, file)
            # A path in two connectors is one URI (read picks the first checkout that has it).
            if not page or page[-1].uri != resource.uri:
                page.append(resource)
        token = response.next_page_token
        if not token:
            return ""
    return token


def _resource(project: str, file: tools_pb2.IndexedFile) -> Resource:
    return Resource(
        name=f"{project}/{file.path}",
        uri=resource_uri(project, file.path),
        mime_type="text/plain",
        size=file.size_bytes or None,
    )


def _encode(project: str, token: str) -> str:
    raw = json.dumps({"p": project, "t": token}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode(cursor: str, projects: list[str]) -> tuple[str, str]:
    """(project, page token) of a cursor this server made for one of ``projects``."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        project, token = data["p"], data["t"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise MCPError(INVALID_PARAMS, "cursor: malformed; pass a nextCursor unchanged") from None
    if not isinstance(project, str) or not isinstance(token, str) or project not in projects:
        raise MCPError(INVALID_PARAMS, "cursor: not a cursor of this listing; start again")
    return project, token
