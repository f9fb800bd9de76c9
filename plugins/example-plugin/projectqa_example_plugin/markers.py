"""The ``find_markers`` tool: where the project's files say TODO, FIXME, XXX or HACK.

Its argument schema is derived from the typed signature below (``@tool``): no
JSON Schema written by hand. ``marker`` becomes an enum, parameters with a
default are optional (the server fills the defaults in before the call), the
docstring is the description and its ``:param:`` lines describe the arguments.
The parameter annotated ``ToolContext`` receives the project's checkouts.
"""

from __future__ import annotations

from typing import Any, Literal

from projectqa.plugin import ToolContext, tool

from .lines import _checked_glob, _matches

MAX_HITS = 500
MAX_LINE_CHARS = 200


@tool
def find_markers(
    context: ToolContext,
    marker: Literal["TODO", "FIXME", "XXX", "HACK"] = "TODO",
    glob: str = "**/*",
    limit: int = 50,
) -> dict[str, Any]:
    """Find a marker (TODO, FIXME, XXX, HACK) in the project's files: each hit's path,
    line number and line.

    :param marker: the marker to look for
    :param glob: files to search, relative to the checkout, e.g. 'src/**/*.py'
    :param limit: return at most this many hits (1-500)
    """
    pattern = _checked_glob(glob)
    wanted = max(1, min(limit, MAX_HITS))
    hits: list[dict[str, Any]] = []
    for checkout in context.checkouts:
        for path in _matches(checkout, pattern):
            text = path.read_bytes()
            if b"\0" in text[:8192]:
                continue  # binary
            relative = path.relative_to(checkout.root).as_posix()
            for number, line in enumerate(text.decode("utf-8", "replace").splitlines(), 1):
                if marker in line:
                    if len(hits) == wanted:
                        return {"hits": hits, "truncated": True}
                    where = f"{relative}:{number}"
                    shown = line.strip()[:MAX_LINE_CHARS]
                    hits.append({"connector": checkout.connector_name, "at": where, "line": shown})
    return {"hits": hits, "truncated": False}
