"""Bind mounts for tests, made in a private mount namespace (``unshare``) so the machine's
own mounts are never touched; the test is skipped where no such namespace can be made."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest


def in_mount_namespace(script: str, *args: str) -> Any:
    """Run the Python ``script`` (with ``args``) as root of a private mount namespace;
    return the JSON it prints."""
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("mount") is None or sys.platform != "linux":
        pytest.skip("needs unshare and mount (Linux)")
    prefix = [unshare, "--mount"]
    if os.geteuid() != 0:
        prefix = [unshare, "--user", "--map-root-user", "--mount"]
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("no private mount namespace can be made here")
    done = subprocess.run(
        [*prefix, sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
