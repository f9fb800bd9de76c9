"""Printing a streamed turn as it arrives: ``projectqa ask``, ``chat`` and ``quickstart``.

Answer text is written as each delta arrives (flushed, never buffered): on a
terminal rendered as markdown with rich (``render.py``), piped as the plain text
the server sent. Tool calls show as dim ``→ name {args}`` / ``← summary`` lines;
the cited sources (``path:start-end``, a record's label and link), one line each
and numbered as the answer numbers them, and the tokens used follow the answer.
With ``--json`` every event is one JSON object on its own line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import click
from google.protobuf import json_format
from rich.console import Console

from projectqa.client.cli.output import message_to_dict
from projectqa.client.cli.render import MarkdownStream, markdown
from projectqa.client.errors import ClientError
from projectqa.v1 import chat_pb2, common_pb2


@dataclass
class TurnOutcome:
    """How a streamed turn ended, for the caller to act on."""

    answer: str = ""
    status: int = chat_pb2.TURN_STATUS_UNSPECIFIED
    error: chat_pb2.ChatError | None = None
    pending_calls: list[chat_pb2.ToolCall] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    citations: list[chat_pb2.ChatCitation] = field(default_factory=list)
    usage: chat_pb2.TokenUsage | None = None
    interrupted: bool = False


def arguments_json(call: chat_pb2.ToolCall) -> str:
    """The call's arguments as compact JSON."""
    arguments = json_format.MessageToDict(call.arguments) if call.HasField("arguments") else {}
    return json.dumps(arguments, separators=(", ", ": "), ensure_ascii=False)


def citation_label(citation: common_pb2.Citation) -> str:
    """``path:start-end`` for files; a record's label, title and link otherwise."""
    label = citation.label or citation.document_key
    if citation.title and not citation.path:
        label = f"{label}  {citation.title}"
    if citation.url:
        label = f"{label}  {citation.url}"
    return label


def source_line(cited: chat_pb2.ChatCitation) -> str:
    """One line of the "Sources:" list: marker, label, and whether it is unverified."""
    marker = f"[{cited.marker}] " if cited.marker else ""
    unverified = "" if cited.verified else " (unverified)"
    return f"  {marker}{citation_label(cited.citation)}{unverified}"


def print_sources(citations: Iterable[chat_pb2.ChatCitation]) -> None:
    cited = list(citations)
    if cited:
        click.echo("\nSources:")
        for item in cited:
            click.echo(source_line(item))


def usage_line(usage: chat_pb2.TokenUsage) -> str:
    return f"Tokens: {usage.prompt_tokens} prompt, {usage.completion_tokens} completion"


