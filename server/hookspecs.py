"""Hook specifications: the whole plugin API of ProjectQA.

A plugin is a module or object with functions decorated by ``hookimpl`` and
named like the specs below, exposed through the ``projectqa`` entry-point
group::

    [project.entry-points.projectqa]
    my_plugin = "my_package.plugin"

Plugins import what they need from :mod:`projectqa.plugin` (this module's
``hookimpl`` included); everything else is internal.

Contributions go through a ``register`` callback (as in simonw/llm): the host
checks each contribution's type, name and schema, records which plugin made
it, and rejects duplicates with a logged message. A hook that raises has all
of its contributions discarded and the error logged; the server keeps running.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .registry import ConnectorType, ToolSpec

PROJECT_NAME = "projectqa"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def projectqa_register_connectors(register: Callable[[ConnectorType], None]) -> None:
    """Contribute connector types: kinds of source a project can ingest.

    Called once per server start, for every plugin that implements it.

    :param register: call it once per type with a
        :class:`projectqa.plugin.ConnectorType`. The type's
        ``config_schema`` (a JSON Schema object) validates every connector
        config given to ``AdminService.CreateConnector``/``UpdateConnector``;
        properties marked ``"writeOnly": true`` are secrets the server never
        returns or logs. A name already taken by another plugin is rejected.
    :return: nothing; the return value is ignored.
    """


@hookspec
def projectqa_register_tools(register: Callable[[ToolSpec | Callable[..., Any]], None]) -> None:
    """Contribute tools that the chat agent, editors and scripts can call.

    Called once per server start, for every plugin that implements it. Plugin
    tools start disabled in every project; a project admin enables them with
    ``AdminService.SetProjectToolEnabled``.

    The calling convention: ``function(arguments: dict, context: ToolContext)
    -> JSON-serialisable value``. ``arguments`` satisfies the tool's schema,
    with the schema's defaults filled in; ``context``
    (:class:`projectqa.plugin.ToolContext`) names the project and its
    checkouts, the only files a tool should read. The function runs on a small
    thread pool of its own with a timeout; an ``async def`` function is awaited
    on an event loop of that thread and cancelled at the timeout. An exception
    (its type and message reach the caller, the traceback only the log), a
    timeout or a return value that is not JSON (a set, NaN, more than 1 MiB)
    becomes an error result, never a server failure.

    :param register: call it once per tool with a
        :class:`projectqa.plugin.ToolSpec` naming the function to run, its JSON
        Schema of arguments and whether it has side effects (such calls need
        approval); or with a typed function (or ``@tool``), whose schema is
        derived from its signature (``ToolSpec.from_function``). A name already
        taken, by another plugin or a built-in tool, is rejected.
    :return: nothing; the return value is ignored.
    """
