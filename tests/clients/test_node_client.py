"""The Node.js client (clients/node) against a real server and a real ingested project.

The example ``examples/search-and-ask.js`` runs under ``node`` as a subprocess,
exactly as its README shows, with the address and token in the environment;
``--json`` makes it print one JSON object per line (the hits, then the chat
events), which the tests parse. The server runs in this module's event loop, so
every subprocess is awaited with asyncio, never with a blocking call.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from projectqa.server.app import create_server
from projectqa.server.config import Settings
from projectqa.v1 import admin_pb2
from tests.fakes.llm_server import FakeLlm, Reply
from tests.process import Completed, run
from tests.service.retrieval_fixtures import (
    PROJECT,
    SHOP_FILES,
    IndexedProject,
    file_lines,
    indexed_project,
)

from .requirements import REPO, require_node_modules, require_tool

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

PACKAGE = REPO / "clients" / "node"
EXAMPLE = PACKAGE / "examples" / "search-and-ask.js"
SUBPROCESS_TIMEOUT_S = 60
QUESTION = "How is the discount applied to the total price of the cart?"
# "path:start-end", or "path:line" for one line (see server/retrieval/citations.py).
LABEL = re.compile(r"^(?P<path>[\w./-]+):(?P<start>\d+)(?:-(?P<end>\d+))?$")


@pytest.fixture(scope="module")
def node() -> str:
    path = require_tool("node", "install Node.js 18.3 or newer (https://nodejs.org)")
    require_node_modules(PACKAGE)
    return path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def qa(node: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[IndexedProject]:
    async with indexed_project(tmp_path_factory) as indexed:
        yield indexed


def admin_token(qa: IndexedProject) -> str:
    return qa.server.settings.admin_token_path.read_text(encoding="utf-8").strip()


async def run_node(node: str, qa: IndexedProject, *args: str, token: str = "") -> Completed:
    """Runs ``node args…`` in clients/node with the server's address and a token."""
    env = {
        **os.environ,
        "PROJECTQA_ADDRESS": f"127.0.0.1:{qa.port}",
        "PROJECTQA_TOKEN": token or admin_token(qa),
    }
    return await run(node, *args, cwd=PACKAGE, env=env, timeout=SUBPROCESS_TIMEOUT_S)


async def run_example(node: str, qa: IndexedProject, *args: str, token: str = "") -> Completed:
    return await run_node(node, qa, str(EXAMPLE.relative_to(PACKAGE)), *args, token=token)


def label_of(path: str, start: int, end: int) -> str:
    return f"{path}:{start}" if start == end else f"{path}:{start}-{end}"


def root_of(qa: IndexedProject, connector_id: str) -> Path:
    return {qa.code_connector_id: qa.shop, qa.notes_connector_id: qa.notes}[connector_id]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def answered(node: str, qa: IndexedProject) -> list[dict[str, Any]]:
    """The example's ``--json`` output for QUESTION: the hits, then the Ask events."""
    done = await run_example(node, qa, "--project", PROJECT, "--json", "--extractive", QUESTION)
    assert done.returncode == 0, done.stderr
    return done.json_lines()


async def test_search_hits_cite_the_shop_files(
    answered: list[dict[str, Any]], qa: IndexedProject
) -> None:
    hits = [line for line in answered if line["type"] == "hit"]
    assert 1 <= len(hits) <= 5
    assert [hit["rank"] for hit in hits] == list(range(1, len(hits) + 1))
    assert hits[0]["path"] in ("shop/cart.py", "shop/pricing.py"), hits[0]
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    for hit in hits:
        assert hit["label"] == label_of(hit["path"], hit["startLine"], hit["endLine"])
        assert hit["citation"]["label"] == hit["label"]
        root = root_of(qa, hit["citation"]["connectorId"])
        assert hit["path"] in {*SHOP_FILES, "release.md"}, hit["label"]
        # The passage's text is exactly the cited lines of the file on disk.
        assert not hit["truncated"], hit["label"]
        assert hit["text"] == file_lines(root, hit["path"], hit["startLine"], hit["endLine"])


