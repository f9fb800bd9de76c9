"""Per-chat tool policy: may the assistant run a tool without asking, after asking, or never.

A chat stores only explicit settings; everything else takes the default:
tools without side effects run without asking, tools with side effects ask.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import InvalidArgument
from ..models import ToolPermission
from ..tools.ops import ToolEntry

# The assistant asks the user a question through this pseudo-tool; it is always
# offered, never run, and no project tool can shadow it.
CLARIFY_TOOL = "ask_clarifying_question"


def default_permission(entry: ToolEntry) -> ToolPermission:
    return ToolPermission.ASK if entry.side_effects else ToolPermission.AUTO


def effective_policy(
    catalog: Iterable[ToolEntry], explicit: Mapping[str, str]
) -> dict[str, ToolPermission]:
    """Each catalog tool's permission: its explicit setting, else the default."""
    return {
        entry.name: ToolPermission(explicit[entry.name])
        if entry.name in explicit
        else default_permission(entry)
        for entry in catalog
    }


def changed_policy(
    explicit: Mapping[str, str],
    changes: Mapping[str, ToolPermission | None],
    catalog: Iterable[ToolEntry],
    field: str = "tools",
) -> dict[str, str]:
    """Explicit settings after ``changes`` (None restores a tool's default).

    Names must be tools of the project's catalog, so a typo cannot silently
    leave a tool on its default.
    """
    known = {entry.name for entry in catalog}
    updated = dict(explicit)
    for name, permission in sorted(changes.items()):
        if name not in known:
            raise InvalidArgument(
                f"{field}.{name}" if name else field,
                f"{name!r} is not a tool of this project; known: {', '.join(sorted(known))}",
            )
        if permission is None:
            updated.pop(name, None)
        else:
            updated[name] = ToolPermission(permission).value
    return updated
