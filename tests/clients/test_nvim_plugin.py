"""The Neovim plugin (clients/nvim) in a real headless Neovim, against a real server.

Neovim runs ``tests/clients/nvim_driver.lua`` with the plugin on its runtimepath, in
the ``shop`` checkout, with ``shop/cart.py`` open. The driver calls ``setup{}`` with the
bridge command ``python -m projectqa.lsp``, runs one Ex command (``:ProjectQAAsk …``,
``:ProjectQAExplain``), waits for the answer and writes what the user would see — the
float's lines, the quickfix list, the notifications — as JSON. The server runs in this
module's event loop, so Neovim is awaited as an asyncio subprocess, never blocking it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.lsp.local_checkout import PROJECT, LocalCheckout, local_checkout
from tests.process import run
from tests.service.retrieval_fixtures import IndexedProject, definition_lines, indexed_project

from .requirements import REPO, require_tool

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

PLUGIN = REPO / "clients" / "nvim"
DRIVER = Path(__file__).with_name("nvim_driver.lua")
BRIDGE = [sys.executable, "-m", "projectqa.lsp"]
SUBPROCESS_TIMEOUT_S = 90  # the driver's own waits give up after 25 s each
QUESTION = "How is the discount applied to the price?"
INFO, WARN, ERROR = 2, 3, 4  # vim.log.levels
XDG = ("CONFIG", "DATA", "STATE", "CACHE")


@pytest.fixture(scope="module")
def nvim() -> str:
    return require_tool("nvim", "apt-get install neovim (0.7.2 or newer)")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def qa(nvim: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[IndexedProject]:
    async with indexed_project(tmp_path_factory) as indexed:
        yield indexed


def admin_token(qa: IndexedProject) -> str:
    return qa.server.settings.admin_token_path.read_text(encoding="utf-8").strip()


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def run_nvim(
    nvim: str,
    workspace: Path,
    command: str,
    tmp_path: Path,
    *,
    setup: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    typed: str = "",
    file: str = "shop/cart.py",
) -> dict[str, Any]:
    """Runs the driver in ``workspace`` with ``file`` open; returns its JSON report."""
    out = tmp_path / "report.json"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PROJECTQA_", "XDG_"))}
    full_env = {
        **clean,
        "PROJECTQA_DATA_DIR": str(tmp_path / "nowhere"),  # no admin token file by accident
        "PROJECTQA_NVIM_SETUP": json.dumps({"cmd": BRIDGE, **(setup or {})}),
        "PROJECTQA_NVIM_COMMAND": command,
        "PROJECTQA_NVIM_OUT": str(out),
        "PROJECTQA_NVIM_INPUT": typed,
        "PROJECTQA_NVIM_PLUGIN": str(PLUGIN),
        "PROJECTQA_NVIM_DRIVER": str(DRIVER),
        **{f"XDG_{d}_HOME": str(tmp_path / d.lower()) for d in XDG},  # keep ~ clean
        **(env or {}),
    }
    done = await run(
        nvim,
        "--headless",
        "--clean",
        "-u",
        "NONE",
        "--cmd",
        "lua vim.opt.runtimepath:prepend(os.getenv('PROJECTQA_NVIM_PLUGIN'))",
        "-c",
        "lua dofile(os.getenv('PROJECTQA_NVIM_DRIVER'))",
        file,
        cwd=workspace,
        env=full_env,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    output = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert out.exists(), f"the driver wrote no report\n{output}"
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report.get("driver_error") is None, f"{report['driver_error']}\n{output}"
    assert done.returncode == 0, output
    return report


def notified(report: dict[str, Any], level: int) -> list[str]:
    return [n["message"] for n in report["notifications"] if n["level"] == level]


def assert_usable_after(report: dict[str, Any]) -> None:
    assert report["floats_after_q"] == 0  # `q` closed the float (or there was none)
    assert report["first_line"] == "# edited"


async def test_ask_streams_into_a_float_and_fills_the_quickfix_list(
    nvim: str, qa: IndexedProject, tmp_path: Path
) -> None:
    env = {"PROJECTQA_ADDRESS": f"127.0.0.1:{qa.port}", "PROJECTQA_TOKEN": admin_token(qa)}
    report = await run_nvim(
        nvim, qa.shop, f"ProjectQAAsk {QUESTION}", tmp_path, setup={"extractive": True}, env=env
    )
    assert report["finished"] and not notified(report, ERROR), report
    ask = report["ask"]
    assert ask["status"] == "completed" and ask["chunks"] > 0
    assert ask["argument"] == {"question": QUESTION, "askId": ask["argument"]["askId"]}
    # The float showed a placeholder, the progress, the streamed text, then the final answer.
    shown = report["shown"]
    assert shown[0] == "Asking ProjectQA…"
    assert "Searching shop…" in shown
    assert ask["text"].strip() and shown.index(ask["text"]) < len(shown) - 1
    final = shown[-1]
    assert final.startswith(ask["text"].strip()) and "\n\nSources:\n" in final
    assert report["float_lines"] == final.split("\n")
    assert report["float_filetype"] == "markdown"
    assert report["float_conceallevel"] == 0 and report["float_concealed"] == []
    quickfix = report["quickfix"]
    assert quickfix["title"] == f"ProjectQA: {QUESTION}"
    pricing = [i for i in quickfix["items"] if i["filename"] == str(qa.shop / "shop/pricing.py")]
    assert pricing, quickfix["items"]
    start, end = definition_lines((qa.shop / "shop/pricing.py").read_text(), "apply_discount")
    assert any(i["lnum"] <= start <= end and "shop/pricing.py:" in i["text"] for i in pricing)
    assert all(i["text"].endswith(("✓", "(unverified)")) for i in quickfix["items"])
    assert_usable_after(report)
    status = notified(report, INFO)
    assert any(f"connected to 127.0.0.1:{qa.port} as " in m for m in status), status
    assert any(m.endswith("project shop") for m in status), status


async def test_explain_sends_the_lines_in_range_with_settings_from_setup(
    nvim: str, qa: IndexedProject, tmp_path: Path
) -> None:
    start, end = definition_lines((qa.shop / "shop/cart.py").read_text(), "Cart.total_price")
    setup = {"address": f"127.0.0.1:{qa.port}", "token": admin_token(qa), "extractive": True}
    report = await run_nvim(nvim, qa.shop, f"{start},{end}ProjectQAExplain", tmp_path, setup=setup)
    assert report["finished"] and not notified(report, ERROR), report
    assert report["ask"]["status"] == "completed" and report["ask"]["chunks"] > 0
    assert report["ask"]["argument"]["range"]["start"]["line"] == start - 1
    assert "Sources:" in report["float_lines"]
    quickfix = report["quickfix"]
    assert quickfix["title"] == f"ProjectQA: explain shop/cart.py:{start}-{end}"
    files = {Path(item["filename"]).relative_to(qa.shop).as_posix() for item in quickfix["items"]}
    assert "shop/cart.py" in files or "shop/pricing.py" in files, quickfix["items"]
    assert_usable_after(report)


async def test_ask_with_a_range_prompts_for_the_question_and_sends_the_lines(
    nvim: str, qa: IndexedProject, tmp_path: Path
) -> None:
    start, end = definition_lines((qa.shop / "shop/cart.py").read_text(), "Cart.total_price")
    setup = {"address": f"127.0.0.1:{qa.port}", "token": admin_token(qa), "extractive": True}
    question = "Why is the discount applied here?"
    report = await run_nvim(
        nvim, qa.shop, f"{start},{end}ProjectQAAsk", tmp_path, setup=setup, typed=question
    )
    assert report["prompt"] == "Ask ProjectQA: "
    sent = report["ask"]["argument"]
    assert sent["question"] == question
    assert sent["textDocument"]["uri"] == (qa.shop / "shop/cart.py").as_uri()
    lines = {"start": {"line": start - 1, "character": 0}, "end": {"line": end, "character": 0}}
    assert sent["range"] == lines
    assert report["finished"] and not notified(report, ERROR), report
    assert report["ask"]["status"] == "completed"
    assert report["quickfix"]["title"] == f"ProjectQA: {question}"
    assert report["quickfix"]["items"], report
    assert_usable_after(report)


async def test_closing_the_float_while_answering_cancels_the_ask(
    nvim: str, qa: IndexedProject, tmp_path: Path
) -> None:
    setup = {"address": f"127.0.0.1:{qa.port}", "token": admin_token(qa)}
    env = {"PROJECTQA_NVIM_CLOSE_EARLY": "1"}
    report = await run_nvim(
        nvim, qa.shop, f"ProjectQAAsk {QUESTION}", tmp_path, setup=setup, env=env
    )
    assert report["sent"] and report["finished"], report
    assert report["ask"]["error"] == "cancelled" and report["ask"].get("status") is None
    assert report["floats"] == 0 and not notified(report, ERROR), report
    assert report["quickfix"]["items"] == []
    # The bridge is still there and connected.
    assert any(m.startswith("ProjectQA: connected to") for m in notified(report, INFO)), report
    assert_usable_after(report)


async def test_an_unreachable_server_is_an_error_notification_and_nvim_stays_usable(
    nvim: str, qa: IndexedProject, tmp_path: Path
) -> None:
    address = f"127.0.0.1:{closed_port()}"
    env = {"PROJECTQA_ADDRESS": address, "PROJECTQA_TOKEN": "not-a-token"}
    report = await run_nvim(nvim, qa.shop, f"ProjectQAAsk {QUESTION}", tmp_path, env=env)
    assert report["finished"], report
    assert report["ask"]["error"] and address in report["ask"]["error"]
    shown = notified(report, ERROR)
    assert any(m.startswith("ProjectQA: ") and address in m and "unreachable" in m for m in shown)
    assert report["floats"] == 0  # the float closed with the error
    assert report["quickfix"]["items"] == []
    assert_usable_after(report)
    status = notified(report, WARN)
    assert any(m.startswith(f"ProjectQA: not connected to {address}: ") for m in status), status


# ------------------------------------------------------------------ a local git checkout


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def checkout(
    nvim: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LocalCheckout]:
    async with local_checkout(tmp_path_factory) as started:
        yield started


async def test_a_local_checkout_finds_its_project_and_shows_paths_exactly(
    nvim: str, checkout: LocalCheckout, tmp_path: Path
) -> None:
    # As after quickstart: a git connector reads the checkout by path; no project is set.
    setup = {"address": checkout.address, "token": checkout.token, "extractive": True}
    question = "How long is the delay before a retry?"
    report = await run_nvim(
        nvim,
        checkout.repo,
        f"ProjectQAAsk {question}",
        tmp_path,
        setup=setup,
        file="httpx/_config.py",
    )
    assert report["finished"] and not notified(report, ERROR), report
    assert report["ask"]["status"] == "completed"
    lines = report["float_lines"]
    sources = lines[lines.index("Sources:") + 1 :]
    # Plain `[n] path:start-end ✓` lines: numbered once, the underscore shown, no links.
    config = [line for line in sources if "httpx/_config.py:" in line]
    assert config and all(re.fullmatch(r"\[\d+\] httpx/_config\.py:\d+-\d+ ✓", x) for x in config)
    assert not [line for line in lines if "](" in line or "file://" in line], lines
    assert report["float_conceallevel"] == 0 and report["float_concealed"] == []
    files = {item["filename"] for item in report["quickfix"]["items"]}
    assert str(checkout.repo / "httpx/_config.py") in files, report["quickfix"]
    status = notified(report, INFO)
    assert any(m.endswith(f"project {PROJECT}") for m in status), status


async def test_a_folder_no_project_indexes_names_the_setup_option_once_prefixed(
    nvim: str, checkout: LocalCheckout, tmp_path: Path
) -> None:
    workspace = tmp_path / "elsewhere"
    workspace.mkdir()
    (workspace / "notes.py").write_text("x = 1\n", encoding="utf-8")
    setup = {"address": checkout.address, "token": checkout.token}
    report = await run_nvim(
        nvim, workspace, "ProjectQAAsk Where is it?", tmp_path, setup=setup, file="notes.py"
    )
    assert report["finished"] and report["ask"]["error"], report
    errors = notified(report, ERROR)
    expected = (
        f"ProjectQA: no project indexes {workspace}: set project in "
        "require('projectqa').setup{} (or PROJECTQA_PROJECT) to its id or slug"
    )
    # Once from the bridge (window/showMessage), once for the failed ask; one prefix each.
    assert errors and all(m == expected for m in errors), errors
    assert not [n for n in report["notifications"] if "ProjectQA: ProjectQA" in n["message"]]
    status = notified(report, WARN)
    assert status == [f"ProjectQA: not connected to {checkout.address}: {expected[11:]}"]
    assert_usable_after(report)
