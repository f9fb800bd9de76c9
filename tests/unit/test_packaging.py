"""pyproject lists every package folder, so a wheel (and the Docker image) is complete."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for package, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *relative.parts]))
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - found == set(), "these listed packages have no folder"


def test_no_top_level_module_shadows_a_common_name(tmp_path: Path) -> None:
    """Outside the checkout, only ``projectqa`` is importable (no ``server``, ``lsp``, …)."""
    code = (
        "import importlib.util as u, sys; "
        "sys.exit(any(u.find_spec(n) for n in ('server', 'lsp', 'plugins', 'clients')))"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=tmp_path).returncode == 0
