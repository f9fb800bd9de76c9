"""The editor bridge: hover latency, time to the first streamed chunk of an ask, bridge RSS.

Four processes on loopback, as a user runs them: the ProjectQA server (``python -m
projectqa.server`` on a copy of an ingested data directory), the fake OpenAI-compatible
LLM (chat_load's ``--fake-llm`` mode), ``projectqa-lsp`` over stdio, and this script as
the editor (pygls' LanguageClient).

The project is the tests' fixture project (``tests/service/retrieval_fixtures.py``:
the ``shop`` package, its README and tests, plus the ``notes`` folder of markdown),
written to ``bench/.work/lsp/sources`` and ingested once (kept in
``bench/.work/chat_load/ingested/``). The bridge's workspace is the ``shop`` folder, so
the project is inferred as an editor would have it.

1. **Hover**: every identifier occurrence of the fixture's Python files is a hover
   position. Each round hovers a shuffled sample of them; before each round the bridge's
   hover cache is emptied (``workspace/didChangeConfiguration``), so the first hover of a
   word in a round is a real lookup (FindSymbol + OpenFile and two keyword searches on
   the server) and later ones of the same word are cache hits. Both are reported, and
   so is everything together.
2. **Ask**: ``--asks`` asks one at a time, the fake LLM streaming ``--tokens`` tokens
   (first after ``--first-token-ms``, then one per ``--token-ms``): time from sending
   ``workspace/executeCommand`` to the first ``projectqa/answerChunk``, and to the
   response.
3. **Hover during asks**: hovers while ``--concurrent-asks`` asks stream, to show a slow
   ask does not hold up hover.
4. **RSS** of the bridge (VmRSS and its peak VmHWM) after all of that.

Nothing is asserted; it prints figures. Usage::

    .venv/bin/python bench/lsp_latency.py [--rounds 10] [--asks 30] [--tokens 300] \
        [--first-token-ms 50] [--token-ms 5] [--concurrent-asks 4]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chat_load import PROJECT, ingested_template, pct, start_fake, start_server
from lsprotocol import types
from procstat import memory_mib
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from projectqa.client import Client  # noqa: E402
from tests.service.retrieval_fixtures import write_folders  # noqa: E402

WORK = ROOT / "bench" / ".work" / "lsp"
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
QUESTIONS = ("How is the discount applied?", "What does the cart hold?",
             "How are receipts mailed?", "How is a price parsed?")  # fmt: skip


def summary(name: str, samples_ms: list[float]) -> str:
    if not samples_ms:
        return f"{name}: no samples"
    return (
        f"{name}: n={len(samples_ms)} p50 {pct(samples_ms, 0.5):.1f} ms, "
        f"p90 {pct(samples_ms, 0.9):.1f} ms, p99 {pct(samples_ms, 0.99):.1f} ms, "
        f"max {max(samples_ms):.1f} ms"
    )


class Editor:
    """The bridge as a subprocess, driven like an editor would."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.client = LanguageClient("bench-editor", "1")
        self.first_chunk: dict[str, float] = {}
        self.hovers_shown = self.definitions_shown = 0

        @self.client.feature("projectqa/answerChunk")
        def on_chunk(params: Any) -> None:
            self.first_chunk.setdefault(params.askId, time.perf_counter())

        @self.client.feature(types.WINDOW_SHOW_MESSAGE)
        def on_message(params: types.ShowMessageParams) -> None:
            print(f"  (bridge says: {params.message})")

    async def start(self, env: dict[str, str]) -> int:
        await self.client.start_io(sys.executable, "-m", "projectqa.lsp", env=env)
        root = from_fs_path(str(self.workspace))
        await self.client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                root_uri=root,
                workspace_folders=[types.WorkspaceFolder(uri=root, name="shop")],
            )
        )
        self.client.initialized(types.InitializedParams())
        deadline = time.monotonic() + 60
        while not (await self.command("projectqa.status"))["connected"]:
            if time.monotonic() > deadline:
                raise SystemExit("the bridge did not connect")
            await asyncio.sleep(0.1)
        return self.client._server.pid  # type: ignore[union-attr]

    async def command(self, name: str, *arguments: Any) -> Any:
        params = types.ExecuteCommandParams(command=name, arguments=list(arguments))
        return await self.client.workspace_execute_command_async(params)

    def open(self, path: Path) -> tuple[str, str]:
        uri = from_fs_path(str(path))
        text = path.read_text(encoding="utf-8")
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text))
        )
        return uri, text

    async def hover(self, uri: str, line: int, character: int) -> float:
        started = time.perf_counter()
        shown = await self.client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(line, character))
        )
        elapsed = (time.perf_counter() - started) * 1000
        self.hovers_shown += shown is not None
        self.definitions_shown += shown is not None and "**`" in shown.contents.value
        return elapsed

    def clear_hover_cache(self) -> None:
        self.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={})
        )

    async def ask(self, ask_id: str, question: str) -> tuple[float, float]:
        started = time.perf_counter()
        await self.command("projectqa.ask", {"question": question, "askId": ask_id})
        done = time.perf_counter()
        first = self.first_chunk.get(ask_id, done)
        return (first - started) * 1000, (done - started) * 1000

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


