"""Chat memory: when the history outgrows the context budget, older turns are folded.

The folded turns become (part of) the chat's memory summary, written by the
chat's LLM when it has one and condensed extractively otherwise (or when the
LLM fails: memory never blocks an answer). The summary is stored with the chat
and sent as context on every later turn.

A summary the model did not finish (``finish_reason`` "length") or left empty
never replaces the memory: it is asked for once more, with twice the tokens
and half the words (unless the profile's ``max_output_tokens`` already caps
the first request: the same cap would be cut again), and if that fails too the
turns are condensed extractively (after the previous summary, which is kept).
The log says which happened.

The fold runs inside the turn that needs it, after ``TurnStarted`` and a
``TurnProgress`` saying so (another says how it ended). Each request is
bounded by its own time (one request's timeout, at most ``FOLD_TIMEOUT_S``),
whose request is then cancelled, closing its connection. Not in the background
after the answer: this turn's prompt needs the summary of what no longer fits,
a background fold would race the chat's next turn for the memory, and it would
keep a one-request-at-a-time server busy just as the user sends the next
message.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from ..llm.client import Completion, LlmClient, LlmError
from ..models import ChatTurn
from .prompt import CHARS_PER_TOKEN, estimate_tokens, exchange, messages_tokens, one_line
from .records import Usage

log = logging.getLogger(__name__)

LENGTH_FINISH = "length"  # the finish reason of an answer that ran out of tokens
MEMORY_CUT = " … [memory cut to fit]"

# Share of the context budget the history may fill before folding, and what is
# kept once folding starts (so folding does not happen again on the next turn).
HISTORY_SHARE = 0.5
KEEP_SHARE = 0.3
SUMMARY_SHARE = 0.15
EXCERPT_CHARS = 240

SUMMARIZE = (
    "You maintain the memory of a conversation about a software project. Merge the "
    "previous summary and the exchanges below into one concise summary (at most {words} "
    "words) that keeps the user's goals, the facts established with their sources "
    "(file paths with lines, issue numbers, ticket keys), decisions and open questions."
)


@dataclass(frozen=True, slots=True)
class Folded:
    summary: str
    through: int  # seq of the last folded turn
    usage: Usage = field(default_factory=Usage)
    how: str = ""  # how the summary was made, for people


def turns_to_fold(turns: list[ChatTurn], context_tokens: int) -> list[ChatTurn]:
    """The oldest of ``turns`` to fold so the rest fits; empty while everything fits."""
    costs = [messages_tokens(exchange(turn)) for turn in turns]
    if sum(costs) <= context_tokens * HISTORY_SHARE:
        return []
    keep_budget = context_tokens * KEEP_SHARE
    kept, index = 0, len(turns)
    while index > 0 and kept + costs[index - 1] <= keep_budget:
        index -= 1
        kept += costs[index]
    return turns[: max(index, 1)]


async def fold(
    summary: str,
    turns: list[ChatTurn],
    context_tokens: int,
    client: LlmClient | None,
    attempt_s: float | None = None,
) -> Folded:
    """The summary with ``turns`` folded in; each LLM request within ``attempt_s``."""
    limit_tokens = max(100, int(context_tokens * SUMMARY_SHARE))
    through = turns[-1].seq
    why = "no LLM"
    if client is not None:
        written = await _written(summary, turns, limit_tokens, client, attempt_s)
        if isinstance(written, Completion):
            how = "Memory summarized by the LLM."
            return Folded(written.text.strip(), through, written.usage, how)
        why = written
    how = f"Memory condensed from the earlier turns ({why})."
    return Folded(condensed(summary, turns, limit_tokens), through, how=how)


async def _written(
    summary: str,
    turns: list[ChatTurn],
    limit_tokens: int,
    client: LlmClient,
    attempt_s: float | None,
) -> Completion | str:
    """The LLM's summary, asked for twice at most; else why there is none."""
    transcript = "\n\n".join(
        f"{m['role']}: {m['content']}" for turn in turns for m in exchange(turn)
    )
    user = f"Previous summary:\n{summary or '(none)'}\n\nExchanges:\n{transcript}"
    cap = client.endpoint.max_output_tokens  # the profile's, 0 for none
    why = ""
    for attempt, budget in enumerate((limit_tokens, 2 * limit_tokens)):
        words = int(limit_tokens * 0.7) >> attempt  # the retry asks for fewer words
        answer = await _attempt(client, SUMMARIZE.format(words=words), user, budget, attempt_s)
        if isinstance(answer, str):
            return answer
        if answer.text.strip() and answer.finish_reason != LENGTH_FINISH:
            return answer
        cut = answer.finish_reason == LENGTH_FINISH
        why = "was cut at its token limit" if cut else "was empty"
        sent = min(budget, cap or budget)
        retry = attempt == 0 and min(2 * budget, cap or 2 * budget) > sent
        if retry:
            then = "asking again for fewer words"
        elif attempt == 0:  # twice the tokens would be cut at the same cap
            then = f"the profile's max_output_tokens {cap} allows no more; condensing instead"
        else:
            then = "condensing instead"
        log.warning("memory summary by the LLM %s (max_tokens %d); %s", why, sent, then)
        if not retry:
            break
    return f"the LLM's summary {why}"


async def _attempt(
    client: LlmClient, system: str, user: str, budget: int, attempt_s: float | None
) -> Completion | str:
    """One summary request within ``attempt_s`` (its request is closed at the bound)."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    try:
        async with asyncio.timeout(attempt_s):
            return await client.complete(messages, max_tokens=budget)
    except TimeoutError:
        log.warning("memory summary by the LLM took over %g s; condensing instead", attempt_s)
        return f"the LLM's summary took over {attempt_s:g} s"
    except LlmError as exc:
        log.warning("memory summary by the LLM failed, condensing instead: %s", exc)
        return f"the LLM's summary failed ({exc.reason})"


def condensed(summary: str, turns: list[ChatTurn], limit_tokens: int) -> str:
    """An extractive summary: the previous summary, then one line per exchange. When it
    grows, the oldest new lines go first (the newest stays), then the previous summary
    is cut from its end, saying so: it is often one long line the LLM wrote, and dropping
    it would lose everything folded before."""
    previous = "\n".join(line for line in summary.splitlines() if line.strip())
    lines = [_exchange_line(turn) for turn in turns]
    while len(lines) > 1 and estimate_tokens(_joined(previous, lines)) > limit_tokens:
        lines.pop(0)
    if estimate_tokens(_joined(previous, lines)) > limit_tokens:
        room = limit_tokens * CHARS_PER_TOKEN - len(_joined("", lines)) - 1  # its newline
        previous = _shortened(previous, room)
    return _joined(previous, lines)


def _exchange_line(turn: ChatTurn) -> str:
    pair = exchange(turn)
    question = one_line(pair[0]["content"], EXCERPT_CHARS) if pair else ""
    answer = one_line(pair[1]["content"], EXCERPT_CHARS) if len(pair) > 1 else "(no answer)"
    return f"- Q: {question} → A: {answer}"


def _joined(previous: str, lines: list[str]) -> str:
    return "\n".join(part for part in (previous, *lines) if part)


def _shortened(text: str, chars: int) -> str:
    """``text``'s start within ``chars`` characters, marked as cut; "" when none fits."""
    if len(text) <= chars:
        return text
    if chars <= len(MEMORY_CUT):
        return ""
    return text[: chars - len(MEMORY_CUT)].rstrip() + MEMORY_CUT
