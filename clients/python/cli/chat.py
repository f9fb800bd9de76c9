"""``projectqa ask``, ``projectqa chat`` and ``projectqa chats``: answers with citations.

``ask`` answers one question and stores nothing; ``chat`` is an interactive
conversation that asks before running tools whose policy says so; ``chats``
lists, shows and deletes conversations and sets their tool policy.

The project is the first argument or ``-p/--project``, else ``PROJECTQA_PROJECT``,
else the caller's only project.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from projectqa.client.chat import PERMISSIONS, ChatStream, permission_name
from projectqa.client.cli.answers import (
    TurnOutcome,
    arguments_json,
    error_text,
    print_said,
    print_sources,
    render_turn,
    usage_line,
)
from projectqa.client.cli.chat_commands import (
    QUIT_COMMANDS,
    TypedLine,
    command_reply,
    parse_line,
)
from projectqa.client.cli.failures import EXIT_FAILURE, CommandFailed, describe
from projectqa.client.cli.index_view import echo_project_status
from projectqa.client.cli.output import (
    console,
    format_timestamp,
    message_to_dict,
    print_json,
    render_fields,
    show_done,
)
from projectqa.client.cli.params import Assignment, page_size_option
from projectqa.client.cli.project_param import ProjectCommand, project_argument
from projectqa.client.cli.state import CliState, pass_state
from projectqa.client.client import Client
from projectqa.client.errors import ClientError
from projectqa.v1 import chat_pb2

EXIT_INTERRUPTED = 130
RECENT_MESSAGES = 6
PROMPT = "you> "
CHAT_FIELDS = ("id", "project_id", "title", "llm_profile_id", "turn_count")
ROLE_NAMES = {
    chat_pb2.MESSAGE_ROLE_USER: "you",
    chat_pb2.MESSAGE_ROLE_ASSISTANT: "assistant",
    chat_pb2.MESSAGE_ROLE_TOOL: "tool",
    chat_pb2.MESSAGE_ROLE_SYSTEM: "system",
}


def profile_option(function: Any) -> Any:
    return click.option(
        "--profile",
        default="",
        metavar="ID",
        help="LLM profile (default: the project's, else the global one, else the server's).",
    )(function)


def chosen_project(client: Client, project: str) -> str:
    """``project`` when given, else the only project the caller can see."""
    if project:
        return project
    slugs = [p.slug for p in client.list_projects()]
    if len(slugs) == 1:
        return slugs[0]
    known = f" (yours: {', '.join(slugs)})" if slugs else " (you have none)"
    raise click.UsageError(f"which project? Give PROJECT, -p or PROJECTQA_PROJECT{known}")


# ------------------------------------------------------------------- ask


def fail_on_error(outcome: TurnOutcome) -> None:
    """Ends the command like any failed call when the turn ended in a ChatError."""
    if outcome.error is not None:
        raise CommandFailed(error_text(outcome.error), EXIT_FAILURE)
    if outcome.interrupted:
        sys.exit(EXIT_INTERRUPTED)


def read_question(question: str) -> str:
    """QUESTION, or standard input when it is ``-`` (the whole of it, trimmed)."""
    if question != "-":
        return question
    if sys.stdin.isatty():
        click.echo("Type the question; end it with Ctrl-D on a line of its own.", err=True)
    text = sys.stdin.read().strip()
    if not text:
        raise click.BadParameter("nothing was read from standard input", param_hint="QUESTION")
    return text


@click.command(cls=ProjectCommand)
@project_argument(has_default=True)
@click.argument("question")
@profile_option
@click.option("--extractive", is_flag=True, help="Quote the best passages; never ask an LLM.")
@pass_state
def ask(state: CliState, project: str, question: str, profile: str, extractive: bool) -> None:
    """Answer QUESTION about PROJECT, streamed, with the sources it cites.

    QUESTION `-` reads the question from standard input (`projectqa ask demo -
    < question.txt`, `echo "…" | projectqa ask -`).
    PROJECT may also be given with -p; without it: PROJECTQA_PROJECT, else your
    only project. One word alone is the question (`ask demo` asks "demo" of that
    project): -p makes the project unmistakable. Nothing is stored. Tools needing
    approval are not offered (use `projectqa chat` for those). Exit code 1 when
    the turn fails (LLM unreachable, …).
    """
    question = read_question(question)
    client = state.client()
    project = chosen_project(client, project)
    fail_on_error(
        render_turn(client.ask(project, question, profile, extractive), state.json_output)
    )
    if not state.json_output:
        echo_project_status(client, project)


# ------------------------------------------------------------------ chat


def read_line(prompt: str, state: CliState | None = None) -> str | None:
    """One line typed after ``prompt``; None at end of input. With ``--json`` the prompt
    goes to stderr, so stdout holds only JSON."""
    try:
        if state is not None and state.json_output:
            click.echo(prompt, nl=False, err=True)
            return input()
        return input(prompt)
    except EOFError:
        click.echo(err=bool(state and state.json_output))
        return None


def say(state: CliState, text: str) -> None:
    """Conversation chrome: stdout, or stderr with ``--json``."""
    click.echo(text, err=state.json_output)


def decide(state: CliState, call: chat_pb2.ToolCall) -> bool:
    """Asks whether to run one pending call; anything but y/yes refuses it."""
    answer = read_line(f"Run {call.name}? [y/N] ", state)
    return (answer or "").strip().lower() in {"y", "yes"}


def approve_and_resume(state: CliState, chat_id: str, outcome: TurnOutcome) -> TurnOutcome:
    """While the turn waits for approval: asks per call, then streams the rest."""
    while outcome.pending_calls and not outcome.interrupted:
        say(state, "The assistant wants to run:")
        for call in outcome.pending_calls:
            say(state, f"  {call.name} {arguments_json(call)}")
        decisions = {call.id: decide(state, call) for call in outcome.pending_calls}
        stream = state.client().resolve_tool_calls(chat_id, decisions)
        outcome = stream_turn(state, stream)
    return outcome


def stream_turn(state: CliState, stream: ChatStream) -> TurnOutcome:
    """Prints the turn; a ChatError goes to stderr and the chat goes on."""
    try:
        outcome = render_turn(stream, state.json_output)
    except ClientError as error:
        click.echo(f"error: {describe(error, state.resolved_address())}", err=True)
        return TurnOutcome()
    if outcome.error is not None:
        click.echo(f"error: {error_text(outcome.error)}", err=True)
    return outcome


def send(state: CliState, chat_id: str, text: str) -> None:
    try:
        stream = state.client().send_message(chat_id, text)
    except ClientError as error:
        click.echo(f"error: {describe(error, state.resolved_address())}", err=True)
        return
    approve_and_resume(state, chat_id, stream_turn(state, stream))


def print_message(message: chat_pb2.ChatMessage) -> None:
    role = ROLE_NAMES.get(message.role, "?")
    if message.role == chat_pb2.MESSAGE_ROLE_TOOL:
        click.secho(f"← {message.content}", dim=True)
        return
    if message.role == chat_pb2.MESSAGE_ROLE_SYSTEM:
        click.secho(f"({message.content})", dim=True)
        return
    if message.content:
        print_said(role, message.content)
    for call in message.tool_calls:
        click.secho(f"→ {call.name} {arguments_json(call)}", dim=True)
    print_sources(message.citations)


def print_pending(details: chat_pb2.GetChatResponse) -> None:
    for question in details.pending_questions:
        click.secho(f"? {question}", bold=True)
    if details.pending_tool_calls:
        click.echo("Waiting for approval:")
        for call in details.pending_tool_calls:
            click.echo(f"  {call.id}  {call.name} {arguments_json(call)}")


def resume_chat(state: CliState, chat_id: str) -> None:
    """Shows the end of an existing chat and settles a turn left waiting for approval."""
    details = state.client().get_chat(chat_id)
    if state.json_output:
        print_json(message_to_dict(details))
    else:
        click.secho(f"Chat {details.chat.id}: {details.chat.title}", bold=True)
        for message in details.messages[-RECENT_MESSAGES:]:
            print_message(message)
        for question in details.pending_questions:
            click.secho(f"? {question}", bold=True)
    pending = TurnOutcome(pending_calls=list(details.pending_tool_calls))
    approve_and_resume(state, chat_id, pending)


def conversation(state: CliState, chat_id: str) -> None:
    """Reads a line, streams the turn, until end of input, /quit or Ctrl-C at the prompt;
    slash commands (/help, …) are answered here and never sent."""
    while True:
        try:
            line = read_line(PROMPT, state)
        except KeyboardInterrupt:
            say(state, "")
            return
        typed = parse_line(line) if line is not None else TypedLine("/quit", "")
        if typed is None:
            continue
        if typed.command in QUIT_COMMANDS:
            return
        if typed.command:
            reply, unknown = command_reply(typed.command, chat_id)
            click.echo(f"error: {reply}" if unknown else reply, err=unknown or state.json_output)
            continue
        try:
            send(state, chat_id, typed.question)
        except KeyboardInterrupt:  # at an approval prompt: the turn stays paused
            say(state, "")
            return


@click.command(cls=ProjectCommand)
@project_argument(has_default=True)
@click.option("--chat", "chat_id", default="", metavar="ID", help="Continue this chat.")
@click.option("--title", default="", help="Title of a new chat (default: the first question).")
@profile_option
@pass_state
def chat(state: CliState, project: str, chat_id: str, title: str, profile: str) -> None:
    """Talk with a project's assistant: type a question, read the cited answer.

    End with /quit, Ctrl-D or Ctrl-C at the prompt; Ctrl-C while an answer
    streams stops that answer. /help lists the slash commands, which are
    answered at the prompt and never sent. Before running a tool whose policy is "ask",
    the assistant waits for your y/N.
    """
    client = state.client()
    if chat_id:
        try:
            resume_chat(state, chat_id)
        except KeyboardInterrupt:  # at an approval prompt: the turn stays paused
            say(state, "")
            return
    else:
        created = client.create_chat(chosen_project(client, project), title, profile)
        chat_id = created.id
        click.secho(
            f"Chat {chat_id} (/help for commands, /quit to end)", dim=True, err=state.json_output
        )
    conversation(state, chat_id)


# ----------------------------------------------------------------- chats


def chat_table(chats: list[chat_pb2.Chat], slugs: dict[str, str]) -> Table:
    table = Table(title="chats", title_justify="left", title_style="bold")
    for name in ("id", "project", "title", "turns", "updated"):
        table.add_column(name, no_wrap=name == "id", overflow="fold")
    for item in chats:
        updated = format_timestamp(item.update_time) if item.HasField("update_time") else "-"
        project = slugs.get(item.project_id, item.project_id)
        table.add_row(*map(Text, (item.id, project, item.title, str(item.turn_count), updated)))
    return table


@click.group(invoke_without_command=True)
@click.option("-p", "--project", default="", help="Only chats in this project (id or slug).")
@page_size_option
@click.pass_context
def chats(ctx: click.Context, project: str, page_size: int | None) -> None:
    """List your chats, newest first; show, delete or set the tool policy of one."""
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.ensure_object(CliState)
    client = state.client()
    found = list(client.iter_chats(project, page_size=page_size or 0))
    if state.json_output:
        print_json([message_to_dict(item) for item in found])
    elif not found:
        console().print(Text("No chats.", style="dim"))
    else:
        slugs = {p.id: p.slug for p in client.list_projects()}
        console().print(chat_table(found, slugs))


def print_policy(policy: chat_pb2.ToolPolicy) -> None:
    if not policy.effective:
        console().print(Text("No tools.", style="dim"))
        return
    table = Table(title="tool policy", title_justify="left", title_style="bold")
    for name in ("tool", "permission", "set"):
        table.add_column(name)
    for tool in sorted(policy.effective):
        explicit = "explicitly" if tool in policy.tools else "default"
        table.add_row(tool, permission_name(policy.effective[tool]), explicit)
    console().print(table)


@chats.command("show")
@click.argument("chat_id", metavar="ID")
@pass_state
def show_chat(state: CliState, chat_id: str) -> None:
    """Print chat ID: its messages with their sources, memory, and what it waits for."""
    details = state.client().get_chat(chat_id)
    if state.json_output:
        print_json(message_to_dict(details))
        return
    render_fields(details.chat, [*CHAT_FIELDS, "create_time", "update_time"])
    print_policy(details.chat.tool_policy)
    if details.memory_summary:
        click.echo(f"\nMemory: {details.memory_summary}")
    click.echo()
    for message in details.messages:
        print_message(message)
        if message.HasField("usage") and message.usage.completion_tokens:
            click.secho(usage_line(message.usage), dim=True)
    print_pending(details)


@chats.command("delete")
@click.argument("chat_id", metavar="ID")
@pass_state
def delete_chat(state: CliState, chat_id: str) -> None:
    """Delete chat ID and all of its messages."""
    state.client().delete_chat(chat_id)
    show_done(state.json_output, f"Deleted chat {chat_id}.")


def policy_changes(
    pairs: tuple[tuple[str, str], ...],
) -> dict[str, chat_pb2.ToolPermission.ValueType]:
    changes: dict[str, chat_pb2.ToolPermission.ValueType] = {}
    for tool, value in pairs:
        if value.lower() not in PERMISSIONS:
            raise click.BadParameter(
                f"{tool}={value}: the value must be one of {', '.join(PERMISSIONS)}",
                param_hint="TOOL=PERMISSION",
            )
        changes[tool] = PERMISSIONS[value.lower()]
    return changes


@chats.command("policy")
@click.argument("chat_id", metavar="ID")
@click.argument("pairs", metavar="TOOL=auto|ask|deny|default ...", nargs=-1, type=Assignment())
@pass_state
def set_policy(state: CliState, chat_id: str, pairs: tuple[tuple[str, str], ...]) -> None:
    """Set whether chat ID's assistant may run each TOOL, and print the policy.

    auto runs it, ask waits for your approval, deny refuses it, default
    restores the default (auto for tools without side effects, else ask).
    Without TOOL=… only prints the policy.
    """
    client = state.client()
    if pairs:
        policy = client.set_tool_policy(chat_id, policy_changes(pairs))
    else:
        policy = client.get_chat(chat_id).chat.tool_policy
    if state.json_output:
        print_json(message_to_dict(policy))
    else:
        print_policy(policy)
