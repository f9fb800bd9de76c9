"""Source distributions from PyPI, downloaded once into ``bench/.work`` (shared by the benches)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work"


def sdist_archive(name: str, version: str, work: Path = WORK) -> Path:
    """``<work>/<name>-<version>.tar.gz``, downloaded with pip when missing."""
    pattern = f"[{name[0].upper()}{name[0].lower()}]{name[1:]}-{version}.tar.gz"
    found = sorted(work.glob(pattern))
    if found:
        return found[0]
    work.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:"]
    subprocess.run([*command, "--no-deps", f"{name}=={version}", "-d", str(work)], check=True)
    return next(work.glob(pattern))


def unpacked_sdist(name: str, version: str, work: Path = WORK) -> Path:
    """The sdist's top folder under ``work``, extracted when missing."""
    folder = work / f"{name}-{version}"
    if not folder.is_dir():
        with tarfile.open(sdist_archive(name, version, work)) as tar:
            tar.extractall(work, filter="data")
    return folder
