"""The example plugin (``plugins/example-plugin``) pip-installed from its own pyproject, as a
user installs it: one shared fixture for every test that needs it installed.

Import the fixtures into a test module (``from ..plugins.example_site import
installed_fixture, site_fixture``; pytest finds them there) and ask for
``example_installed`` or ``plugin_site``. The package is built
and installed once per session, however many modules import them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "example-plugin"
MODULE = "projectqa_example_plugin"

# pytest keeps a session fixture's value per module that imports it; this keeps one install.
_installed: dict[str, Path] = {}


def install_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh folder holding the example plugin, built and installed with pip."""
    source = tmp_path_factory.mktemp("example-src") / "example-plugin"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    site = tmp_path_factory.mktemp("example-site")
    command = [
        sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
        "--disable-pip-version-check", "-q", "--target", str(site), str(source),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return site


@pytest.fixture(scope="session", name="plugin_site")
def site_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the example plugin is installed in (not yet on ``sys.path``)."""
    if "site" not in _installed:
        _installed["site"] = install_example(tmp_path_factory)
    return _installed["site"]


@pytest.fixture(name="example_installed")
def installed_fixture(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The installed plugin on ``sys.path`` for one test, with no PROJECTQA_* setting
    from the environment; its modules forgotten afterwards."""
    monkeypatch.syspath_prepend(str(plugin_site))
    for name in ("PROJECTQA_CONFIG", "PROJECTQA_MONGODB_URI", "PROJECTQA_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    yield plugin_site
    for name in [m for m in sys.modules if m == MODULE or m.startswith(f"{MODULE}.")]:
        del sys.modules[name]
