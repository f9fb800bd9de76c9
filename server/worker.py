"""``projectqa worker``: a process that executes ingestion runs and nothing else.

Run any number of them against the server's Store (the same SQLite data
directory on one host, or one MongoDB for many hosts); they share the queue
through leases (``ingestion/worker.py``). ``projectqa serve`` starts one as its
child process unless ``PROJECTQA_EMBEDDED_WORKER`` says otherwise: then it is
``python -m projectqa.server.worker --embedded <parent pid>``, reads its
settings from standard input, and ends when its parent does.

A worker lowers its CPU priority (``worker_nice``) and, when told to, its
torch/BLAS threads (``worker_threads``), so that a server on the same machine
answers queries first.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from pathlib import Path

from .config import Settings, SettingsError, settings_for_command, settings_from_json
from .embedding import EmbedderUnavailable
from .errors import StoreError

log = logging.getLogger("projectqa.worker")
PARENT_CHECK_S = 1.0
_PR_SET_PDEATHSIG = 1


def limit_threads(threads: int) -> None:
    """Cap the math libraries' threads; before torch is imported, so they all see it
    (torch sizes its pool from OMP_NUM_THREADS; importing it here would cost an int8
    worker, which never needs it, ~200 MB). ONNX Runtime: EmbeddingSetup.threads."""
    if threads <= 0:
        return
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)


def lower_priority(nice: int) -> None:
    with contextlib.suppress(OSError):  # not permitted somewhere: run at the same priority
        os.nice(nice)


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel for SIGTERM when the parent ends (also by kill -9): the worker
    then hands its runs back instead of holding their leases as an orphan."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent ended before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


async def run_worker(settings: Settings, *, parent_pid: int | None = None) -> None:
    """Execute runs until SIGTERM or SIGINT (or the parent's end), then hand them back."""
    from .embedding import EmbeddingSetup, ingestion_embedder
    from .ingestion import worker_for
    from .plugin_host import load_plugins
    from .store.factory import open_store
    from .threads import BlockingRunner

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    store = open_store(settings)
    runner = BlockingRunner(settings.store_threads)
    try:
        await runner(store.prepare)
        plugins = load_plugins(settings.plugins, ())
        worker = worker_for(settings, store, plugins.catalog, runner)
        await worker.start()
        # Load the model now, not when the first run has already begun.
        embedder = ingestion_embedder(EmbeddingSetup.from_settings(settings))
        await asyncio.to_thread(embedder.warm_up)
        watch = loop.create_task(_watch_parent(parent_pid, stopping))
        await stopping.wait()
        watch.cancel()
        log.info("worker stopping", extra={"grace_s": settings.shutdown_grace_s})
        await worker.stop(settings.shutdown_grace_s)
    finally:
        await asyncio.to_thread(runner.shutdown)
        store.close()


async def _watch_parent(parent_pid: int | None, stopping: asyncio.Event) -> None:
    """Where the parent-death signal is not available: notice the parent's end anyway."""
    if parent_pid is None:
        return
    while os.getppid() == parent_pid:
        await asyncio.sleep(PARENT_CHECK_S)
    stopping.set()


def _start(settings: Settings, parent_pid: int | None) -> int:
    from .logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    # torch's OpenMP threads spin after every parallel region while a process has no more
    # of them than cores: ~16 % more CPU a chunk in a worker process (bench/README.md).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    lower_priority(settings.worker_nice)
    limit_threads(settings.worker_threads)
    try:
        asyncio.run(run_worker(settings, parent_pid=parent_pid))
    except (StoreError, EmbedderUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(config_file: Path | None = None) -> int:
    """Entry point of ``projectqa worker``: returns the process exit code."""
    settings = settings_for_command(config_file)
    return 2 if settings is None else _start(settings, None)


def embedded_main(parent_pid: int) -> int:
    """The worker child of ``projectqa serve``: settings come through standard input."""
    die_with_parent(parent_pid)
    try:
        settings = settings_from_json(sys.stdin.read())
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _start(settings, parent_pid)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--embedded"] and len(args) == 2 and args[1].isdigit():
        sys.exit(embedded_main(int(args[1])))
    config = Path(args[1]) if args[:1] == ["--config"] and len(args) == 2 else None
    sys.exit(main(config))
