"""``projectqa.ask`` and ``projectqa.explainSelection``: one streamed question, end to end.

The arguments are checked first (InvalidParams naming the field), then the question,
with the selection as context, goes to ChatService.Ask. Answer text is relayed as
``projectqa/answerChunk`` notifications while it streams, progress as ``$/progress``,
and the request answers with the whole markdown answer and its citations as LSP
Locations. Cancelling the request cancels the gRPC stream. While the project's index
is incomplete (a run still embeds), the answer ends with a line saying so ("dense index
40 % … — results may improve") and the result carries the whole ``indexStatus``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace import Workspace

from projectqa.client import ClientError
from projectqa.client.index_status import status_line
from projectqa.lsp.connection import Ready
from projectqa.lsp.documents import check_range, opened, selected_text
from projectqa.lsp.errors import failed, invalid
from projectqa.lsp.markdown import code, escape
from projectqa.lsp.workspace import ProjectView
from projectqa.v1 import chat_pb2, common_pb2, retrieval_pb2

log = logging.getLogger(__name__)

ANSWER_CHUNK = "projectqa/answerChunk"
MAX_QUESTION_CHARS = 8_000
EXPLAIN = "Explain this code: what does it do, why is it here, and what calls it?"
STATUSES = {
    chat_pb2.TURN_STATUS_COMPLETE: "completed",
    chat_pb2.TURN_STATUS_CLARIFYING: "clarifying",
    chat_pb2.TURN_STATUS_INTERRUPTED: "interrupted",
    chat_pb2.TURN_STATUS_FAILED: "failed",
    chat_pb2.TURN_STATUS_PAUSED: "paused",
}


@dataclass(frozen=True, slots=True)
class Context:
    """The selection a question is about."""

    uri: str
    selection: types.Range
    text: str


@dataclass(frozen=True, slots=True)
class AskArguments:
    question: str
    ask_id: str
    extractive: bool | None
    context: Context | None


def one_object(arguments: Sequence[Any] | None) -> Mapping[str, Any]:
    if not arguments:
        raise invalid("arguments", 'one object is required, e.g. {"question": "…"}')
    if len(arguments) != 1 or not isinstance(arguments[0], Mapping):
        raise invalid("arguments", "must be a list holding exactly one object")
    return arguments[0]


def string_field(values: Mapping[str, Any], key: str, *, required: bool) -> str:
    value = values.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(f"arguments[0].{key}", "required, a non-empty string")
    return value.strip()


def _range(value: Any, field_name: str) -> types.Range:
    try:
        start, end = value["start"], value["end"]
        positions = [start["line"], start["character"], end["line"], end["character"]]
    except (TypeError, KeyError):
        raise invalid(field_name, "must be a Range {start: {line, character}, end: …}") from None
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in positions):
        raise invalid(field_name, "line and character must be integers")
    return types.Range(types.Position(*positions[:2]), types.Position(*positions[2:]))


def _context(workspace: Workspace, values: Mapping[str, Any], *, required: bool) -> Context | None:
    document, selection = values.get("textDocument"), values.get("range")
    if document is None and selection is None and not required:
        return None
    if not isinstance(document, Mapping) or not isinstance(document.get("uri"), str):
        raise invalid("arguments[0].textDocument", "must be {uri: string}")
    if selection is None:
        raise invalid("arguments[0].range", "required with textDocument")
    text_document = opened(workspace, document["uri"], "arguments[0].textDocument.uri")
    where = _range(selection, "arguments[0].range")
    check_range(text_document, where, "arguments[0].range")
    return Context(document["uri"], where, selected_text(text_document, where))


def parse_arguments(
    workspace: Workspace, arguments: Sequence[Any] | None, *, explain: bool
) -> AskArguments:
    """The checked arguments of an ask (``explain``: of ``projectqa.explainSelection``)."""
    values = one_object(arguments)
    question = string_field(values, "question", required=not explain) or EXPLAIN
    if len(question) > MAX_QUESTION_CHARS:
        raise invalid("arguments[0].question", f"longer than {MAX_QUESTION_CHARS} characters")
    ask_id = string_field(values, "askId", required=False) or uuid.uuid4().hex[:12]
    extractive = values.get("extractive")
    if extractive is not None and not isinstance(extractive, bool):
        raise invalid("arguments[0].extractive", "must be a boolean")
    return AskArguments(question, ask_id, extractive, _context(workspace, values, required=explain))


def _relative(uri: str, project: ProjectView) -> str:
    # As the project's citations name it (repository-relative), so the server can match it.
    return project.relative(Path(to_fs_path(uri) or uri))


def question_text(ask: AskArguments, project: ProjectView) -> str:
    """The question as sent to the server, with the selection quoted as context."""
    if ask.context is None or not ask.context.text.strip():
        return ask.question
    where = ask.context.selection
    lines = f"{where.start.line + 1}-{where.end.line + 1}"
    return (
        f"{ask.question}\n\nThe question is about lines {lines} of "
        f"`{_relative(ask.context.uri, project)}`:\n```\n{ask.context.text.rstrip()}\n```"
    )


def location(project: ProjectView, citation: common_pb2.Citation) -> types.Location | None:
    """Where a cited file's lines are in the editor's workspace, if the file is there."""
    if citation.kind != "file":
        return None
    path = project.file(citation.connector_id, citation.path)
    if path is None:
        return None
    start = max(citation.start_line - 1, 0)
    end = max(citation.end_line, citation.start_line)  # the line after the last, column 0
    return types.Location(
        uri=from_fs_path(str(path)) or path.as_uri(),
        range=types.Range(types.Position(start, 0), types.Position(end, 0)),
    )


@dataclass
class AskOutcome:
    """What the stream said, gathered as it arrives."""

    ask_id: str
    project: ProjectView
    chunks: list[str] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    status: str = "interrupted"
    error: str = ""
    index_status: retrieval_pb2.IndexStatus | None = None  # after the answer; None: unknown

    def add_citation(self, cited: chat_pb2.ChatCitation) -> None:
        where = location(self.project, cited.citation)
        self.citations.append(
            {
                "label": cited.citation.label,
                "kind": cited.citation.kind,
                "title": cited.citation.title,
                "marker": f"[{cited.marker}]" if cited.marker else "",
                "verified": cited.verified,
                "url": cited.citation.url,
                "location": where,
            }
        )

    def markdown(self) -> str:
        answer = "".join(self.chunks).strip()
        note = status_line(self.index_status) if self.index_status is not None else ""
        if note:
            answer = f"{answer}\n\n_{escape(note)}_"
        if not self.citations:
            return answer
        return "\n".join([answer, "", "**Sources**", *map(source_line, self.citations)])

    def result(self) -> dict[str, Any]:
        return {
            "askId": self.ask_id,
            "status": self.status,
            "answer": self.markdown(),
            "citations": self.citations,
            "locations": [c["location"] for c in self.citations if c["location"] is not None],
            "indexStatus": index_status_json(self.index_status),
        }


def source_line(cited: Mapping[str, Any]) -> str:
    """One citation of the Sources list: its marker and its label as inline code, so a
    path reads exactly (``httpx/_config.py:10-20``) whether the editor renders markdown
    or shows it as text; a record's web page follows as an autolink."""
    url = cited["url"] if cited["url"].startswith(("https://", "http://")) else ""
    parts = ["-", cited["marker"], code(cited["label"])]
    parts += [f"<{url}>"] if url and ">" not in url and " " not in url else []
    parts += [] if cited["verified"] else ["(unverified)"]
    return " ".join(part for part in parts if part)


