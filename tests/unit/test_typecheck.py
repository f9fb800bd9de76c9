"""mypy sees each package under the name setuptools installs it as."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREE = ROOT / "typecheck"


def test_link_tree_mirrors_package_dir() -> None:
    """typecheck/projectqa/ has one relative symlink per [tool.setuptools] package-dir entry."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    expected = {name: (ROOT / folder).resolve() for name, folder in config["package-dir"].items()}
    links = [path for path in TREE.rglob("*") if path.is_symlink()]
    found = {".".join(link.relative_to(TREE).parts): link.resolve() for link in links}
    assert found == expected, "mirror pyproject's package-dir in typecheck/ (relative symlinks)"
    assert not [link for link in links if os.path.isabs(os.readlink(link))]


def test_mypy_checks_every_package_but_the_generated_one() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    packages = set(config["setuptools"]["package-dir"]) - {"projectqa.v1"}
    assert packages <= set(config["mypy"]["packages"])
