"""Chat load: concurrent SendMessage streams against a fake LLM, on loopback.

Three processes, so each gets its own interpreter (and GIL): the server
(``python -m projectqa.server`` on a copy of an ingested SQLite data directory), the fake
OpenAI-compatible LLM (``tests/fakes/llm_server.py``'s ``FakeLlm`` run by this
script's hidden ``--fake-llm`` mode, which also notes when each request
arrives) and this client (grpc.aio, the generated ``ChatServiceStub``).

1. ingests ``--project-dir`` (default: this repository's ``server/``) with the
   ``local`` connector, so retrieval is real (real embeddings, FAISS, BM25);
2. makes a project-default LLM profile (OPENAI_COMPATIBLE) pointing at the
   fake, which streams ``--tokens`` word tokens per answer, the first after
   ``--first-token-ms``, then one per ``--token-ms``;
3. creates one chat per stream, opens the client channels, runs two cold
   turns and ``--baseline`` turns one at a time (the unloaded figures);
4. starts ``--streams`` SendMessage streams, one per chat, at start times
   spread evenly over ``--ramp-s`` seconds, and records per stream when it was
   sent, its first event, its first answer delta and its end.

Each question carries a tag (``bench-turn-s17``) that the fake finds in the
prompt, so the server's overhead before the LLM request (auth, storing the
turn, retrieval, prompt build, the HTTP request) is measured per stream as
(fake received the POST) - (client sent SendMessage); both clocks are
``time.monotonic`` (CLOCK_MONOTONIC, shared by processes on one Linux host).
Server CPU (utime + stime of the process, from /proc) over the load phase is
divided by the turns completed, and split by thread (the main thread runs the
event loop; store calls and retrieval run on the store thread pool; gRPC's
poller is another thread). The fake's and this client's CPU, and the whole
machine's, are printed beside it: on a small machine they compete for the same
cores. RSS is VmRSS, the peak is VmHWM after resetting it
(``/proc/PID/clear_refs``) just before the load phase. ``--profile-server``
runs the server under cProfile (its main thread only) and prints the top
functions.

``chat_turns.py`` measures few turns instead, against the fake and a real
OpenAI-compatible server, and splits each into the model's time and the server's.

The ingested data directory is kept in ``bench/.work/chat_load/ingested/`` and
copied for each run (delete it to ingest again). Nothing is asserted; it prints
figures. Usage::

    .venv/bin/python bench/chat_load.py [--streams 500] [--ramp-s 5] [--tokens 300] \
        [--first-token-ms 50] [--token-ms 5] [--project-dir DIR] [--baseline 10] \
        [--channels 0] [--profile-server FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from procstat import (
    cpu_seconds,
    machine_busy,
    memory_mib,
    reset_peak,
    thread_cpu,
    thread_split,
)

from projectqa.client import Client
from projectqa.v1 import admin_pb2, chat_pb2, chat_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "chat_load"
PROJECT = "chatbench"
TAG = re.compile(r"bench-turn-([sbw]\d+)")
COLD_TURNS = 2  # first turns load the index and open pools; not reported
STREAM_DEADLINE_S = 600.0
SAMPLE_S = 0.25
IDLE_S = 3.0
PROFILE_LINES = 40


# ------------------------------------------------------------ the fake LLM
def serve_fake(args: argparse.Namespace) -> None:
    """Internal mode: the fake LLM, writing "tag monotonic-time" per request it receives."""
    sys.path.insert(0, str(ROOT))
    from tests.fakes.llm_server import FakeLlm, bench_reply

    class TimedFakeLlm(FakeLlm):
        def __init__(self, arrivals: Path) -> None:
            super().__init__(0, record=False)
            self._arrivals = arrivals.open("a", buffering=1)
            self._write = threading.Lock()

        def _take(self, seen: Any) -> Any:
            at = time.monotonic()  # the body has been read: the request has arrived
            found = TAG.search(json.dumps(seen.body.get("messages", [])[-1:]))
            with self._write:
                self._arrivals.write(f"{found.group(1) if found else '-'} {at:.6f}\n")
            return super()._take(seen)

    reply = bench_reply(args.tokens, args.first_token_ms, args.token_ms)
    fake = TimedFakeLlm(Path(args.fake_llm))
    fake.handler = lambda body: reply
    print(f"fake LLM serving at {fake.base_url}", flush=True)
    threading.Event().wait()  # until the bench terminates this process


def start_fake(args: argparse.Namespace, arrivals: Path) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, __file__, "--fake-llm", str(arrivals), "--tokens",
               str(args.tokens), "--first-token-ms", str(args.first_token_ms),
               "--token-ms", str(args.token_ms)]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline() if proc.stdout else ""
    if "serving at" not in line:
        proc.kill()
        raise SystemExit(f"the fake LLM did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1].strip()


def read_arrivals(path: Path) -> dict[str, float]:
    arrivals = {}
    for line in path.read_text().splitlines():
        tag, at = line.split()
        arrivals.setdefault(tag, float(at))  # a retried request keeps its first arrival
    return arrivals


# ---------------------------------------------------------------- the server
def start_server(
    data_dir: Path, log: Path, profile: Path | None = None,
    main: list[str] | None = None, settings: dict[str, str] | None = None,
) -> tuple[subprocess.Popen, str]:  # fmt: skip
    """The server on a free loopback port; with ``profile``, under cProfile (event-loop thread).

    ``main`` replaces ``-m projectqa.server`` (a script that wraps it); ``settings`` adds
    ``PROJECTQA_*`` variables."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OLLAMA_HOST")},
        "PROJECTQA_DATA_DIR": str(data_dir),
        "PROJECTQA_LISTEN_ADDRESS": "127.0.0.1:0",
        # One token opens every stream: lift the per-caller stream budget (and the total).
        "PROJECTQA_MAX_STREAMS": "5000",
        "PROJECTQA_MAX_STREAMS_PER_CALLER": "5000",
        "PROJECTQA_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        **(settings or {}),
    }
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, *(["-m", "cProfile", "-o", str(profile)] if profile else []),
             *(main or ["-m", "projectqa.server"])], env=env, stdout=out, stderr=out,
        )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(r"listening on (\S+)", log.read_text())
        if found:
            return proc, found.group(1)
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the server did not start; see {log}")


