"""A 20,000-file repository (real Django files plus generated ones) indexed through a real
server: when it is first searchable, what the processes hold, how long the run takes, and
what that means at 100,000 files.

What it does:

1. writes the repository once (``synthetic_repo.py``: ``--files`` files, deterministic
   ``--seed``) under ``bench/.work/big_repo/``;
2. starts ``projectqa serve`` (SQLite, ``local`` connector, ``--embedder``) on a fresh data
   directory and a free loopback port, and starts a FULL run;
3. from StartIngestion on (``availability.py``): when a keyword Search first finds the
   first Python file in path order (the first batch is searchable), when it finds the last
   one (everything is read), the first dense hit, the run's phases and its end; RSS of the
   server and of its embedded worker sampled every 0.5 s, and their VmHWM at the end;
4. prints the extrapolation to 100,000 files: reading and the embedding backlog scale with
   the files (the same mix), the first keyword hit does not; memory as measured, and the
   served index at the measured KiB per chunk.

Bounded: the run is cancelled after ``--timeout-s`` (the figures say so). Loopback only.
Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/big_repo.py [--files 20000] [--seed 15] \\
        [--embedder onnx-int8|torch] [--timeout-s 3600]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from pathlib import Path

from availability import (
    EMBEDDERS,
    Availability,
    Question,
    Seen,
    prebuilt_models,
    print_seen,
    serve,
    verdict,
    when,
)
from procstat import memory_mib
from synthetic_repo import WORK, assemble

from projectqa.v1 import ingestion_pb2

TARGET_FILES = 100_000
TARGET_FIRST_KEYWORD_S = 30.0
DENSE_QUERY = "how is an invoice reconciled against the ledger before a payment is settled"
DEFINITION = re.compile(r"^\s*def ([A-Za-z_]\w{11,})\(", re.M)


def question(root: Path, first: bool) -> Question:
    """A function defined in the first (or last) Python file in path order that has one."""
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py"))
    for key in files if first else reversed(files):
        found = DEFINITION.search((root / key).read_text(errors="replace"))
        if found:
            return Question(found.group(1), key)
    raise SystemExit(f"no Python definition under {root}")


def baseline_rss(pids: dict[str, int]) -> dict[str, float]:
    return {name: memory_mib(pid).get("VmRSS", 0.0) for name, pid in pids.items()}


def run_seconds(seen: Seen) -> tuple[float, str]:
    """The run's seconds; for a run cut short (``--timeout-s``), the seconds it would have
    taken to embed every chunk it wrote at the rate it embedded them."""
    c = seen.run.counts if seen.run else None
    if c is None or not seen.ended:
        return float("nan"), "no run"
    if seen.run.status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED or not c.chunks_embedded:
        return seen.ended, "measured"
    rate = c.chunks_embedded / seen.ended
    return c.chunks_written / rate, (
        f"projected: cut short at {seen.ended:.0f} s with {c.chunks_embedded} of "
        f"{c.chunks_written} chunks embedded, {rate:.1f} chunks/s"
    )


def extrapolate(seen: Seen, files: int, base: dict[str, float], index_bytes: int) -> None:
    """What 100,000 files of the same mix would take, from this run's rates."""
    run, scale = seen.run, TARGET_FILES / files
    if run is None or not seen.ended:
        return
    chunks = run.counts.chunks_written
    print(
        f"\n== extrapolation to {TARGET_FILES:,} files (x{scale:.1f}, the same mix: "
        f"{chunks / files:.1f} chunks per file -> {chunks * scale:,.0f} chunks)"
    )
    print(
        f"  first keyword hit   {when(seen.early_keyword)} (the first batch: does not grow "
        "with the repository, but for listing the folder before the first file is read)"
    )
    if seen.late_keyword is not None:
        print(
            f"  everything keyword-searchable  {seen.late_keyword * scale / 60:7.1f} min "
            f"({files / seen.late_keyword:.0f} files/s read, chunked and written)"
        )
    whole_s, how = run_seconds(seen)
    print(
        f"  whole run (vectors for every chunk)  {whole_s * scale / 3600:7.2f} h "
        f"({chunks / whole_s:.1f} chunks/s end to end; {how})"
    )
    per_chunk = index_bytes / max(chunks, 1)
    print(
        f"  index on disk {index_bytes / 2**20:.0f} MiB now, {per_chunk / 1024:.2f} KiB per "
        f"chunk -> {per_chunk * chunks * scale / 2**30:.2f} GiB"
    )
    for name, peak in seen.peak_rss.items():
        grown = peak - base.get(name, 0.0)
        print(
            f"  {name} RSS: {base.get(name, 0):.0f} MiB before the run, peak {peak:.0f} MiB; "
            f"growth x{scale:.0f} if it were all per-chunk: {base.get(name, 0) + grown * scale:.0f}"
            " MiB (an upper bound: the model and libraries do not grow)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--embedder", choices=EMBEDDERS, default="onnx-int8")
    parser.add_argument("--timeout-s", type=float, default=3600, help="cancel the run after it")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server too
    began = time.monotonic()
    root = assemble(args.files, args.seed)
    made_s = time.monotonic() - began
    early, late = question(root, first=True), question(root, first=False)
    export_s = prebuilt_models() if args.embedder != "torch" else 0.0
    files = sum(1 for p in root.rglob("*") if p.is_file())
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {files} files in "
        f"{root} (ready in {made_s:.0f} s); embedder {args.embedder}; int8 export "
        f"{when(export_s) if export_s > 1 else 'cached'}"
    )
    data = WORK / f"data-{args.files}-{args.embedder}"
    served = serve(data, args.embedder, "local", WORK / f"server-{args.files}.log")
    try:
        with served.client() as qa:
            qa.create_project("big", "Big repository")
            qa.create_connector("big", "local", "code", {"path": str(root)})
            project_id = qa.get_project("big").id
        time.sleep(2)  # the embedded worker starts beside the server
        base = baseline_rss(served.pids())
        follower = Availability(served, "big", early, late, DENSE_QUERY, args.timeout_s)
        follower.begin("code")
        follower.join()
    finally:
        served.stop()
    seen = follower.seen
    print(f"\n== {files} files, embedder {args.embedder}")
    print_seen(seen, early, late)
    ok = seen.early_keyword is not None and seen.early_keyword <= TARGET_FIRST_KEYWORD_S
    print(f"  first keyword hit <= {TARGET_FIRST_KEYWORD_S:g} s: {verdict(ok)}")
    index_dir = data / "indexes" / project_id
    index_bytes = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())
    extrapolate(seen, files, base, index_bytes)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
