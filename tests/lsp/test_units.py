"""The bridge's pure parts: settings merging, remotes, paths, words and positions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.protobuf import struct_pb2
from lsprotocol import types
from pygls.workspace import PositionCodec, TextDocument

from projectqa.lsp.ask import source_line
from projectqa.lsp.documents import check_position, selected_text, word_at
from projectqa.lsp.editors import GENERIC, NEOVIM, VSCODE, setting_names
from projectqa.lsp.markdown import code, escape, fence
from projectqa.lsp.settings import SettingsError, from_editor, from_environment, merge
from projectqa.lsp.workspace import ProjectView, connector_root, normalize_remote, subdirectory
from projectqa.v1 import admin_pb2


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


def connector(kind: str, **config: str) -> admin_pb2.Connector:
    values = struct_pb2.Struct()
    values.update(config)
    return admin_pb2.Connector(id="con_1", type=kind, config=values)


def test_a_connector_root_is_its_local_folder_resolved(tmp_path: Path) -> None:
    repo = tmp_path / "my repo"
    (repo / ".git").mkdir(parents=True)
    (tmp_path / "link").symlink_to(repo)
    assert connector_root(connector("local", path=str(tmp_path / "link"))) == repo
    assert connector_root(connector("git", url=str(repo))) == repo
    assert connector_root(connector("git", url=f"{repo}/.git")) == repo
    assert connector_root(connector("git", url=f"file://{tmp_path}/my%20repo")) == repo
    assert connector_root(connector("git", url="file://host/srv/r.git")) == Path("/srv/r.git")
    for remote in ("https://github.com/acme/shop", "git@github.com:acme/shop.git", "rel/path"):
        assert connector_root(connector("git", url=remote)) is None
    assert connector_root(connector("jira", path=str(repo))) is None


@pytest.mark.parametrize(
    ("client", "names"),
    [
        ("Neovim", NEOVIM),
        ("Visual Studio Code", VSCODE),
        ("Visual Studio Code - Insiders", VSCODE),
        ("VSCodium", VSCODE),
        ("Emacs", GENERIC),
        (None, GENERIC),
    ],
)
def test_messages_name_settings_as_the_editor_does(client: str | None, names: Any) -> None:
    assert setting_names(client) is names


def test_a_source_line_shows_the_label_exactly_and_numbers_once() -> None:
    cited = {"marker": "[1]", "label": "httpx/_config.py:3-9", "url": "", "verified": True}
    assert source_line(cited) == "- [1] `httpx/_config.py:3-9`"
    record = {"marker": "", "label": "#12", "url": "https://x/12", "verified": False}
    assert source_line(record) == "- `#12` <https://x/12> (unverified)"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"subdirectory": "/services/a/"}, "services/a"),
        ({"subdirectory": "services/./a"}, "services/a"),
        ({"subdirectory": ""}, ""),
        ({"subdirectory": "../elsewhere"}, ""),  # the connector refuses it: all counts
        ({}, ""),
    ],
)
def test_a_git_connectors_subdirectory_is_read_as_the_connector_reads_it(
    config: dict[str, str], expected: str
) -> None:
    values = struct_pb2.Struct()
    values.update({"url": "/repo", **config})
    assert subdirectory(admin_pb2.Connector(type="git", config=values)) == expected


def test_a_selected_file_is_named_relative_to_its_connector_folder(tmp_path: Path) -> None:
    # An editor opened on services/a/src of a repository a git connector reads (with
    # subdirectory services/a): the question names the file as the project's citations do.
    repo = tmp_path / "repo"
    folder = repo / "services/a/src"
    folder.mkdir(parents=True)
    view = ProjectView("p1", "svc-a", folder, {"c1": repo.resolve()})
    assert view.relative(folder / "billing.py") == "services/a/src/billing.py"
    outside = tmp_path / "elsewhere" / "notes.md"
    assert ProjectView("p1", "svc-a", folder, {}).relative(folder / "x.py") == "x.py"
    assert view.relative(outside) == "notes.md"
