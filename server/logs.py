"""Structured logging: one JSON object per line (or plain text for humans).

Call sites pass context as ``extra={"rpc": ..., "code": ...}``; every extra
field lands in the JSON object. Never pass request payloads: they may hold
secrets.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update((k, v) for k, v in record.__dict__.items() if k not in _RESERVED)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in record.__dict__.items() if k not in _RESERVED)
        line = f"{record.levelname[0]} {record.name}: {record.getMessage()}"
        line = f"{line} {extras}" if extras else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


@dataclass(slots=True)
class _Logged:
    at: float  # when the key's last line was written
    suppressed: int = 0  # lines left out since


class ThrottledLog:
    """At most one line per key every ``interval_s`` seconds; the next says how many were left out.

    For events an outsider can repeat at will (refused calls): one line each
    would let them fill the disk. Keys are kept for the newest ``max_keys`` only.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self._logger = logger
        self._interval = interval_s
        self._clock = clock
        self._max_keys = max_keys
        self._seen: OrderedDict[Hashable, _Logged] = OrderedDict()  # oldest line first

    def log(self, level: int, key: Hashable, msg: str, extra: Mapping[str, object]) -> bool:
        """Log ``msg`` unless ``key`` logged within the interval; True when a line was written."""
        now = self._clock()
        last = self._seen.pop(key, None)
        if last is not None and now - last.at < self._interval:
            last.suppressed += 1
            self._seen[key] = last
            return False
        suppressed = last.suppressed if last is not None else 0
        self._seen[key] = _Logged(now)
        while len(self._seen) > self._max_keys:
            self._seen.popitem(last=False)
        self._logger.log(level, msg, extra={**extra, "suppressed": suppressed})
        return True


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send the ``projectqa`` loggers to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("projectqa")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
