"""How ``ask`` prints an answer: rendered markdown on a terminal (citations exact), plain text
when piped, sources numbered as the answer numbers them, one line each.

The unit tests render on a rich console that is a terminal but not interactive (no live
redraws), so what is printed is exactly what stays on screen. The end-to-end tests ask a
real server about a real ingested folder, piped through click's runner and on a real
pseudo-terminal (a ``projectqa`` subprocess).
"""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
from collections.abc import Iterator

import pytest
from rich.console import Console

from projectqa.client.cli import answers
from projectqa.client.cli.answers import TurnPrinter, print_said
from projectqa.client.cli.render import (
    LIVE_REFRESHES_PER_S,
    BlockEnds,
    MarkdownStream,
    complete_blocks,
    markdown,
    protect_literals,
)
from projectqa.v1 import chat_pb2, common_pb2
from tests.e2e.deployment import PROJECTQA

from .conftest import Cli, RunningServer, ingest_folder, local_server

ANSWER = """\
Based on the indexed sources, the most relevant places are:

**[1] `httpx/_config.py:72-84`** — `Timeout`
```python
def __init__(self, timeout=DEFAULT_TIMEOUT_CONFIG):

    self._max_retries = 3  # a \\ stays
```

**[2] httpx/__init__.py:1-9** — see src/**/*.py, `max_retries` and __version__
> Retries are *counted* per request.
"""
EXACT = (
    "httpx/_config.py:72-84",
    "httpx/__init__.py:1-9",
    "src/**/*.py",
    "__version__",
    "self._max_retries = 3  # a \\ stays",
)


def console(buffer: io.StringIO) -> Console:
    return Console(
        file=buffer, force_terminal=True, force_interactive=False, color_system=None, width=100
    )


def rendered(text: str) -> str:
    buffer = io.StringIO()
    console(buffer).print(markdown(text))
    return buffer.getvalue()


def test_rendering_keeps_paths_names_and_code_exact() -> None:
    out = rendered(ANSWER)
    for exact in EXACT:
        assert exact in out, exact
    assert "**" not in out.replace("src/**/*.py", "") and "```" not in out  # rendered
    assert "Retries are counted per request." in out  # emphasis of prose still works


def test_a_chat_history_message_renders_on_a_terminal_and_is_plain_when_piped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(answers, "terminal_console", lambda: console(buffer))
    print_said("assistant", ANSWER)
    out = buffer.getvalue()
    assert out.startswith("assistant>\n")
    for exact in EXACT:
        assert exact in out, exact
    assert "```" not in out  # rendered, as a streamed answer is

    monkeypatch.setattr(answers, "terminal_console", lambda: None)
    print_said("assistant", ANSWER)
    assert capsys.readouterr().out == f"assistant> {ANSWER.rstrip()}\n"  # piped: as sent


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("This is **important**.", "This is important."),
        ("**x**.", "x."),
        ("**httpx/_transports/default.py**.", "httpx/_transports/default.py."),
        ("*x*/y", "x/y"),
        ("**Do not retry.** Then", "Do not retry. Then"),
        ("**`httpx/_config.py`**.", "httpx/_config.py."),
        ("**.env** holds it", ".env holds it"),
        ("see src/**/*.py.", "see src/**/*.py."),
        ("*.py and *.{md,rst} files", "*.py and *.{md,rst} files"),
        ("run tests/test_*.py or src/*", "run tests/test_*.py or src/*"),
    ],
)
def test_stars_are_escaped_in_globs_and_never_as_emphasis(text: str, shown: str) -> None:
    assert rendered(text).strip() == shown


def test_escapes_stay_out_of_code_links_and_autolinks() -> None:
    text = "See `a_b` and <https://x.org/a_b> or [docs](https://x.org/c_d) of __init__.py"
    assert protect_literals(text) == (
        "See `a_b` and <https://x.org/a_b> or [docs](https://x.org/c_d) of \\_\\_init\\_\\_.py"
    )


def test_a_block_is_complete_at_a_blank_line_outside_a_fence() -> None:
    assert complete_blocks("Para one.\n\nPara two") == len("Para one.\n\n")
    fenced = "```python\nx = 1\n\ny = 2\n"
    assert complete_blocks(fenced) == 0  # the blank line is inside the code
    assert complete_blocks(fenced + "```\n\nAfter") == len(fenced + "```\n\n")


