"""The evidence a question carries on its face, and what it asks for.

People paste what they see: stack-trace frames of any language (Python's
``File "src/app.py", line 12``, JavaScript's ``at fn (src/a.ts:3:9)``, Java's
``at pkg.Cart.total(Cart.java:57)``, Go's ``/src/cart/cart.go:57``), a dotted
name (``requests.sessions.Session.request``), a backticked identifier, a path,
a fenced code block. Such mentions are strong evidence and the ranker treats
them so; ordinary words are left to the dense and keyword rankers.

Whether the question is *about* tests or documentation is read from how it asks,
not from single words: "which tests cover X" and "where is X documented" are;
a bug report quoting pytest output, or "the test fails", is about the code under
test.

The work is bounded for a question of any length: at most ``MAX_SCANNED_CHARS``
are read, "words" longer than any name or path are blanked before the patterns
run (no pattern backtracks over more than ``MAX_WORD_CHARS``), and at most
``MAX_NAMES`` identifiers and as many paths are kept, in the order they appear.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..config import MAX_QUESTION_CHARS

MAX_SCANNED_CHARS = MAX_QUESTION_CHARS
MAX_WORD_CHARS = 200  # no identifier or path is longer; a longer run is no evidence
MAX_NAMES = 64  # identifiers kept, and paths: each costs a symbol lookup and re-scoring


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
    wants_tests: bool = False  # the question asks for tests, so test files are no outliers
    wants_docs: bool = False  # the question asks for documentation or history

    def __bool__(self) -> bool:
        return bool(self.identifiers or self.mentions)


_W = MAX_WORD_CHARS
_LONG_WORD = re.compile(rf"(?<!\S)\S{{{_W + 1},}}")  # from a run's start only: linear
_PY_FRAME = re.compile(rf'File "([^"\n]{{1,{_W}}})", line (\d{{1,9}})(?:, in (\w+))?')
# "at fn (path:1:2)", "at async Cls.fn (path:1:2)", "at new Cls (path:1:2)", "at path:1:2".
_JS_FRAME = re.compile(
    rf"\bat (?:async |new )?(?:([\w$.]{{1,{_W}}}) (?:\[as [\w$]+\] )?\()?"
    rf"(?:file://)?([^\s():]{{1,{_W}}}):(\d{{1,9}}):\d{{1,9}}\)?"
)
# "at com.acme.Cart$Item.total(Cart.java:57)" (Java, Kotlin, Scala, Groovy).
_JVM_FRAME = re.compile(
    r"\bat ((?:[\w$]+\.){0,30})([\w$]+)\.([\w$<>]+)"
    r"\(([\w$-]+\.(?:java|kt|scala|groovy)):(\d{1,9})\)"
)
# Go: "github.com/acme/shop/cart.(*Cart).Total(0x0)" names the method Cart.Total.
_GO_METHOD = re.compile(r"\.\(\*?([A-Za-z_]\w*)\)\.([A-Za-z_]\w*)\(")
_BACKTICKED = re.compile(r"`([^`\n]{1,200})`")
_PATH = re.compile(r"(?<![\w/.-])(/?(?:[\w.-]+/)*[\w-]+\.(?:[a-z]{1,5}))(?::(\d+))?(?![\w/])")
_DOTTED = re.compile(r"(?<![\w./])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?![\w./])")
# A word on its own (not part of a dotted name), then "()" if it is written as a call.
_WORD = re.compile(r"(?<![\w.])(\w+)(?![\w.])(\(\))?")
# A code name: snake_case with an underscore, camelCase/PascalCase with an inner capital.
# Matched against one word: a search over running text backtracks quadratically.
_CODE_STYLE = re.compile(r"[a-z_]\w*_\w+|_\w+|[A-Za-z][a-z0-9]+[A-Z]\w*|[A-Z]{2,}[a-z]\w*")
# In code: the names called or defined ("cart.total_price(", "def parse_price").
_CODE_NAME = re.compile(
    r"(?:\b(?:def|class|func|function|fn|interface|struct|type)\s+([A-Za-z_]\w{2,}))"
    r"|(?:(?<!\w)([A-Za-z_]\w{2,})\s*\()"
)
# fmt: off
_CODE_KEYWORDS = frozenset({
    "if", "for", "while", "return", "print", "len", "str", "int", "float", "bool", "list", "dict",
    "set", "tuple", "range", "open", "super", "isinstance", "type", "repr", "assert", "lambda",
    "with", "elif", "except", "switch", "catch", "new", "func", "function", "console", "require",
    "import",
})
# fmt: on
# fmt: off
_FILE_EXTENSIONS = frozenset({
    "py", "pyi", "js", "jsx", "ts", "tsx", "mjs", "cjs", "go", "java", "kt", "scala", "groovy",
    "rs", "c", "h", "cc", "cpp", "hpp", "cs", "rb", "php", "swift", "md", "rst", "txt", "toml",
    "yaml", "yml", "json", "cfg", "ini", "html", "css", "sh", "sql", "proto",
})
# fmt: on
# An error's type names where it is defined, but whoever pastes one wants where it is raised:
# its message (keyword evidence) finds that; boosting the class definition would not.
_ERROR_TYPE = re.compile(r"(Error|Exception|Warning)$")
# "pkg.MissingSchema: Invalid URL" names an error type too.
_ERROR_LINE = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*): ")
# Intent is read from the start of the prose: a question asks first; a long body is a report.
MAX_INTENT_CHARS = 2000


@functools.lru_cache(maxsize=256)  # a question is read for its vector and for its ranking
def evidence_of(text: str) -> Evidence:
    """Identifiers and paths the question names explicitly, and what it asks for."""
    text = _LONG_WORD.sub(" ", text[:MAX_SCANNED_CHARS])
    prose, code = _split_fenced(text)
    found = _Found()
    rest = found.frames(prose + "\n" + code)
    for quoted in _BACKTICKED.findall(rest):
        found.names += [w.rstrip("()") for w in re.findall(r"[A-Za-z_][\w.]*\(?\)?", quoted)]
    # Paths and dotted names hold a "." and no space: only such words are searched
    # (the same matches, in order, for a fifth of a report's text).
    dotted_words = " ".join(word for word in rest.split() if "." in word)
    for path, line in _PATH.findall(dotted_words):
        if path.rsplit(".", 1)[-1] in _FILE_EXTENSIONS:
            found.paths.append(Mention(path, int(line or 0)))
    for dotted in _DOTTED.findall(dotted_words):
        if dotted.rsplit(".", 1)[-1] in _FILE_EXTENSIONS and dotted.count(".") == 1:
            continue  # a file name, already a mention
        found.names.append(dotted)
        found.paths.append(Mention(dotted.replace(".", "/"), module=True))
    found.names += [w for w, call in _WORD.findall(rest) if call or _CODE_STYLE.fullmatch(w)]
    found.names += [a or b for a, b in _CODE_NAME.findall(code) if (a or b) not in _CODE_KEYWORDS]
    errors = [e for e in _ERROR_LINE.findall(rest) if _is_error_name(e)]
    return found.evidence(errors, intent_text=prose[:MAX_INTENT_CHARS])


def _is_error_name(name: str) -> bool:
    """ "pkg.MissingSchema" and "ValueError" are (a capital in the last part, past the
    first letter of the whole name); "Note" and "see" are not."""
    last = name.rsplit(".", 1)[-1]
    return any("A" <= c <= "Z" for c in (last if "." in name else last[1:]))


class _Found:
    """Names and paths as they are found, frames first."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.paths: list[Mention] = []

    def frames(self, text: str) -> str:
        """Record every stack-trace frame; the text without them (their parts are done).
        One pass per pattern: each match is recorded as it is blanked."""
        text = _PY_FRAME.sub(self._python_frame, text)
        text = _JVM_FRAME.sub(self._jvm_frame, text)
        text = _JS_FRAME.sub(self._js_frame, text)
        self.names += [f"{cls}.{method}" for cls, method in _GO_METHOD.findall(text)]
        return _GO_METHOD.sub("(", text)

    def _python_frame(self, match: re.Match[str]) -> str:
        path, line, function = match.groups(default="")
        self.paths.append(Mention(path.replace("\\", "/"), int(line)))
        self.names += [function] if function else []
        return " "

    def _jvm_frame(self, match: re.Match[str]) -> str:
        package, cls, method, file, line = match.groups(default="")
        self.paths.append(Mention(package.replace(".", "/") + file, int(line)))
        if "$" not in method and not method.startswith("<"):
            self.names.append(f"{cls.split('$')[0]}.{method}")
        return " "

    def _js_frame(self, match: re.Match[str]) -> str:
        function, path, line = match.groups(default="")
        self.paths.append(Mention(path, int(line)))
        if function and "<" not in function:
            self.names.append(function)
        return " "

    def evidence(self, errors: list[str], intent_text: str) -> Evidence:
        errors_named = set(errors)
        raised = {m.replace(".", "/") for m in errors_named}
        names = (n.strip(".") for n in self.names if n not in errors_named)
        kept = dict.fromkeys(n for n in names if len(n) > 2 and not _ERROR_TYPE.search(n))
        paths = dict.fromkeys(m for m in self.paths if m.path not in raised)
        return Evidence(
            tuple(kept)[:MAX_NAMES],
            tuple(paths)[:MAX_NAMES],
            asks_for_tests(intent_text),
            asks_for_docs(intent_text),
        )