def ingested_template(args: argparse.Namespace) -> Path:
    """A stopped server's data directory with the project ingested (made once, then reused)."""
    folder = Path(args.project_dir).resolve()
    template = WORK / "ingested" / re.sub(r"[^A-Za-z0-9]+", "-", str(folder)).strip("-")
    if (template / ".complete").exists():
        print(f"reusing the ingested data directory {template} (delete it to ingest again)")
        return template
    shutil.rmtree(template, ignore_errors=True)
    template.mkdir(parents=True)
    server, address = start_server(template, WORK / "ingest.log")
    try:
        token = (template / "admin.token").read_text().strip()
        with Client(address, token, timeout=60) as client:
            client.create_project(PROJECT, "Chat bench")
            client.create_connector(PROJECT, "local", "code", {"path": str(folder)})
            started = time.monotonic()
            (run,) = client.start_ingestion(PROJECT, "code", "full")
            run = client.wait_for_ingestion(run.id)
            client.create_llm_profile(
                "fake", provider=admin_pb2.LLM_PROVIDER_OPENAI_COMPATIBLE, model="fake",
                project=PROJECT, base_url="http://127.0.0.1:9/v1", timeout_seconds=300,
                is_default=True,
            )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(
        f"ingested {folder}: {run.counts.documents_seen} documents, "
        f"{run.counts.chunks_written} chunks in {time.monotonic() - started:.0f} s "
        f"(status {run.status}, error {run.error!r}); kept in {template}"
    )
    (template / ".complete").touch()
    return template


def prepare(address: str, token: str, count: int, base_url: str) -> list[str]:
    """Points the project's default LLM profile at the fake; returns ``count`` new chat ids."""
    with Client(address, token, timeout=60) as client:
        (profile,) = client.list_llm_profiles(PROJECT)
        client.update_llm_profile(profile.id, base_url=base_url, clear_api_key=True)
        return [client.create_chat(PROJECT).id for _ in range(count)]


