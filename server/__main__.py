"""``python -m projectqa.server [--config FILE]``: the server without the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

from .app import main

if __name__ == "__main__":
    args = sys.argv[1:]
    config = Path(args[1]) if args[:1] == ["--config"] and len(args) == 2 else None
    sys.exit(main(config))
