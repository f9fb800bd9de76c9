"""Questions asking where a program starts, and the chunks that are its entry points."""

from __future__ import annotations

from dataclasses import replace

import pytest

from projectqa.server.index.table import ChunkTable
from projectqa.server.retrieval.entry_points import (
    SCRIPT_STRENGTH,
    asks_for_entry_point,
    entry_points,
)

from .test_rank import BASE


@pytest.mark.parametrize(
    "question",
    [
        "Where does the program start, and how does it read its settings?",
        "What is the entry point of the CLI?",
        "which entrypoints does the package declare",
        "How is the server started?",
        "where does execution begin",
        "where is the main function?",
        "what does main() do before serving",
        "show me func main",
        "what is in __main__.py",
        "what happens when the app starts up",
        "walk me through the startup sequence",
    ],
)
def test_questions_asking_where_the_program_starts(question: str) -> None:
    assert asks_for_entry_point(question)


@pytest.mark.parametrize(
    "question",
    [
        "how does the app read its settings?",
        "where does the request start its retry loop?",  # a request is no program
        "The server fails to start with a KeyError in load_settings",  # a bug report
        "the service crashes when it starts",
        "which branch is main?",
        "what is the main reason uploads are slow",
        "how do I start contributing",
        "",
    ],
)
def test_questions_not_asking_for_the_entry_point(question: str) -> None:
    assert not asks_for_entry_point(question)


def test_a_long_report_is_read_only_near_its_start() -> None:
    assert not asks_for_entry_point("x " * 1500 + "where does the program start?")


def test_entry_points_are_main_modules_and_main_functions() -> None:
    rows = [
        ("pkg/__main__.py", "", "module", "python"),
        ("pkg/cli.py", "main", "function", "python"),  # beside __main__.py: python -m pkg
        ("src/App.java", "App.main", "method", "java"),
        ("pkg/domain.py", "Domain.main", "property", "python"),
        ("pkg/main_window.py", "MainWindow", "class", "python"),
        ("pkg/cli.py", "maintain", "function", "python"),
        ("cmd/app/main.go", "main", "function", "go"),
        ("bench/load.py", "main", "function", "python"),  # a script's
        ("pkg/sub/tool.py", "main", "function", "python"),  # another package's
    ]
    table = ChunkTable.build(
        replace(
            BASE,
            id=f"chk_{n}",
            document_id=path,
            path=path,
            symbol=symbol,
            symbol_kind=kind,
            language=language,
        )
        for n, (path, symbol, kind, language) in enumerate(rows)
    )
    script = SCRIPT_STRENGTH
    assert entry_points(table) == {0: 1.0, 1: 1.0, 2: 1.0, 6: 1.0, 7: script, 8: script}
    # One scan per table (an index generation's table never changes).
    assert entry_points(table) is entry_points(table)
