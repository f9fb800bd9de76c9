"""Search latency while another project ingests, and what moving ingestion out of the
serving process costs in throughput (issue 14).

Per mode, on a fresh SQLite data directory under ``bench/.work/search_during_ingest``:

1. starts ``projectqa serve`` on a free loopback port; the mode picks where ingestion runs
   (``PROJECTQA_EMBEDDED_WORKER``):

   - ``process``: the server's embedded worker, a child process (nice, its own threads);
   - ``separate``: the server with the embedded worker off, plus a ``projectqa worker``;
   - ``thread``: a worker thread inside the server process, with its own embedder: the
     baseline standing for the old in-process pipeline;

2. indexes a small project (a copy of this repository's Python client, ``local``
   connector) and waits until it is done;
3. a probe thread calls Search (``--search-mode``, default hybrid; the real client over
   127.0.0.1, one call at a time, distinct questions) on the small project
   every ``--interval-ms``: 10 warm-up calls, then ``--idle-s`` of idle figures;
4. starts a FULL ingestion of the big project (the first ``--max-files`` ``.py`` files of
   the Django sdist in path order, ``local`` connector; 1,000 files are ~12,000 chunks)
   and keeps probing until it ends (or ``--chunks`` chunks are written: then it is
   cancelled);
5. prints Search p50/p99/max idle and during ingestion and their ratio, Search errors,
   the run's chunks/s (and its embedding and indexing phases), CPU of the server and the
   worker and of the whole machine during ingestion, and the RSS of both processes
   (sampled every 0.5 s: idle, peak; VmHWM).

``--compare`` runs ``process`` and then ``thread`` on the same input and prints the
throughput ratio (target: separation costs at most 10 % chunks/s) and each mode's p99
ratio (target: p99 during <= 3 x p99 idle, no Search error). ``--busy N`` runs N
CPU-burning processes beside it from before the idle phase to the end. Settings reach
the server from the environment (``PROJECTQA_WORKER_THREADS``, ``PROJECTQA_WORKER_NICE``,
...) or ``--worker-threads``/``--worker-nice``. Nothing is asserted. Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/search_during_ingest.py [--mode process] \\
        [--compare] [--max-files 1000] [--chunks 0] [--idle-s 60] [--busy 1]
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from chat_load import questions
from procstat import cpu_seconds, machine_busy, memory_mib
from sdists import unpacked_sdist

from projectqa.client import Client, ClientError
from projectqa.v1 import ingestion_pb2

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "search_during_ingest"
SMALL, BIG = "small", "django"
IGNORED = shutil.ignore_patterns("node_modules", "__pycache__", "*.egg-info")
MODES = {"process": "process", "separate": "off", "thread": "thread"}  # -> EMBEDDED_WORKER
CALL_TIMEOUT_S = 30.0  # a Search slower than this is an error (DEADLINE_EXCEEDED)
START_TIMEOUT_S = 180.0
POLL_S = 0.5
WARM_UP_CALLS = 10
TARGET_P99_RATIO = 3.0
TARGET_THROUGHPUT = 0.9


# ---------------------------------------------------------------- the inputs
def small_folder() -> Path:
    """A copy of this repository's Python client (made once, so every run reads the same)."""
    small = WORK / "small"
    if not (small / ".complete").exists():
        shutil.rmtree(small, ignore_errors=True)
        shutil.copytree(ROOT / "clients" / "python", small, ignore=IGNORED, symlinks=True)
        (small / ".complete").touch()
    return small


def big_folder(version: str, max_files: int) -> tuple[Path, int]:
    """The first ``max_files`` ``.py`` files of the Django sdist in path order (0: all)."""
    sdist = unpacked_sdist("django", version)
    files = sorted(p.relative_to(sdist) for p in sdist.rglob("*.py"))[: max_files or None]
    big = WORK / f"django-{version}-py-{len(files)}"
    if not (big / ".complete").exists():
        shutil.rmtree(big, ignore_errors=True)
        for path in files:
            (big / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sdist / path, big / path)
        (big / ".complete").touch()
    return big, len(files)


