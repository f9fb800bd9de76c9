"""Which server paths a connector may read.

Connector types that read the server's own disk (``local``, ``git`` with a
path) name those paths through ``ConnectorType.local_paths``. Without a rule a
project admin could index ``/etc`` or another project's private clone, so:

- nobody may point at a folder that is, contains or lies inside the server's
  data directory (``DataDirGuard``: real paths, bind mounts);
- a path written under a ``PROJECTQA_LOCAL_ROOTS`` root must lead inside that
  root (for everyone: it is checked again, on the opened folder, at every run
  and whenever tools list checkouts, and the connector record does not say who
  saved it);
- project admins may only write paths under a root; global admins may write
  any other path too.

Only create and update are judged here, by path; what is read is judged again as
an open descriptor (``data_guard.open_folder``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..auth import Principal
from ..data_guard import DataDirGuard, roots_over, within_roots
from ..errors import InvalidArgument, PermissionDenied
from ..registry import ConnectorType


@dataclass(frozen=True)
class LocalPathPolicy:
    roots: tuple[Path, ...] = ()  # as configured (absolute)
    data_dir: Path | None = None

    @classmethod
    def of(cls, roots: Sequence[Path] | None, data_dir: Path | None) -> LocalPathPolicy:
        return cls(
            tuple(Path(r).absolute() for r in roots or ()),
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
            self._check(principal, raw)

    def _check(self, principal: Principal, raw: str) -> None:
        under = roots_over(raw, self.roots)
        if under:
            try:
                inside = within_roots(raw, under)
            except OSError as error:  # a symlink swapped while it was resolved
                raise PermissionDenied(f"{raw!r} cannot be resolved: {error.strerror}") from None
            if not inside:
                shown = ", ".join(map(str, under))
                raise PermissionDenied(
                    f"{raw!r} is written under PROJECTQA_LOCAL_ROOTS ({shown}) but leads "
                    "outside it (a symlink)"
                )
            return
        if principal.user.global_admin:
            return
        allowed = ", ".join(map(str, self.roots)) or "none are configured"
        raise PermissionDenied(
            "only a global admin may point a connector at a server path outside "
            f"PROJECTQA_LOCAL_ROOTS ({allowed}); project admins write it under one"
        )
