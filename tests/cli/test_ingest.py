"""``projectqa ingest``, ``runs``, ``cancel``, ``reindex`` and the client's IngestionCalls.

One real server for the module, with the built-in ``git`` and ``local``
connectors, the real embedding model and SQLite, ingesting a small git
repository made in a temporary folder.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from projectqa.client import AsyncClient, Client, ClientError
from projectqa.v1 import ingestion_pb2

from .conftest import Cli, RunningServer, running_server

pytestmark = pytest.mark.model

MAX_FILE_BYTES = 2000
CART = '''"""The shopping cart."""


class Cart:
    """Items a customer is about to buy."""

    def __init__(self) -> None:
        self.items: dict[str, int] = {}

    def add(self, sku: str, quantity: int = 1) -> None:
        """Adds ``quantity`` of ``sku``."""
        self.items[sku] = self.items.get(sku, 0) + quantity

    def total(self, prices: dict[str, float]) -> float:
        return sum(prices[sku] * count for sku, count in self.items.items())
'''


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Test", "-c", "user.email=test@example.com",
         "-c", "commit.gpgsign=false", *args],
        check=True,
        capture_output=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed repository: code, docs, a binary file and one file too large to index."""
    root = tmp_path_factory.mktemp("repo")
    (root / "shop").mkdir()
    (root / "shop" / "cart.py").write_text(CART)
    (root / "README.md").write_text("# Shop\n\nA shop backend that sells widgets.\n")
    (root / "docs.md").write_text("# Checkout\n\nPay with a card or an invoice.\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 4)
    (root / "dump.sql").write_text("insert into t values (1);\n" * 200)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "shop")
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Overrides the session server of conftest: this one has the file connectors."""
    path = tmp_path_factory.mktemp("ingest-server")
    with running_server(path, plugins=["local", "git"]) as started:
        yield started


PLAIN = {"TTY_COMPATIBLE": "0"}


def ingest(cli: Cli, *args: str) -> Any:
    return cli("ingest", *args, env=PLAIN)


@pytest.fixture
def git_project(admin_cli: Cli, project: str, repo: Path) -> str:
    """A project with one ``git`` connector, ``repo``, reading the test repository."""
    config = f'{{"url": "{repo}", "max_file_bytes": {MAX_FILE_BYTES}}}'
    admin_cli.ok("admin", "connector", "create", project, "--type", "git", "--name", "repo",
                 "--config", config)  # fmt: skip
    return project


def counts(run: dict[str, Any]) -> dict[str, int]:
    return {name: int(value) for name, value in run["counts"].items()}


# ------------------------------------------------------------------ ingest


def test_ingest_follows_the_run_and_summarises_it(admin_cli: Cli, git_project: str) -> None:
    result = ingest(admin_cli, git_project)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "repo: queued" in out or "repo: running" in out
    assert "⚠ dump.sql:" in out  # the warning, printed as it arrived
    assert "repo: ✔ succeeded in" in out
    assert "documents  " in out and "chunks  " in out
    assert "1 failed" in out  # the oversized file
    assert "warnings   1 (projectqa runs show run_" in out
    assert "revision" in out


def test_second_ingest_is_incremental_and_runs_lists_both(admin_cli: Cli, git_project: str) -> None:
    [first] = admin_cli.json("ingest", git_project, env=PLAIN)
    again = ingest(admin_cli, git_project)
    assert again.exit_code == 0, again.output
    assert "incremental run" in again.stdout
    assert "none changed since the last successful run" in again.stdout

    listed = admin_cli.json("runs", git_project)
    second = listed[0]
    assert [run["id"] for run in listed] == [second["id"], first["id"]]
    assert first["status"] == second["status"] == "INGESTION_STATUS_SUCCEEDED"
    assert counts(first)["documents_changed"] >= 3
    assert counts(first)["chunks_written"] >= 3
    assert second["mode"] == "INGESTION_MODE_INCREMENTAL"
    assert counts(second)["documents_changed"] == 0
    assert second["revision"] == first["revision"]
    table = admin_cli.ok("runs", git_project).stdout
    assert first["id"] in table and second["id"] in table
    assert "repo" in table and "succeeded" in table and "incremental" in table
    assert [r["id"] for r in admin_cli.json("runs", "list", git_project, "--limit", "1")] == [
        second["id"]
    ]
    only_repo = admin_cli.json("runs", git_project, "--connector", "repo")
    assert len(only_repo) == 2


def test_changed_file_is_ingested_incrementally(
    admin_cli: Cli, project: str, tmp_path: Path, repo: Path
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    admin_cli.ok("admin", "connector", "create", project, "--type", "git", "--name", "repo",
                 "--config", f'{{"url": "{clone}"}}')  # fmt: skip
    admin_cli.json("ingest", project, env=PLAIN)
    (clone / "docs.md").write_text("# Checkout\n\nPay with a card, an invoice or a voucher.\n")
    git(clone, "commit", "-q", "-am", "vouchers")
    [second] = admin_cli.json("ingest", project, env=PLAIN)
    assert counts(second)["documents_changed"] == 2  # docs.md and the record of its commit
    full = ingest(admin_cli, project, "--full")
    assert full.exit_code == 0, full.output
    assert "full run" in full.stdout


def test_no_wait_returns_at_once_and_runs_watch_follows(admin_cli: Cli, git_project: str) -> None:
    started = admin_cli.ok("ingest", git_project, "--no-wait").stdout
    run_id = started.split("run ", 1)[1].split(")", 1)[0]
    assert run_id.startswith("run_")
    assert f"projectqa runs watch {run_id}" in started and "RUN_ID" not in started
    assert f"projectqa cancel {run_id}" in started
    watched = admin_cli("runs", "watch", run_id, env=PLAIN)
    assert watched.exit_code == 0, watched.output
    assert "✔ succeeded" in watched.stdout
    shown = admin_cli.json("runs", "show", run_id)
    assert shown["id"] == run_id and shown["status"] == "INGESTION_STATUS_SUCCEEDED"


def test_ingest_json_prints_only_json_on_stdout(admin_cli: Cli, git_project: str) -> None:
    result = admin_cli("--json", "ingest", git_project, env=PLAIN)
    assert result.exit_code == 0, result.output
    [run] = json.loads(result.stdout)
    assert run["status"] == "INGESTION_STATUS_SUCCEEDED"
    assert "repo:" in result.stderr  # progress went to stderr


def test_live_progress_bar_on_a_terminal(admin_cli: Cli, git_project: str) -> None:
    result = admin_cli("ingest", git_project, env={"TTY_COMPATIBLE": "1", "COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "repo · " in result.stdout  # the bar's description: connector · phase
    assert "chunks" in result.stdout and "succeeded" in result.stdout


def test_no_progress_leaves_only_warnings_and_the_summary(admin_cli: Cli, git_project: str) -> None:
    terminal = {"TTY_COMPATIBLE": "1", "COLUMNS": "160"}  # a bar would be drawn here
    result = admin_cli("--no-progress", "ingest", git_project, env=terminal)
    assert result.exit_code == 0, result.output
    out = click.unstyle(result.stdout)
    assert "repo · " not in out and "repo: queued" not in out and "repo: running" not in out
    assert "⚠ dump.sql:" in out  # warnings still show, as they arrive
    assert "repo: ✔ succeeded in" in out
    plain = admin_cli("ingest", git_project, env={**PLAIN, "PROJECTQA_NO_PROGRESS": "1"})
    assert plain.exit_code == 0, plain.output
    assert "repo: queued" not in plain.stdout and "repo: ✔ succeeded in" in plain.stdout


def test_connector_option_ingests_that_connector_only(
    admin_cli: Cli, git_project: str, tmp_path: Path
) -> None:
    (tmp_path / "notes.md").write_text("# Notes\n\nDeploy on Fridays, never.\n")
    admin_cli.ok("admin", "connector", "create", git_project, "--type", "local",
                 "--name", "notes", "--config", f'{{"path": "{tmp_path}"}}')  # fmt: skip
    result = ingest(admin_cli, git_project, "--connector", "notes")
    assert result.exit_code == 0, result.output
    assert "notes: ✔ succeeded" in result.stdout and "repo:" not in result.stdout
    both = admin_cli.json("ingest", git_project, env=PLAIN)
    assert len(both) == 2


def test_a_failed_run_exits_1_with_its_error(admin_cli: Cli, project: str, tmp_path: Path) -> None:
    admin_cli.ok("admin", "connector", "create", project, "--type", "git", "--name", "broken",
                 "--config", f'{{"url": "{tmp_path / "no-such-repo"}"}}')  # fmt: skip
    result = ingest(admin_cli, project)
    assert result.exit_code == 1
    assert "broken: ✖ failed" in result.stdout
    assert "error: run run_" in result.stderr and "(broken) failed:" in result.stderr


def test_unknown_project_exits_3(admin_cli: Cli) -> None:
    for args in (["ingest", "nope-404"], ["runs", "nope-404"], ["reindex", "nope-404"]):
        result = admin_cli(*args)
        assert result.exit_code == 3, (args, result.output)
        assert "NOT_FOUND" in result.stderr


def test_project_without_connectors_is_a_usage_error(admin_cli: Cli, project: str) -> None:
    result = admin_cli("ingest", project)
    assert result.exit_code == 2
    assert "has no connectors" in result.stderr


# ------------------------------------------------------------- runs, cancel


def test_runs_show_lists_warnings(admin_cli: Cli, git_project: str) -> None:
    [run] = admin_cli.json("ingest", git_project, env=PLAIN)
    shown = admin_cli.ok("runs", "show", run["id"]).stdout
    assert "repo (con_" in shown
    assert "⚠ dump.sql:" in shown
    assert "warnings   1" in shown
    assert "attempts   1" in shown  # one worker ran it start to end
    assert "worker     " in shown and "worker     -" not in shown
    assert admin_cli.json("runs", "show", run["id"])["warnings"][0]["document_key"] == "dump.sql"


def test_cancel_of_a_finished_run_is_a_conflict(admin_cli: Cli, git_project: str) -> None:
    [run] = admin_cli.json("ingest", git_project, env=PLAIN)
    result = admin_cli("cancel", run["id"])
    assert result.exit_code == 6
    assert result.stderr.startswith("error: FAILED_PRECONDITION:")
    assert admin_cli("cancel", "run_doesnotexist").exit_code == 3


def test_reindex_prints_what_it_built(admin_cli: Cli, git_project: str) -> None:
    [run] = admin_cli.json("ingest", git_project, env=PLAIN)
    out = admin_cli.ok("reindex", git_project).stdout
    assert f"Rebuilt the indexes of {git_project}" in out
    for label in ("generation", "chunks", "vectors", "dense index", "took"):
        assert label in out
    report = admin_cli.json("reindex", git_project)
    assert int(report["chunks"]) >= counts(run)["chunks_written"]
    assert report["dense_kind"]


def test_members_may_read_runs_but_not_start_them(
    admin_cli: Cli, member_cli: Cli, git_project: str
) -> None:
    whoami = member_cli.json("admin", "whoami")
    admin_cli.ok("admin", "member", "add", git_project, whoami["user"]["name"], "--role", "member")
    assert member_cli("ingest", git_project).exit_code == 4
    assert member_cli.ok("runs", git_project)


# ----------------------------------------------------------- client library


@pytest.fixture
def client(server: RunningServer) -> Iterator[Client]:
    with Client(server.address, server.admin_token) as opened:
        yield opened


def test_client_starts_watches_and_lists_runs(client: Client, git_project: str) -> None:
    [run] = client.start_ingestion(git_project, "repo", mode="full")
    assert run.mode == ingestion_pb2.INGESTION_MODE_FULL
    events = list(client.watch_ingestion(run.id, interval=0.05))
    assert events[-1].run.status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED
    assert events[-1].documents_done >= 3
    assert [w.document_key for e in events for w in e.new_warnings] == ["dump.sql"]
    assert client.get_ingestion_run(run.id) == events[-1].run

    again = client.start_ingestion(git_project)[0]
    assert client.wait_for_ingestion(again.id).status == ingestion_pb2.INGESTION_STATUS_SUCCEEDED
    paged = [r.id for r in client.list_ingestion_runs(git_project, page_size=1)]
    assert paged == [again.id, run.id]
    assert client.rebuild_indexes(git_project).chunks >= 1


def test_client_errors_and_watch_cancel(client: Client, git_project: str) -> None:
    with pytest.raises(ValueError, match="mode"):
        client.start_ingestion(git_project, mode="sometimes")  # type: ignore[arg-type]
    run = client.wait_for_ingestion(client.start_ingestion(git_project)[0].id)
    with pytest.raises(ClientError) as cancelled:
        client.cancel_ingestion(run.id)
    assert cancelled.value.code_name == "FAILED_PRECONDITION"
    with pytest.raises(ClientError) as missing:
        list(client.watch_ingestion("run_doesnotexist"))
    assert missing.value.code_name == "NOT_FOUND"
    watch = client.watch_ingestion(run.id)
    watch.cancel()
    assert list(watch) == []


def test_runs_default_subcommand_keeps_subcommands_reachable(admin_cli: Cli) -> None:
    assert "list" in admin_cli.ok("runs", "--help").stdout
    assert admin_cli("runs", "show").exit_code == 2  # missing RUN_ID, not a project "show"


async def test_async_client_reaches_the_ingestion_service(
    server: RunningServer, git_project: str
) -> None:
    async with AsyncClient(server.address, server.admin_token) as qa:
        request = ingestion_pb2.ListIngestionRunsRequest(project=git_project)
        response = await qa.call(qa.ingestion.ListIngestionRuns, request)
    assert list(response.runs) == []  # type: ignore[attr-defined]
