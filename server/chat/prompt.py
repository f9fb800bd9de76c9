"""What the LLM is told: instructions, memory, earlier exchanges, retrieved sources.

Token counts are estimated (``llm.tokens``; re-exported here for the chat code).
"""

from __future__ import annotations

from typing import Any

# re-exported: the chat code imports them from here
from ..llm.tokens import CHARS_PER_TOKEN as CHARS_PER_TOKEN
from ..llm.tokens import estimate_tokens as estimate_tokens
from ..llm.tokens import messages_tokens as messages_tokens
from ..llm.tokens import tools_tokens as tools_tokens
from ..models import ChatTurn, Project
from .records import Message, MessageRole

SYSTEM = """\
You are ProjectQA, an assistant that answers questions about the software project \
"{name}" (slug "{slug}") using its indexed sources: code, git history, issues, pull requests, \
tickets and documentation.

Rules:
- Answer from the sources below and from what your tools return; if they do not answer the \
question, say so instead of guessing.
- Cite every claim. Use the source numbers, like [1] or [2][4], or a file reference with \
exact lines, like `src/app.py:12-30`, for lines a tool showed you. Cite only what you saw.
- Use the tools to search further, open files, grep or find definitions when the sources \
below are not enough. Prefer a few targeted calls over many broad ones.
- If the question is ambiguous in a way the sources cannot settle, call \
`ask_clarifying_question` instead of answering.
- Be concise: lead with the answer, then the details a developer needs.
"""

MEMORY = "Summary of the earlier conversation (older messages were folded into it):\n{summary}"

CLARIFY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"question": {"type": "string", "description": "The question to ask the user."}},
    "required": ["question"],
    "additionalProperties": False,
}


def one_line(text: str, limit: int) -> str:
    """``text`` on one line (whitespace runs become one space), cut to ``limit`` with "…"."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def system_message(project: Project, memory_summary: str) -> dict[str, Any]:
    text = SYSTEM.format(name=project.name, slug=project.slug)
    if memory_summary:
        text += "\n" + MEMORY.format(summary=memory_summary)
    return {"role": "system", "content": text}


def user_message(question: str, sources: str, pending_questions: list[str]) -> dict[str, Any]:
    """The turn's question with the passages retrieved for it (and what it answers)."""
    parts = []
    if sources:
        parts.append(f"Sources retrieved for this question:\n\n{sources}")
    else:
        parts.append("No indexed source matched this question; use the tools to look further.")
    if pending_questions:
        asked = "\n".join(f"- {q}" for q in pending_questions)
        parts.append(f"You asked the user:\n{asked}\nTheir message below answers that.")
    parts.append(f"Question: {question}")
    return {"role": "user", "content": "\n\n".join(parts)}


def exchange(turn: ChatTurn) -> list[dict[str, Any]]:
    """A finished turn as the model needs to remember it: the question and the reply."""
    messages = [Message.from_json(m) for m in turn.messages]
    out = [{"role": "user", "content": m.content} for m in messages if m.role is MessageRole.USER]
    replies = [m.content for m in messages if m.role is MessageRole.ASSISTANT and m.content]
    if turn.questions:
        replies.append("\n".join(str(q) for q in turn.questions))
    if replies:
        out.append({"role": "assistant", "content": "\n\n".join(replies)})
    return out[:2]


def fitted_history(turns: list[ChatTurn], budget_tokens: int) -> list[dict[str, Any]]:
    """The most recent exchanges that fit ``budget_tokens``, oldest first."""
    kept: list[list[dict[str, Any]]] = []
    used = 0
    for turn in reversed(turns):
        pair = exchange(turn)
        cost = messages_tokens(pair)
        if used + cost > budget_tokens:
            break
        kept.append(pair)
        used += cost
    return [message for pair in reversed(kept) for message in pair]