class TurnPrinter:
    """Prints the events of one turn; :meth:`finish` prints what follows the answer."""

    def __init__(self, json_output: bool = False, console: Console | None = None) -> None:
        """``console``: render the answer's markdown on it (a terminal); None: plain text."""
        self.json_output = json_output
        self.outcome = TurnOutcome()
        self._line_open = False  # answer text was written without its newline yet
        self._markdown = MarkdownStream(console) if console and not json_output else None
        self._cited: set[tuple[str, int]] = set()

    def feed(self, event: chat_pb2.ChatEvent) -> None:
        if self.json_output:
            click.echo(json.dumps(message_to_dict(event), ensure_ascii=False))
        kind = event.WhichOneof("event")
        if kind is not None and (handler := getattr(self, f"_on_{kind}", None)) is not None:
            handler(getattr(event, kind))

    def finish(self) -> TurnOutcome:
        """Ends the answer's line, then prints the sources and the tokens used."""
        if self.json_output:
            return self.outcome
        self.end_line()
        print_sources(self.outcome.citations)
        usage = self.outcome.usage
        if self.outcome.pending_calls:
            return self.outcome  # the turn goes on once resolved; its usage comes then
        if usage is not None and (usage.prompt_tokens or usage.completion_tokens):
            click.secho(usage_line(usage), dim=True)
        return self.outcome

    def interrupted(self) -> TurnOutcome:
        self.outcome.interrupted = True
        if not self.json_output:
            self.end_line()
            click.secho("(interrupted)", dim=True)
        return self.outcome

    def _text(self, text: str) -> None:
        if self.json_output or not text:
            return
        if self._markdown is not None:
            self._markdown.feed(text)
        else:
            click.echo(text, nl=False)  # click flushes after each write
            self._line_open = not text.endswith("\n")

    def _note(self, text: str, **style: Any) -> None:
        if not self.json_output:
            self.end_line()
            click.secho(text, **style)

    def end_line(self) -> None:
        if self._markdown is not None:
            self._markdown.close()  # what follows starts below the rendered answer
        if self._line_open:
            click.echo()
            self._line_open = False

    def _on_progress(self, progress: chat_pb2.TurnProgress) -> None:
        if not self.json_output:  # a status line, apart from the answer on stdout
            click.secho(progress.message, dim=True, err=True)

    def _on_answer_delta(self, delta: chat_pb2.AnswerDelta) -> None:
        self.outcome.answer += delta.text
        self._text(delta.text)

    def _on_tool_call_started(self, started: chat_pb2.ToolCallStarted) -> None:
        self._note(f"→ {started.call.name} {arguments_json(started.call)}", dim=True)

    def _on_tool_result(self, result: chat_pb2.ToolCallResult) -> None:
        if result.is_error:
            self._note(f"← {result.name} failed: {result.summary}", dim=True, fg="red")
        else:
            self._note(f"← {result.summary}", dim=True)

    def _on_citation(self, cited: chat_pb2.ChatCitation) -> None:
        key = (cited.citation.label or cited.citation.document_key, cited.marker)
        if key not in self._cited:
            self._cited.add(key)
            self.outcome.citations.append(cited)

    def _on_clarifying_question(self, question: chat_pb2.ClarifyingQuestion) -> None:
        self.outcome.questions.append(question.question)
        self._note(f"? {question.question}", bold=True)

    def _on_approval_required(self, approval: chat_pb2.ApprovalRequired) -> None:
        self.outcome.pending_calls.extend(approval.calls)

    def _on_usage(self, usage: chat_pb2.TokenUsage) -> None:
        self.outcome.usage = usage

    def _on_done(self, done: chat_pb2.TurnDone) -> None:
        self.outcome.status = done.status
        if not self.outcome.answer and done.answer:
            self._on_answer_delta(chat_pb2.AnswerDelta(text=done.answer))

    def _on_error(self, error: chat_pb2.ChatError) -> None:
        self.outcome.error = error


def render_turn(
    events: Any, json_output: bool = False, console: Console | None = None
) -> TurnOutcome:
    """Prints a turn's events as they arrive; Ctrl-C cancels the stream.

    ``events`` is a :class:`~projectqa.client.chat.ChatStream` (anything
    iterable with a ``cancel()``). A ChatError event is left in the outcome
    for the caller to report. The answer is rendered as markdown on ``console``,
    by default on stdout when it is a terminal; plain text otherwise.
    """
    if console is None and not json_output:
        console = terminal_console()
    printer = TurnPrinter(json_output, console)
    try:
        for event in events:
            printer.feed(event)
    except KeyboardInterrupt:
        events.cancel()
        return printer.interrupted()
    except ClientError:
        printer.end_line()  # the error message starts on a line of its own
        raise
    return printer.finish()


def terminal_console() -> Console | None:
    """A rich console on stdout when it is a terminal (markdown is rendered there), else
    None (piped: the answer's text as sent)."""
    if not sys.stdout.isatty():
        return None
    return Console(highlight=False)


def print_said(speaker: str, text: str) -> None:
    """A stored message of a chat's history, as ``speaker> text``: on a terminal the text is
    rendered as markdown under the speaker's name, as a streamed answer is; piped, as sent."""
    console = terminal_console()
    if console is None:
        click.echo(f"{speaker}> {text.rstrip()}")
        return
    console.print(f"{speaker}>", style="bold")
    console.print(markdown(text))


def error_text(error: chat_pb2.ChatError) -> str:
    """A ChatError as one line: "llm_timeout: the model did not answer in 60 s"."""
    return f"{error.reason}: {error.message}" if error.reason else error.message
