"""Gitignore-style path patterns, matched as git matches them.

Shared by the file connectors' ``exclude``/``include`` (``projectqa.plugins.files``)
and Search's path filter (``projectqa.server.retrieval.query``), so a pattern means
the same thing wherever a user writes one.
"""

from __future__ import annotations

import re

from pathspec import GitIgnoreSpec, RegexPattern

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


def path_spec(lines: list[str]) -> GitIgnoreSpec:
    """``.gitignore`` lines as a spec (``ValueError`` or ``re.error`` for an invalid one)."""
    return GitIgnoreSpec.from_lines(lines, PathPattern)
