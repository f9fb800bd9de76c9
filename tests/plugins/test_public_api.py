"""``projectqa.plugin`` is the one front door: what it exports resolves, and the example
plugin and the plugin docs import nothing else of ProjectQA (and their code works)."""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path

import pytest

import projectqa.plugin as plugin_api
from projectqa.server.plugin_host import load_plugins
from projectqa.server.tools.plugin_runner import run_plugin_tool

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "plugins" / "example-plugin"
DOCS = [ROOT / "plugins" / "README.md", EXAMPLE / "README.md"]
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def projectqa_imports(source: str) -> set[str]:
    """The ``projectqa...`` modules a piece of Python imports from."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "projectqa"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            module = node.module or ""
            if module.split(".")[0] == "projectqa":
                found.add(module)
    return found


def test_every_name_in_all_resolves_and_is_typed() -> None:
    assert plugin_api.__all__ == sorted(plugin_api.__all__, key=lambda n: (n[0].islower(), n))
    missing = [name for name in plugin_api.__all__ if not hasattr(plugin_api, name)]
    assert missing == []
    for name in ("hookimpl", "ConnectorType", "ToolSpec", "tool", "ToolContext", "SourceError"):
        assert name in plugin_api.__all__
    assert (Path(plugin_api.__file__).parent / "py.typed").is_file()


def test_the_example_plugin_imports_only_projectqa_plugin() -> None:
    sources = sorted((EXAMPLE / "projectqa_example_plugin").glob("*.py"))
    assert len(sources) >= 4
    for path in sources:
        imported = projectqa_imports(path.read_text(encoding="utf-8"))
        assert imported <= {"projectqa.plugin"}, f"{path.name} imports {imported}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_docs_code_imports_only_projectqa_plugin(doc: Path) -> None:
    blocks = PYTHON_BLOCK.findall(doc.read_text(encoding="utf-8"))
    assert blocks
    for block in blocks:
        assert projectqa_imports(block) <= {"projectqa.plugin"}, block
    assert not re.search(r"(from|import) projectqa\.server", doc.read_text(encoding="utf-8"))


def readme_plugins() -> list[types.ModuleType]:
    """Each Python example of plugins/README.md, run as a module of its own."""
    modules = []
    for number, block in enumerate(PYTHON_BLOCK.findall(DOCS[0].read_text(encoding="utf-8"))):
        module = types.ModuleType(f"readme_example_{number}")
        sys.modules[module.__name__] = module  # dataclasses and typing resolve through it
        try:
            exec(compile(block, f"plugins/README.md block {number}", "exec"), module.__dict__)
        finally:
            del sys.modules[module.__name__]
        modules.append(module)
    return modules


async def test_the_readme_examples_register_and_run(tmp_path: Path) -> None:
    extra = [(f"readme{n}", module) for n, module in enumerate(readme_plugins())]
    host = load_plugins(allow=[], extra=extra)

    assert host.blocked == {}
    assert set(host.catalog.connector_types) == {"svn"}
    assert set(host.catalog.tools) == {"todo_count", "shout", "count_words"}
    todo = host.catalog.tools["todo_count"].item
    assert todo.arguments_schema["properties"]["marker"] == {
        "enum": ["TODO", "FIXME"],
        "type": "string",
        "description": "the marker to count",
        "default": "TODO",
    }
    (tmp_path / "a.py").write_text("# TODO one\n# TODO two\n# FIXME\n")
    context = plugin_api.ToolContext("prj", "p", (plugin_api.Checkout("c", "repo", tmp_path),))
    counted = await run_plugin_tool(todo, {"suffixes": [".py"]}, context, timeout_s=30)
    assert counted.value == {"count": 2}
    shouted = await run_plugin_tool(
        host.catalog.tools["shout"].item, {"text": "hi", "times": 2}, context, timeout_s=30
    )
    assert shouted.value == "HI HI"  # an async def tool
    words = await run_plugin_tool(
        host.catalog.tools["count_words"].item, {"text": "a b c"}, context, timeout_s=30
    )
    assert words.value == {"words": 3, "limit": 100}  # the schema's default, filled in
