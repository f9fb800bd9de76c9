"""SymbolIndex: exact, suffix, module-path, case-insensitive and fuzzy lookups of definitions."""

from __future__ import annotations

from pathlib import Path

import pytest

from projectqa.server.chunking import extract_symbols
from projectqa.server.index.symbols import SYMBOL_ARRAYS, SYMBOL_NAMES, SymbolIndex, normalize
from projectqa.server.models import Symbol
from projectqa.server.sources import DocumentKind, SourceDocument

DEFINITIONS = [
    # path, name, kind, start, end
    ("requests/sessions.py", "merge_setting", "function", 20, 48),
    ("requests/sessions.py", "SessionRedirectMixin", "class", 100, 300),
    ("requests/sessions.py", "SessionRedirectMixin.get_redirect_target", "method", 101, 120),
    ("requests/sessions.py", "Session", "class", 350, 800),
    ("requests/sessions.py", "Session.request", "method", 500, 590),
    ("requests/sessions.py", "Session.send", "method", 600, 700),
    ("requests/api.py", "request", "function", 14, 59),
    ("requests/api.py", "get", "function", 62, 73),
    ("requests/cookies.py", "RequestsCookieJar", "class", 170, 420),
    ("requests/cookies.py", "RequestsCookieJar.get", "method", 190, 200),
    ("requests/helpers.py", "session", "function", 5, 9),
    ("tools/text/names.py", "get_user_name", "function", 3, 8),
    ("src/cart.cpp", "shop.cart.Line", "class", 6, 19),
    ("src/cart.cpp", "shop.cart.Line.item", "method", 13, 15),
    ("src/point.rs", "Point", "impl", 10, 19),
    ("src/point.rs", "Point", "struct", 3, 8),
]
LANGUAGES = {".py": "python", ".cpp": "cpp", ".rs": "rust"}


def make_symbols(definitions: list[tuple[str, str, str, int, int]]) -> list[Symbol]:
    symbols = []
    for ordinal, (path, name, kind, start, end) in enumerate(definitions):
        document_id = "doc_" + path.replace("/", "_")
        symbols.append(
            Symbol(
                id=f"{document_id}:{ordinal:06d}",
                project_id="prj_1",
                connector_id="con_git" if path.startswith("requests") else "con_other",
                document_id=document_id,
                path=path,
                name=name,
                kind=kind,
                start_line=start,
                end_line=end,
                language=LANGUAGES[Path(path).suffix],
            )
        )
    return symbols


@pytest.fixture
def index() -> SymbolIndex:
    return SymbolIndex.build(make_symbols(DEFINITIONS))


def names(hits: list) -> list[str]:
    return [hit.name for hit in hits]


def test_save_and_load_round_trip(index: SymbolIndex, tmp_path: Path) -> None:
    index.save(tmp_path / "gen")
    assert {p.name for p in (tmp_path / "gen").iterdir()} == {SYMBOL_NAMES, SYMBOL_ARRAYS}

    loaded = SymbolIndex.load(tmp_path / "gen")

    assert len(loaded) == len(index) == len(DEFINITIONS)
    for query in ["request", "Sesion.reqest", "get", "Point", "session"]:
        assert loaded.find(query) == index.find(query)
    assert loaded.lookup(["Session.request", "get"]) == index.lookup(["Session.request", "get"])


def test_a_hit_carries_the_definition_and_its_lines(index: SymbolIndex) -> None:
    (hit,) = index.find("Session.request", exact=True)

    assert (hit.path, hit.name, hit.kind, hit.start_line, hit.end_line) == (
        "requests/sessions.py",
        "Session.request",
        "method",
        500,
        590,
    )
    assert (hit.connector_id, hit.document_id) == ("con_git", "doc_requests_sessions.py")
    assert (hit.language, hit.score) == ("python", 1.0)


