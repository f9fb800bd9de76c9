"""The fake LLM speaks OpenAI's wire format, closes promptly, and carries a load bench."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.llm_server import FakeLlm, Reply

ROOT = Path(__file__).resolve().parents[2]
REQUEST = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def fake() -> Iterator[FakeLlm]:
    with FakeLlm() as fake:
        yield fake


def sse_data(text: str) -> list[str]:
    assert text.endswith("\n\n")
    events = text.split("\n\n")[:-1]
    assert all(event.startswith("data: ") for event in events)
    return [event.removeprefix("data: ") for event in events]


def test_stream_framing_usage_and_done(fake: FakeLlm) -> None:
    fake.script(Reply(text="Hello there", tool_calls=[("search", {"query": "x"})], usage=(5, 3)))
    body = {**REQUEST, "stream": True, "stream_options": {"include_usage": True}}
    response = httpx.post(f"{fake.base_url}/chat/completions", json=body)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    data = sse_data(response.text)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello there"
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def test_no_usage_chunk_unless_asked(fake: FakeLlm) -> None:
    response = httpx.post(f"{fake.base_url}/chat/completions", json={**REQUEST, "stream": True})
    chunks = [json.loads(item) for item in sse_data(response.text)[:-1]]
    assert all(chunk["choices"] and "usage" not in chunk for chunk in chunks)


def test_completion_object_and_unprefixed_path(fake: FakeLlm) -> None:
    fake.script(Reply(tool_calls=[("search", {"query": "x"})]))
    url = fake.base_url.removesuffix("/v1") + "/chat/completions"
    answer = httpx.post(url, json=REQUEST).json()
    assert answer["object"] == "chat.completion"
    message = answer["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"][0]["function"] == {"name": "search", "arguments": '{"query": "x"}'}
    assert fake.requests[0].path == "/chat/completions"


def test_error_bodies(fake: FakeLlm) -> None:
    fake.script(Reply(status=429, headers={"retry-after": "1"}))
    response = httpx.post(f"{fake.base_url}/chat/completions", json=REQUEST)
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert httpx.post(f"{fake.base_url}/completions", json=REQUEST).status_code == 404
    assert httpx.post(f"{fake.base_url}/chat/completions", content=b"{").status_code == 400


def test_handler_answers_once_the_script_is_used_up(fake: FakeLlm) -> None:
    fake.handler = lambda body: Reply(text=f"echo {body['messages'][-1]['content']}")
    fake.script(Reply(text="scripted"))
    url = f"{fake.base_url}/chat/completions"
    answers = [httpx.post(url, json=REQUEST).json() for _ in range(2)]
    contents = [a["choices"][0]["message"]["content"] for a in answers]
    assert contents == ["scripted", "echo hi"]


def test_close_does_not_wait_for_hanging_replies() -> None:
    fake = FakeLlm()
    fake.handler = lambda body: Reply(text="late", hang_s=600)
    outcome: list[Any] = []

    def call() -> None:
        try:
            httpx.post(f"{fake.base_url}/chat/completions", json=REQUEST, timeout=30)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while fake.request_count == 0:
        threading.Event().wait(0.01)
    fake.close()
    caller.join()
    assert len(outcome) == 1  # the hanging request ended with the server, not after 600s


async def test_hundreds_of_concurrent_streams(fake: FakeLlm) -> None:
    fake.handler = lambda body: Reply(text="word " * 20, token_delay_s=0.01)
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-load", max_retries=0)

    async def one() -> str:
        stream = await client.chat.completions.create(**REQUEST, stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    texts = await asyncio.gather(*(one() for _ in range(200)))
    await client.close()
    assert set(texts) == {"word " * 20}
    assert fake.request_count == 200


def test_standalone_bench_server() -> None:
    command = [sys.executable, "-m", "tests.fakes.llm_server", "--tokens", "7", "--token-ms", "1"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        base_url = line.rsplit(" ", 1)[-1].strip()
        assert base_url.startswith("http://127.0.0.1:")
        answer = httpx.post(f"{base_url}/chat/completions", json=REQUEST, timeout=10).json()
        assert answer["choices"][0]["message"]["content"] == " ".join(f"word{i}" for i in range(7))
    finally:
        process.terminate()
        process.wait(timeout=10)
