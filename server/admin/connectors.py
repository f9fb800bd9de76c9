"""Connectors: a project's configured sources, validated against their type's schema.

Secret fields (``"writeOnly": true`` in the type's schema) are stored apart
from the plain config and never leave the server. So is a URL written with
credentials (``https://user:password@host/…``, ``…?access_token=…``) in any
top-level field, whatever the type: it is stored as given with the secrets,
under its field's name, and the plain config holds it without the credentials
(a password with an unencoded "/", "?" or "#" is refused: where it ends is
unclear). A run gets the config with the secrets merged back, so it connects
with the credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from ..access import Access
from ..auth import Principal
from ..errors import FailedPrecondition, InvalidArgument, NotFound
from ..models import Connector, ProjectRole, new_id, utcnow
from ..paging import page_of, page_request, page_sorted
from ..registry import CatalogEntry, ConfigProblem, ConnectorType, PluginCatalog
from ..store import Store
from ..url_credentials import has_credentials, unencoded_password, without_credentials
from ..validation import require_text
from .local_paths import LocalPathPolicy


class Connectors:
    def __init__(
        self,
        store: Store,
        access: Access,
        catalog: PluginCatalog,
        paths: LocalPathPolicy | None = None,
        forget: Callable[[str], None] = lambda connector_id: None,
    ) -> None:
        self._store = store
        self._access = access
        self._catalog = catalog
        self._paths = paths or LocalPathPolicy()
        self._forget = forget  # drops the connector's work folder (clones)

    def types(
        self, page_size: int, page_token: str
    ) -> tuple[list[CatalogEntry[ConnectorType]], str]:
        """Registered connector types with the plugins that registered them, by name."""
        entries = [entry for _, entry in sorted(self._catalog.connector_types.items())]
        return page_sorted("connector-types", entries, lambda e: e.item.name, page_size, page_token)

    def create(
        self,
        principal: Principal,
        project_ref: str,
        type_name: str,
        name: str,
        config: dict[str, Any],
    ) -> Connector:
        project = self._access.project(principal, project_ref, ProjectRole.ADMIN)
        if not type_name:
            raise InvalidArgument("type", "must not be empty")
        ctype = self._catalog.connector_type(type_name)
        if ctype is None:
            known = ", ".join(sorted(self._catalog.connector_types)) or "none registered"
            raise InvalidArgument("type", f"unknown connector type {type_name!r} (known: {known})")
        config = _validated(ctype, config)
        self._paths.check(principal, ctype, config)
        plain, secrets = _split(ctype, config)
        now = utcnow()
        connector = Connector(
            new_id("con"),
            project.id,
            ctype.name,
            require_text("name", name),
            plain,
            secrets,
            now,
            now,
        )
        self._store.create_connector(connector)
        return connector

    def get(self, principal: Principal, connector_id: str) -> Connector:
        """The connector, if the caller is a member of its project; otherwise NOT_FOUND."""
        return self._visible(principal, connector_id, ProjectRole.MEMBER)

    def update(
        self,
        principal: Principal,
        connector_id: str,
        name: str | None,
        config: dict[str, Any] | None,
        clear_secret_fields: list[str],
    ) -> Connector:
        connector = self._visible(principal, connector_id, ProjectRole.ADMIN)
        ctype = self._catalog.connector_type(connector.type)
        if ctype is None:
            raise FailedPrecondition(
                f"connector type {connector.type!r} is not registered; is its plugin installed?"
            )
        plain, secrets = _updated_config(ctype, connector, config, clear_secret_fields)
        self._paths.check(principal, ctype, {**plain, **secrets})
        updated = replace(connector, config=plain, secrets=secrets, updated_at=utcnow())
        if name is not None:
            updated = replace(updated, name=require_text("name", name))
        self._store.update_connector(updated)
        return updated

    def delete(self, principal: Principal, connector_id: str) -> None:
        connector = self._visible(principal, connector_id, ProjectRole.ADMIN)
        active = self._store.active_run(connector_id=connector.id)
        if active is not None:
            raise FailedPrecondition(
                f"connector {connector.name!r} has a run in progress ({active.id}); cancel it first"
            )
        self._store.bump_index_generation(connector.project_id)  # its chunks go: rebuild
        self._store.delete_connector(connector.id)
        self._forget(connector.id)

    def list(
        self, principal: Principal, project_ref: str, page_size: int, page_token: str
    ) -> tuple[list[Connector], str]:
        project = self._access.project(principal, project_ref, ProjectRole.MEMBER)
        listing = f"connectors:{project.id}"
        request = page_request(listing, page_size, page_token)
        items = [_split_legacy(c) for c in self._store.list_connectors(project.id, request)]
        return page_of(listing, items, request, key=lambda c: c.id)

    def _visible(self, principal: Principal, connector_id: str, role: ProjectRole) -> Connector:
        """The connector, if the caller holds ``role`` in its project; otherwise NOT_FOUND."""
        if not connector_id:
            raise InvalidArgument("connector_id", "must not be empty")
        connector = self._store.get_connector(connector_id)
        if connector is None or not self._access.sees(principal, connector.project_id, role):
            raise NotFound(f"connector {connector_id!r} not found")
        return _split_legacy(connector)


def _split_legacy(connector: Connector) -> Connector:
    """A connector stored before URL credentials were split off, as it would be stored now.

    (The store keeps the old form until the connector's next update.)
    """
    moved = {k: v for k, v in connector.config.items() if has_credentials(v)}
    if not moved:
        return connector
    plain = {**connector.config, **{k: without_credentials(v) for k, v in moved.items()}}
    return replace(connector, config=plain, secrets={**moved, **connector.secrets})


def _updated_config(
    ctype: ConnectorType, connector: Connector, config: dict[str, Any] | None, clear: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The plain config and secrets after an update, validated.

    A stored secret is kept only while the plain config stays as it was: a
    secret must never follow a connector to a target its author did not see.
    """
    unknown = sorted(set(clear) - set(ctype.secret_fields) - set(connector.secrets))
    if unknown:
        raise InvalidArgument(
            "clear_secret_fields",
            f"not secret fields of {ctype.name!r} nor URLs with stored credentials: {unknown}",
        )
    plain, given = _split(ctype, config) if config is not None else (connector.config, {})
    both = sorted(set(given) & set(clear))
    if both:
        raise InvalidArgument("clear_secret_fields", f"{both} also get a new value in config")
    kept = {k: v for k, v in connector.secrets.items() if k not in clear and k not in given}
    if kept and plain != connector.config:
        urls = sorted(set(kept) - set(ctype.secret_fields))
        raise InvalidArgument(
            "config",
            f"changes the connector, so give its secret fields {sorted(kept)} again "
            + (f"(for {urls}: the URL with its credentials) " if urls else "")
            + "or clear them; stored secrets never follow a changed config",
        )
    return _split(ctype, _validated(ctype, {**plain, **kept, **given}))


def _validated(ctype: ConnectorType, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` if its type's JSON Schema and ``validate_config`` accept it."""
    error = best_match(Draft202012Validator(ctype.config_schema).iter_errors(config))
    if error is not None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        # Never echo a value: the failing field may be a secret.
        raise InvalidArgument(f"config{where}", _describe(error))
    if ctype.validate_config is not None:
        try:
            ctype.validate_config(config)
        except ConfigProblem as problem:
            raise InvalidArgument(f"config.{problem.field}", problem.message) from None
    return config


def _describe(error: Any) -> str:
    if error.validator in ("required", "additionalProperties", "dependentRequired"):
        return error.message
    if error.validator == "type":
        return f"must be of type {error.validator_value}"
    if error.validator == "enum":
        return f"must be one of {error.validator_value}"
    return f"fails the {error.validator!r} rule ({error.validator_value!r})"


def _split(ctype: ConnectorType, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The plain config and the secrets: secret fields, and URLs with credentials as given."""
    secret_names = set(ctype.secret_fields)
    plain: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    for key, value in config.items():
        if key not in secret_names:
            _refuse_unencoded_password(value, f"config.{key}")
            _refuse_nested_credentials(value, f"config.{key}")
            plain[key] = without_credentials(value) if isinstance(value, str) else value
        if key in secret_names or has_credentials(value):
            secrets[key] = value
    return plain, secrets


def _refuse_nested_credentials(value: Any, where: str) -> None:
    """Refuse a URL with credentials below the top level: only a whole field can be secret."""
    for step, item in _children(value):
        place = where + step
        _refuse_unencoded_password(item, place)
        if has_credentials(item):
            raise InvalidArgument(
                place,
                "holds a URL with credentials; give them in a top-level field "
                "(a URL or a secret field), where they are kept write-only",
            )
        _refuse_nested_credentials(item, place)


def _refuse_unencoded_password(value: Any, where: str) -> None:
    """Refuse ``user:pass/word@``: where the password ends cannot be told, so it could
    be neither kept secret whole nor used (never echo the value)."""
    if unencoded_password(value):
        raise InvalidArgument(
            where,
            "holds a URL whose password contains an unencoded '/', '?' or '#'; "
            "percent-encode the password ('/' as %2F, '?' as %3F, '#' as %23)",
        )


def _children(value: Any) -> list[tuple[str, Any]]:
    """The items of a JSON object or array, each with its step in a field path."""
    if isinstance(value, dict):
        return [(f".{key}", item) for key, item in value.items()]
    if isinstance(value, list):
        return [(f"[{index}]", item) for index, item in enumerate(value)]
    return []
