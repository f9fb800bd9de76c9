"""Fixtures of the LLM client tests: the fake server and a client of it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from projectqa.server.llm.client import LlmClient
from tests.fakes.llm_server import FakeLlm
from tests.llm.helpers import endpoint_at


@pytest.fixture(autouse=True)
def no_openai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own OPENAI_* settings must not reach these tests."""
    for name in list(os.environ):
        if name.startswith("OPENAI_"):
            monkeypatch.delenv(name)


@pytest.fixture
def fake() -> Iterator[FakeLlm]:
    with FakeLlm() as fake:
        yield fake


@pytest.fixture
async def client(fake: FakeLlm) -> AsyncIterator[LlmClient]:
    client = LlmClient(endpoint_at(fake))
    yield client
    await client.aclose()