def test_exact_matches_end_on_a_part_boundary(index: SymbolIndex) -> None:
    assert sorted(names(index.find("request", exact=True))) == ["Session.request", "request"]
    assert names(index.find("Line.item", exact=True)) == ["shop.cart.Line.item"]
    assert names(index.find("cart.Line", exact=True)) == ["shop.cart.Line"]
    assert index.find("equest", exact=True) == []
    assert index.find("ession.request", exact=True) == []
    assert all(hit.score == 1.0 for hit in index.find("request", exact=True))


def test_a_module_path_before_the_name_must_match_the_file(index: SymbolIndex) -> None:
    found = index.find("requests.sessions.Session.request", exact=True)
    assert [(h.name, h.path, h.score) for h in found] == [
        ("Session.request", "requests/sessions.py", 1.0)
    ]
    assert names(index.find("sessions.Session", exact=True)) == ["Session"]
    assert names(index.find("requests.get", exact=True)) == ["get"]  # requests/api.py
    assert index.find("requests.cookies.Session.request", exact=True) == []
    assert index.find("other.sessions.Session.request", exact=True) == []


def test_other_languages_separators_and_calls_are_understood(index: SymbolIndex) -> None:
    assert names(index.find("shop::cart::Line::item", exact=True)) == ["shop.cart.Line.item"]
    assert names(index.find("`Session.request()`", exact=True)) == ["Session.request"]
    assert normalize(" Line#item ") == "Line.item"
    assert normalize("self->item") == "self.item"


def test_case_insensitive_matches_are_a_weaker_exact(index: SymbolIndex) -> None:
    found = index.find("session", exact=True)
    assert [(h.name, h.score) for h in found] == [("session", 1.0), ("Session", 0.9)]
    assert [(h.name, h.score) for h in index.find("session.REQUEST", exact=True)] == [
        ("Session.request", 0.9)
    ]
    assert names(index.find("REQUESTS.SESSIONS.Session", exact=True)) == ["Session"]


def test_typos_are_found_fuzzily_below_every_exact_match(index: SymbolIndex) -> None:
    found = index.find("Sesion.reqest")
    assert found[0].name == "Session.request"
    assert all(0 < hit.score < 0.9 for hit in found)
    assert index.find("Sesion.reqest", exact=True) == []

    assert index.find("RequestCookieJar")[0].name == "RequestsCookieJar"
    assert index.find("get_usr_name")[0].name == "get_user_name"
    assert index.find("completely_unrelated_thing") == []


def test_fuzzy_matches_skip_only_leading_parts_that_name_the_module(index: SymbolIndex) -> None:
    found = index.find("requests.sessions.Sesion.reqest")
    assert found[0].name == "Session.request" and found[0].score < 0.9
    # ``request`` of requests/api.py would match "reqest" alone, but not under "Sesion".
    assert "request" not in names(index.find("Sesion.reqest"))
    assert "request" not in names(index.find("other.Sesion.reqest"))
    assert index.find("Unknown.merge_settings") == []


def test_exact_matches_come_before_fuzzy_ones(index: SymbolIndex) -> None:
    found = index.find("Session")
    assert [(h.name, h.score) for h in found[:2]] == [("Session", 1.0), ("session", 0.9)]
    assert all(hit.score < 0.9 for hit in found[2:])
    assert len({(h.document_id, h.name, h.start_line) for h in found}) == len(found)


def test_ties_go_to_definitions_over_impls_and_to_shorter_paths(index: SymbolIndex) -> None:
    assert [h.kind for h in index.find("Point", exact=True)] == ["struct", "impl"]
    found = index.find("request", exact=True)
    assert [h.path for h in found] == ["requests/api.py", "requests/sessions.py"]


def test_kinds_filter_and_limit(index: SymbolIndex) -> None:
    assert [h.kind for h in index.find("Point", kinds={"impl"})] == ["impl"]
    assert names(index.find("get", exact=True, kinds=["method"])) == ["RequestsCookieJar.get"]
    assert index.find("Session", kinds={"module"}) == []
    assert len(index.find("get", exact=True)) == 2
    assert len(index.find("get", limit=1)) == 1
    assert index.find("get", limit=0) == []
    assert index.find("  ") == []


