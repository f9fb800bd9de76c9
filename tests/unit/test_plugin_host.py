"""Plugin loading through real entry points: filtering, blocking, validation."""

from __future__ import annotations

import enum
import inspect
import logging
import sys
import textwrap
from datetime import UTC, datetime
from importlib.metadata import Distribution, EntryPoint
from pathlib import Path
from typing import Literal

import pytest

from projectqa.server import hookspecs
from projectqa.server.admin.plugins import Plugins
from projectqa.server.auth import Principal
from projectqa.server.hookspecs import hookimpl
from projectqa.server.models import Token, User
from projectqa.server.plugin_host import (
    NOT_ALLOWED,
    PluginRecord,
    Reason,
    load_plugins,
    without_paths,
)
from projectqa.server.registry import ConnectorType, ToolSpec

GOOD = """
from projectqa.server.hookspecs import hookimpl
from projectqa.server.registry import ConnectorType, ToolSpec

@hookimpl
def projectqa_register_connectors(register):
    register(ConnectorType("svn", "Subversion", {"type": "object", "properties": {
        "url": {"type": "string"}, "password": {"type": "string", "writeOnly": True}}}, iter))

@hookimpl
def projectqa_register_tools(register):
    register(ToolSpec("shout", "Upper-cases text", {"type": "object"}, str.upper))
"""
BROKEN_IMPORT = "raise ImportError('missing dependency xyz')\n"
TYPO = """
from projectqa.server.hookspecs import hookimpl

@hookimpl
def projectqa_register_conectors(register):
    pass
"""
RAISES = """
from projectqa.server.hookspecs import hookimpl
from projectqa.server.registry import ConnectorType

@hookimpl
def projectqa_register_connectors(register):
    register(ConnectorType("half", "never kept", {"type": "object"}, iter))
    raise RuntimeError("plugin bug")
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install plugin modules as distributions with ``projectqa`` entry points.

    ``install(**modules)`` returns the entry points installed so far, for
    ``load_plugins(found=...)``: the tests see these only, never whatever else
    happens to be installed beside ProjectQA (a third-party plugin, a broken one).
    """
    found: list[EntryPoint] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def install(dist: str = "fake-plugins", version: str = "1.0", **modules: str):
        slug = dist.replace("-", "_")
        info = tmp_path / f"{slug}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = ["[projectqa]"]
        for name, source in modules.items():
            (tmp_path / f"pqa_test_{slug}_{name}.py").write_text(textwrap.dedent(source))
            lines.append(f"{name} = pqa_test_{slug}_{name}")
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        found.extend(Distribution.at(info).entry_points.select(group="projectqa"))
        return list(found)

    yield install
    for name in [m for m in sys.modules if m.startswith("pqa_test_")]:
        del sys.modules[name]


def test_entry_point_plugins_register_connectors_and_tools(installed) -> None:
    host = load_plugins(found=installed(good=GOOD))
    entry = host.catalog.connector_types["svn"]
    assert entry.plugin == "good"
    assert entry.item.secret_fields == ["password"]
    assert host.catalog.tools["shout"].item.function("a") == "A"
    assert "good" not in host.blocked


def test_failing_plugins_are_blocked_and_logged_not_fatal(installed, caplog) -> None:
    found = installed(good=GOOD, broken=BROKEN_IMPORT, typo=TYPO, raises=RAISES)
    with caplog.at_level(logging.ERROR, logger="projectqa"):
        host = load_plugins(found=found)
    assert set(host.blocked) == {"broken", "typo", "raises"}
    assert "missing dependency xyz" in host.blocked["broken"]
    assert "projectqa_register_conectors" in host.blocked["typo"]
    assert "plugin bug" in host.blocked["raises"]
    assert "half" not in host.catalog.connector_types  # a raising hook keeps nothing
    assert "svn" in host.catalog.connector_types
    assert {r.plugin for r in caplog.records if r.msg == "plugin blocked"} == set(host.blocked)


def test_allow_list_loads_only_named_plugins(installed, caplog) -> None:
    found = installed(good=GOOD, broken=BROKEN_IMPORT)
    with caplog.at_level(logging.WARNING, logger="projectqa"):
        host = load_plugins(allow=["good", "nonexistent"], found=found)
    assert "svn" in host.catalog.connector_types
    assert "broken" not in host.blocked  # never imported
    assert any(getattr(r, "plugins", None) == ["nonexistent"] for r in caplog.records)


SHOUT_TOO = """
from projectqa.plugin import hookimpl, ToolSpec

@hookimpl
def projectqa_register_tools(register):
    register(ToolSpec("whisper", "Lower-cases text", {"type": "object"}, str.lower))
"""