def questions(project_dir: Path, count: int) -> list[str]:
    """Distinct questions about the folder's own definitions (no query-cache hits)."""
    definition = re.compile(r"^\s*(?:def|class) ([A-Za-z_]\w{3,})", re.M)
    names = sorted(
        {
            m.group(1)
            for p in project_dir.rglob("*.py")
            for m in definition.finditer(p.read_text("utf-8", "replace"))
        }
    ) or ["the configuration", "error handling", "the main loop", "tests"]
    templates = ("how does {} work?", "where is {} used?", "what calls {} and why?",
                 "explain {}", "what can go wrong in {}?")  # fmt: skip
    rng = random.Random(5)
    return [rng.choice(templates).format(rng.choice(names)) for _ in range(count)]


# ------------------------------------------------------------------- the load
@dataclass(slots=True)
class Stream:
    tag: str
    scheduled: float = 0.0  # when it should have been sent (monotonic)
    sent: float = 0.0
    first_event: float = 0.0
    first_token: float = 0.0
    end: float = 0.0
    deltas: int = 0
    outcome: str = ""  # "done", or what went wrong
    message: str = ""


async def run_stream(stub: Any, token: str, chat_id: str, question: str, s: Stream) -> None:
    await asyncio.sleep(max(0.0, s.scheduled - time.monotonic()))
    request = chat_pb2.SendMessageRequest(chat_id=chat_id, content=question)
    s.sent = time.monotonic()
    call = stub.SendMessage(
        request, metadata=(("authorization", f"Bearer {token}"),), timeout=STREAM_DEADLINE_S
    )
    try:
        async for event in call:
            now = time.monotonic()
            s.first_event = s.first_event or now
            kind = event.WhichOneof("event")
            if kind == "answer_delta":
                s.first_token = s.first_token or now
                s.deltas += 1
            elif kind == "done":
                s.outcome = "done"
            elif kind == "error":
                s.outcome, s.message = f"error {event.error.reason}", event.error.message
    except grpc.aio.AioRpcError as exc:
        s.outcome, s.message = f"rpc {exc.code().name}", exc.details() or ""
    s.end = time.monotonic()
    if not s.outcome:
        s.outcome = "ended without done or error"


def open_channels(address: str, count: int) -> list[grpc.aio.Channel]:
    # A local subchannel pool per channel: separate connections, as separate users have.
    options = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_receive_message_length", -1)]
    return [grpc.aio.insecure_channel(address, options=options) for _ in range(count)]


async def sample(pids: dict[str, int], peaks: dict[str, float], stop: asyncio.Event) -> None:
    """Highest RSS seen per process while the load runs (VmHWM cross-check)."""
    while not stop.is_set():
        for name, pid in pids.items():
            peaks[name] = max(peaks.get(name, 0.0), memory_mib(pid)["VmRSS"])
        await asyncio.sleep(SAMPLE_S)


@dataclass(slots=True)
class Phase:
    streams: list[Stream]
    wall_s: float
    cpu_s: dict[str, float]  # per process over the phase
    machine_busy_s: float  # all processes on the machine
    rss_peak: dict[str, float]
    server_threads: str  # the server's CPU by thread


async def phase(
    channels: list[grpc.aio.Channel], token: str, work: list[tuple[str, str, str]],
    ramp_s: float, pids: dict[str, int],
) -> Phase:  # fmt: skip
    """Run ``work`` (tag, chat id, question), starts spread over ``ramp_s`` (0: one by one)."""
    stubs = [chat_pb2_grpc.ChatServiceStub(c) for c in channels]
    streams = [Stream(tag) for tag, _, _ in work]
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    cpu0["client"] = time.process_time()
    threads0 = thread_cpu(pids["server"])
    busy0, started = machine_busy(), time.monotonic()
    peaks: dict[str, float] = {}
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample(pids, peaks, stop))
    if ramp_s > 0:
        for i, s in enumerate(streams):
            s.scheduled = started + ramp_s * i / len(streams)
        await asyncio.gather(*(
            run_stream(stubs[i % len(stubs)], token, chat, question, s)
            for i, ((_, chat, question), s) in enumerate(zip(work, streams, strict=True))
        ))  # fmt: skip
    else:
        for i, ((_, chat, question), s) in enumerate(zip(work, streams, strict=True)):
            s.scheduled = time.monotonic()
            await run_stream(stubs[i % len(stubs)], token, chat, question, s)
    wall = time.monotonic() - started
    stop.set()
    await sampler
    cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
    cpu["client"] = time.process_time() - cpu0["client"]
    threads = thread_split(pids["server"], threads0, thread_cpu(pids["server"]))
    return Phase(streams, wall, cpu, machine_busy() - busy0, peaks, threads)


