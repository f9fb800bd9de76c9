"""``projectqa mcp`` over stdio: p50/p99 of each MCP tool, and gRPC Search in the same run.

Three processes on loopback, as an agent runs them: the ProjectQA server (``python -m
projectqa.server`` on a data directory ingested once and kept), ``projectqa mcp
--project P`` over stdio, and this script as the agent (the MCP SDK's own client).

1. **Corpus**: ``--files`` generated files of ``bench/synthetic_repo.py`` (Python
   services, Markdown pages, protobuf modules, minified JavaScript; seeded): 740 give
   over 10,000 chunks at the default size, ingested once with the real embedder (kept in
   ``bench/.work/mcp_latency/``; the chunk count is printed, and a run below 10,000 says
   so).
2. **gRPC Search**: hybrid ``RetrievalService.Search`` (top 10) from this process with
   the Python client, after a warm-up.
3. **MCP tools**: each tool called ``--calls`` times through the stdio server (``ask``
   ``--asks`` times, extractive: no LLM is configured); search, keyword_search and ask
   questions are distinct from each other and from the gRPC ones, so the server's
   query-embedding cache never answers; gRPC and MCP searches alternate, so both see the
   same machine load.
4. **MCP resources**: ``resources/list`` (first page of 200 indexed files, through
   ToolsService.ListFiles), the whole listing followed cursor by cursor, and
   ``resources/read`` of a random indexed file (through OpenFile), ``--calls`` times
   each (the whole listing ``--calls``/10 times).

Nothing is asserted; it prints figures, and whether MCP search p50 is within
``--target-ms`` (20) of gRPC Search p50. Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/mcp_latency.py [--files 740] [--calls 200]
        [--asks 30]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from chat_load import pct, start_server
from synthetic_repo import NOUNS, VERBS, write_generated
from synthetic_repo import WORK as REPO_WORK

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mcp.client.client import Client as McpClient  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402
from mcp_types import CallToolResult, TextContent  # noqa: E402

from projectqa.client import Client  # noqa: E402

WORK = ROOT / "bench" / ".work" / "mcp_latency"
PROJECT = "mcpbench"
PROJECTQA = str(Path(sys.executable).with_name("projectqa"))
ISSUE_CHUNKS = 10_000  # the size issue 18 asks the figures for


def corpus(files: int, seed: int) -> Path:
    """The generated repository (written once per size and seed)."""
    root = REPO_WORK / f"generated-{files}-seed{seed}"
    marker = REPO_WORK / f"generated-{files}-seed{seed}.complete"
    if not marker.exists():
        write_generated(root, files, random.Random(seed))
        marker.touch()
    return root


def ingested(files: int, seed: int) -> Path:
    """A data directory with the corpus ingested as ``mcpbench`` (made once)."""
    data_dir = WORK / f"data-{files}-seed{seed}"
    if (data_dir / ".complete").exists():
        return data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    folder = corpus(files, seed)
    server, address = start_server(data_dir, WORK / "ingest.log")
    try:
        token = (data_dir / "admin.token").read_text().strip()
        with Client(address, token, timeout=60) as client:
            client.create_project(PROJECT, "MCP bench")
            client.create_connector(PROJECT, "local", "code", {"path": str(folder)})
            started = time.monotonic()
            (run,) = client.start_ingestion(PROJECT, "code", "full")
            run = client.wait_for_ingestion(run.id)
            print(f"ingested {run.counts.documents_seen} documents in "
                  f"{time.monotonic() - started:.0f} s (status {run.status})")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=60)
    (data_dir / ".complete").touch()
    return data_dir


def questions(rng: random.Random, count: int) -> list[str]:
    """Distinct natural-language questions over the corpus' vocabulary."""
    seen: set[str] = set()
    while len(seen) < count:
        verb, noun, other = rng.choice(VERBS), rng.choice(NOUNS), rng.choice(NOUNS)
        seen.add(f"how do we {verb} the {noun} of a {other} {len(seen)}?")
    return sorted(seen, key=lambda _: rng.random())


def summary(name: str, samples_s: list[float]) -> str:
    ms = [1000 * s for s in samples_s]
    return f"  {name:<30}{pct(ms, 0.5):>9.1f}{pct(ms, 0.99):>9.1f}{max(ms):>9.1f}   n={len(ms)}"


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = await call()
    return time.perf_counter() - started, value


def checked(result: CallToolResult, name: str) -> None:
    if result.is_error:
        text = " ".join(b.text for b in result.content if isinstance(b, TextContent))
        raise SystemExit(f"{name} failed: {text}")


