"""The bridge's pure parts: settings merging, remotes, paths, words and positions."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pygls.workspace import PositionCodec, TextDocument

from projectqa.lsp.documents import check_position, selected_text, word_at
from projectqa.lsp.markdown import code, escape, fence
from projectqa.lsp.settings import SettingsError, from_editor, from_environment, merge
from projectqa.lsp.workspace import ProjectView, normalize_remote


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/Acme/Shop.git",
        "git@github.com:acme/shop.git",
        "ssh://git@github.com:22/acme/shop",
        "https://user:tok@github.com/acme/shop/",
    ],
)
def test_remote_forms_compare_equal(url: str) -> None:
    assert normalize_remote(url) == "github.com/acme/shop"


def test_settings_take_the_first_source_that_has_each_field() -> None:
    settings = merge(
        from_editor({"project": "shop", "codeLens": True, "token": ""}, "init"),
        from_editor({"token": "from-settings", "address": "a:1"}, "settings"),
        {"address": "cli:2"},
        from_environment({"PROJECTQA_TOKEN": "env", "PROJECTQA_ADDRESS": "env:3"}),
    )
    assert (settings.project, settings.token, settings.address) == ("shop", "from-settings", "a:1")
    assert settings.code_lens is True and settings.extractive is False


@pytest.mark.parametrize(
    ("values", "message"),
    [(["x"], "init: must be an object"), ({"codeLens": "yes"}, "init.codeLens: must be a bool")],
)
def test_a_setting_of_the_wrong_type_is_named(values: object, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        from_editor(values, "init")


def test_an_empty_lua_table_is_no_settings() -> None:
    assert from_editor([], "init") == {}


def test_citations_never_lead_out_of_their_root(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("x\n")
    (tmp_path / "secret.txt").write_text("s\n")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    view = ProjectView("prj_1", "shop", root)
    assert view.file("con_1", "pkg/a.py") == root / "pkg/a.py"
    for outside in ("../secret.txt", str(tmp_path / "secret.txt"), "link.txt", "pkg", "nope.py"):
        assert view.file("con_1", outside) is None, outside


def document(text: str) -> TextDocument:
    return TextDocument("file:///x.py", text)


def test_word_at_finds_the_identifier_under_or_just_after_the_cursor() -> None:
    doc = document("total = apply_discount(price)\n")
    assert word_at(doc, types.Position(0, 10)) == "apply_discount"
    assert word_at(doc, types.Position(0, 22)) == "apply_discount"  # just after it
    assert word_at(doc, types.Position(0, 6)) == ""
    assert word_at(doc, types.Position(5, 0)) == ""


def test_positions_at_the_very_end_are_inside() -> None:
    doc = document("ab\ncd")  # no newline at the end
    check_position(doc, types.Position(1, 2), "position")
    with pytest.raises(Exception, match="character 3 is past the end of line 1"):
        check_position(doc, types.Position(1, 3), "position")
    empty = document("")
    check_position(empty, types.Position(0, 0), "position")


def test_selected_text_spans_lines() -> None:
    doc = document("one\ntwo\nthree\n")
    selection = types.Range(types.Position(0, 1), types.Position(2, 3))
    assert selected_text(doc, selection) == "ne\ntwo\nthr"
    assert selected_text(doc, types.Range(types.Position(1, 0), types.Position(1, 3))) == "two"


def test_positions_count_utf16_units_and_lsp_lines() -> None:
    codec = PositionCodec(encoding=types.PositionEncodingKind.Utf16)
    doc = TextDocument("file:///x.py", 'x = "😋"; foo_bar()\n\x0cnext = 1\n', position_codec=codec)
    # "😋" is two UTF-16 units: foo_bar starts at unit 10 (code point 9).
    assert word_at(doc, types.Position(0, 11)) == "foo_bar"
    check_position(doc, types.Position(0, 19), "position")  # the end of the line (18 code points)
    selection = types.Range(types.Position(0, 10), types.Position(0, 17))
    assert selected_text(doc, selection) == "foo_bar"
    # A form feed does not end a line for LSP.
    assert word_at(doc, types.Position(1, 2)) == "next"


def test_markdown_from_the_server_is_shown_literally() -> None:
    assert escape("![x](https://e) *a*") == r"\!\[x\]\(https://e\) \*a\*"
    assert code("a`b") == "`` a`b ``"
    assert fence("```\ncode\n````") == "`````"