def test_a_duplicate_entry_point_name_blocks_only_the_second(installed, caplog) -> None:
    installed("first-dist", "1.0", good=GOOD)
    found = installed("second-dist", "2.5", good=SHOUT_TOO)
    with caplog.at_level(logging.ERROR, logger="projectqa"):
        host = load_plugins(found=found)

    assert "svn" in host.catalog.connector_types  # the first keeps working
    assert host.catalog.tools["shout"].plugin == "good"
    assert "whisper" not in host.catalog.tools  # the second is never imported
    assert "pqa_test_second_dist_good" not in sys.modules
    assert host.blocked == {}  # the name "good" is in use, by the first
    first, second = host.records
    assert (first.distribution, first.blocked) == ("first-dist", False)
    assert (second.distribution, second.version, second.blocked) == ("second-dist", "2.5", True)
    assert "'good' (second-dist 2.5)" in second.blocked_reason
    assert "'good' (first-dist 1.0)" in second.blocked_reason
    assert any(getattr(r, "reason", "") == second.blocked_reason for r in caplog.records)


def test_records_name_distribution_module_and_hooks(installed) -> None:
    found = installed("fake-plugins", "3.1", good=GOOD, typo=TYPO, broken=BROKEN_IMPORT)
    host = load_plugins(found=found)

    records = {r.name: r for r in host.records}
    good = records["good"]
    assert (good.distribution, good.version) == ("fake-plugins", "3.1")
    assert good.module == "pqa_test_fake_plugins_good"
    assert good.hooks == ("projectqa_register_connectors", "projectqa_register_tools")
    assert not good.blocked
    assert records["typo"].hooks == ("projectqa_register_conectors",)
    assert records["typo"].blocked_reason == host.blocked["typo"]
    assert records["broken"].hooks == ()
    assert "missing dependency xyz" in records["broken"].blocked_reason


class _Registers:
    def __init__(self, *items: object) -> None:
        self.items = items

    @hookimpl
    def projectqa_register_connectors(self, register):
        for item in self.items:
            register(item)


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (ConnectorType("Bad Name", "x", {"type": "object"}, iter), "must be 1-64 lowercase"),
        (ConnectorType("ok", "x", {"type": "array"}, iter), '"type": "object"'),
        (
            ConnectorType("ok", "x", {"type": "object", "minProperties": "two"}, iter),
            "invalid JSON Schema",
        ),
        (ToolSpec("tool", "x", {"type": "object"}, function="not callable"), "not callable"),  # type: ignore[arg-type]
        ("a string", "expected ConnectorType or ToolSpec"),
        (ConnectorType("ok", "x", {"type": "object"}, "nope"), "open_source is not callable"),  # type: ignore[arg-type]
        (
            ConnectorType(
                "nested",
                "x",
                {
                    "type": "object",
                    "properties": {
                        "auth": {"type": "object", "properties": {"pw": {"writeOnly": True}}}
                    },
                },
                iter,
            ),
            "writeOnly at /properties/auth/properties/pw is not supported",
        ),
    ],
)
def test_malformed_contributions_are_rejected(item, reason, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="projectqa"):
        host = load_plugins(allow=[], extra=[("p", _Registers(item))])
    assert not host.catalog.connector_types and not host.catalog.tools
    assert any(reason in getattr(r, "reason", "") for r in caplog.records)


def test_duplicate_names_keep_the_first_registration(caplog) -> None:
    first = _Registers(ConnectorType("git", "first", {"type": "object"}, iter))
    second = _Registers(ConnectorType("git", "second", {"type": "object"}, iter))
    with caplog.at_level(logging.ERROR, logger="projectqa"):
        host = load_plugins(allow=[], extra=[("a", first), ("b", second)])
    entries = host.catalog.connector_types
    assert len(entries) == 1
    winner = entries["git"].plugin
    assert any("already registered by plugin" in getattr(r, "reason", "") for r in caplog.records)
    assert winner == "a"


def test_every_hookspec_is_documented_and_exercised() -> None:
    """Meta-test: each spec has :param: docs and a test in this module calls it."""
    source = Path(__file__).read_text()
    specs = [
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("projectqa_")
    ]
    assert specs
    for name in specs:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert ":param register:" in doc and ":return:" in doc, f"{name} is undocumented"
        assert f"def {name}(" in source, f"{name} has no test plugin here"


class Level(enum.IntEnum):
    LOW = 1


class Colour(enum.StrEnum):
    RED = "red"


def by_level(level: Literal[Level.LOW]) -> int:
    return int(level)


def by_colour(colour: Literal[Colour.RED]) -> str:
    return str(colour)


def plain(text: str) -> str:
    return text


def unsigned(x: int) -> int:
    return x


# As a careless decorator might leave it: inspect.signature raises TypeError, no message of ours.
unsigned.__signature__ = "(x: int)"  # type: ignore[attr-defined]


class _RegistersTools:
    def __init__(self, *items: object) -> None:
        self.items = items

    @hookimpl
    def projectqa_register_tools(self, register):
        for item in self.items:
            register(item)