# -------------------------------------------------------------------- figures
def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, samples: list[float]) -> str:
    if not samples:
        return f"  {name:<44} (none)"
    ms = [1000 * v for v in samples]
    return (
        f"  {name:<44}{pct(ms, 0.5):>8.0f}{pct(ms, 0.95):>8.0f}{pct(ms, 0.99):>8.0f}"
        f"{max(ms):>8.0f}   n={len(ms)}"
    )


def report(title: str, p: Phase, arrivals: dict[str, float], args: argparse.Namespace) -> None:
    ok = [s for s in p.streams if s.outcome == "done"]
    bad = [s for s in p.streams if s.outcome != "done"]
    print(f"\n== {title}: {len(p.streams)} streams, wall {p.wall_s:.2f} s, "
          f"{len(ok) / p.wall_s:.1f} turns/s")  # fmt: skip
    print(f"  {'ms':<44}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}")
    got = [s for s in p.streams if s.first_event]
    print(line("send -> first event (turn_started)", [s.first_event - s.sent for s in got]))
    toks = [s for s in p.streams if s.first_token]
    print(line("send -> first answer token", [s.first_token - s.sent for s in toks]))
    arrived = [s for s in p.streams if s.tag in arrivals]
    overhead = [arrivals[s.tag] - s.sent for s in arrived]
    print(line("server overhead: send -> LLM request arrives", overhead))
    relay = [s.first_token - arrivals[s.tag] - args.first_token_ms / 1000
             for s in arrived if s.first_token]  # fmt: skip
    print(line("first LLM token -> client (relay, est.)", relay))
    print(line("send -> done", [s.end - s.sent for s in ok]))
    ideal = max(args.tokens - 1, 0) * args.token_ms / 1000
    print(line(f"first -> last token (fake paces {ideal * 1000:.0f})",
               [s.end - s.first_token for s in ok if s.first_token]))  # fmt: skip
    late = [s.sent - s.scheduled for s in p.streams]
    print(line("client send lag behind schedule", late))
    deltas = sorted(s.deltas for s in ok) or [0]
    print(f"  answer deltas per completed stream: min {deltas[0]}, median "
          f"{deltas[len(deltas) // 2]}, max {deltas[-1]} (fake sends {args.tokens})")  # fmt: skip
    print(f"  errors: {len(bad)}" + (f" {dict(Counter(s.outcome for s in bad))}" if bad else ""))
    for s in bad[:5]:
        print(f"    {s.tag}: {s.outcome}: {s.message[:300]}")
    turns = max(len(ok), 1)
    cpu = p.cpu_s
    print(
        f"  CPU over the phase (s): server {cpu['server']:.2f} ({cpu['server'] / turns * 1000:.1f}"
        f" ms per turn), fake LLM {cpu['fake']:.2f}, client {cpu['client']:.2f}; all processes "
        f"on the machine {p.machine_busy_s:.2f} = {p.machine_busy_s / p.wall_s:.2f} of "
        f"{os.cpu_count()} cores busy on average"
    )
    print(f"  server CPU by thread: {p.server_threads}")
    print(
        f"  peak RSS sampled every {SAMPLE_S} s (MiB): "
        + ", ".join(f"{k} {v:.0f}" for k, v in p.rss_peak.items())
    )


