"""Slash commands of ``projectqa chat``: answered at the prompt, never sent as a question.

A line starting with ``/`` is a command; ``//`` sends the rest of the line, one slash
kept, for a question that starts with a path (``//etc/hosts is read where?``).
"""

from __future__ import annotations

from dataclasses import dataclass

QUIT_COMMANDS = frozenset({"/quit", "/exit"})

COMMANDS_HELP = """\
Type a question and press Enter: the answer streams, with its sources.
  /help          this help
  /chat          this chat's id (continue it later with `projectqa chat --chat ID`)
  /quit, /exit   end the chat (or Ctrl-D; Ctrl-C stops an answer while it streams)
  //…            send a line that starts with a slash: `//etc/hosts is read where?`"""


@dataclass(frozen=True)
class TypedLine:
    """What a line typed at the chat prompt asks for."""

    command: str  # "/help", "/quit", … (lowercase); "" for a question
    question: str  # the question to send; "" for a command


def parse_line(line: str) -> TypedLine | None:
    """The command or question ``line`` is; None for a blank line."""
    text = line.strip()
    if not text:
        return None
    if text.startswith("//"):
        return TypedLine("", text[1:])
    if text.startswith("/"):
        return TypedLine(text.split()[0].lower(), "")
    return TypedLine("", text)


def command_reply(command: str, chat_id: str) -> tuple[str, bool]:
    """What the prompt prints for ``command`` (not a quit command), and whether it is an
    error (an unknown command)."""
    if command in ("/help", "/?"):
        return COMMANDS_HELP, False
    if command == "/chat":
        return f"Chat {chat_id}: continue it with `projectqa chat --chat {chat_id}`.", False
    return (
        f"unknown command {command} (not sent); /help lists the commands, "
        "and // at the start sends a line that begins with a slash",
        True,
    )