def _split_fenced(text: str) -> tuple[str, str]:
    """The prose of ``text`` and the contents of its fenced (```) code blocks."""
    parts = text.split("```")
    prose = " ".join(parts[0::2])
    code = "\n".join(p.split("\n", 1)[1] if "\n" in p else p for p in parts[1::2])
    return prose, code


# ------------------------------------------------------------------ intent
_TEST_NOUN = r"(?:unit[- ]|integration |regression )?(?:tests?|test cases?|test suite|fixtures?)"
_ASKS_FOR_TESTS = re.compile(
    r"\b(?:where|which|what)\s+(?:is|are|does|do)?\s*(?:the\s+|a\s+)?" + _TEST_NOUN + r"\b"
    r"|\b(?:is|are)\s+there\s+(?:a\s+|any\s+)?" + _TEST_NOUN + r"\b"
    r"|\bhow\s+(?:do|can|should|would|to)\s+(?:i\s+|we\s+|you\s+|one\s+)?(?:unit[- ])?test\b"
    r"|\b(?:find|show|list)\s+(?:me\s+)?(?:a\s+|the\s+|all\s+)?" + _TEST_NOUN + r"\b",
    # Not "tests for X" alone: commit messages and reports say "add tests for X".
    re.IGNORECASE,
)
# A clause about something failing is about the code under test, whatever it calls the test.
_FAILING = re.compile(
    r"\b(?:fail\w*|error\w*|crash\w*|broke\w*|break\w*|raise[sd]?|exception|traceback)\b",
    re.IGNORECASE,
)
_DOC_NOUN = r"(?:docs?|documentation|tutorial|guide|readme|changelog|change ?log|release notes?)"
_ASKS_FOR_DOCS = re.compile(
    r"\b(?:where|which|what)\s+(?:is|are|does|do)?\s*(?:the\s+|a\s+)?" + _DOC_NOUN + r"\b"
    r"|\b(?:is|are)\s+there\s+(?:a\s+|any\s+)?" + _DOC_NOUN + r"\b"
    r"|\b(?:in|from)\s+the\s+" + _DOC_NOUN + r"\b"
    r"|\b(?:is|are|where|how)\b[^.?!\n]{0,60}\bdocumented\b"
    r"|\b(?:when\s+(?:was|were|did)|which\s+(?:version|release))\b[^.?!\n]{0,60}"
    r"\b(?:added|introduced|removed|deprecated|changed|renamed)\b"
    r"|\bwhat\s+changed\s+(?:in|since|between)\b"
    r"|\bwhy\s+(?:was|were)\b[^.?!\n]{0,60}"
    r"\b(?:changed|added|introduced|removed|deprecated|renamed)\b"
    r"|\bwhy\s+did\b[^.?!\n]{0,60}\b(?:change|add|introduce|remove|deprecate|rename)\b"
    r"|\b(?:which|what)\s+(?:commits?|pull\s+requests?|PRs?)\b",
    re.IGNORECASE,
)
CLAUSE = re.compile(r"[^.?!;\n]+")  # a clause of prose (intent is read per clause)


def asks_for_tests(prose: str) -> bool:
    """True if a clause asks for tests ("which tests cover X", "how do I test X") and is
    not about one failing."""
    return any(_ASKS_FOR_TESTS.search(c) and not _FAILING.search(c) for c in CLAUSE.findall(prose))


def asks_for_docs(prose: str) -> bool:
    """True if a clause asks for documentation or a project's history ("where is X
    documented", "when was X deprecated", "what does the changelog say", "why was X
    changed", "which commit …")."""
    return any(_ASKS_FOR_DOCS.search(c) for c in CLAUSE.findall(prose))
