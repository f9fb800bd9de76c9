"""``projectqa-lsp``: the language server that brings ProjectQA into editors.

Every handler is a coroutine on one event loop, so a slow ask never blocks a hover,
and ``$/cancelRequest`` cancels the handler's task, which cancels its gRPC call.
The protocol is in docs/EDITORS.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.uris import to_fs_path

from projectqa.lsp import ask, file_search, hover, symbols
from projectqa.lsp.connection import Connection, Ready
from projectqa.lsp.documents import check_position, opened, word_at
from projectqa.lsp.editors import setting_names
from projectqa.lsp.errors import RequestFailed, invalid
from projectqa.lsp.settings import SettingsError, from_editor, from_environment, merge

log = logging.getLogger(__name__)

NAME = "projectqa-lsp"
VERSION = "0.1.0"
PARENT_CHECK_S = 3.0

Command = Callable[["ProjectQALanguageServer", "CommandCall"], Awaitable[Any]]


class CommandCall:
    """One ``workspace/executeCommand``: its raw arguments and work-done token."""

    def __init__(self, params: types.ExecuteCommandParams) -> None:
        self.arguments = params.arguments
        self.work_done_token = params.work_done_token


class BridgeProtocol(LanguageServerProtocol):
    """pygls' protocol, with commands run as real tasks.

    pygls runs a command inside its own generator-based handler, whose ``$/cancelRequest``
    answers the editor but leaves the command running. Here the command's coroutine is
    the request's task, so a cancel reaches it (and its gRPC call), and the handler sees
    the request's ``workDoneToken``.
    """

    def _handle_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        # An editor's late answer to a request the bridge gave up on (cancelled, timed out,
        # shut down) would fail pygls' future and pop up "Error in server": drop it.
        future = self._request_futures.get(msg_id)
        if future is not None and future.done():
            self._request_futures.pop(msg_id, None)
            return
        super()._handle_response(msg_id, result, error)

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    # pygls runs a generator handler or a coroutine one; this must be a coroutine (above).
    async def lsp_workspace__execute_command(  # type: ignore[override]
        self, params: types.ExecuteCommandParams
    ) -> Any:
        command = self.fm.commands.get(params.command)
        if command is None:
            known = ", ".join(sorted(self.fm.commands))
            raise invalid("command", f"unknown command {params.command!r}; commands: {known}")
        return await command(CommandCall(params))


class ProjectQALanguageServer(LanguageServer):
    """The bridge's state: the gRPC connection, settings sources and the hover cache."""

    def __init__(
        self, cli_settings: dict[str, Any] | None = None, *, token_file: bool = True
    ) -> None:
        # Full document sync: pygls applies incremental edits on lines split by
        # str.splitlines, which disagrees with LSP's lines in files with form feeds.
        super().__init__(
            NAME,
            VERSION,
            protocol_cls=BridgeProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Full,
        )
        self.connection = Connection(self.show, token_file=token_file)
        self.cli_settings = cli_settings or {}
        self.init_settings: dict[str, Any] = {}
        self.hover_cache = hover.HoverCache()
        self.watchdog: asyncio.Task[None] | None = None

    def show(self, is_error: bool, message: str) -> None:
        """``window/showMessage``: editors show it without a source, so it names ProjectQA."""
        kind = types.MessageType.Error if is_error else types.MessageType.Info
        params = types.ShowMessageParams(type=kind, message=f"ProjectQA: {message}")
        self.window_show_message(params)

    def workspace_root(self) -> Path | None:
        folders = list(self.workspace.folders.values())
        uri = folders[0].uri if folders else self.workspace.root_uri
        path = to_fs_path(uri) if uri else None
        return Path(path) if path else None

    async def editor_settings(self) -> dict[str, Any]:
        """The client's ``projectqa`` settings section, if it has one."""
        capabilities = self.client_capabilities.workspace
        if not (capabilities and capabilities.configuration):
            return {}
        params = types.ConfigurationParams(items=[types.ConfigurationItem(section="projectqa")])
        try:
            values = await asyncio.wait_for(self.workspace_configuration_async(params), 5)
        except Exception:  # an editor that answers badly, or not in time, has no settings
            return {}
        try:
            return from_editor(values[0] if values else None, "settings.projectqa")
        except SettingsError as error:
            self.show(True, str(error))
            return {}

    async def reconfigure(self) -> None:
        editor = await self.editor_settings()
        settings = merge(self.init_settings, editor, self.cli_settings, from_environment())
        self.hover_cache.clear()
        await self.connection.configure(settings, self.workspace_root())


COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    """Registers a ``workspace/executeCommand`` command of the bridge."""

    def register(function: Command) -> Command:
        COMMANDS[name] = function
        return function

    return register


# ------------------------------------------------------------------ lifecycle


def register_features(ls: ProjectQALanguageServer) -> None:
    """Every LSP feature of the bridge, on ``ls``."""
    for name, function in COMMANDS.items():
        ls.command(name)(function)  # advertised in executeCommandProvider; run by BridgeProtocol

    @ls.feature(types.INITIALIZE)
    def initialize(ls: ProjectQALanguageServer, params: types.InitializeParams) -> None:
        client = params.client_info.name if params.client_info else None
        ls.connection.names = setting_names(client)
        try:
            ls.init_settings = from_editor(params.initialization_options, "initializationOptions")
        except SettingsError as error:
            raise invalid("initializationOptions", str(error)) from None

    @ls.feature(types.INITIALIZED)
    async def initialized(ls: ProjectQALanguageServer, params: types.InitializedParams) -> None:
        if ls.process_id:
            ls.watchdog = asyncio.create_task(_watch_parent(ls, ls.process_id))
        await ls.reconfigure()

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def configuration_changed(
        ls: ProjectQALanguageServer, params: types.DidChangeConfigurationParams
    ) -> None:
        await ls.reconfigure()

    @ls.feature(types.SHUTDOWN)
    async def shutdown(ls: ProjectQALanguageServer, params: None) -> None:
        if ls.watchdog is not None:
            ls.watchdog.cancel()
        await ls.connection.close()

    @ls.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(
        ls: ProjectQALanguageServer, params: types.HoverParams
    ) -> types.Hover | None:
        document = opened(ls.workspace, params.text_document.uri)
        check_position(document, params.position, "position")
        word = word_at(document, params.position)
        if not word:
            return None

        async def lookup(ready: Ready) -> str | None:
            key = (ready.project.id, word)
            cached, text = ls.hover_cache.get(key)
            if not cached:
                text = await hover.hover_text(ready, word)
                ls.hover_cache.put(key, text)
            return text

        try:
            text = await ls.connection.call(lookup)
        except RequestFailed as error:
            # Editors pop up every failed hover; the outage was reported once already.
            log.info("no hover for %r: %s", word, error.message)
            return None
        if text is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))

    @ls.feature(types.WORKSPACE_SYMBOL)
    async def on_workspace_symbol(
        ls: ProjectQALanguageServer, params: types.WorkspaceSymbolParams
    ) -> list[types.WorkspaceSymbol]:
        if not params.query.strip():
            return []
        try:
            return await ls.connection.call(lambda r: symbols.workspace_symbols(r, params.query))
        except RequestFailed as error:  # as for hover: reported once, not per keystroke
            log.info("no symbols for %r: %s", params.query, error.message)
            return []

    @ls.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    async def on_code_lens(
        ls: ProjectQALanguageServer, params: types.CodeLensParams
    ) -> list[types.CodeLens]:
        if not ls.connection.settings.code_lens:
            return []
        document = opened(ls.workspace, params.text_document.uri)
        # Parsing a long file takes a while: off the loop, so streams and hovers go on.
        return await asyncio.to_thread(symbols.code_lenses, document)


async def _watch_parent(ls: ProjectQALanguageServer, pid: int) -> None:
    """Exits when the editor that started the bridge is gone (it may never close stdin)."""
    while True:
        await asyncio.sleep(PARENT_CHECK_S)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # alive, someone else's
            continue


# ------------------------------------------------------------------ commands


@command("projectqa.ask")
async def ask_command(ls: ProjectQALanguageServer, call: CommandCall) -> dict[str, Any]:
    return await _ask(ls, call, explain=False)


@command("projectqa.explainSelection")
async def explain_command(ls: ProjectQALanguageServer, call: CommandCall) -> dict[str, Any]:
    return await _ask(ls, call, explain=True)