async def run(args: argparse.Namespace, address: str, token: str, folder: Path) -> None:
    rng = random.Random(args.seed)
    asked = questions(rng, 2 * args.calls + args.calls + args.asks + 20)
    grpc_q, mcp_q = asked[: args.calls], asked[args.calls : 2 * args.calls]
    keyword_q = asked[2 * args.calls : 3 * args.calls]
    ask_q, warm_q = asked[3 * args.calls : 3 * args.calls + args.asks], asked[-20:]
    paths = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.py"))
    with Client(address, token, timeout=60) as grpc_client:
        metadata = grpc_client.project_metadata(PROJECT)
        print(f"project {PROJECT}: {metadata.chunks} chunks, {metadata.symbols} symbols, "
              f"{sum(metadata.documents_by_kind.values())} documents")  # fmt: skip
        if metadata.chunks < ISSUE_CHUNKS:
            print(f"(below the {ISSUE_CHUNKS:,} chunks asked for: raise --files)")
        for question in warm_q[:10]:
            grpc_client.search(PROJECT, question, top_k=10)
        params = StdioServerParameters(
            command=PROJECTQA,
            args=["mcp", "--project", PROJECT],
            env={"PROJECTQA_ADDRESS": address, "PROJECTQA_TOKEN": token, "HF_HUB_OFFLINE": "1"},
        )
        async with McpClient(params, read_timeout_seconds=120) as mcp:
            for question in warm_q[10:]:
                checked(await mcp.call_tool("search", {"query": question}), "search")
            grpc_s, samples = await searches(args, grpc_client, mcp, grpc_q, mcp_q)
            calls: dict[str, Callable[[int], dict[str, Any]]] = {
                "keyword_search": lambda i: {"query": keyword_q[i]},
                "find_symbol": lambda i: {"name": f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}"},
                "grep": lambda i: {"pattern": f"def {rng.choice(VERBS)}_{rng.choice(NOUNS)}"},
                "open_file": lambda i: {"path": rng.choice(paths), "end_line": 40},
                "project_metadata": lambda i: {},
                "list_projects": lambda i: {},
            }
            for name, arguments in calls.items():
                samples[name] = await repeated(mcp, name, arguments, args.calls)
            samples["ask"] = await repeated(mcp, "ask", lambda i: {"question": ask_q[i]}, args.asks)
            samples |= await resource_calls(mcp, paths, rng, args.calls)
    report(args, grpc_s, samples)


async def searches(
    args: argparse.Namespace, grpc_client: Client, mcp: McpClient, grpc_q: list[str],
    mcp_q: list[str],
) -> tuple[list[float], dict[str, list[float]]]:  # fmt: skip
    """gRPC Search and MCP search, alternating, each with its own distinct questions."""
    grpc_s: list[float] = []
    mcp_s: list[float] = []
    for grpc_question, mcp_question in zip(grpc_q, mcp_q, strict=True):
        started = time.perf_counter()
        grpc_client.search(PROJECT, grpc_question, top_k=10)
        grpc_s.append(time.perf_counter() - started)
        elapsed, result = await timed(lambda q=mcp_question: mcp.call_tool("search", {"query": q}))
        checked(result, "search")
        mcp_s.append(elapsed)
    return grpc_s, {"search": mcp_s}


async def repeated(
    mcp: McpClient, name: str, arguments: Callable[[int], dict[str, Any]], count: int
) -> list[float]:
    samples = []
    for i in range(count):
        elapsed, result = await timed(lambda i=i: mcp.call_tool(name, arguments(i)))
        checked(result, name)
        samples.append(elapsed)
    return samples


async def resource_calls(
    mcp: McpClient, paths: list[str], rng: random.Random, count: int
) -> dict[str, list[float]]:
    """resources/list (first page; the whole listing) and resources/read of random files."""
    # The SDK client may cache listings and reads: bypass it, so every call is a round trip.
    first_page: list[float] = []
    for _ in range(count):
        elapsed, first = await timed(lambda: mcp.list_resources(cache_mode="bypass"))
        first_page.append(elapsed)
    listed, whole = 0, []
    for _ in range(max(count // 10, 1)):
        started, cursor, listed = time.perf_counter(), None, 0
        while True:
            listing = await mcp.list_resources(cursor=cursor, cache_mode="bypass")
            listed += len(listing.resources)
            if (cursor := listing.next_cursor) is None:
                break
        whole.append(time.perf_counter() - started)
    reads: list[float] = []
    for _ in range(count):
        uri = f"projectqa://{PROJECT}/{rng.choice(paths)}"
        elapsed, _read = await timed(lambda u=uri: mcp.read_resource(u, cache_mode="bypass"))
        reads.append(elapsed)
    return {
        f"resources/list ({len(first.resources)})": first_page,
        f"resources/list all ({listed})": whole,
        "resources/read": reads,
    }


def report(args: argparse.Namespace, grpc_s: list[float], samples: dict[str, list[float]]) -> None:
    print(f"\n  {'ms':<30}{'p50':>9}{'p99':>9}{'max':>9}")
    print(summary("gRPC Search", grpc_s))
    for name, values in samples.items():
        print(summary(f"MCP {name}", values))
    delta = 1000 * (pct(samples["search"], 0.5) - pct(grpc_s, 0.5))
    verdict = "within" if delta <= args.target_ms else "OVER"
    print(f"\nMCP search p50 - gRPC Search p50 = {delta:.1f} ms "
          f"({verdict} the {args.target_ms:.0f} ms target)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--files", type=int, default=740, help="generated files (740: over 10k chunks)"
    )
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--calls", type=int, default=200, help="calls of each tool")
    parser.add_argument("--asks", type=int, default=30, help="calls of ask (extractive)")
    parser.add_argument("--target-ms", type=float, default=20.0)
    args = parser.parse_args()
    data_dir = ingested(args.files, args.seed)
    folder = corpus(args.files, args.seed)
    server, address = start_server(data_dir, WORK / "serve.log")
    try:
        token = (data_dir / "admin.token").read_text().strip()
        asyncio.run(run(args, address, token, folder))
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