async def test_extractive_ask_streams_deltas_citations_and_done(
    answered: list[dict[str, Any]], qa: IndexedProject
) -> None:
    events = [line for line in answered if line["type"] != "hit"]
    types = [event["type"] for event in events]
    assert types[0] == "turn_started" and events[0]["model"] == "extractive"
    assert types[-1] == "done" and types.count("done") == 1 and "error" not in types
    assert [event["sequence"] for event in events] == list(range(1, len(events) + 1))
    deltas = [event["text"] for event in events if event["type"] == "answer_delta"]
    assert deltas and events[-1]["answer"] == "".join(deltas)
    assert events[-1]["status"] == "TURN_STATUS_COMPLETE"
    citations = [event for event in events if event["type"] == "citation"]
    assert citations
    for citation in citations:
        assert LABEL.match(citation["label"]), citation["label"]
        lines = (citation["startLine"], citation["endLine"])
        assert citation["label"] == label_of(citation["path"], *lines)
        assert (root_of(qa, citation["citation"]["connectorId"]) / citation["path"]).is_file()
        assert citation["verified"] is True
    assert {"shop/cart.py", "shop/pricing.py"} & {c["path"] for c in citations}


async def test_text_output_streams_the_answer_and_lists_sources(
    node: str, qa: IndexedProject
) -> None:
    done = await run_example(node, qa, "--project", PROJECT, "--top-k", "3", QUESTION)
    assert done.returncode == 0, done.stderr
    hits, _, after = done.stdout.partition("\nAnswer:\n")
    answer, _, sources = after.partition("\nSources:\n")
    assert hits.startswith("Search hits for") and re.search(r"  1\. shop/\S+:\d+", hits)
    assert answer.strip()
    labels = [line.strip().split()[-1] for line in sources.splitlines() if line.strip()]
    assert labels and all(LABEL.match(label) for label in labels), sources


async def test_a_bad_token_fails_with_unauthenticated(node: str, qa: IndexedProject) -> None:
    done = await run_example(node, qa, "--project", PROJECT, QUESTION, token="pqa_not-a-token")
    assert done.returncode == 1
    assert done.stderr.startswith("error: UNAUTHENTICATED: "), done.stderr
    assert "Search hits" not in done.stdout


async def test_an_unknown_project_fails_with_not_found(node: str, qa: IndexedProject) -> None:
    done = await run_example(node, qa, "--project", "no-such-project", "--json", QUESTION)
    assert done.returncode == 1
    assert done.stderr.startswith("error: NOT_FOUND: "), done.stderr
    assert done.stdout == ""


async def test_a_missing_token_is_a_usage_error(node: str, qa: IndexedProject) -> None:
    done = await run_example(node, qa, "--project", PROJECT, "--token", "", QUESTION)
    assert done.returncode == 2
    assert "--token or PROJECTQA_TOKEN is required" in done.stderr


CANCEL_SCRIPT = """
import { once } from "node:events";
import { connect } from %(library)s;

const qa = connect({ address: process.env.PROJECTQA_ADDRESS, token: process.env.PROJECTQA_TOKEN });
const options = { llmProfileId: process.argv[2] };
const report = { deltas: 0 };

// Leaving the loop early (return()) cancels the call quietly.
for await (const event of qa.ask("shop", "first question", options)) {
  if (event.type === "answer_delta" && ++report.deltas === 3) break;
}

// Aborting the signal cancels the call and rejects with the signal's reason.
const controller = new AbortController();
const signal = controller.signal;
try {
  for await (const event of qa.ask("shop", "second question", { ...options, signal })) {
    if (event.type === "answer_delta") controller.abort();
  }
  report.aborted = "not rejected";
} catch (error) {
  report.aborted = error.name;
}

// Errors carry the status name and the server's details.
try {
  await qa.search("no-such-project", "cart");
} catch (error) {
  report.error = { name: error.name, codeName: error.codeName, details: error.details };
}
// A stream read only after its call failed still reports the failure.
const late = qa.ask("no-such-project", "a question nobody reads at once");
await qa.search("shop", "cart");
try {
  for await (const event of late) report.late = event.type;
} catch (error) {
  report.late = error.codeName;
}
console.log(JSON.stringify(report));
// The channel stays open until the test has seen the LLM requests closed, so
// only the cancellations (not closing the channel) can have closed them.
process.stdin.resume();
await once(process.stdin, "end");
qa.close();
"""


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLlm]:
    with FakeLlm() as fake:
        yield fake


