"""A connector type for ingestion tests whose behaviour the connector config scripts.

Config: ``documents`` (how many), ``lines`` (per document), ``checkpoint_every``,
``delay`` (seconds before each document), ``bad`` (keys yielded as warnings),
``fail_after`` (raise SourceError after that many documents), ``kind`` (the kind its
documents claim, as a plugin's string), ``crash_after`` (raise
RuntimeError, a plugin's bug, there instead), ``gate`` (a file path: wait until it
exists before each document after the first ``gate_after``). ``echo_config`` makes
it a careless third-party plugin: its warnings and failures quote its config (with
the secrets ``api_token`` and ``url``'s credentials), the basic-auth header it
would send and its URL-encoded token.
Documents are Python files ``mod_<i>.py`` with one function each, so they chunk
like code.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from projectqa.server.hookspecs import hookimpl
from projectqa.server.registry import ConnectorType
from projectqa.server.sources import (
    Checkpoint,
    DocumentKind,
    Estimate,
    SourceContext,
    SourceDocument,
    SourceError,
    SourceItem,
    SourceWarning,
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "documents": {"type": "integer", "minimum": 0},
        "lines": {"type": "integer", "minimum": 1},
        "checkpoint_every": {"type": "integer", "minimum": 1},
        "delay": {"type": "number", "minimum": 0},
        "bad": {"type": "array", "items": {"type": "string"}},
        "fail_after": {"type": "integer"},
        "gate": {"type": "string"},
        "gate_after": {"type": "integer"},
        "version": {"type": "string"},
        "webhook_secret": {"type": "string", "writeOnly": True},
        "api_token": {"type": "string", "writeOnly": True},
        "url": {"type": "string"},
        "crash_after": {"type": "integer"},
        "echo_config": {"type": "boolean"},
        "kind": {"type": "string"},
    },
    "additionalProperties": False,
}


def module_text(index: int, lines: int, version: str) -> str:
    body = "\n".join(f"    total += {n}  # step {n} of {version}" for n in range(lines))
    return f'def compute_{index}(total):\n    """Sums part {index}."""\n{body}\n    return total\n'


class ScriptedSource:
    def __init__(self, context: SourceContext) -> None:
        self.context = context
        self.config = context.config

    def items(self) -> Iterator[SourceItem]:
        count = self.config.get("documents", 3)
        start = int((self.context.cursor or {}).get("next", 0)) if self.context.full else 0
        every = self.config.get("checkpoint_every", 10)
        yield Estimate(count)
        for index in range(start, count):
            self._wait(index)
            if index == self.config.get("fail_after", -1):
                raise SourceError(f"scripted failure at document {index}{self._echo()}")
            if index == self.config.get("crash_after", -1):
                raise RuntimeError(f"scripted bug at document {index}{self._echo()}")
            key = f"mod_{index}.py"
            if key in self.config.get("bad", ()):
                yield SourceWarning(key, f"unreadable (scripted){self._echo()}")
            else:
                yield self._document(index, key)
            if (index + 1) % every == 0:
                yield Checkpoint({"next": index + 1})
        yield Checkpoint({"next": count}, revision=self.config.get("version", "v1"))

    def _echo(self) -> str:
        """What a careless plugin puts in its messages: its config and what it sent."""
        if not self.config.get("echo_config"):
            return ""
        token = self.config.get("api_token", "")
        basic = base64.b64encode(f"bot@example.com:{token}".encode()).decode()
        sent = f"Authorization: Basic {basic}; ?token={quote(token)}"
        return f" with config {self.config}; sent {sent}"

    def _wait(self, index: int) -> None:
        time.sleep(self.config.get("delay", 0))
        gate = self.config.get("gate")
        if gate and index >= self.config.get("gate_after", 0):
            while not Path(gate).exists() and not self.context.cancelled():
                time.sleep(0.02)

    def _document(self, index: int, key: str) -> SourceDocument:
        text = module_text(index, self.config.get("lines", 5), self.config.get("version", "v1"))
        kind = self.config.get("kind", DocumentKind.FILE)
        return SourceDocument(key=key, kind=kind, text=text, title=key, path=key)


class ScriptedPlugin:
    @hookimpl
    def projectqa_register_connectors(self, register: Callable[[ConnectorType], None]) -> None:
        register(ConnectorType("scripted", "Scripted test source", SCHEMA, ScriptedSource))