def events_of(answer: str, labels: list[str]) -> Iterator[chat_pb2.ChatEvent]:
    """A turn as the server streams it: the answer a character at a time, then its sources."""
    for char in answer:
        yield chat_pb2.ChatEvent(answer_delta=chat_pb2.AnswerDelta(text=char))
    for marker, label in enumerate(labels, 1):
        path = label.rsplit(":", 1)[0]
        citation = common_pb2.Citation(path=path, label=label)
        cited = chat_pb2.ChatCitation(citation=citation, verified=True, marker=marker)
        yield chat_pb2.ChatEvent(citation=cited)
    yield chat_pb2.ChatEvent(done=chat_pb2.TurnDone(answer=answer))


def test_a_streamed_answer_prints_each_block_once_then_its_sources() -> None:
    buffer = io.StringIO()
    printer = TurnPrinter(console=console(buffer))
    for event in events_of(ANSWER, ["httpx/_config.py:72-84", "httpx/__init__.py:1-9"]):
        printer.feed(event)
    printer.finish()
    out = strip_ansi(buffer.getvalue())  # the live area only hides and shows the cursor
    # Printed block by block as each completed: the same lines as rendering it whole.
    assert lines_of(out) == lines_of(rendered(ANSWER))
    assert out.count("Retries are counted per request.") == 1


CODE_LINES = [f"    result_{i} = compute(item_{i}, factor={i})  # step {i}" for i in range(300)]
LONG_BLOCK = "Here is the code:\n\n```python\n" + "\n".join(CODE_LINES) + "\n```\n\nDone.\n"


def tokens_of(text: str, size: int = 4) -> list[str]:
    return [text[at : at + size] for at in range(0, len(text), size)]


def test_block_ends_read_each_character_once_and_carry_the_fence() -> None:
    ends = BlockEnds()
    found = [end for token in tokens_of(LONG_BLOCK) if (end := ends.feed(token))]
    assert ends.scanned == len(LONG_BLOCK)  # every line read once, whatever the tokens
    first_blank = len("Here is the code:\n\n")
    # The blank lines are after the intro and after the fence, none inside the code.
    assert found == [first_blank, len(LONG_BLOCK) - len("Done.\n")]


def test_a_long_block_is_rendered_at_most_a_few_times_a_second_and_only_its_tail() -> None:
    """A 300-line code block in 4-character tokens, 200 tokens a second: each token used
    to parse the whole growing block (4,775 renders, ~45 M characters: seconds of CPU)."""
    now = [0.0]
    buffer = io.StringIO()
    terminal = Console(file=buffer, force_terminal=True, force_interactive=True, width=100)
    stream = MarkdownStream(terminal, clock=lambda: now[0])
    tokens = tokens_of(LONG_BLOCK)
    for token in tokens:
        now[0] += 1 / 200
        stream.feed(token)
    stream.close()
    streamed_for = len(tokens) / 200
    # At most one live render per refresh period, plus one for each block printed whole.
    assert stream.builds <= streamed_for * LIVE_REFRESHES_PER_S + 1 + 3
    # A live render is a screenful of the block's end, not the whole block.
    tail_chars = terminal.height * max(map(len, CODE_LINES))
    assert stream.built_chars <= len(LONG_BLOCK) + stream.builds * tail_chars
    assert "result_299 = compute(item_299" in buffer.getvalue()


def test_the_live_area_shows_the_end_of_a_long_code_block_as_code() -> None:
    now = [0.0]
    buffer = io.StringIO()
    terminal = Console(file=buffer, force_terminal=True, force_interactive=True, width=100)
    stream = MarkdownStream(terminal, clock=lambda: now[0])
    # A paragraph runs straight into the fence: the tail holds the fence line itself
    # for a while, and must not get it twice.
    growing = "Intro line.\n" * 8 + "```python\n" + "\n".join(CODE_LINES[:100]) + "\n"
    for token in tokens_of(growing, size=40):
        now[0] += 1.0  # every token may refresh
        stream.feed(token)
    live = strip_ansi(buffer.getvalue())
    assert "result_99 = compute(item_99" in live  # the newest line is on screen
    assert "```" not in live  # a tail is rendered inside its fence, as code
    assert "result_0 = compute" not in live[-2000:]  # the top is off the live area
    stream.close()


