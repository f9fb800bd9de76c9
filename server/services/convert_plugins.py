"""Plugin listings to proto (``AdminService.ListPlugins``)."""

from __future__ import annotations

from projectqa.v1 import admin_pb2

from ..admin.plugins import PluginView


def plugin(view: PluginView) -> admin_pb2.Plugin:
    record = view.record
    return admin_pb2.Plugin(
        name=record.name,
        distribution=record.distribution,
        version=record.version,
        module=record.module,
        connector_types=view.connector_types,
        tools=view.tools,
        hooks=record.hooks,
        blocked=record.blocked,
        blocked_reason=view.blocked_reason,
        problems=view.problems,
    )
