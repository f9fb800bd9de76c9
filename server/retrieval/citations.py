"""Citations: how a passage names its source so a reader can open the exact lines."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Chunk


@dataclass(frozen=True, slots=True)
class Citation:
    connector_id: str
    document_key: str
    kind: str
    path: str
    start_line: int
    end_line: int
    url: str
    title: str
    version: str  # the commit of a git checkout; '' when unknown

    @property
    def label(self) -> str:
        """``path:start-end`` for files, ``commit abc1234`` for a commit, the record's key
        (``issues/12``, ``PROJ-7``) otherwise."""
        if self.kind == "commit":
            return commit_label(self.document_key)
        if not self.path:
            return self.document_key
        return line_label(self.path, self.start_line, self.end_line)


def commit_label(document_key: str) -> str:
    """``commit abc1234`` for the record ``commits/<sha>`` (git's short form, 7 digits)."""
    return f"commit {document_key.rpartition('/')[2][:7]}"


def line_label(path: str, start_line: int, end_line: int) -> str:
    """``path:start-end``, or ``path:line`` for a single line."""
    lines = str(start_line) if start_line == end_line else f"{start_line}-{end_line}"
    return f"{path}:{lines}"


def citation_of(chunk: Chunk, version: str = "") -> Citation:
    return Citation(
        connector_id=chunk.connector_id,
        document_key=chunk.document_key,
        kind=chunk.kind,
        path=chunk.path,
        start_line=chunk.start_line,
        end_line=chunk.end_line,
        url=chunk.url,
        title=chunk.title or chunk.path.rsplit("/", 1)[-1],
        version=version,
    )
