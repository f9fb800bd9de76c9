"""Which chunks are machine-made (vendored, generated, minified, recorded or generated test
data) and embed no passage."""

from __future__ import annotations

import pytest

from projectqa.server.chunking.machine_made import (
    embedded_passage,
    machine_made,
    machine_made_path,
)

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


@pytest.mark.parametrize(
    "path",
    [
        "bench/eval/flask.json",  # a question set an evaluation reads
        "bench/eval/localization/click.json",
        "evals/registry/data/qa.jsonl",
        "tests/webhooks/payloads/push.json",  # a recorded request
        "tests/fixtures/cassettes/login.yaml",
        "pkg/testdata/golden.json",
        "src/__snapshots__/app.test.ts.snap",
    ],
)
def test_evaluation_and_test_data_files_are_data(path: str) -> None:
    assert machine_made(path, '{"question": "Where does the app read its settings?"}') == "data"
    assert machine_made_path(path) == "data"


@pytest.mark.parametrize(
    "path",
    [
        "tests/fixtures/conftest.py",  # code that builds fixtures is hand-written
        "tests/test_eval.py",
        "config/settings.yaml",  # a project's own configuration answers questions
        ".github/workflows/ci.yml",
        "package.json",
        "src/eval/evaluate.json.py",
    ],
)
def test_code_and_configuration_are_not_data(path: str) -> None:
    assert machine_made_path(path) == ""


def test_the_path_alone_tells_all_but_minified_code() -> None:
    assert machine_made_path("static/vendor/jquery.js") == "vendored"
    assert machine_made_path("package-lock.json") == "generated"
    assert machine_made_path("static/app.js") == ""  # minified is told by the text
    assert machine_made_path("") == ""
