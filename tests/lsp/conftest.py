"""The bridge as an editor runs it: ``projectqa-lsp`` over stdio, driven by pytest-lsp.

Each test module gets one real ProjectQA server with the ingested ``shop`` project
(tests/service/retrieval_fixtures.py); ``open_bridge`` starts a bridge subprocess
whose workspace is the ``shop`` checkout, initialises it and shuts it down after.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from lsprotocol import types
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.service.retrieval_fixtures import IndexedProject, indexed_project

BRIDGE = [sys.executable, "-m", "projectqa.lsp"]
ANSWER_CHUNK = "projectqa/answerChunk"


def bridge_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROJECTQA_")}
    env["PROJECTQA_DATA_DIR"] = "/nonexistent"  # no admin token file found by accident
    return {**env, **extra}


def admin_token(project: IndexedProject) -> str:
    return project.server.settings.admin_token_path.read_text(encoding="utf-8").strip()


def capabilities(*, configuration: bool = True) -> types.ClientCapabilities:
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=True),
        workspace=types.WorkspaceClientCapabilities(configuration=configuration),
    )


class Bridge:
    """A started, initialised bridge and what it sent the editor."""

    def __init__(self, client: LanguageClient, root: Path) -> None:
        self.client = client
        self.root = root
        self.chunks: list[dict[str, Any]] = []

        def on_chunk(params: Any) -> None:
            self.chunks.append({"askId": params.askId, "text": params.text})

        client.feature(ANSWER_CHUNK)(on_chunk)

    def uri(self, relative: str) -> str:
        return from_fs_path(str(self.root / relative))

    def open(self, relative: str) -> str:
        """Sends didOpen for a file of the workspace; returns its URI."""
        uri = self.uri(relative)
        text = (self.root / relative).read_text(encoding="utf-8")
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
            )
        )
        return uri

    async def command(self, name: str, *arguments: Any, token: str | None = None) -> Any:
        if token is not None:  # a client-initiated token, known to the client beforehand
            self.client.progress_reports.setdefault(token, [])
        params = types.ExecuteCommandParams(
            command=name, arguments=list(arguments), work_done_token=token
        )
        return await self.client.workspace_execute_command_async(params)

    async def status(self) -> dict[str, Any]:
        return await self.command("projectqa.status")

    async def wait_connected(self, timeout: float = 20.0) -> dict[str, Any]:
        """The status once the bridge is connected (it reconnects in the background)."""
        status: dict[str, Any] = {}
        try:
            async with asyncio.timeout(timeout):
                while not (status := await self.status())["connected"]:
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"the bridge never connected: {status}") from None
        return status

    def shown(self, kind: types.MessageType) -> list[str]:
        return [m.message for m in self.client.messages if m.type == kind]


@contextlib.asynccontextmanager
async def open_bridge(
    root: Path,
    *,
    options: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
    process_id: int | None = None,
    client_name: str | None = None,
) -> AsyncIterator[Bridge]:
    """A bridge over stdio on workspace ``root``; shut down (shutdown + exit) after.

    ``client_name`` is the editor's ``clientInfo.name`` (``Neovim``, ``Visual Studio Code``).
    """
    config = ClientServerConfig(server_command=BRIDGE, server_env=bridge_env(**(env or {})))
    client: LanguageClient = await config.start()  # type: ignore[assignment]
    if settings is not None:
        client.set_configuration(settings, section="projectqa")
    bridge = Bridge(client, root)
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities(),
                process_id=process_id,
                client_info=types.ClientInfo(name=client_name) if client_name else None,
                root_uri=from_fs_path(str(root)),
                workspace_folders=[
                    types.WorkspaceFolder(uri=from_fs_path(str(root)), name=root.name)
                ],
                initialization_options=options or {},
            )
        )
        yield bridge
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown_session(), 10)
        await client.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def qa(tmp_path_factory) -> AsyncIterator[IndexedProject]:
    async with indexed_project(tmp_path_factory) as indexed:
        yield indexed


def connection_options(qa: IndexedProject, **extra: Any) -> dict[str, Any]:
    return {"address": f"127.0.0.1:{qa.port}", "token": admin_token(qa), **extra}
