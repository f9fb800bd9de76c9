"""A plugin's documents carry one of the closed set of kinds: the kind filters of search
(SearchFilter.kinds) can find every document ingested."""

from __future__ import annotations

import pytest

from projectqa.plugin import DocumentKind, SourceDocument


def test_a_kind_given_as_its_value_becomes_the_kind() -> None:
    document = SourceDocument(key="issues/7", kind="issue", text="Crash")  # type: ignore[arg-type]
    assert document.kind is DocumentKind.ISSUE


def test_a_kind_outside_the_set_is_refused_naming_the_document_and_the_kinds() -> None:
    with pytest.raises(ValueError) as refused:  # UnknownDocumentKind, a SourceError too
        SourceDocument(key="posts/1", kind="blog", text="Hello")  # type: ignore[arg-type]
    message = str(refused.value)
    assert "'posts/1'" in message and "'blog'" in message
    assert all(kind.value in message for kind in DocumentKind)
