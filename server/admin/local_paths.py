"""Which server paths a connector may read.

Connector types that read the server's own disk (``local``, ``git`` with a
path) name those paths through ``ConnectorType.local_paths``. Without a rule a
project admin could index ``/etc`` or another project's private clone, so:
nobody may point at a folder that is, contains or lies inside the server's data
directory (``DataDirGuard``: real paths, bind mounts); global admins may point
anywhere else; project admins only under ``PROJECTQA_LOCAL_ROOTS``. Ingestion checks
the data directory again at every run (a connector saved before this rule, a folder
mounted since).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..auth import Principal
from ..data_guard import DataDirGuard
from ..errors import InvalidArgument, PermissionDenied
from ..registry import ConnectorType


@dataclass(frozen=True)
class LocalPathPolicy:
    roots: tuple[Path, ...] = ()
    data_dir: Path | None = None

    @classmethod
    def of(cls, roots: Sequence[Path] | None, data_dir: Path | None) -> LocalPathPolicy:
        return cls(
            tuple(Path(r).resolve() for r in roots or ()),
            data_dir.resolve() if data_dir else None,
        )

    def check(self, principal: Principal, ctype: ConnectorType, config: dict[str, Any]) -> None:
        if ctype.local_paths is None:
            return
        paths = ctype.local_paths(config)
        for raw in paths:
            if not Path(raw).is_absolute():
                raise InvalidArgument("config", f"{raw!r} must be an absolute path")
        refusal = DataDirGuard(self.data_dir).refusal(paths) if self.data_dir else ""
        if refusal:
            raise PermissionDenied(refusal)
        for raw in paths:
            self._check(principal, Path(raw).resolve())

    def _check(self, principal: Principal, path: Path) -> None:
        if principal.user.global_admin or any(_within(path, root) for root in self.roots):
            return
        allowed = ", ".join(map(str, self.roots)) or "none are configured"
        raise PermissionDenied(
            "only a global admin may point a connector at a server path outside "
            f"PROJECTQA_LOCAL_ROOTS ({allowed})"
        )


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