def test_text_held_back_by_the_refresh_period_is_printed_on_close() -> None:
    buffer = io.StringIO()
    stream = MarkdownStream(console(buffer), clock=lambda: 0.0)  # time stands still
    for token in tokens_of("A **growing** paragraph that ends without a blank line"):
        stream.feed(token)
    assert stream.builds == 1  # shown live once; the clock never allowed another render
    stream.close()
    assert lines_of(strip_ansi(buffer.getvalue())) == [
        "A growing paragraph that ends without a blank line"
    ]


# ------------------------------------------------------------------ end to end
RETRY = '''\
"""Retrying a flaky call."""

MAX_RETRIES = 3


def call_with_retries(call, max_retries=MAX_RETRIES):
    """Calls ``call`` again while it fails, at most ``max_retries`` more times."""
    for attempt in range(max_retries + 1):
        try:
            return call()
        except ConnectionError:
            if attempt == max_retries:
                raise
'''
INIT = '"""The shop package."""\n\nfrom ._retry import call_with_retries\n'
QUESTION = "how does retry work?"
HEADING = re.compile(r"^\*\*\[(\d+)\] `(?P<label>[^`]+)`\*\*", re.M)
SOURCE = re.compile(r"^  \[(\d+)\] (\S+)$")


server = local_server("render-server")


@pytest.fixture(scope="module")
def shop(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("shop")
    (folder / "shop").mkdir()
    (folder / "shop" / "_retry.py").write_text(RETRY)
    (folder / "shop" / "__init__.py").write_text(INIT)
    return ingest_folder(Cli(server.address, server.admin_token), "shop", folder)


@pytest.mark.model
def test_piped_the_answer_is_plain_markdown_and_its_sources_match_its_markers(
    server: RunningServer, shop: str
) -> None:
    cli = Cli(server.address, server.admin_token)
    out = cli.ok("ask", "-p", shop, "--extractive", QUESTION).stdout
    answer, _, listed = out.partition("\nSources:\n")
    headings = [(int(m[1]), m["label"]) for m in HEADING.finditer(answer)]
    assert headings and headings[0][1].startswith("shop/_retry.py:")
    sources = [line for line in listed.splitlines() if line.startswith("  ")]
    # One line per source, numbered 1, 2, … exactly as the answer's headings.
    assert [(int(m[1]), m[2]) for m in map(SOURCE.match, sources) if m] == headings
    assert len(sources) == len(headings)
    assert [n for n, _ in headings] == list(range(1, len(headings) + 1))


@pytest.mark.model
def test_on_a_terminal_the_answer_is_rendered_with_exact_citations(
    server: RunningServer, shop: str
) -> None:
    out = ask_on_a_terminal(server, shop, QUESTION)
    assert "**[" not in out and "```" not in out  # rendered, not raw
    label = re.search(r"\[1\] (shop/_retry\.py:\d+-\d+)", out)
    assert label, out
    assert f"\n  [1] {label[1]}" in out.replace("\r\n", "\n")  # the plain sources list


def ask_on_a_terminal(server: RunningServer, project: str, question: str) -> str:
    """``projectqa ask`` in a subprocess whose stdout is a pseudo-terminal; its output."""
    main, child = pty.openpty()
    connection = ["--address", server.address, "--token", server.admin_token]
    argv = [PROJECTQA, *connection, "ask", "-p", project, "--extractive", question]
    env = {**os.environ, "COLUMNS": "120", "LINES": "60", "TERM": "xterm"}
    for name in ("PROJECTQA_ADDRESS", "PROJECTQA_TOKEN", "NO_COLOR", "TTY_COMPATIBLE"):
        env.pop(name, None)
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=child, stderr=child, env=env)
    os.close(child)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 120)
            if not ready:
                raise AssertionError("ask printed nothing for 120 s")
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main)
        assert process.wait(timeout=60) == 0, b"".join(chunks).decode(errors="replace")
    return strip_ansi(b"".join(chunks).decode(errors="replace"))


def lines_of(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r(?!\n)", "", text)