def index_status_json(status: retrieval_pb2.IndexStatus | None) -> dict[str, Any] | None:
    """The status as editors get it (camelCase, every field), with its line ("" when the
    index is complete); None when it is not known."""
    if status is None:
        return None
    return {
        "generation": status.generation,
        "chunksIndexed": status.chunks_indexed,
        "chunksEmbedded": status.chunks_embedded,
        "chunksStored": status.chunks_stored,
        "embedder": status.embedder,
        "activeRunId": status.active_run_id,
        "denseUnavailable": status.dense_unavailable,
        "keywordUnavailable": status.keyword_unavailable,
        "message": status_line(status),
    }


async def read_index_status(ready: Ready) -> retrieval_pb2.IndexStatus | None:
    """The project's index status; None when the server cannot say (an older one)."""
    try:
        return await ready.client.index_status(ready.project.id)
    except ClientError as error:
        log.info("no index status for %s: %s", ready.project.slug, error)
        return None


Report = Callable[[str], None]
Chunk = Callable[[str, str], None]  # (ask id, text)


async def run_ask(
    ready: Ready, ask: AskArguments, extractive: bool, report: Report, chunk: Chunk
) -> AskOutcome:
    """Streams one ask; returns what it said. A ChatError becomes RequestFailed."""
    outcome = AskOutcome(ask.ask_id, ready.project)
    stream = ready.client.ask(
        ready.project.id, question_text(ask, ready.project), extractive=extractive
    )
    answering = False
    try:
        async for event in stream:
            kind = event.WhichOneof("event")
            if kind == "answer_delta":
                if not answering:
                    answering = True
                    report("Answering…")
                outcome.chunks.append(event.answer_delta.text)
                chunk(ask.ask_id, event.answer_delta.text)
            elif kind == "tool_call_started":
                report(f"Running {event.tool_call_started.call.name}…")
            elif kind == "progress" and not event.progress.done:
                report(event.progress.message)
            elif kind == "citation":
                outcome.add_citation(event.citation)
            elif kind == "clarifying_question" and not outcome.chunks:
                outcome.chunks.append(event.clarifying_question.question)
                chunk(ask.ask_id, event.clarifying_question.question)
            elif kind == "done":
                outcome.status = STATUSES.get(event.done.status, "completed")
            elif kind == "error":
                raise failed(
                    f"the server could not answer ({event.error.reason}): {event.error.message}"
                )
    finally:
        stream.cancel()  # a no-op after the end; on a cancel it closes the call at once
    outcome.index_status = await read_index_status(ready)
    return outcome