def test_a_contribution_that_cannot_be_converted_is_refused_alone(caplog) -> None:
    plugin = _RegistersTools(by_level, unsigned, plain, by_colour)
    with caplog.at_level(logging.ERROR, logger="projectqa"):
        host = load_plugins(allow=[], extra=[("p", plugin)])  # raised KeyError before

    assert set(host.catalog.tools) == {"plain"}  # the plugin's good tool stays
    assert host.blocked == {}
    (record,) = [r for r in host.records if r.name == "p"]
    assert not record.blocked
    level, odd, colour = record.problems
    assert "tool 'by_level': parameter 'level': Literal values must be" in level.full
    assert "<Level.LOW: 1> (Level)" in level.full
    assert "parameter 'colour'" in colour.full
    assert odd.full.startswith("projectqa_register_tools: 'unsigned' refused: TypeError(")
    assert odd.public.startswith("projectqa_register_tools: 'unsigned' refused: TypeError: ")
    logged = [r for r in caplog.records if r.msg == "plugin contribution rejected"]
    assert [r.reason for r in logged] == [p.full for p in record.problems]
    assert logged[1].exc_info is not None  # the unexpected one with its traceback


def test_entry_points_left_out_by_the_allow_list_are_recorded_not_loaded(installed) -> None:
    found = installed(good=GOOD, broken=BROKEN_IMPORT)
    host = load_plugins(allow=["good"], found=found)

    records = {r.name: r for r in host.records}
    assert not records["good"].blocked
    assert records["broken"].blocked_reason == NOT_ALLOWED
    assert records["broken"].distribution == "fake-plugins"
    assert "pqa_test_fake_plugins_broken" not in sys.modules  # never imported
    assert "broken" not in host.blocked  # not tried, so not failed


BAD_SYNTAX = "def projectqa_register_tools(register:\n"


def test_reasons_in_public_name_no_server_paths(installed, tmp_path: Path) -> None:
    host = load_plugins(found=installed(typo=TYPO, syntax=BAD_SYNTAX))

    records = {r.name: r for r in host.records}
    typo, syntax = records["typo"].why_blocked, records["syntax"].why_blocked
    assert typo is not None and syntax is not None
    assert f"from '{tmp_path}" in typo.full  # pluggy's <module 'x' from '/...'>
    assert str(tmp_path) in syntax.full  # SyntaxError's repr holds the file
    for reason in (typo.public, syntax.public):
        assert str(tmp_path) not in reason
    assert "<module 'pqa_test_fake_plugins_typo'>" in typo.public
    assert syntax.public.startswith("failed to load: SyntaxError: ")
    assert "pqa_test_fake_plugins_syntax.py" in syntax.public  # the file's name is no secret


@pytest.mark.parametrize(
    ("text", "public"),
    [
        ("No such file: '/srv/my data/conf.toml'", "No such file: '…/conf.toml'"),
        ('cannot read "/etc/pqa/key.pem"', 'cannot read "…/key.pem"'),
        ("cannot read /etc/pqa/key.pem, giving up", "cannot read …/key.pem, giving up"),
        ("/opt/x/y.py at the start", "…/y.py at the start"),
        (r"'C:\\Users\\bob\\plug.py'", "'…/plug.py'"),
        ("see http://host/a/b and 1/2", "see http://host/a/b and 1/2"),
        ("bad manifest at file:///home/u/site/x.json", "bad manifest at …/x.json"),
    ],
)
def test_without_paths_keeps_only_the_last_component(text: str, public: str) -> None:
    assert without_paths(text) == public


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")

    __repr__ = __str__


class RaisesUnprintable:
    @hookimpl
    def projectqa_register_tools(self, register):
        raise Unprintable


def test_an_exception_that_cannot_be_printed_still_blocks_only_its_plugin() -> None:
    host = load_plugins(allow=[], extra=[("odd", RaisesUnprintable()), ("p", _RegistersTools())])

    assert host.blocked == {"odd": "projectqa_register_tools raised <unprintable Unprintable>"}
    (record,) = [r for r in host.records if r.name == "odd"]
    assert record.why_blocked is not None
    assert record.why_blocked.public.endswith("raised Unprintable: <unprintable Unprintable>")


def caller(global_admin: bool) -> Principal:
    now = datetime.now(UTC)
    user = User("usr_1", "mia", "Mia", global_admin, now)
    return Principal(user, Token("tok_1", "usr_1", "hash", "", now))


def test_the_listing_says_reasons_and_problems_in_full_to_global_admins_only(
    installed, tmp_path: Path
) -> None:
    host = load_plugins(found=installed(typo=TYPO, syntax=BAD_SYNTAX))
    host.records.append(PluginRecord("p", problems=(Reason.of(f"cannot read '{tmp_path}/a'"),)))
    plugins = Plugins(host)

    as_admin = {v.record.name: v for v in plugins.list(caller(global_admin=True))}
    as_member = {v.record.name: v for v in plugins.list(caller(global_admin=False))}

    assert str(tmp_path) in as_admin["typo"].blocked_reason
    assert as_admin["p"].problems == (f"cannot read '{tmp_path}/a'",)
    assert as_member["p"].problems == ("cannot read '…/a'",)
    for view in as_member.values():
        assert str(tmp_path) not in view.blocked_reason
    assert as_member["syntax"].blocked_reason.startswith("failed to load: SyntaxError: ")
