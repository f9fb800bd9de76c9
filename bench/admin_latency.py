"""Unary admin-call latency and throughput on loopback.

Starts ``python -m projectqa.server`` on 127.0.0.1 with a fresh SQLite data
directory, then drives it with the generated grpc.aio stub: a sequential pass
(latency p50/p99) and a concurrent pass (calls/s) per call type. Bounded in
count and time; prints a table. Usage::

    python bench/admin_latency.py [--calls 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc

from projectqa.v1 import admin_pb2 as pb
from projectqa.v1 import admin_pb2_grpc

Call = Callable[[int], Awaitable[object]]


def start_server(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        "PROJECTQA_DATA_DIR": str(data_dir),
        "PROJECTQA_LISTEN_ADDRESS": "127.0.0.1:0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "projectqa.server"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, line.split("listening on ")[1].split()[0]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def sequential(call: Call, count: int) -> list[float]:
    samples = []
    for i in range(count):
        started = time.perf_counter()
        await call(i)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def concurrent(call: Call, count: int, workers: int) -> float:
    counter = iter(range(count))

    async def worker() -> None:
        for i in counter:
            await call(count + i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return count / (time.perf_counter() - started)


async def run(address: str, token: str, calls: int, workers: int) -> None:
    metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        await stub.CreateProject(
            pb.CreateProjectRequest(slug="bench", name="Bench"), metadata=metadata
        )
        cases: dict[str, Call] = {
            "WhoAmI": lambda i: stub.WhoAmI(pb.WhoAmIRequest(), metadata=metadata),
            "GetProject": lambda i: stub.GetProject(
                pb.GetProjectRequest(project="bench"), metadata=metadata
            ),
            "ListProjects(50)": lambda i: stub.ListProjects(
                pb.ListProjectsRequest(page_size=50), metadata=metadata
            ),
            "CreateProject": lambda i: stub.CreateProject(
                pb.CreateProjectRequest(slug=f"p{i}", name=f"P {i}"), metadata=metadata
            ),
        }
        await sequential(cases["WhoAmI"], 200)  # warm-up
        print(f"{'call':<18}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'calls/s':>10}  (x{workers})")
        for name, call in cases.items():
            samples = await sequential(call, calls)
            rate = await concurrent(call, calls, workers)
            print(
                f"{name:<18}{statistics.median(samples):>9.2f}{percentile(samples, 0.99):>9.2f}"
                f"{statistics.fmean(samples):>9.2f}{rate:>10.0f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per pass (max 20000)")
    parser.add_argument("--concurrency", type=int, default=16, help="in-flight calls (max 256)")
    args = parser.parse_args()
    calls, workers = min(args.calls, 20_000), min(args.concurrency, 256)
    with tempfile.TemporaryDirectory() as tmp:
        proc, address = start_server(Path(tmp))
        try:
            token = (Path(tmp) / "admin.token").read_text().strip()
            print(f"server {address}, SQLite store, {calls} calls per pass, {os.cpu_count()} cores")
            asyncio.run(asyncio.wait_for(run(address, token, calls, workers), timeout=600))
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
