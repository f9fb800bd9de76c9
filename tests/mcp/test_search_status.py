"""The MCP `search` tool says when the served index is incomplete, in the words the CLI
and the editors use (projectqa.client.index_status)."""

from __future__ import annotations

from typing import Any

from projectqa.mcp.tools import search
from projectqa.v1 import retrieval_pb2

ARGS: dict[str, Any] = {"query": "retry", "mode": "hybrid", "top_k": 5}


class OneResponse:
    """Answers every search with one response, as the server would."""

    def __init__(self, status: retrieval_pb2.IndexStatus) -> None:
        self.response = retrieval_pb2.SearchResponse(index_status=status)

    async def search(self, project: str, query: str, **_: Any) -> retrieval_pb2.SearchResponse:
        return self.response


async def test_a_search_during_a_tokenizer_upgrade_says_keyword_search_was_skipped() -> None:
    status = retrieval_pb2.IndexStatus(
        generation=4, chunks_indexed=10, chunks_embedded=10, chunks_stored=10,
        keyword_unavailable="keyword index of tokenizer version 1",
    )  # fmt: skip
    answer = await search(OneResponse(status), "shop", ARGS)  # type: ignore[arg-type]
    assert answer.text.endswith(
        "(keyword search skipped: keyword index of tokenizer version 1 — results may improve)"
    )


async def test_a_search_of_a_complete_index_adds_nothing() -> None:
    status = retrieval_pb2.IndexStatus(
        generation=4, chunks_indexed=10, chunks_embedded=10, chunks_stored=10
    )
    answer = await search(OneResponse(status), "shop", ARGS)  # type: ignore[arg-type]
    assert "results may improve" not in answer.text
