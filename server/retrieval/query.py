"""A search request, checked, and the evidence a question carries on its face.

People paste what they see: a stack-trace line (``File "src/app.py", line 12``),
a dotted name (``requests.sessions.Session.request``), a backticked identifier,
a path. Such mentions are strong evidence and the ranker treats them so;
ordinary words are left to the dense and keyword rankers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

import pathspec

from .. import path_patterns
from ..config import MAX_QUESTION_CHARS
from ..errors import InvalidArgument
from ..validation import require_globs

MAX_QUERY_CHARS = MAX_QUESTION_CHARS  # a pasted bug report is a question too
MAX_TOP_K = 100
DEFAULT_TOP_K = 10
DEFAULT_PER_DOCUMENT = 3
KINDS = ("file", "issue", "pull_request", "ticket", "page", "commit")


class SearchMode(StrEnum):
    DENSE = "dense"
    KEYWORD = "keyword"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Restrictions; empty tuples do not restrict (values OR, fields AND)."""

    kinds: tuple[str, ...] = ()
    connectors: tuple[str, ...] = ()  # ids (the service resolves names)
    path_globs: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.kinds or self.connectors or self.path_globs or self.languages)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str
    mode: SearchMode = SearchMode.HYBRID
    top_k: int = DEFAULT_TOP_K
    filter: SearchFilter = field(default_factory=SearchFilter)
    max_per_document: int = DEFAULT_PER_DOCUMENT

    @classmethod
    def checked(
        cls,
        text: str,
        mode: SearchMode = SearchMode.HYBRID,
        top_k: int = 0,
        search_filter: SearchFilter | None = None,
        max_per_document: int = 0,
    ) -> SearchQuery:
        """Validate raw request values (0 means the default); InvalidArgument names the field."""
        if not text.strip():
            raise InvalidArgument("query", "must not be empty or only whitespace")
        if len(text) > MAX_QUERY_CHARS:
            raise InvalidArgument("query", f"must be at most {MAX_QUERY_CHARS} characters")
        search_filter = search_filter or SearchFilter()
        unknown = sorted(set(search_filter.kinds) - set(KINDS))
        if unknown:
            raise InvalidArgument(
                "filter.kinds", f"unknown kind {unknown[0]!r}; expected one of {', '.join(KINDS)}"
            )
        path_spec(search_filter.path_globs)  # refuses malformed globs, naming the field
        return cls(
            text.strip(),
            mode,
            _bounded("top_k", top_k, DEFAULT_TOP_K),
            search_filter,
            _bounded("max_per_document", max_per_document, DEFAULT_PER_DOCUMENT),
        )