@command("projectqa.searchFiles")
async def search_files_command(ls: ProjectQALanguageServer, call: CommandCall) -> dict[str, Any]:
    arguments = file_search.parse_arguments(call.arguments)

    async def search(ready: Ready) -> dict[str, Any]:
        async with _progress(ls, call.work_done_token, f"Searching {ready.project.slug}…"):
            return await file_search.search_files(ready, arguments)

    return await ls.connection.call(search)


@command("projectqa.status")
async def status_command(ls: ProjectQALanguageServer, call: CommandCall) -> dict[str, Any]:
    await ls.connection.settled()  # the outcome of a connection attempt under way
    status = ls.connection.status()
    ready = ls.connection.ready
    if ready is not None:  # where the project's indexing stands, when the server says
        status["index"] = ask.index_status_json(await ask.read_index_status(ready))
    return status


async def _ask(ls: ProjectQALanguageServer, call: CommandCall, *, explain: bool) -> dict[str, Any]:
    arguments = ask.parse_arguments(ls.workspace, call.arguments, explain=explain)
    extractive = (
        ls.connection.settings.extractive if arguments.extractive is None else arguments.extractive
    )

    async def answer(ready: Ready) -> ask.AskOutcome:
        title = f"Searching {ready.project.slug}…"
        async with _progress(ls, call.work_done_token, title) as report:
            outcome = await ask.run_ask(ready, arguments, extractive, report, _chunk_sender(ls))
            report.end(f"Answered with {len(outcome.citations)} sources")
        return outcome

    return (await ls.connection.call(answer)).result()


def _chunk_sender(ls: ProjectQALanguageServer) -> Callable[[str, str], None]:
    def send(ask_id: str, text: str) -> None:
        ls.protocol.notify(ask.ANSWER_CHUNK, {"askId": ask_id, "text": text})

    return send


class _Progress:
    """Work-done progress of one request; silent when the editor has none."""

    def __init__(self, ls: ProjectQALanguageServer, token: types.ProgressToken | None) -> None:
        self._ls, self._token = ls, token
        self._ended = False

    def __call__(self, message: str) -> None:
        if self._token is not None:
            self._ls.work_done_progress.report(
                self._token, types.WorkDoneProgressReport(message=message)
            )

    def end(self, message: str) -> None:
        if self._token is not None and not self._ended:
            self._ended = True
            self._ls.work_done_progress.end(self._token, types.WorkDoneProgressEnd(message=message))
            self._ls.work_done_progress.tokens.pop(self._token, None)


@contextlib.asynccontextmanager
async def _progress(
    ls: ProjectQALanguageServer, token: types.ProgressToken | None, title: str
) -> AsyncIterator[_Progress]:
    """Begins progress on ``token`` (or one the bridge creates) and always ends it.

    A ``window/workDoneProgress/cancel`` from the editor cancels the request.
    """
    if token is None and _client_has_progress(ls):
        token = f"projectqa-{os.urandom(6).hex()}"
        try:
            # pygls annotates the editor's (empty) answer as a Future: nothing to use.
            _ = await asyncio.wait_for(ls.work_done_progress.create_async(token), 5)
        except Exception:  # the editor refused or never answered: no progress then
            token = None
    progress = _Progress(ls, token)
    if token is not None:
        ls.work_done_progress.begin(
            token, types.WorkDoneProgressBegin("ProjectQA", message=title, cancellable=True)
        )
        task = asyncio.current_task()
        cancelled = ls.work_done_progress.tokens.get(token)
        if cancelled is not None and task is not None:
            cancelled.add_done_callback(lambda f: f.cancelled() and task.cancel())
    try:
        yield progress
    except asyncio.CancelledError:
        progress.end("Cancelled")
        raise
    except Exception as error:
        progress.end(str(error) or type(error).__name__)
        raise
    finally:
        progress.end("Done")


def _client_has_progress(ls: ProjectQALanguageServer) -> bool:
    window = ls.client_capabilities.window
    return bool(window and window.work_done_progress)


# ------------------------------------------------------------------ entry point


def build(
    cli_settings: dict[str, Any] | None = None, *, token_file: bool = True
) -> ProjectQALanguageServer:
    """A bridge with every feature registered, not yet started."""
    ls = ProjectQALanguageServer(cli_settings, token_file=token_file)
    register_features(ls)
    return ls
