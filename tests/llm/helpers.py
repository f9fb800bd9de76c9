"""What the LLM client tests share: an endpoint at the fake, a question, a tool."""

from __future__ import annotations

import dataclasses
import socket
from typing import Any

import pytest

from projectqa.server.llm.client import LlmClient, LlmEndpoint, LlmError
from tests.fakes.llm_server import FakeLlm

KEY = "sk-test-0123456789abcdefSECRET"
QUESTION = [{"role": "user", "content": "How are retries configured?"}]
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the project",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
    },
}


def endpoint_at(fake: FakeLlm, **changes: Any) -> LlmEndpoint:
    endpoint = LlmEndpoint(
        name="fast",
        profile_id="llm_1",
        base_url=fake.base_url,
        api_key=KEY,
        model="gpt-test",
        temperature=0.2,
        max_output_tokens=0,
        timeout_s=5.0,
        retries=2,
    )
    return dataclasses.replace(endpoint, **changes)


async def collect(client: LlmClient, **kwargs: Any) -> list[Any]:
    return [event async for event in client.stream(QUESTION, **kwargs)]


async def failure(client: LlmClient, **kwargs: Any) -> LlmError:
    with pytest.raises(LlmError) as caught:
        await collect(client, **kwargs)
    return caught.value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
