"""Overload: thousands of WatchIngestion streams while another client times WhoAmI and Search.

Three processes on loopback: the server (``projectqa serve`` with DEFAULT settings: only
the data directory and a free port are set), this script as the storm client (grpc.aio),
and this script's hidden ``--probe`` mode as the second client, which calls WhoAmI and
Search (as another member) every ``--probe-interval-ms`` until told to stop.

1. The data directory is ``chat_load.py``'s ingested template (project ``chatbench``:
   this repository's ``server/`` ingested once, kept in ``bench/.work/chat_load/``),
   copied per run; Search answers from it.
2. A ``local`` connector ``big`` over a copy of this repository's sources (kept in
   ``bench/.work/overload/big``) starts a FULL run: a real ingestion, embedding on the
   CPU, is the run every stream watches (and the load a server has while people watch).
3. Phases: a baseline (the probe alone for ``--baseline-s``), then for each storm size
   (``--streams 1000,2000``): the probe starts, N WatchIngestion streams open at once
   (as ``--members`` members, one token each, default 1: the attack of issue 13),
   spread over ``--channels`` connections; each records its first event or its error;
   once all have one (or ``--open-timeout-s``), they are held ``--hold-s`` and closed.

Per phase it prints the streams by outcome (open until the client closed them, or the
status the server refused them with), time to first event and time to refusal
p50/p95/p99/max, the probe's WhoAmI and Search latency and errors during the storm
(target: 0 errors), the server's RSS (before, sampled peak, VmHWM, after) and the
"rpc refused" lines the server logged (rate-limited: at most one per caller per 10 s,
with the count left out). Nothing is asserted. Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/overload.py [--streams 1000,2000] [--members 1] \\
        [--channels 20] [--hold-s 15] [--baseline-s 10] [--search-mode keyword]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
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
from chat_load import PROJECT, ingested_template, line, open_channels, questions, sample
from procstat import cpu_seconds, machine_busy, memory_mib, reset_peak, thread_cpu, thread_split

from projectqa.client import Client
from projectqa.client.retrieval import search_mode
from projectqa.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    common_pb2,
    ingestion_pb2,
    ingestion_pb2_grpc,
    retrieval_pb2,
    retrieval_pb2_grpc,
)

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "overload"
SOURCES = ("server", "tests", "clients", "lsp", "plugins", "docs", "protos")
IGNORED = shutil.ignore_patterns("node_modules", "__pycache__", ".work", "*.sqlite3*")
CALL_TIMEOUT_S = 10.0  # a probe call slower than this counts as an error
START_TIMEOUT_S = 180.0
OPEN = "open until the client closed it"
ENDED = "ended by the server (the run finished)"


# ---------------------------------------------------------------- the server
def start_server(data_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """``projectqa serve`` with default settings on a free loopback port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROJECTQA_")}
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OLLAMA_HOST"):
        env.pop(name, None)
    env |= {
        "PROJECTQA_DATA_DIR": str(data_dir),
        "PROJECTQA_LISTEN_ADDRESS": "127.0.0.1:0",
        "HF_HUB_OFFLINE": "1",
    }
    program = Path(sys.executable).parent / "projectqa"
    with log.open("w") as out:
        proc = subprocess.Popen([str(program), "serve"], env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(r"listening on (\S+)", log.read_text())
        if found:
            return proc, found.group(1)
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the server did not start; see {log}")


def big_folder() -> Path:
    """A copy of this repository's sources (made once): the run the streams watch."""
    big = WORK / "big"
    if not (big / ".complete").exists():
        shutil.rmtree(big, ignore_errors=True)
        for name in SOURCES:
            shutil.copytree(ROOT / name, big / name, ignore=IGNORED, symlinks=True)
        (big / ".complete").touch()
    return big


@dataclass(frozen=True)
class Setup:
    run_id: str
    storm_tokens: list[str]
    probe_token: str


def prepare(address: str, admin_token: str, members: int) -> Setup:
    """Members for the storm and the probe; the big run started and embedding."""
    with Client(address, admin_token, timeout=60) as client:
        tokens = []
        for name in [f"storm{i}" for i in range(members)] + ["probe"]:
            client.create_user(name)
            client.add_member(PROJECT, name, common_pb2.PROJECT_ROLE_MEMBER)
            tokens.append(client.create_token(user=name, description="overload bench").secret)
        client.create_connector(PROJECT, "local", "big", {"path": str(big_folder())})
        (run,) = client.start_ingestion(PROJECT, "big", "full")
        # Wait for its first chunks: the model is loaded then, so RSS changes are the storm's.
        deadline = time.monotonic() + START_TIMEOUT_S
        while not run.counts.chunks_written:
            if time.monotonic() > deadline or run.phase == "done":
                raise SystemExit(f"the big run is not embedding: {run}")
            time.sleep(0.5)
            run = client.get_ingestion_run(run.id)
    return Setup(run.id, tokens[:-1], tokens[-1])


def run_state(address: str, admin_token: str, run_id: str) -> str:
    with Client(address, admin_token, timeout=60) as client:
        run = client.get_ingestion_run(run_id)
    name = ingestion_pb2.IngestionStatus.Name(run.status).removeprefix("INGESTION_STATUS_")
    counts = run.counts
    return f"{name}, {counts.documents_seen} documents, {counts.chunks_written} chunks written"


# ----------------------------------------------------------------- the probe
def probe_main(args: argparse.Namespace) -> None:
    """Internal mode: WhoAmI + Search every interval until stdin closes; JSON on stdout."""
    results = asyncio.run(probe(args))
    print(json.dumps(results), flush=True)


async def probe(args: argparse.Namespace) -> dict[str, list[tuple[float, str]]]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def wait_for_eof() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    metadata = (("authorization", f"Bearer {args.token}"),)
    asked = questions(Path(args.project_dir), 5000)
    results: dict[str, list[tuple[float, str]]] = {"WhoAmI": [], "Search": []}
    async with grpc.aio.insecure_channel(args.probe) as channel:
        await channel.channel_ready()
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        retrieval = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        print("ready", file=sys.stderr, flush=True)
        for i in itertools.count():
            if stop.is_set():
                break
            next_at = time.monotonic() + args.probe_interval_ms / 1000
            whoami = admin.WhoAmI(admin_pb2.WhoAmIRequest(), metadata=metadata)
            results["WhoAmI"].append(await timed(whoami))
            request = retrieval_pb2.SearchRequest(
                project=PROJECT, query=asked[i % len(asked)], mode=search_mode(args.search_mode)
            )
            results["Search"].append(await timed(retrieval.Search(request, metadata=metadata)))
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    return results


async def timed(call: Any) -> tuple[float, str]:
    started = time.monotonic()
    try:
        await asyncio.wait_for(call, CALL_TIMEOUT_S)
        code = "OK"
    except grpc.aio.AioRpcError as exc:
        code = exc.code().name
    except TimeoutError:
        code = "DEADLINE_EXCEEDED"
    return time.monotonic() - started, code


class Probe:
    """The probe process of one phase."""

    def __init__(self, address: str, token: str, args: argparse.Namespace) -> None:
        command = [sys.executable, __file__, "--probe", address, "--token", token,
                   "--search-mode", args.search_mode, "--probe-interval-ms",
                   str(args.probe_interval_ms), "--project-dir", args.project_dir]  # fmt: skip
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=ROOT,
        )  # fmt: skip
        said = []
        while self.proc.stderr and (said_line := self.proc.stderr.readline()):
            if said_line.strip() == "ready":
                return
            said.append(said_line)
        self.proc.kill()
        raise SystemExit(f"the probe did not start: {''.join(said)[-2000:]}")

    def stop(self) -> dict[str, list[tuple[float, str]]]:
        out, err = self.proc.communicate(input="", timeout=CALL_TIMEOUT_S * 3)
        if self.proc.returncode:
            raise SystemExit(f"the probe failed: {err[-2000:]}")
        return json.loads(out)


