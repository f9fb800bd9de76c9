"""ProjectQA deployed as a user deploys it: `projectqa serve` and `projectqa worker`
processes on one SQLite data directory, their JSON logs, and what the Store shows.

Every wait here is bounded in count (a busy machine gets the same number of looks,
only slower); none is an assertion about time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from projectqa.client import Client
from projectqa.plugins.local import CHECKPOINT_EVERY
from projectqa.v1 import ingestion_pb2

PROJECTQA = shutil.which("projectqa") or str(Path(sys.executable).parent / "projectqa")
POLL_S = 0.05
RUN_POLLS = 4000  # looks at a run before calling it stuck (minutes on a busy machine)
Run = ingestion_pb2.IngestionRun
ACTIVE = (ingestion_pb2.INGESTION_STATUS_QUEUED, ingestion_pb2.INGESTION_STATUS_RUNNING)


def settings(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a server or worker on ``data_dir``: none of the developer's
    PROJECTQA_* settings, local folders readable, workers at the tests' own priority (the
    machine is shared with other test runs), ``extra`` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROJECTQA_")}
    return {
        **env,
        "PROJECTQA_DATA_DIR": str(data_dir),
        "PROJECTQA_LISTEN_ADDRESS": "127.0.0.1:0",
        "PROJECTQA_PLUGINS": "local",
        "PROJECTQA_WORKER_NICE": "0",
        **extra,
    }


@dataclass
class Member:
    """One process of the deployment; its log (stderr) goes to a file nobody has to drain."""

    process: subprocess.Popen[str]
    log: Path
    address: str = ""  # a server's gRPC address
    host: str = ""  # a worker's host name when not this host's (see on_another_host)
    forked: bool = False  # started by `unshare --fork` (see in_own_pids): the program is its child

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, sig: signal.Signals) -> None:
        """``sig`` to the program (past unshare, which ignores it, to the program it forked;
        not forked yet: unshare is killed, and --kill-child ends the program)."""
        if not self.forked:
            self.process.send_signal(sig)
            return
        programs = children_of(self.process.pid)
        for pid in programs:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        if not programs:
            self.process.kill()

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON lines it logged so far."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def logged(self, msg: str) -> list[dict[str, Any]]:
        return [line for line in self.log_lines() if line["msg"].startswith(msg)]

    def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a pulled plug would."""
        self.signal(signal.SIGKILL)
        self.process.wait(timeout=60)

    def stop(self) -> int:
        """SIGTERM, as a supervisor stops it; its exit code."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
        return self.process.wait(timeout=120)


class Deployment:
    """The processes a test started; on leaving, every one still running is stopped
    (SIGTERM, then SIGKILL for one that does not end), whatever the test did."""

    def __init__(self) -> None:
        self.members: list[Member] = []

    def add(self, member: Member) -> Member:
        self.members.append(member)
        return member

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc_info: object) -> None:
        running = [m for m in self.members if m.process.poll() is None]
        for member in running:
            member.signal(signal.SIGTERM)
        for member in running:
            try:
                member.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                member.process.kill()
                member.process.wait()


def start_server(data_dir: Path, log: Path, **extra: str) -> Member:
    """`projectqa serve`, once it listens."""
    with log.open("a") as stderr:
        process = subprocess.Popen(
            [PROJECTQA, "serve"],
            env=settings(data_dir, **extra),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "listening on" in line, (line, log.read_text())
    return Member(process, log, line.split("listening on ")[1].split()[0])


def start_worker(
    data_dir: Path, log: Path, *, host: str = "", own_pids: bool = False, **extra: str
) -> Member:
    """`projectqa worker`; it claims runs as soon as its embedder is loaded.

    ``host``: as if on that host (see ``on_another_host``); ``own_pids``: as if in a
    container on this host's network (see ``in_own_pids``).
    """
    argv = [PROJECTQA, "worker"]
    if host:
        argv = on_another_host(host, argv)
    elif own_pids:
        argv = in_own_pids(argv)
    with log.open("a") as stderr:
        process = subprocess.Popen(
            argv,
            env=settings(data_dir, **extra),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )
    return Member(process, log, host=host, forked=own_pids and not host)


def on_another_host(host: str, argv: list[str]) -> list[str]:
    """``argv`` in a UTS namespace of its own, named ``host``: to workers of other host
    names its runs belong to a worker they cannot see die, so they take them over only
    once the lease has stood still. Same process id (unshare and Python exec into it),
    same files."""
    rename = (
        "import os, socket, sys; socket.sethostname(sys.argv[1]); "
        "os.execvp(sys.argv[2], sys.argv[2:])"
    )
    namespace = ["unshare", "--user", "--map-root-user", "--uts"]
    return [*namespace, sys.executable, "-c", rename, host, *argv]


def in_own_pids(argv: list[str]) -> list[str]:
    """``argv`` as the first process of a PID namespace of its own, under this host's
    name: as a container on the host's network runs it (docker --network host, a
    Kubernetes pod with hostNetwork). unshare stays its parent (``Member.signal``)."""
    namespace = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"]
    return [*namespace, "--kill-child=SIGTERM", *argv]


@cache
def namespaces_allowed() -> bool:
    """Whether this machine lets a test start a process under another host name or with
    process ids of its own (it takes an unprivileged user namespace, which some
    distributions forbid)."""
    if shutil.which("unshare") is None:
        return False
    probe = on_another_host("elsewhere", in_own_pids(["true"]))
    return subprocess.run(probe, capture_output=True, timeout=60).returncode == 0


def admin_client(server: Member, data_dir: Path) -> Client:
    return Client(server.address, data_dir.joinpath("admin.token").read_text().strip())


def write_sources(root: Path, files: int, topic: str) -> Path:
    """``files`` small Python modules, each with text of its own (no two chunks alike)."""
    root.mkdir(parents=True)
    for i in range(files):
        (root / f"m{i:04d}.py").write_text(
            f"def {topic}_handler_{i}(request):\n"
            f"    '''Handles {topic} case {i}.'''\n"
            f"    return {i}\n"
        )
    return root


def local_project(qa: Client, slug: str, source: Path) -> None:
    qa.create_project(slug, name=slug.title())
    qa.create_connector(slug, "local", "files", {"path": str(source)})


def wait_for_run(qa: Client, run_id: str, check: Callable[[Run], bool]) -> Run:
    """The run once ``check`` holds for it (bounded in looks)."""
    last: list[Run] = []

    def reached() -> bool:
        last[:] = [qa.get_ingestion_run(run_id)]
        return check(last[0])

    if not wait_until(reached):
        raise AssertionError(f"run {run_id} never got there: {last[0]}")
    return last[0]


def past_a_checkpoint(qa: Client, project: str) -> Run:
    """Start a full run of ``project`` (one local connector over files of
    ``write_sources``); return it once past a checkpoint, still running.

    A checkpoint is saved before the next file is taken, so a record showing more files
    than a checkpoint comes after it. With more than two checkpoints' worth of files the
    record saved at the second one shows it, with a checkpoint's worth of work left.
    """
    [run] = qa.start_ingestion(project, mode="full")
    past = wait_for_run(
        qa, run.id, lambda r: r.counts.documents_seen > CHECKPOINT_EVERY or ended(r)
    )
    assert past.status == ingestion_pb2.INGESTION_STATUS_RUNNING, "ended before it was seen"
    return past


def at_checkpoint(documents_seen: int, files: int) -> bool:
    """Whether a run over ``files`` files can have a checkpoint with that many seen: every
    ``CHECKPOINT_EVERY``, and the last one (reading runs ahead of embedding, so a run may
    have read every file long before it ends)."""
    return 0 < documents_seen <= files and (
        documents_seen % CHECKPOINT_EVERY == 0 or documents_seen == files
    )


def wait_until(condition: Callable[[], bool], polls: int = RUN_POLLS) -> bool:
    """True once ``condition()`` holds; False after ``polls`` looks."""
    for _ in range(polls):
        if condition():
            return True
        time.sleep(POLL_S)
    return condition()


def ended(run: Run) -> bool:
    return run.status not in ACTIVE


def pid_of(worker: str) -> int:
    """The process id in a worker's name ("host:pid:start:tag")."""
    return int(worker.split(":")[1])


@contextmanager
def store(data_dir: Path) -> Iterator[sqlite3.Connection]:
    """The deployment's SQLite store, read as an operator would (read-only)."""
    uri = f"file:{data_dir / 'projectqa.sqlite3'}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
        conn.row_factory = sqlite3.Row
        yield conn


def stored_run(data_dir: Path, run_id: str) -> sqlite3.Row:
    with store(data_dir) as conn:
        row = conn.execute("SELECT * FROM ingestion_runs WHERE id = ?", (run_id,)).fetchone()
    assert row is not None, run_id
    return row


def embeddings_count(data_dir: Path) -> int:
    with store(data_dir) as conn:
        return int(conn.execute("SELECT count(*) FROM embeddings").fetchone()[0])


def process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (gone, or a zombie nobody reaped); bounded in looks."""
    return wait_until(lambda: _state(pid) in (None, "Z"))


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (by /proc/*/stat: /proc/<pid>/task/*/children
    needs a kernel option not every kernel has)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found
