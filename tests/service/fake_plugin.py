"""The plugin every service-test server loads: connector types and tools to list and page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from projectqa.server.hookspecs import hookimpl
from projectqa.server.registry import ConnectorType, ToolSpec
from projectqa.server.sources import SourceContext

PLUGIN_NAME = "fake"
SECRET_FIELD = "token"
GIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {"type": "string"},
        "branch": {"type": "string"},
        "depth": {"type": "integer", "minimum": 1},
        SECRET_FIELD: {"type": "string", "writeOnly": True},
    },
    "required": ["url"],
    "additionalProperties": False,
}
PLAIN_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"path": {"type": "string"}}}
# Seven of each, so listings span three pages of three.
CONNECTOR_TYPE_NAMES = ["fake-git", *(f"fake-src{i}" for i in range(1, 7))]
TOOL_NAMES = ["deploy", "echo", *(f"tool{i}" for i in range(1, 6))]
SIDE_EFFECT_TOOLS = {"deploy"}


def no_documents(context: SourceContext) -> Iterator[object]:
    """A source with nothing in it (these tests list and configure, never ingest)."""
    return iter(())


class FakePlugin:
    """Contributes connector types (``fake-git`` has a secret) and tools."""

    @hookimpl
    def projectqa_register_connectors(self, register: Callable[[ConnectorType], None]) -> None:
        register(ConnectorType("fake-git", "A fake git source", GIT_SCHEMA, no_documents))
        for name in CONNECTOR_TYPE_NAMES[1:]:
            register(ConnectorType(name, f"Fake source {name}", PLAIN_SCHEMA, no_documents))

    @hookimpl
    def projectqa_register_tools(self, register: Callable[[ToolSpec], None]) -> None:
        schema = {"type": "object", "properties": {"text": {"type": "string"}}}
        for name in TOOL_NAMES:
            register(
                ToolSpec(
                    name,
                    f"Tool {name}",
                    schema,
                    lambda arguments, context: arguments,
                    side_effects=name in SIDE_EFFECT_TOOLS,
                )
            )
