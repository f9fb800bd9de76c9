"""Tools the editor and cross-language client tests need (node, npm, nvim, node_modules).

Locally a missing tool skips the test with the command that installs it; in CI
(``PROJECTQA_REQUIRE_EDITORS=1``, set by ``.ci/run``, which installs them all) it fails,
so nothing is silently skipped there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _missing(what: str, hint: str) -> None:
    message = f"{what} is missing: {hint}"
    if os.environ.get("PROJECTQA_REQUIRE_EDITORS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def require_tool(name: str, hint: str) -> str:
    """The path of the program ``name``; skips (or fails in CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        _missing(f"the program {name!r}", hint)
    return path


def require_node_modules(package_dir: Path) -> Path:
    """``package_dir``'s node_modules; skips (or fails in CI) before ``npm ci`` ran there."""
    modules = package_dir / "node_modules"
    if not modules.is_dir():
        _missing(str(modules), f"run `npm ci` in {package_dir.relative_to(REPO)}")
    return modules
