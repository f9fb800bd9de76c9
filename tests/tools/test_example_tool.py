"""The example plugin's ``count_lines`` tool, pip-installed like any plugin and run through
run_plugin_tool over real files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from projectqa.server.plugin_host import load_plugins
from projectqa.server.registry import ToolSpec
from projectqa.server.tools.base import Checkout, ToolContext
from projectqa.server.tools.plugin_runner import run_plugin_tool

from ..plugins.example_site import installed_fixture, site_fixture  # noqa: F401 (fixtures)


@pytest.fixture
def count_lines(example_installed: Path) -> ToolSpec:
    """The tool as the installed plugin registers it."""
    host = load_plugins(["example"])
    assert host.blocked == {}
    entry = host.catalog.tools["count_lines"]
    assert entry.plugin == "example"
    assert Path(sys.modules[entry.item.function.__module__].__file__ or "").is_relative_to(
        example_installed
    )
    return entry.item


@pytest.fixture
def project(tmp_path: Path) -> ToolContext:
    app = tmp_path / "app"
    (app / "pkg").mkdir(parents=True)
    (app / "main.py").write_text("import pkg\n\nprint(pkg.x)\n")  # 3 lines
    (app / "pkg" / "__init__.py").write_text("x = 1\ny = 2")  # 2, no final newline
    (app / "pkg" / "empty.py").write_text("")
    (app / "pkg" / "blob.py").write_bytes(b"\x00\x01binary\n")
    (app / "README.md").write_text("# App\n")
    (app / ".git").mkdir()
    (app / ".git" / "hook.py").write_text("never counted\n")
    secret = tmp_path / "outside.py"
    secret.write_text("secret\n" * 50)
    (app / "leak.py").symlink_to(secret)  # leaves the checkout: skipped
    (app / "linked").symlink_to(tmp_path)  # a directory outside, too
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.py").write_text("a\nb\nc\nd\n")
    return ToolContext(
        "prj_1",
        "app",
        (Checkout("con_1", "code", app.resolve()), Checkout("con_2", "docs", docs.resolve())),
    )


async def run(spec: ToolSpec, context: ToolContext, **arguments: Any) -> Any:
    return await run_plugin_tool(spec, arguments, context, timeout_s=30)


async def test_counts_lines_of_matching_files_in_every_checkout(
    count_lines: ToolSpec, project: ToolContext
) -> None:
    result = await run(count_lines, project, glob="**/*.py")

    assert not result.is_error, result.error
    assert result.value == {
        "total_lines": 9,
        "file_count": 4,
        "files": [
            {"connector": "docs", "path": "guide.py", "lines": 4},
            {"connector": "code", "path": "main.py", "lines": 3},
            {"connector": "code", "path": "pkg/__init__.py", "lines": 2},
            {"connector": "code", "path": "pkg/empty.py", "lines": 0},
        ],
        "skipped_binary": 1,
        "truncated": False,
    }


async def test_one_connector_only(count_lines: ToolSpec, project: ToolContext) -> None:
    result = await run(count_lines, project, glob="*", connector="code")

    assert [f["path"] for f in result.value["files"]] == ["main.py", "README.md"]
    assert result.value["total_lines"] == 4


@pytest.mark.parametrize("glob", ["../*.py", "/etc/*", "pkg/../../*.py", "linked/*.py"])
async def test_globs_cannot_leave_the_checkout(
    count_lines: ToolSpec, project: ToolContext, glob: str
) -> None:
    result = await run(count_lines, project, glob=glob, connector="code")

    if result.is_error:
        assert result.error.startswith("BadGlob: ")
    else:  # through a symlinked directory: matches outside are skipped
        assert result.value["file_count"] == 0


def test_the_schema_requires_a_glob(count_lines: ToolSpec) -> None:
    assert count_lines.arguments_schema["required"] == ["glob"]
    assert count_lines.side_effects is False
