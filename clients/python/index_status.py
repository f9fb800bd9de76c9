"""Where a project's indexing stands, in words: what the CLI and the editor show.

The server reports an :class:`~projectqa.v1.retrieval_pb2.IndexStatus` with every
search (``SearchResponse.index_status``), with GetProjectMetadata and on its own
(``client.index_status(project)``). While a run goes on the served generation may
hold fewer chunks than the Store, and fewer vectors than chunks: keyword search
already finds every indexed chunk, dense search only the embedded ones. During an
upgrade of the keyword tokenizer, keyword search is skipped until a worker's
rebuild is published (``keyword_unavailable``).
"""

from __future__ import annotations

from projectqa.v1 import retrieval_pb2

IndexStatus = retrieval_pb2.IndexStatus


def dense_share(status: IndexStatus) -> float:
    """Share of the served generation's chunks that have a vector (1.0 for none at all)."""
    if status.chunks_indexed <= 0:
        return 1.0
    return min(status.chunks_embedded / status.chunks_indexed, 1.0)


def status_notes(status: IndexStatus) -> list[str]:
    """What is missing from the served index, one phrase each; empty when nothing is.

    e.g. ``dense index 40 % (2,000 of 4,955 chunks embedded)``.
    """
    if status.generation <= 0:
        return ["nothing indexed yet"]
    notes: list[str] = []
    if status.chunks_stored > status.chunks_indexed:
        notes.append(
            f"keyword index {status.chunks_indexed:,} of {status.chunks_stored:,} stored chunks"
        )
    if status.dense_unavailable:
        notes.append(f"dense search skipped: {status.dense_unavailable}")
    elif status.chunks_embedded < status.chunks_indexed:
        percent = int(100 * dense_share(status))  # floor: never "100 %" while incomplete
        notes.append(
            f"dense index {percent} % ({status.chunks_embedded:,} of "
            f"{status.chunks_indexed:,} chunks embedded)"
        )
    if status.keyword_unavailable:
        notes.append(f"keyword search skipped: {status.keyword_unavailable}")
    return notes


def status_line(status: IndexStatus) -> str:
    """One line on an incomplete index ("" when it is complete), e.g.
    ``dense index 40 % (2,000 of 4,955 chunks embedded) — results may improve``."""
    notes = status_notes(status)
    if not notes:
        return ""
    line = f"{'; '.join(notes)} — results may improve"
    if status.active_run_id:
        line += f" (run {status.active_run_id} is ingesting)"
    return line


__all__ = ["IndexStatus", "status_line", "status_notes"]
