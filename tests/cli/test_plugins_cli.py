"""``projectqa plugins`` against a real server: the table, ``--json``, and a blocked plugin."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from projectqa.client.cli.plugins import render_plugins
from projectqa.v1 import admin_pb2

from .conftest import Cli


def test_json_lists_each_plugin_with_what_it_registered(admin_cli: Cli) -> None:
    listed = admin_cli.json("plugins")

    # The session server loads the CLI test plugin only; the installed ones are listed off.
    (clitest,) = [p for p in listed if not p["blocked"]]
    assert {p["blocked_reason"] for p in listed if p["blocked"]} == {"not in PROJECTQA_PLUGINS"}
    assert clitest["name"] == "clitest"
    assert clitest["connector_types"] == ["clitest"]
    assert clitest["tools"] == ["count_lines", "run_checks"]
    assert clitest["hooks"] == ["projectqa_register_connectors", "projectqa_register_tools"]
    assert clitest["blocked"] is False
    assert clitest["blocked_reason"] == ""


def test_the_table_shows_contributions_and_status(member_cli: Cli) -> None:
    out = member_cli.ok("plugins").stdout  # any authenticated user may list them

    assert "clitest" in out
    assert "connector clitest, tool count_lines, tool run_checks" in out
    assert "loaded" in out
    assert "off (not in PROJECTQA_PLUGINS)" in out  # turned off by the operator, not broken
    assert "blocked" not in out


@pytest.fixture
def broken_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An installed distribution whose ``projectqa`` entry point fails to import."""
    site = tmp_path / "site"
    info = site / "pqa_cli_broken-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pqa-cli-broken\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[projectqa]\nbrokenplug = pqa_cli_broken\n")
    (site / "pqa_cli_broken.py").write_text("import a_dependency_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(site))
    yield "brokenplug"
    sys.modules.pop("pqa_cli_broken", None)


def test_a_blocked_plugin_shows_why(start_server, tmp_path: Path, broken_plugin: str) -> None:
    with start_server(tmp_path / "data", plugins=[broken_plugin, "local"]) as server:
        cli = Cli(server.address, server.admin_token)
        listed = {p["name"]: p for p in cli.json("plugins")}
        table = cli.ok("plugins").stdout

    broken = listed[broken_plugin]
    assert broken["blocked"] is True
    assert (broken["distribution"], broken["version"]) == ("pqa-cli-broken", "0.3")
    assert "a_dependency_that_is_not_installed" in broken["blocked_reason"]
    assert listed["local"]["distribution"] == "projectqa"
    assert "blocked: failed to load" in table
    assert "pqa-cli-broken" in table


def test_integers_in_a_connector_config_print_as_integers(start_server, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    config = f'{{"path": "{folder}", "max_file_bytes": 200000}}'
    with start_server(tmp_path / "data", plugins=["local"]) as server:
        cli = Cli(server.address, server.admin_token)
        cli.ok("admin", "project", "create", "ints", "--name", "Ints")
        created = cli.json(
            "admin", "connector", "create", "ints", "--type", "local", "--name", "d",
            "--config", config,
        )  # fmt: skip
        shown = cli.ok("admin", "connector", "get", created["id"]).stdout
        listed = cli.json("admin", "connector", "list", "ints")

    assert created["config"]["max_file_bytes"] == 200000
    assert type(created["config"]["max_file_bytes"]) is int
    assert type(listed[0]["config"]["max_file_bytes"]) is int
    assert '"max_file_bytes":200000' in shown.replace(" ", "").replace("\n", "")
    assert "200000.0" not in shown


def test_a_refused_contribution_shows_under_its_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    render_plugins(
        [admin_pb2.Plugin(name="half", tools=["double"], problems=["tool fraction: no JSON"])]
    )
    out = capsys.readouterr().out
    assert "loaded" in out and "refused: tool fraction: no JSON" in out
