"""Gitignore-style path patterns, matched as git matches them.

Shared by the file connectors' ``exclude``/``include`` (``projectqa.plugins.files``)
and Search's path filter (``projectqa.server.retrieval.query``), so a pattern means
the same thing wherever a user writes one. Checked against ``git check-ignore`` on a
table of patterns and paths (tests/retrieval/test_gitignore_semantics.py).
"""

from __future__ import annotations

import functools
import re

from pathspec import GitIgnoreSpec, RegexPattern
from pathspec.util import normalize_file

# The pattern class GitIgnoreSpec compiles lines with (its module moved in pathspec 1.0).
_GitPattern: type[RegexPattern] = type(GitIgnoreSpec.from_lines(["x"]).patterns[0])
# The "$" that ends a pattern's regex, outside any escape ("\\$" is a literal dollar).
_END_ANCHOR = re.compile(r"\\.|\$(?=\)*\Z)", re.DOTALL)


class PathPattern(_GitPattern):  # type: ignore[misc, valid-type]  # a base found at import
    """A ``.gitignore`` pattern that matches a path with a newline in it as git does.

    pathspec compiles its regexes without ``re.DOTALL`` and ends them with ``$``:
    the ``.`` that a leading "any folders" (``*.log``, ``**/``) becomes stopped at
    a newline, so ``*.log`` missed ``nl\\nname/a.log`` and such a file escaped an
    exclude; and ``$`` also matches before a final newline, so ``*.log`` took
    ``a.log\\n``. A file name may hold any byte but ``/`` and NUL.
    """

    __slots__ = ()

    @classmethod
    def pattern_to_regex(cls, pattern: str) -> tuple[str | None, bool | None]:
        regex, include = super().pattern_to_regex(pattern)
        if regex is None:
            return None, include
        regex = _END_ANCHOR.sub(lambda m: "\\Z" if m[0] == "$" else m[0], regex)
        return f"(?s){regex}", include


class GitPathSpec(GitIgnoreSpec):
    """``.gitignore`` lines deciding a path as git does, folder by folder from the top.

    git decides each folder on the way down by the last pattern matching that folder's
    own name, and does not look inside an ignored folder: nothing below one can be
    re-included. pathspec's ``GitIgnoreSpec`` decides a path in one go and ranks a
    pattern matching a folder below one matching a file, so ``*`` then ``!*/`` then
    ``!*.py`` (only Python files) left out every file in a folder, as ``*`` won.
    """

    def match_file(self, file: str, separators: object = None) -> bool:  # type: ignore[override]
        """True if git ignores ``file`` (a folder when it ends with "/")."""
        path = normalize_file(file, separators)  # type: ignore[arg-type]
        is_dir = path.endswith("/")
        parts = path.rstrip("/").split("/")
        for depth in range(1, len(parts)):
            if self._decides("/".join(parts[:depth]), is_dir=True):
                return True
        return self._decides("/".join(parts), is_dir=is_dir)

    def _decides(self, name: str, *, is_dir: bool) -> bool:
        """The last pattern matching ``name`` itself (not a folder above it) decides."""
        ignored = False
        for pattern in self.patterns:
            if pattern.include is not None and _names(pattern, name, is_dir):
                ignored = pattern.include
        return ignored


def _names(pattern: RegexPattern, name: str, is_dir: bool) -> bool:
    """Whether ``pattern`` matches ``name`` itself. pathspec's regexes match a path below
    what a pattern names too; their ``ps_d`` group marks the "/" after the named folder."""
    regex = pattern.regex
    if regex is None:  # a blank or comment line matches nothing
        return False
    found = regex.search(name)
    if found is not None and found.groupdict().get("ps_d") is None:
        return True
    if not is_dir:
        return False
    # A folder-only pattern ("tests/", "*/") names the folder when its "/" is the last one.
    found = _ending(regex.pattern).search(name + "/")
    return found is not None and found.groupdict().get("ps_d") is not None


@functools.lru_cache(maxsize=1024)
def _ending(regex: str) -> re.Pattern[str]:
    """``regex`` (which starts with its "(?s)" flag) matching only at the end of a path."""
    return re.compile(f"(?:{regex.removeprefix('(?s)')})\\Z", re.DOTALL)


def path_spec(lines: list[str]) -> GitPathSpec:
    """``.gitignore`` lines as a spec (``ValueError`` or ``re.error`` for an invalid one)."""
    return GitPathSpec.from_lines(lines, PathPattern)