# ----------------------------------------------------------------- the storm
@dataclass(slots=True)
class Stream:
    sent: float = 0.0
    first: float = 0.0  # first event
    end: float = 0.0
    outcome: str = ""
    details: str = ""


class Settled:
    """Counts streams that had their first event or their error; set when all have."""

    def __init__(self, total: int) -> None:
        self.total, self.count, self.all = total, 0, asyncio.Event()

    def one(self) -> None:
        self.count += 1
        if self.count == self.total:
            self.all.set()


async def watch(stub: Any, token: str, request: Any, s: Stream, settled: Settled) -> None:
    """One WatchIngestion stream, read until the server ends it or the task is cancelled."""
    s.sent = time.monotonic()
    call = stub.WatchIngestion(request, metadata=(("authorization", f"Bearer {token}"),))
    try:
        async for _ in call:
            if not s.first:
                s.first = time.monotonic()
                settled.one()
        s.outcome = ENDED
    except grpc.aio.AioRpcError as exc:
        s.outcome, s.details = exc.code().name, exc.details() or ""
    except asyncio.CancelledError:
        call.cancel()
        s.outcome = OPEN if s.first else "CANCELLED before its first event"
    finally:
        s.end = time.monotonic()
        if not s.first:
            settled.one()


async def start_storm(
    stubs: list[Any],
    setup: Setup,
    streams: list[Stream],
    settled: Settled,
    args: argparse.Namespace,
) -> list[asyncio.Task[None]]:
    """Every stream's task, the sends spread over ``--ramp-s`` (0: all at once)."""
    request = ingestion_pb2.WatchIngestionRequest(
        run_id=setup.run_id, interval_seconds=args.interval_s
    )
    tasks = []
    for i, s in enumerate(streams):
        if args.ramp_s:
            await asyncio.sleep(args.ramp_s / len(streams))
        token = setup.storm_tokens[i % len(setup.storm_tokens)]
        tasks.append(asyncio.create_task(watch(stubs[i % len(stubs)], token, request, s, settled)))
    return tasks


