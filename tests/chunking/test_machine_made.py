"""Which chunks are machine-made (vendored, generated, minified) and embed no passage."""

from __future__ import annotations

import pytest

from projectqa.server.chunking.machine_made import embedded_passage, machine_made

HAND_WRITTEN = "def total(items):\n    return sum(i.price for i in items)\n"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("static/vendor/jquery/jquery.js", "vendored"),
        ("web/node_modules/react/index.js", "vendored"),
        ("third_party/zlib/inflate.c", "vendored"),
        ("api/v1/orders_pb2.py", "generated"),
        ("api/v1/orders_pb2_grpc.py", "generated"),
        ("internal/orders.pb.go", "generated"),
        ("assets/app.min.js", "generated"),
        ("package-lock.json", "generated"),
        ("sub/poetry.lock", "generated"),
    ],
)
def test_paths_of_copied_or_generated_files(path: str, reason: str) -> None:
    assert machine_made(path, HAND_WRITTEN) == reason


@pytest.mark.parametrize(
    "path",
    ["src/shop/orders.py", "docs/vendor.md", "vendor.py", "src/vendors/models.py", ""],
)
def test_hand_written_code_is_not_machine_made(path: str) -> None:
    # A folder or file merely named after vendors is the project's own; records have no path.
    assert machine_made(path, HAND_WRITTEN) == ""


def test_minified_code_is_told_by_its_lines() -> None:
    bundle = "\n".join("function a(e,t){return e.x?t[0]:a(e,t-1)};" * 12 for _ in range(4))
    assert machine_made("static/app.js", bundle) == "minified"
    assert machine_made("static/app.js", "x = '" + "a" * 1200 + "'") == "minified"


def test_long_prose_lines_are_not_minified() -> None:
    # Markdown often keeps a paragraph on one line.
    paragraph = "A sentence about the ledger that goes on. " * 30
    assert machine_made("docs/guide.md", f"{paragraph}\n{paragraph}") == ""
    assert machine_made("src/app.py", "x = 1\n" + "# short\n" * 3) == ""


def test_embedded_passage_is_empty_only_for_machine_made_chunks() -> None:
    assert embedded_passage("src/shop/orders.py", HAND_WRITTEN) == HAND_WRITTEN
    assert embedded_passage("api/orders_pb2.py", HAND_WRITTEN) == ""