def path_spec(globs: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    """Gitignore-style globs as one spec, matched as the file connectors match theirs
    (a newline in a name included); only exclusions ("!x") exclude from everything."""
    require_globs("filter.path_globs", globs)
    lines = ["*", *globs] if globs and all(g.startswith("!") for g in globs) else list(globs)
    try:
        return path_patterns.path_spec(lines)
    except (ValueError, TypeError, re.error) as exc:  # GitIgnorePatternError is a ValueError
        raise InvalidArgument("filter.path_globs", str(exc)) from None


def _bounded(name: str, value: int, default: int) -> int:
    if value == 0:
        return default
    if not 1 <= value <= MAX_TOP_K:
        raise InvalidArgument(name, f"must be between 1 and {MAX_TOP_K} (0 means {default})")
    return value


# ------------------------------------------------------------------ evidence
@dataclass(frozen=True, slots=True)
class Mention:
    """A path the question names, with a line number when a stack trace gives one."""

    path: str  # "/"-separated; a module mention has no extension
    line: int = 0
    module: bool = False  # from a dotted name: requests.models.Request -> requests/models/Request


@dataclass(frozen=True, slots=True)
class Evidence:
    identifiers: tuple[str, ...] = ()  # code names, qualified or not: Session.request, get_auth
    mentions: tuple[Mention, ...] = ()  # paths: flask/app.py, requests/sessions.py (from dotted)
    mentions_tests: bool = False  # the question is about tests, so test files are no outliers
    mentions_docs: bool = False  # the question asks for documentation or history

    def __bool__(self) -> bool:
        return bool(self.identifiers or self.mentions)


_TRACE = re.compile(r'File "([^"]+)", line (\d+)(?:, in (\w+))?')
_BACKTICKED = re.compile(r"`([^`\n]{1,200})`")
_PATH = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.(?:[a-z]{1,5}))(?::(\d+))?(?![\w/])")
_DOTTED = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?![\w.])")
# snake_case with an underscore, camelCase/PascalCase with an inner capital, or name().
_IDENT = re.compile(
    r"(?<![\w.])([a-z_]\w*_\w+|_\w+|[A-Za-z][a-z0-9]+[A-Z]\w*|[A-Z]{2,}[a-z]\w*|\w+(?=\(\)))(?![\w.])"
)
# fmt: off
_FILE_EXTENSIONS = frozenset({
    "py", "pyi", "js", "jsx", "ts", "tsx", "go", "java", "rs", "c", "h", "cc", "cpp", "hpp", "cs",
    "rb", "php", "kt", "swift", "scala", "md", "rst", "txt", "toml", "yaml", "yml", "json", "cfg",
    "ini", "html", "css", "sh", "sql", "proto",
})
# fmt: on
# An error's type names where it is defined, but whoever pastes one wants where it is raised:
# its message (keyword evidence) finds that; boosting the class definition would not.
_ERROR_TYPE = re.compile(r"(Error|Exception|Warning)$")
# "pkg.MissingSchema: Invalid URL" names an error type too.
_ERROR_LINE = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*[A-Z]\w*): ")
_DOC_WORDS = re.compile(
    r"\b(docs?|documentation|documented|changelog|changes|history|release notes?|tutorial)\b",
    re.IGNORECASE,
)
_TEST_WORDS = re.compile(r"\btests?\b|\btesting\b|\bpytest\b|\bfixtures?\b", re.IGNORECASE)


def evidence_of(text: str) -> Evidence:
    """Identifiers and paths the question names explicitly."""
    identifiers: list[str] = []
    mentions: list[Mention] = []
    for path, line, function in _TRACE.findall(text):
        mentions.append(Mention(path.replace("\\", "/"), int(line)))
        if function:
            identifiers.append(function)
    rest = _TRACE.sub(" ", text)
    for quoted in _BACKTICKED.findall(rest):
        identifiers += [w.rstrip("()") for w in re.findall(r"[A-Za-z_][\w.]*\(?\)?", quoted)]
    for path, line in _PATH.findall(rest):
        if path.rsplit(".", 1)[-1] in _FILE_EXTENSIONS and ("/" in path or line or "_" in path):
            mentions.append(Mention(path, int(line or 0)))
        elif path.rsplit(".", 1)[-1] in _FILE_EXTENSIONS:
            mentions.append(Mention(path))
    for dotted in _DOTTED.findall(rest):
        if dotted.rsplit(".", 1)[-1] in _FILE_EXTENSIONS and dotted.count(".") == 1:
            continue  # a file name, already a mention
        identifiers.append(dotted)
        mentions.append(Mention(dotted.replace(".", "/"), module=True))
    identifiers += _IDENT.findall(rest)
    errors = set(_ERROR_LINE.findall(rest))
    names = (i.strip(".") for i in identifiers if i not in errors)
    raised = {m.replace(".", "/") for m in errors}
    return Evidence(
        tuple(dict.fromkeys(n for n in names if len(n) > 2 and not _ERROR_TYPE.search(n))),
        tuple(dict.fromkeys(m for m in mentions if m.path not in raised)),
        bool(_TEST_WORDS.search(text)),
        bool(_DOC_WORDS.search(text)),
    )
