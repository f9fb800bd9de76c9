"""Where a program starts: questions that ask for it, and the chunks that answer them.

"Where does the program start?", "what is the entry point of the CLI?", "how is the
server started?" ask for the code that runs first: a Python package's ``__main__.py``,
a ``def main`` (what ``[project.scripts]``/console_scripts and ``if __name__ ==
"__main__":`` blocks call), Go's ``func main()``, Rust's ``fn main``, Java's
``static void main``. Their words rarely say so ("main" is no word of the question),
so neither ranker finds them; the re-scoring lifts them when the question asks.

Like the test and docs intents (``evidence.py``), the intent is read from how a
clause asks, not from single words: "the server fails to start" is a bug report
about the code that failed, and "where does the request start" names no program.
"""

from __future__ import annotations

import re
from weakref import WeakKeyDictionary

import numpy as np

from ..index.table import ChunkTable
from .evidence import CLAUSE

MAX_INTENT_CHARS = 2000  # a long report asks what it asks near its start

_PROGRAM = (
    r"(?:program|app|application|server|service|daemon|cli|command[- ]line(?: tool)?|tool"
    r"|binary|executable|process|script|project|code|execution)"
)
_STARTS = (
    r"(?:start(?:s|ed|ing)?|begin(?:s|ning)?|began|launch(?:es|ed)?|boot(?:s|ed)?|bootstrap\w*)"
)
_ASKS_FOR_ENTRY = re.compile(
    r"\bentry[- ]?points?\b"
    r"|\bmain\s*\(\s*\)|\b__main__\b|\bconsole[_ ]scripts?\b"
    r"|\b(?:def|func|fn)\s+main\b"
    r"|\bmain\s+(?:function|method|module|routine|file|script|program|class)\b"
    r"|\b(?:startup|start-up|bootstrap)\s+(?:code|sequence|logic|path|routine)\b"
    r"|\b(?:where|how|what|which)\b[^.?!;\n]{0,40}\b" + _PROGRAM + r"s?\b[^.?!;\n]{0,20}\b"
    r"(?:is\s+|are\s+|gets?\s+|to\s+)?" + _STARTS + r"\b",
    re.IGNORECASE,
)
# A clause about something failing asks where it fails, not where the program starts.
_FAILING = re.compile(
    r"\b(?:fail\w*|error\w*|crash\w*|hang\w*|broke\w*|raise[sd]?|exception|traceback)\b",
    re.IGNORECASE,
)
_ENTRY_FILES = frozenset({"__main__.py"})  # every line of it runs at `python -m package`
_ENTRY_SYMBOL_KINDS = frozenset({"function", "method"})
# Languages whose programs start at `main` by definition; elsewhere (Python, JavaScript)
# `main` is a convention, and most of a repository's are scripts' (benchmarks, tools).
_MAIN_LANGUAGES = frozenset({"go", "rust", "java", "kotlin", "scala", "c", "cpp", "csharp"})
SCRIPT_STRENGTH = 0.5  # a conventional main that no __main__.py sits beside


def asks_for_entry_point(question: str) -> bool:
    """True if a clause of ``question`` asks where the program starts (and is not about
    something failing)."""
    clauses = CLAUSE.findall(question[:MAX_INTENT_CHARS])
    return any(_ASKS_FOR_ENTRY.search(c) and not _FAILING.search(c) for c in clauses)


# A table is one index generation's, immutable: its entry points are found once (a scan
# of every row's path and symbol, ~50 ms at 100k chunks) and forgotten with it.
_FOUND: WeakKeyDictionary[ChunkTable, dict[int, float]] = WeakKeyDictionary()


def entry_points(table: ChunkTable) -> dict[int, float]:
    """:func:`find_entry_points` of ``table``, once per table."""
    found = _FOUND.get(table)
    if found is None:
        found = _FOUND[table] = find_entry_points(table)
    return found


def find_entry_points(table: ChunkTable) -> dict[int, float]:
    """The rows of ``table`` that are entry points, each with how surely it is where the
    program starts: 1 for every chunk of a ``__main__.py``, a function or method ``main``
    (``App.main``) of a language that starts there, and a ``main`` beside a
    ``__main__.py`` (what ``python -m package`` calls); ``SCRIPT_STRENGTH`` for other
    ``main`` functions."""
    in_entry_file = table["path"].mask(lambda p: _name(p) in _ENTRY_FILES)
    named_main = table["symbol"].mask(lambda s: s == "main" or s.endswith(".main"))
    callable_kind = table["symbol_kind"].mask(_ENTRY_SYMBOL_KINDS.__contains__)
    rows = np.flatnonzero(in_entry_file | (named_main & callable_kind))
    if not len(rows):
        return {}
    packages = {_folder(p) for p in table["path"].values if _name(p) in _ENTRY_FILES}
    declared = table["path"].mask(lambda p: _folder(p) in packages)
    declared |= table["language"].mask(_MAIN_LANGUAGES.__contains__)
    return {int(r): 1.0 if declared[r] else SCRIPT_STRENGTH for r in rows}


# String splits, not PurePosixPath: run over every distinct path of a large index.
def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""