@dataclass(slots=True)
class Phase:
    streams: list[Stream]
    opened_s: float  # from the first send until every stream had its first event or error
    probe: dict[str, list[tuple[float, str]]]
    rss: dict[str, float]
    refusal_lines: list[dict[str, Any]]
    cpu: str  # the server's CPU over the phase


class CpuMeter:
    """The server's CPU (by thread) and the machine's, from the start of a phase."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.wall, self.cpu, self.busy = time.monotonic(), cpu_seconds(pid), machine_busy()
        self.threads = thread_cpu(pid)

    def report(self) -> str:
        wall = time.monotonic() - self.wall
        cpu = cpu_seconds(self.pid) - self.cpu
        busy = machine_busy() - self.busy
        split = thread_split(self.pid, self.threads, thread_cpu(self.pid))
        return (f"server CPU {cpu:.1f} s over {wall:.1f} s ({split}); the machine "
                f"{busy / wall:.2f} of {os.cpu_count()} cores busy")  # fmt: skip


async def storm(
    address: str, setup: Setup, size: int, args: argparse.Namespace, pid: int, log: Path
) -> Phase:
    channels = open_channels(address, args.channels)
    await asyncio.gather(*(c.channel_ready() for c in channels))
    stubs = [ingestion_pb2_grpc.IngestionServiceStub(c) for c in channels]
    log_offset = log.stat().st_size
    rss = {"before": memory_mib(pid)["VmRSS"]}
    reset_peak(pid)
    peaks: dict[str, float] = {}
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(sample({"server": pid}, peaks, stop_sampling))
    probe = Probe(address, setup.probe_token, args)
    meter = CpuMeter(pid)
    streams = [Stream() for _ in range(size)]
    settled = Settled(size)
    started = time.monotonic()
    tasks = await start_storm(stubs, setup, streams, settled, args)
    try:
        await asyncio.wait_for(settled.all.wait(), args.open_timeout_s)
    except TimeoutError:
        print(f"  (not every stream had an answer after {args.open_timeout_s:g} s)")
    opened_s = time.monotonic() - started
    await asyncio.sleep(args.hold_s)
    rss["held"] = memory_mib(pid)["VmRSS"]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    probed = await asyncio.to_thread(probe.stop)
    cpu = meter.report()
    stop_sampling.set()
    await sampler
    await asyncio.gather(*(c.close() for c in channels))
    await asyncio.sleep(2)  # the server notices the cancellations and frees the streams
    after = memory_mib(pid)
    rss |= {"peak (sampled)": peaks.get("server", 0.0), "VmHWM": after["VmHWM"],
            "after": after["VmRSS"]}  # fmt: skip
    return Phase(streams, opened_s, probed, rss, refusals(log, log_offset), cpu)


def refusals(log: Path, offset: int) -> list[dict[str, Any]]:
    with log.open() as f:
        f.seek(offset)
        records = [json.loads(ln) for ln in f if ln.startswith("{")]
    return [r for r in records if r.get("msg") == "rpc refused"]


# ------------------------------------------------------------------- figures
def report_probe(probed: dict[str, list[tuple[float, str]]]) -> None:
    print(f"  {'probe (ms)':<44}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}")
    for name, calls in probed.items():
        ok = [t for t, code in calls if code == "OK"]
        errors = Counter(code for _, code in calls if code != "OK")
        shown = f" {dict(errors)}" if errors else ""
        print(line(f"{name} ({len(calls)} calls)", ok) + f"   errors {sum(errors.values())}{shown}")


def report(size: int, p: Phase, args: argparse.Namespace) -> None:
    members = f"{args.members} member token" + ("s" if args.members > 1 else "")
    when = f"over {args.ramp_s:g} s" if args.ramp_s else "at once"
    print(f"\n== storm: {size} WatchIngestion streams {when} from {members} over "
          f"{args.channels} connections; all answered within {p.opened_s:.2f} s, held "
          f"{args.hold_s:g} s")  # fmt: skip
    outcomes = Counter(s.outcome for s in p.streams)
    print("  streams by outcome: " + ", ".join(f"{k}: {v}" for k, v in outcomes.most_common()))
    for details, count in Counter(s.details for s in p.streams if s.details).most_common():
        print(f"    {count} x {details!r}")
    print(f"  {'streams (ms)':<44}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}")
    print(line("send -> first event", [s.first - s.sent for s in p.streams if s.first]))
    for outcome in sorted(o for o in outcomes if o.isupper() and o != "OK"):
        ended = [s.end - s.sent for s in p.streams if s.outcome == outcome]
        print(line(f"send -> {outcome}", ended))
    report_probe(p.probe)
    print(f"  {p.cpu}")
    print("  server RSS (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in p.rss.items()))
    opened = outcomes.get(OPEN, 0)
    if opened:
        per = (p.rss["held"] - p.rss["before"]) * 1024 / opened
        print(f"    held - before over {opened} open streams: {per:.1f} KiB per stream")
    suppressed = sum(int(r.get("suppressed", 0)) for r in p.refusal_lines)
    by_limit = Counter(r.get("limit") for r in p.refusal_lines)
    print(f"  'rpc refused' log lines: {len(p.refusal_lines)} {dict(by_limit)}, reporting "
          f"{suppressed} more left out (later refusals are counted in the next line)")  # fmt: skip


async def drive(address: str, token: str, setup: Setup, args: argparse.Namespace,
                pid: int, log: Path) -> None:  # fmt: skip
    probe = Probe(address, setup.probe_token, args)
    meter = CpuMeter(pid)
    await asyncio.sleep(args.baseline_s)
    baseline = await asyncio.to_thread(probe.stop)
    print(f"\n== baseline: the probe alone for {args.baseline_s:g} s (the big run is embedding)")
    report_probe(baseline)
    print(f"  {meter.report()}")
    print(f"  server RSS (MiB): {memory_mib(pid)['VmRSS']:.0f}")
    for size in args.streams:
        phase = await storm(address, setup, size, args, pid, log)
        report(size, phase, args)
        print(f"  watched run: {await asyncio.to_thread(run_state, address, token, setup.run_id)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="1000,2000", help="storm sizes, comma-separated")
    parser.add_argument("--members", type=int, default=1, help="member tokens the storm uses")
    parser.add_argument("--channels", type=int, default=20, help="storm connections")
    parser.add_argument("--ramp-s", type=float, default=0.0, help="spread the sends over this "
                        "(0: all at once)")  # fmt: skip
    parser.add_argument("--hold-s", type=float, default=15.0)
    parser.add_argument("--interval-s", type=float, default=0.0, help="WatchIngestion's "
                        "interval_seconds (0: the server's default, 0.5 s)")  # fmt: skip
    parser.add_argument("--open-timeout-s", type=float, default=60.0)
    parser.add_argument("--baseline-s", type=float, default=10.0)
    parser.add_argument("--search-mode", default="keyword", choices=["keyword", "hybrid", "dense"])
    parser.add_argument("--probe-interval-ms", type=float, default=50.0)
    parser.add_argument("--project-dir", default=str(ROOT / "server"),
                        help="chat_load's ingested folder (shared template)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # internal: be the probe client
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe_main(args)
        return
    args.streams = [int(n) for n in args.streams.split(",")]
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    template = ingested_template(args)
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=WORK))
    shutil.copytree(template, data_dir, dirs_exist_ok=True)
    log = WORK / "server.log"
    server, address = start_server(data_dir, log)
    token = (data_dir / "admin.token").read_text().strip()
    try:
        setup = prepare(address, token, args.members)
        print(f"server {address} (pid {server.pid}, default settings); watched run "
              f"{setup.run_id}: {run_state(address, token, setup.run_id)}")  # fmt: skip
        asyncio.run(drive(address, token, setup, args, server.pid, log))
        with Client(address, token, timeout=60) as client:
            client.cancel_ingestion(setup.run_id)
    finally:
        server.terminate()
        server.wait(timeout=60)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(f"\nserver log {log}; load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
