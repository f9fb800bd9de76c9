"""Which folders of a project tools may read: one per connector with files here.

A connector type says where its files are through ``ConnectorType.checkout``
(git: its private clone, at the commit its last successful run indexed; local:
the configured folder). Types without one (issue trackers, wikis) have none.

A folder that is, holds or lies inside the server's data directory is none either,
even if its connector was saved before that was refused (only a connector's own
private work folder, ``sources/<connector id>``, lives there by right).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..data_guard import DataDirGuard
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
        checkout = _checkout_of(store, sources_dir, connector, catalog)
        if checkout is not None and not _holds_data(checkout, sources_dir, guard):
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
    store: Store, sources_dir: Path, connector: Connector, catalog: PluginCatalog
) -> Checkout | None:
    ctype = catalog.connector_type(connector.type)
    if ctype is None or ctype.checkout is None:
        return None
    run = store.last_succeeded_run(connector.id)
    try:
        folder = ctype.checkout(
            connector.config, run.cursor if run else None, sources_dir / connector.id
        )
    except Exception:  # a plugin's bug must not take every tool of the project down
        log.exception("checkout of connector %s (%s) failed", connector.id, connector.type)
        return None
    if folder is None or not folder.is_absolute() or not folder.is_dir():
        return None
    return Checkout(connector.id, connector.name, folder.resolve(), indexed_commit(run))


def _holds_data(checkout: Checkout, sources_dir: Path, guard: DataDirGuard | None) -> bool:
    """Whether the checkout overlaps the data directory, other than as its connector's
    own work folder."""
    if guard is None or checkout.root.is_relative_to(sources_dir.resolve() / checkout.connector_id):
        return False
    relation = guard.overlap(checkout.root)
    if relation:
        log.warning(
            "connector %s is not read: its folder %s the server's data directory",
            checkout.connector_id,
            relation,
        )
    return bool(relation)