def positions(editor: Editor, shop: Path) -> list[tuple[str, str, int, int]]:
    """(uri, word, line, character) of every identifier in the fixture's Python files."""
    found = []
    for path in sorted(shop.rglob("*.py")):
        uri, text = editor.open(path)
        for number, line in enumerate(text.splitlines()):
            for match in IDENTIFIER.finditer(line):
                found.append((uri, match.group(), number, match.start() + 1))
    return found


async def hovers(editor: Editor, spots: list, rounds: int, per_round: int) -> None:
    rng = random.Random(7)
    first, repeat, defined = [], [], []
    for _ in range(rounds):
        editor.clear_hover_cache()
        await editor.command("projectqa.status")  # the change has been handled
        seen: set[str] = set()
        for uri, word, line, character in rng.sample(spots, min(per_round, len(spots))):
            before = editor.definitions_shown
            elapsed = await editor.hover(uri, line, character)
            (repeat if word in seen else first).append(elapsed)
            if word not in seen and editor.definitions_shown > before:
                defined.append(elapsed)
            seen.add(word)
    print(summary("hover, first of its word in a round (3 RPCs + OpenFile)", first))
    print(summary("  of which showing a definition (all four RPCs)", defined))
    print(summary("hover, repeated word (bridge cache)", repeat))
    print(summary("hover, all", first + repeat))
    print(f"  {editor.hovers_shown} of {len(first) + len(repeat)} hovers showed something, "
          f"{editor.definitions_shown} a definition")  # fmt: skip


async def asks(editor: Editor, count: int) -> None:
    firsts, totals = [], []
    for i in range(count):
        first, total = await editor.ask(f"ask-{i}", QUESTIONS[i % len(QUESTIONS)])
        firsts.append(first)
        totals.append(total)
    print(summary("ask, time to first streamed chunk", firsts))
    print(summary("ask, time to the response (whole answer)", totals))


async def hovers_during_asks(editor: Editor, spots: list, concurrent: int) -> None:
    rng = random.Random(11)
    running = [
        asyncio.create_task(editor.ask(f"busy-{i}", QUESTIONS[i % len(QUESTIONS)]))
        for i in range(concurrent)
    ]
    samples = []
    while not all(task.done() for task in running):
        editor.clear_hover_cache()
        uri, _, line, character = rng.choice(spots)
        samples.append(await editor.hover(uri, line, character))
    await asyncio.gather(*running)
    print(summary(f"hover (uncached) while {concurrent} asks stream", samples))


async def run(args: argparse.Namespace, address: str, token: str, shop: Path) -> None:
    env = {"PROJECTQA_ADDRESS": address, "PROJECTQA_TOKEN": token, "PATH": "/usr/bin:/bin"}
    editor = Editor(shop)
    started = time.perf_counter()
    pid = await editor.start(env)
    print(f"bridge up and connected in {(time.perf_counter() - started) * 1000:.0f} ms")
    print(f"bridge RSS after start: {memory_mib(pid)['VmRSS']:.0f} MiB")
    await editor.ask("warm-up", QUESTIONS[0])  # the server loads its embedding model lazily
    spots = positions(editor, shop)
    words = len({word for _, word, _, _ in spots})
    print(f"{len(spots)} hover positions over {words} distinct words")
    await hovers(editor, spots, args.rounds, args.per_round)
    await asks(editor, args.asks)
    await hovers_during_asks(editor, spots, args.concurrent_asks)
    memory = memory_mib(pid)
    print(f"bridge RSS: {memory['VmRSS']:.0f} MiB now, peak {memory['VmHWM']:.0f} MiB")
    await editor.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=150)
    parser.add_argument("--asks", type=int, default=30)
    parser.add_argument("--concurrent-asks", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--first-token-ms", type=float, default=50.0)
    parser.add_argument("--token-ms", type=float, default=5.0)
    args = parser.parse_args()

    sources = WORK / "sources"
    if not (sources / "shop").exists():
        write_folders(sources)
    shop = sources / "shop"
    args.project_dir = str(shop)
    template = ingested_template(args)
    with tempfile.TemporaryDirectory(prefix="lsp-bench-") as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(template, data)
        server, address = start_server(data, Path(tmp) / "server.log")
        fake, base_url = start_fake(args, Path(tmp) / "arrivals")
        try:
            token = (data / "admin.token").read_text().strip()
            with Client(address, token, timeout=60) as client:
                (profile,) = client.list_llm_profiles(PROJECT)
                client.update_llm_profile(profile.id, base_url=base_url, clear_api_key=True)
            print(
                f"server {address}, fake LLM {base_url}: {args.tokens} tokens per answer, "
                f"first after {args.first_token_ms:.0f} ms, then {args.token_ms:.0f} ms each"
            )
            asyncio.run(run(args, address, token, shop))
        finally:
            for process in (server, fake):
                process.terminate()
                process.wait(timeout=60)


if __name__ == "__main__":
    main()
