"""Which folders of a project tools may read: one per connector with files here.

A connector type says where its files are through ``ConnectorType.checkout``
(git: its private clone, at the commit its last successful run indexed; local:
the configured folder). Types without one (issue trackers, wikis) have none.

A folder that is, holds or lies inside the server's data directory is none either,
even if its connector was saved before that was refused (only a connector's own
private work folder, ``sources/<connector id>``, lives there by right); nor is a folder
written under a ``PROJECTQA_LOCAL_ROOTS`` root that is no longer inside it. Each folder
is judged as it is opened (``open_folder``), and its root is the real path it was opened
by; tools open it again down that path, with no symlink followed, and judge it again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..data_guard import DataDirGuard, FolderRefused, open_folder
from ..errors import NotFound
from ..models import Connector, IngestionRun
from ..registry import PluginCatalog
from ..store.base import Store
from .base import Checkout

log = logging.getLogger(__name__)


def project_checkouts(
    store: Store,
    sources_dir: Path,
    project_id: str,
    catalog: PluginCatalog,
    guard: DataDirGuard | None = None,
) -> list[Checkout]:
    """The project's checkouts that exist on disk, ordered by connector name; none
    that overlaps ``guard``'s data directory."""
    found = []
    for connector in store.all_connectors(project_id):
        checkout = _checkout_of(store, sources_dir, connector, catalog, guard)
        if checkout is not None:
            found.append(checkout)
    return sorted(found, key=lambda c: (c.connector_name, c.connector_id))


def resolve_checkout(
    checkouts: list[Checkout] | tuple[Checkout, ...], connector: str
) -> list[Checkout]:
    """All checkouts for an empty ``connector``, else the one with that id or name."""
    if not connector:
        return list(checkouts)
    for checkout in checkouts:
        if connector in (checkout.connector_id, checkout.connector_name):
            return [checkout]
    raise NotFound(f"connector {connector!r} has no files to read in this project")


def indexed_commit(run: IngestionRun | None) -> str:
    """The commit a run indexed: its revision, or the ``commit`` of its cursor; ``""`` if none."""
    if run is None:
        return ""
    return run.revision or str(run.cursor.get("commit") or "")


def _checkout_of(
    store: Store,
    sources_dir: Path,
    connector: Connector,
    catalog: PluginCatalog,
    guard: DataDirGuard | None,
) -> Checkout | None:
    ctype = catalog.connector_type(connector.type)
    if ctype is None or ctype.checkout is None:
        return None
    run = store.last_succeeded_run(connector.id)
    own = sources_dir / connector.id
    try:
        folder = ctype.checkout(connector.config, run.cursor if run else None, own)
    except Exception:  # a plugin's bug must not take every tool of the project down
        log.exception("checkout of connector %s (%s) failed", connector.id, connector.type)
        return None
    if folder is None or not folder.is_absolute():
        return None
    real = _judged_folder(connector.id, folder, guard, own)
    return Checkout(connector.id, connector.name, real, indexed_commit(run)) if real else None


def _judged_folder(
    connector_id: str, folder: Path, guard: DataDirGuard | None, own: Path
) -> Path | None:
    """The real path of ``folder`` if it opens as a folder tools may read, else None."""
    try:
        with open_folder(folder, guard, own=own) as opened:
            return Path(opened.real)
    except FolderRefused as refused:
        log.warning("connector %s is not read: %s", connector_id, refused)
    except OSError:  # gone, not a folder, swapped meanwhile: no checkout now
        pass
    return None