async def drive(
    address: str, token: str, chats: list[str], args: argparse.Namespace,
    pids: dict[str, int], arrivals: Path,
) -> None:  # fmt: skip
    asked = questions(Path(args.project_dir), len(chats))
    work = [(f"{k}{i}", c, f"{q} (bench-turn-{k}{i})")
            for (k, i), c, q in zip(_tags(args), chats, asked, strict=True)]  # fmt: skip
    cold = work[:COLD_TURNS]
    baseline = work[COLD_TURNS : COLD_TURNS + args.baseline]
    load = work[COLD_TURNS + args.baseline :]
    channels = open_channels(address, args.channels or len(load))
    await asyncio.gather(*(c.channel_ready() for c in channels))
    print(f"{len(channels)} client channels (connections) open")
    idle0 = cpu_seconds(pids["server"])
    await asyncio.sleep(IDLE_S)
    idle = (cpu_seconds(pids["server"]) - idle0) / IDLE_S
    print(f"server CPU while idle: {idle * 1000:.0f} ms per second (over {IDLE_S:g} s)")
    await phase(channels[:1], token, cold, 0, pids)
    one = await phase(channels[:1], token, baseline, 0, pids)
    report(f"one at a time (after {COLD_TURNS} cold turns)", one, read_arrivals(arrivals), args)
    before = memory_mib(pids["server"])
    reset = reset_peak(pids["server"])
    loaded = await phase(channels, token, load, args.ramp_s, pids)
    after = memory_mib(pids["server"])
    title = f"load: {len(load)} streams started over {args.ramp_s:g} s"
    report(title, loaded, read_arrivals(arrivals), args)
    print(
        f"  server RSS (MiB): before {before['VmRSS']:.0f}, after {after['VmRSS']:.0f}, "
        f"peak {after['VmHWM']:.0f} ("
        + ("VmHWM reset before the load" if reset else "VmHWM since start: includes ingestion")
        + ")"
    )
    await asyncio.gather(*(c.close() for c in channels))


def _tags(args: argparse.Namespace) -> list[tuple[str, int]]:
    return (
        [("w", i) for i in range(COLD_TURNS)]
        + [("b", i) for i in range(args.baseline)]
        + [("s", i) for i in range(args.streams)]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--ramp-s", type=float, default=5.0, help="start times spread over this")
    parser.add_argument("--tokens", type=int, default=300, help="tokens per fake answer")
    parser.add_argument("--first-token-ms", type=float, default=50.0)
    parser.add_argument("--token-ms", type=float, default=5.0)
    parser.add_argument("--project-dir", default=str(ROOT / "server"), help="folder to ingest")
    parser.add_argument("--baseline", type=int, default=10, help="turns one at a time first")
    parser.add_argument("--channels", type=int, default=0, help="client connections; 0: one "
                        "per stream")  # fmt: skip
    parser.add_argument("--profile-server", metavar="FILE", help="run the server under "
                        "cProfile, save the stats to FILE and print the top functions")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--fake-llm", help=argparse.SUPPRESS)  # internal: serve the fake
    args = parser.parse_args()
    if args.fake_llm:
        serve_fake(args)
        return
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    template = ingested_template(args)
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=WORK))
    shutil.copytree(template, data_dir, dirs_exist_ok=True)
    log, arrivals = WORK / "server.log", WORK / "arrivals.txt"
    arrivals.write_text("")
    fake, base_url = start_fake(args, arrivals)
    profile = Path(args.profile_server).resolve() if args.profile_server else None
    server, address = start_server(data_dir, log, profile)
    try:
        token = (data_dir / "admin.token").read_text().strip()
        chats = prepare(address, token, args.streams + COLD_TURNS + args.baseline, base_url)
        print(
            f"server {address} (pid {server.pid}), fake LLM {base_url} (pid {fake.pid}): "
            f"{args.tokens} tokens, first after {args.first_token_ms:g} ms, then one per "
            f"{args.token_ms:g} ms"
        )
        pids = {"server": server.pid, "fake": fake.pid}
        asyncio.run(drive(address, token, chats, args, pids, arrivals))
    finally:
        server.terminate()
        fake.terminate()
        server.wait(timeout=60)
        fake.wait(timeout=10)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    problems = [ln for ln in log.read_text().splitlines() if '"level": "' in ln]
    print(f"\nserver log {log}: {len(problems)} log records" + (":" if problems else ""))
    for ln in problems[:5]:
        print(f"  {ln[:400]}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    if profile:
        print_profile(profile)


def print_profile(profile: Path) -> None:
    """Where the server's event-loop thread spent its time (the whole run, cProfile)."""
    import pstats

    stats = pstats.Stats(str(profile), stream=sys.stdout)
    print(f"\n== server profile ({profile}; main thread only, cProfile slows it down)")
    stats.sort_stats("tottime").print_stats(PROFILE_LINES)
    stats.sort_stats("cumulative").print_stats(PROFILE_LINES)


if __name__ == "__main__":
    main()
