"""The public API for ProjectQA plugins: import everything a plugin needs from here.

Internal modules (``projectqa.server.*``) may change between releases; this one does not
without a deprecation (plugins/README.md).

A plugin is a module with ``@hookimpl`` functions, named by a ``projectqa`` entry point::

    from projectqa.plugin import ToolContext, hookimpl, tool

    @tool
    def shout(text: str, times: int = 1) -> str:
        '''Upper-case a text.

        :param text: the text
        :param times: how often to repeat it
        '''
        return " ".join([text.upper()] * times)

    @hookimpl
    def projectqa_register_tools(register):
        register(shout)

Connectors: ``ConnectorType`` (name, config schema, ``open_source``, optional
``local_paths``, ``checkout`` and ``validate_config``), whose source yields
``SourceDocument``, ``Deletion``, ``SourceWarning``, ``Checkpoint`` and
``Estimate``. Tools: ``ToolSpec`` (explicit JSON Schema) or ``tool`` /
``ToolSpec.from_function`` (schema from a typed signature), called with a
``ToolContext``. Errors: ``SourceError`` (a source cannot be read: the run fails with
its message), ``ConfigProblem`` (``validate_config`` refuses a field),
``ContributionError`` (a malformed contribution; raised by ``tool`` for an annotation
JSON cannot carry). Any other exception a tool raises becomes its error result; the
server's own errors (``projectqa.server.errors``) are not for plugins to raise.
"""

from __future__ import annotations

from projectqa.server.data_guard import DataDirGuard, FolderRefused, OpenFolder, open_folder
from projectqa.server.hookspecs import hookimpl
from projectqa.server.registry import (
    ConfigProblem,
    ConnectorType,
    ContributionError,
    ToolSpec,
    tool,
)
from projectqa.server.sources import (
    Checkpoint,
    Deletion,
    DocumentKind,
    Estimate,
    OpenSource,
    Source,
    SourceContext,
    SourceDocument,
    SourceError,
    SourceItem,
    SourceWarning,
)
from projectqa.server.tools.base import Checkout, ToolContext

__all__ = [
    "Checkout",
    "Checkpoint",
    "ConfigProblem",
    "ConnectorType",
    "ContributionError",
    "DataDirGuard",
    "Deletion",
    "DocumentKind",
    "Estimate",
    "FolderRefused",
    "OpenFolder",
    "OpenSource",
    "Source",
    "SourceContext",
    "SourceDocument",
    "SourceError",
    "SourceItem",
    "SourceWarning",
    "ToolContext",
    "ToolSpec",
    "hookimpl",
    "open_folder",
    "tool",
]