def test_lookup_finds_several_identifiers_exactly(index: SymbolIndex) -> None:
    found = index.lookup(
        ["Session.request", "get_user_name", "RequestsCookieJar", "no_such_thing", "Sesion"]
    )
    assert sorted(names(found)) == ["RequestsCookieJar", "Session.request", "get_user_name"]
    assert all(hit.score == 1.0 for hit in found)
    assert index.lookup([]) == []
    assert index.lookup(["", "  "]) == []


def test_lookup_ranks_identifiers_naming_few_definitions_first(index: SymbolIndex) -> None:
    found = index.lookup(["get", "Session.request", "get", "SESSION"])
    assert names(found)[:3] == ["Session.request", "get", "RequestsCookieJar.get"]
    assert [(h.name, h.score) for h in found[3:]] == [("session", 0.9), ("Session", 0.9)]
    assert len(index.lookup(["get", "request"], limit=3)) == 3


def test_an_empty_index(tmp_path: Path) -> None:
    empty = SymbolIndex.build([])
    empty.save(tmp_path)
    loaded = SymbolIndex.load(tmp_path)

    for index in (empty, loaded):
        assert len(index) == 0
        assert index.find("anything") == []
        assert index.find("anything", exact=True) == []
        assert index.lookup(["anything"]) == []


def test_a_damaged_or_missing_index_does_not_load(index: SymbolIndex, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        SymbolIndex.load(tmp_path / "missing")
    index.save(tmp_path)
    SymbolIndex.build(make_symbols(DEFINITIONS[:3])).save(tmp_path / "other")
    (tmp_path / SYMBOL_ARRAYS).write_bytes((tmp_path / "other" / SYMBOL_ARRAYS).read_bytes())
    with pytest.raises(ValueError, match="length"):
        SymbolIndex.load(tmp_path)


def test_symbols_extracted_from_real_code_are_found_at_their_lines() -> None:
    text = (
        "class Session:\n"
        "    # Sends one request.\n"
        "    def request(self, method, url):\n"
        "        return method, url\n"
        "\n"
        "\n"
        "def get_user_name(user):\n"
        "    return user.name\n"
    )
    path = "app/sessions.py"
    doc = SourceDocument(key=path, kind=DocumentKind.FILE, text=text, path=path)
    definitions = [(path, d.name, d.kind, d.start_line, d.end_line) for d in extract_symbols(doc)]
    symbols = make_symbols(definitions)

    index = SymbolIndex.build(symbols)

    (hit,) = index.find("app.sessions.Session.request", exact=True)
    assert (hit.start_line, hit.end_line, hit.kind) == (2, 4, "method")
    assert [(h.name, h.start_line) for h in index.lookup(["get_user_name"])] == [
        ("get_user_name", 7)
    ]


def test_files_defining_a_short_name_ignore_case_and_list_each_file_once(
    index: SymbolIndex,
) -> None:
    assert index.files_defining("REQUEST") == [
        ("con_git", "requests/sessions.py"),
        ("con_git", "requests/api.py"),
    ]
    assert index.files_defining("get") == [
        ("con_git", "requests/api.py"),
        ("con_git", "requests/cookies.py"),
    ]
    assert index.files_defining("nothing") == []


def test_a_limited_lookup_keeps_the_head_of_the_full_order() -> None:
    """Many definitions of the same names (a long report's identifiers) with ties in
    score: the limited answer is the full order's head, ties broken by kind and path."""
    definitions = [
        (f"pkg/m{i % 37:02d}/{'deep/' * (i % 3)}mod{i}.py", name, kind, 1 + i, 2 + i)
        for i in range(600)
        for name, kind in [("handle", "function" if i % 2 else "method"), ("Other", "class")]
    ]
    index = SymbolIndex.build(make_symbols(definitions))
    everything = index.lookup(["handle", "Other", "HANDLE"], limit=len(definitions))
    for limit in (1, 7, 50, 599, 600, 601):
        head = index.lookup(["handle", "Other", "HANDLE"], limit=limit)
        assert head == everything[:limit]