# ------------------------------------------------------------- the processes
def server_env(data_dir: Path, mode: str, args: argparse.Namespace) -> dict[str, str]:
    env = {**os.environ, "PROJECTQA_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
           "PROJECTQA_LISTEN_ADDRESS": "127.0.0.1:0", "PROJECTQA_EMBEDDED_WORKER": MODES[mode],
           "PROJECTQA_LOG_LEVEL": os.environ.get("PROJECTQA_LOG_LEVEL", "WARNING")}  # fmt: skip
    if args.worker_threads is not None:
        env["PROJECTQA_WORKER_THREADS"] = str(args.worker_threads)
    if args.worker_nice is not None:
        env["PROJECTQA_WORKER_NICE"] = str(args.worker_nice)
    return env


def start(command: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    program = Path(sys.executable).parent / "projectqa"
    with log.open("w") as out:
        return subprocess.Popen([str(program), command], env=env, stdout=out, stderr=out)


def address_of(server: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and server.poll() is None:
        found = re.search(r"listening on (\S+)", log.read_text())
        if found:
            return found.group(1)
        time.sleep(0.1)
    raise SystemExit(f"the server did not start; see {log}")


def worker_child(server_pid: int) -> int | None:
    """The embedded worker: the server's child running ``projectqa.server.worker``."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == server_pid and b"projectqa.server.worker" in cmdline:
            return int(proc.name)
    return None


def burners(count: int) -> list[subprocess.Popen]:
    """``count`` processes that each keep one core busy (a loaded machine)."""
    spin = "while True:\n    pass"
    return [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(count)]


# ------------------------------------------------------------------- the probe
@dataclass(slots=True)
class Call:
    at: float  # monotonic time the call was sent
    seconds: float
    code: str
    stages: dict[str, float] = field(default_factory=dict)  # ms, STAGES


# The server's stages (SearchResponse.timings); "other" is the rest of the call as the client
# saw it: authentication, the access check and the served index's Store reads, waiting for a
# store thread or the GIL, gRPC and loopback.
STAGES = ("embed", "dense", "keyword", "fusion", "fetch", "other")


class SearchProbe(threading.Thread):
    """One Search at a time on the small project, one every ``interval`` seconds."""

    def __init__(self, address: str, token: str, queries: list[str], args: argparse.Namespace):
        super().__init__(name="search-probe", daemon=True)
        self.client = Client(address, token, timeout=CALL_TIMEOUT_S)
        self.queries, self.mode = queries, args.search_mode
        self.interval = args.interval_ms / 1000
        self.calls: list[Call] = []
        self.halt = threading.Event()
        self.warm = threading.Event()  # set after the warm-up calls (model and index loaded)

    def run(self) -> None:
        next_at = time.monotonic()
        for query in itertools.cycle(self.queries):
            if self.halt.wait(max(0.0, next_at - time.monotonic())):
                break
            next_at = max(next_at + self.interval, time.monotonic())  # never two at once
            self.calls.append(self.search(query))
            if len(self.calls) == WARM_UP_CALLS:
                self.warm.set()
        self.client.close()

    def search(self, query: str) -> Call:
        sent = time.monotonic()
        try:
            timings = self.client.search(SMALL, query, mode=self.mode).timings
        except ClientError as exc:
            return Call(sent, time.monotonic() - sent, exc.code_name)
        seconds = time.monotonic() - sent
        stages = {name: getattr(timings, f"{name}_ms") for name in STAGES[:-1]}
        stages["other"] = 1000 * seconds - sum(stages.values())
        return Call(sent, seconds, "OK", stages)

    def between(self, begin: float, end: float) -> list[Call]:
        return [c for c in self.calls if begin <= c.at < end]


# --------------------------------------------------------------- the sampling
@dataclass
class Memory:
    """RSS of the server and the worker: at the end of the idle phase, and the peak."""

    pids: dict[str, int]
    idle: dict[str, float] = field(default_factory=dict)
    peak: dict[str, float] = field(default_factory=dict)
    hwm: dict[str, float] = field(default_factory=dict)
    end: dict[str, float] = field(default_factory=dict)

    def sample(self) -> None:
        for name, pid in self.pids.items():
            rss = _memory(pid).get("VmRSS", 0.0)
            self.peak[name] = max(self.peak.get(name, 0.0), rss)

    def mark_idle(self) -> None:
        self.idle = {name: _memory(pid).get("VmRSS", 0.0) for name, pid in self.pids.items()}

    def finish(self) -> None:
        self.sample()
        now = {name: _memory(pid) for name, pid in self.pids.items()}
        self.hwm = {name: figures.get("VmHWM", 0.0) for name, figures in now.items()}
        self.end = {name: figures.get("VmRSS", 0.0) for name, figures in now.items()}


def _memory(pid: int) -> dict[str, float]:
    try:
        return memory_mib(pid)
    except OSError:  # the process ended (a worker that was restarted, say)
        return {}


@dataclass(frozen=True)
class Cpu:
    """CPU seconds of the bench's processes and of the whole machine at one moment."""

    wall: float
    machine: float
    seconds: dict[str, float]

    @classmethod
    def now(cls, pids: dict[str, int]) -> Cpu:
        seconds = {name: cpu_seconds(pid) for name, pid in pids.items()}
        return cls(time.monotonic(), machine_busy(), seconds)

    def __sub__(self, before: Cpu) -> Cpu:
        spent = {name: t - before.seconds[name] for name, t in self.seconds.items()}
        return Cpu(self.wall - before.wall, self.machine - before.machine, spent)


# ----------------------------------------------------------------- one mode
@dataclass
class Ingestion:
    status: str = ""
    chunks: int = 0
    documents: int = 0
    seconds: float = 0.0  # StartIngestion -> the end the bench saw (or the chunk limit)
    embedding_s: float = 0.0  # StartIngestion -> phase "publishing" (every vector computed)
    error: str = ""

    @property
    def rate(self) -> float:
        return self.chunks / self.seconds if self.seconds else 0.0


@dataclass
class Result:
    mode: str
    idle: list[Call]
    during: list[Call]
    ingestion: Ingestion
    memory: Memory
    cpu_idle: Cpu
    cpu_during: Cpu
    setup: str
    log_lines: list[str]


def follow(client: Client, run_id: str, memory: Memory, limit: int) -> Ingestion:
    """Poll the run until it ends (or ``limit`` chunks are written: cancel it)."""
    started, seen = time.monotonic(), Ingestion()
    while True:
        run = client.get_ingestion_run(run_id)
        now = time.monotonic()
        seen.chunks, seen.documents = run.counts.chunks_written, run.counts.documents_seen
        if run.phase in ("publishing", "done") and not seen.embedding_s:
            seen.embedding_s = now - started
        if run.status not in (ingestion_pb2.INGESTION_STATUS_QUEUED,
                              ingestion_pb2.INGESTION_STATUS_RUNNING):  # fmt: skip
            seen.status = ingestion_pb2.IngestionStatus.Name(run.status)[len("INGESTION_STATUS_") :]
            seen.seconds, seen.error = now - started, run.error
            return seen
        if limit and seen.chunks >= limit:
            seen.seconds, seen.embedding_s = now - started, now - started
            client.cancel_ingestion(run_id)
            seen.status = f"cancelled at the --chunks limit ({limit})"
            return seen
        memory.sample()
        time.sleep(POLL_S)


def prepare_projects(client: Client, big: Path) -> float:
    """Both projects and their connectors; the small one indexed. Seconds it took."""
    for slug, folder in ((SMALL, small_folder()), (BIG, big)):
        client.create_project(slug, slug)
        client.create_connector(slug, "local", "code", {"path": str(folder)})
    started = time.monotonic()
    (run,) = client.start_ingestion(SMALL, "code", "full")
    run = client.wait_for_ingestion(run.id)
    if run.status != ingestion_pb2.INGESTION_STATUS_SUCCEEDED:
        raise SystemExit(f"the small project was not indexed: {run.error}")
    return time.monotonic() - started


def measure(mode: str, big: Path, args: argparse.Namespace) -> Result:
    data_dir = Path(tempfile.mkdtemp(prefix=f"data-{mode}-", dir=WORK))
    env = server_env(data_dir, mode, args)
    log = WORK / f"{mode}-server.log"
    server = start("serve", env, log)
    worker = None
    try:
        address = address_of(server, log)
        if mode == "separate":
            worker = start("worker", env, WORK / f"{mode}-worker.log")
        return _measure(mode, big, args, address, data_dir, server, worker)
    finally:
        for proc in (worker, server):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=60)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def _measure(
    mode: str, big: Path, args: argparse.Namespace, address: str, data_dir: Path,
    server: subprocess.Popen, worker: subprocess.Popen | None,
) -> Result:  # fmt: skip
    token = (data_dir / "admin.token").read_text().strip()
    client = Client(address, token, timeout=600)
    small_s = prepare_projects(client, big)
    pids = {"server": server.pid}
    worker_pid = worker.pid if worker else worker_child(server.pid)
    if worker_pid:
        pids["worker"] = worker_pid
    memory = Memory(pids)
    # Distinct questions, cycled: more than the server's query-embedding cache holds (512).
    asked = list(dict.fromkeys(questions(small_folder(), 20_000)))
    probe = SearchProbe(address, token, asked, args)
    probe.start()
    probe.warm.wait()
    idle_began, idle_cpu = time.monotonic(), Cpu.now(pids)
    time.sleep(args.idle_s)
    memory.mark_idle()
    cpu = [Cpu.now(pids)]
    began = time.monotonic()
    (run,) = client.start_ingestion(BIG, "code", "full")
    ingestion = follow(client, run.id, memory, args.chunks)
    ended = time.monotonic()
    cpu.append(Cpu.now(pids))
    probe.halt.set()
    probe.join(CALL_TIMEOUT_S + 5)
    setup = describe(mode, env_of(args), pids, small_s)
    memory.finish()
    client.close()
    logs = [WORK / f"{mode}-server.log"] + ([WORK / f"{mode}-worker.log"] if worker else [])
    problems = [ln for log in logs for ln in log.read_text().splitlines()
                if re.search(r'"level": "(warning|error|critical)"', ln, re.I)]  # fmt: skip
    return Result(mode, probe.between(idle_began, began), probe.between(began, ended), ingestion,
                  memory, cpu[0] - idle_cpu, cpu[1] - cpu[0], setup, problems)  # fmt: skip


def env_of(args: argparse.Namespace) -> dict[str, str]:
    env = server_env(Path("."), "process", args)
    shown = ("PROJECTQA_WORKER_THREADS", "PROJECTQA_WORKER_NICE", "OMP_WAIT_POLICY")
    return {k: v for k, v in env.items() if k in shown}


def describe(mode: str, env: dict[str, str], pids: dict[str, int], small_s: float) -> str:
    where = {"process": "the server's child process", "separate": "a `projectqa worker`",
             "thread": "a thread of the server"}[mode]  # fmt: skip
    settings = ", ".join(f"{k}={v}" for k, v in env.items()) or "worker threads and nice default"
    if mode == "thread":
        settings = "worker threads and nice do not apply"
    shown = ", ".join(f"{k} pid {v}" for k, v in pids.items())
    return f"ingestion in {where} ({settings}); {shown}; small project indexed in {small_s:.0f} s"


# -------------------------------------------------------------------- figures
def pct(ms: list[float], q: float) -> float:
    ordered = sorted(ms)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stats(calls: list[Call]) -> tuple[float, float, float]:
    ms = [1000 * c.seconds for c in calls if c.code == "OK"] or [float("nan")]
    return pct(ms, 0.5), pct(ms, 0.99), max(ms)


def errors(calls: list[Call]) -> Counter[str]:
    return Counter(c.code for c in calls if c.code != "OK")


def report(r: Result, args: argparse.Namespace) -> None:
    print(f"\n== mode {r.mode}: {r.setup}")
    print(f"  Search {args.search_mode} every {args.interval_ms:g} ms (ms)"
          f"{'p50':>9}{'p99':>9}{'max':>9}{'calls':>7}  errors")  # fmt: skip
    for name, calls in (("idle (before ingestion)", r.idle), ("during ingestion", r.during)):
        p50, p99, top = stats(calls)
        bad = errors(calls)
        shown = f" {dict(bad)}" if bad else ""
        print(f"    {name:<33}{p50:9.1f}{p99:9.1f}{top:9.1f}{len(calls):7}  "
              f"{sum(bad.values())}{shown}")  # fmt: skip
    ratios = [d / i for d, i in zip(stats(r.during), stats(r.idle), strict=True)]
    print(f"    {'during / idle':<33}" + "".join(f"{x:8.2f}x" for x in ratios))
    i = r.ingestion
    error = f"; error {i.error!r}" if i.error else ""
    print(f"  ingestion {i.status}: {i.documents} documents, {i.chunks} chunks in {i.seconds:.1f} "
          f"s = {i.rate:.1f} chunks/s (embedding and writing {i.embedding_s:.1f} s, indexing "
          f"{i.seconds - i.embedding_s:.1f} s){error}")  # fmt: skip
    report_stages(r)
    report_cpu(r)
    m = r.memory
    for name in m.pids:
        print(f"  RSS {name} (MiB): idle {m.idle.get(name, 0):.0f}, peak sampled "
              f"{m.peak.get(name, 0):.0f}, VmHWM {m.hwm.get(name, 0):.0f}, after the run "
              f"{m.end.get(name, 0):.0f}")  # fmt: skip
    if r.mode == "thread":
        print("  (the worker is a thread of the server: one process holds both models)")
    print(f"  logs: {len(r.log_lines)} warnings or errors")
    for ln in r.log_lines[:5]:
        print(f"    {ln[:300]}")


def report_stages(r: Result) -> None:
    """Where the time of a call went, idle and during; and in the slowest 1 % during."""
    during = sorted((c for c in r.during if c.code == "OK"), key=lambda c: c.seconds)
    slowest = during[-max(1, len(during) // 100) :]
    print(f"    stage (ms)      idle p50   p99   during p50   p99   slowest 1 % during, mean "
          f"(n={len(slowest)})")  # fmt: skip
    for stage in STAGES:
        idle = [c.stages[stage] for c in r.idle if c.code == "OK"] or [float("nan")]
        busy = [c.stages[stage] for c in during] or [float("nan")]
        worst = sum(c.stages[stage] for c in slowest) / max(len(slowest), 1)
        print(f"    {stage:<16}{pct(idle, 0.5):8.1f}{pct(idle, 0.99):7.1f}{pct(busy, 0.5):12.1f}"
              f"{pct(busy, 0.99):7.1f}{worst:12.1f}")  # fmt: skip


def ingestion_cpu(r: Result) -> tuple[float, str]:
    """CPU seconds the ingestion spent: its worker's, or (a thread of the server) the server's
    less its Searches at what one cost while idle."""
    during = r.cpu_during.seconds
    if "worker" in during:
        return during["worker"], "the worker process"
    per_search = r.cpu_idle.seconds["server"] / max(len(r.idle), 1)
    return during["server"] - per_search * len(r.during), (
        f"est.: the server's less {len(r.during)} Searches at {1000 * per_search:.0f} ms each, "
        "their cost while idle"
    )


def report_cpu(r: Result) -> None:
    d = r.cpu_during
    per = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in d.seconds.items())
    print(f"  CPU during ingestion: {per} over {d.wall:.0f} s; the whole machine "
          f"{d.machine / d.wall:.2f} of {os.cpu_count()} cores busy")  # fmt: skip
    seconds, how = ingestion_cpu(r)
    chunks = max(r.ingestion.chunks, 1)
    print(f"  ingestion CPU {seconds:.0f} s = {1000 * seconds / chunks:.0f} ms per chunk, "
          f"{seconds / d.wall:.2f} cores on average ({how})")  # fmt: skip
    idle = r.cpu_idle
    print(f"  idle phase: server CPU {1000 * idle.seconds['server'] / max(len(r.idle), 1):.0f} ms "
          f"per Search; the whole machine {idle.machine / idle.wall:.2f} cores busy")  # fmt: skip


def compare(results: dict[str, Result]) -> None:
    apart, inside = results["process"], results["thread"]
    ratio = apart.ingestion.rate / inside.ingestion.rate if inside.ingestion.rate else 0.0
    met = "met" if ratio >= TARGET_THROUGHPUT else "MISSED"
    print("\n== compare (same input, one after the other)")
    print(f"  chunks/s: process {apart.ingestion.rate:.1f}, thread {inside.ingestion.rate:.1f}; "
          f"process / thread {ratio:.3f} ({100 * (ratio - 1):+.1f} %; target >= "
          f"{TARGET_THROUGHPUT:.2f}: {met})")  # fmt: skip
    per_chunk = [ingestion_cpu(r)[0] / max(r.ingestion.chunks, 1) for r in (apart, inside)]
    print(f"  ingestion CPU per chunk: process {1000 * per_chunk[0]:.0f} ms, thread "
          f"{1000 * per_chunk[1]:.0f} ms; process / thread {per_chunk[0] / per_chunk[1]:.3f} "
          "(what the separation costs whatever share of the cores each run got)")  # fmt: skip
    for r in (apart, inside):
        p99 = stats(r.during)[1] / stats(r.idle)[1]
        bad = sum(errors(r.idle + r.during).values())
        ok = "met" if p99 <= TARGET_P99_RATIO and not bad else "MISSED"
        print(f"  {r.mode:<8} Search p99 during / idle {p99:.2f}x, {bad} errors "
              f"(target <= {TARGET_P99_RATIO:g}x and 0 errors: {ok})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=list(MODES), default="process")
    parser.add_argument("--compare", action="store_true", help="process, then thread")
    parser.add_argument("--max-files", type=int, default=887, help="Django .py files (0: all)")
    parser.add_argument("--chunks", type=int, default=0, help="cancel once this many chunks "
                        "are written (0: run to the end)")  # fmt: skip
    parser.add_argument("--version", default="5.2.8", help="Django sdist version")
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--interval-ms", type=float, default=200.0)
    parser.add_argument("--search-mode", default="hybrid", choices=["hybrid", "keyword", "dense"])
    parser.add_argument("--busy", type=int, nargs="?", const=1, default=0,
                        help="CPU-burning processes beside it (flag alone: 1)")  # fmt: skip
    parser.add_argument("--worker-threads", type=int, help="PROJECTQA_WORKER_THREADS")
    parser.add_argument("--worker-nice", type=int, help="PROJECTQA_WORKER_NICE")
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    big, files = big_folder(args.version, args.max_files)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; big project: "
          f"{files} .py files of Django {args.version} ({big}); {args.busy} CPU "
          "burners")  # fmt: skip
    # A SIGTERM unwinds like Ctrl-C, so the burners and servers below are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    hogs = burners(args.busy)
    results = {}
    try:
        for mode in ("process", "thread") if args.compare else (args.mode,):
            results[mode] = measure(mode, big, args)
            report(results[mode], args)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    if args.compare:
        compare(results)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