async def slow_llm_profile(qa: IndexedProject, llm: FakeLlm) -> str:
    """An LLM profile whose answers stream for seconds (200 words, 50 ms apart)."""
    llm.script(*[Reply(text="word " * 200, token_delay_s=0.05)] * 2)
    request = admin_pb2.CreateLlmProfileRequest(
        project=PROJECT,
        name="slow-fake",
        provider=admin_pb2.LLM_PROVIDER_OPENAI_COMPATIBLE,
        base_url=llm.base_url,
        model="fake-model",
        api_key="sk-test-key",
    )
    return (await qa.admin.admin.CreateLlmProfile(request)).profile.id


async def test_the_library_cancels_calls_and_reports_errors(
    node: str, qa: IndexedProject, llm: FakeLlm, tmp_path: Path
) -> None:
    script = tmp_path / "cancel.mjs"
    script.write_text(CANCEL_SCRIPT % {"library": json.dumps((PACKAGE / "projectqa.js").as_uri())})
    env = {**os.environ, "PROJECTQA_ADDRESS": f"127.0.0.1:{qa.port}"}
    env["PROJECTQA_TOKEN"] = admin_token(qa)
    process = await asyncio.create_subprocess_exec(
        node,
        str(script),
        await slow_llm_profile(qa, llm),
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin and process.stdout
    try:
        line = await asyncio.wait_for(process.stdout.readline(), SUBPROCESS_TIMEOUT_S)
        report = json.loads(line or b"{}")
        # Both cancelled calls closed their LLM stream on the server, long before its end.
        assert await asyncio.to_thread(llm.wait_for_disconnect, 2, SUBPROCESS_TIMEOUT_S)
        process.stdin.close()
        _, err = await asyncio.wait_for(process.communicate(), SUBPROCESS_TIMEOUT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert report["deltas"] == 3
    assert report["aborted"] == "AbortError"
    assert report["error"]["name"] == "ProjectQAError"
    assert report["error"]["codeName"] == "NOT_FOUND"
    assert "no-such-project" in report["error"]["details"]
    assert report["late"] == "NOT_FOUND"


async def self_signed_certificate(directory: Path) -> Path:
    """A certificate (and key, beside it) for 127.0.0.1, made by openssl."""
    openssl = require_tool("openssl", "install openssl to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    process = await asyncio.create_subprocess_exec(
        openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout", str(key), "-out", str(cert),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), SUBPROCESS_TIMEOUT_S)
    assert process.returncode == 0, err.decode()
    return cert


async def test_tls_with_a_ca_file(
    node: str, qa: IndexedProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert = await self_signed_certificate(tmp_path)
    for name in ("PROJECTQA_CONFIG", "PROJECTQA_MONGODB_URI", "PROJECTQA_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(
        data_dir=tmp_path / "data",
        listen_address="127.0.0.1:0",
        tls_cert_file=cert,
        tls_key_file=tmp_path / "key.pem",
    )
    server, port = await create_server(settings)
    try:
        token = settings.admin_token_path.read_text(encoding="utf-8").strip()
        # A host name, not 127.0.0.1: TLS names no IP addresses (RFC 6066), and node says so.
        ask = ("--address", f"localhost:{port}", "--project", "no-such-project", QUESTION)
        secure = await run_example(node, qa, "--tls-ca", str(cert), *ask, token=token)
        plain = await run_example(node, qa, *ask, token=token)
    finally:
        await server.stop(0)
    # Over TLS the call reaches the server, is authenticated and finds no such project.
    assert secure.returncode == 1
    assert secure.stderr.startswith("error: NOT_FOUND: "), secure.stderr
    assert plain.returncode == 1
    assert plain.stderr.startswith("error: UNAVAILABLE: "), plain.stderr
