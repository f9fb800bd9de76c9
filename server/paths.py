"""Where a server keeps its files by default; shared with local clients (no heavy imports)."""

from __future__ import annotations

import os
from pathlib import Path

ADMIN_TOKEN_FILE = "admin.token"


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/projectqa``, else ``~/.local/share/projectqa``.

    The XDG spec says relative values are invalid and must be ignored.
    """
    xdg_data_home = os.environ.get("XDG_DATA_HOME")
    if xdg_data_home and Path(xdg_data_home).is_absolute():
        return Path(xdg_data_home) / "projectqa"
    return Path.home() / ".local" / "share" / "projectqa"
