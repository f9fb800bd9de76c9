"""Feature flags: global values, overridden per project."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..access import Access
from ..auth import Principal
from ..models import FeatureFlagValue, ProjectRole, utcnow
from ..store import Store
from ..validation import require_flag_key


class FlagScope(StrEnum):
    GLOBAL = "global"
    PROJECT = "project"


@dataclass(frozen=True)
class EffectiveFlag:
    key: str
    enabled: bool
    scope: FlagScope


class FeatureFlags:
    def __init__(self, store: Store, access: Access) -> None:
        self._store = store
        self._access = access

    def get(self, principal: Principal, project_ref: str) -> list[EffectiveFlag]:
        """Global values, with the project's own values on top when a project is named."""
        flags = {
            f.key: EffectiveFlag(f.key, f.enabled, FlagScope.GLOBAL)
            for f in self._store.list_flags(None)
        }
        if project_ref:
            project = self._access.project(principal, project_ref, ProjectRole.MEMBER)
            for f in self._store.list_flags(project.id):
                flags[f.key] = EffectiveFlag(f.key, f.enabled, FlagScope.PROJECT)
        return [flags[key] for key in sorted(flags)]

    def set(
        self, principal: Principal, project_ref: str, key: str, enabled: bool, reset: bool
    ) -> EffectiveFlag | None:
        """Set (or reset) a value at one scope; return the effective value there afterwards."""
        if project_ref:
            project_id: str | None = self._access.project(
                principal, project_ref, ProjectRole.ADMIN
            ).id
        else:
            self._access.require_global_admin(principal, "setting a global feature flag")
            project_id = None
        key = require_flag_key("key", key)
        scope = FlagScope.GLOBAL if project_id is None else FlagScope.PROJECT
        if not reset:
            self._store.set_flag(FeatureFlagValue(project_id, key, enabled, utcnow()))
            return EffectiveFlag(key, enabled, scope)
        self._store.delete_flag(project_id, key)
        if project_id is None:
            return None
        inherited = (f for f in self._store.list_flags(None) if f.key == key)
        return next((EffectiveFlag(key, f.enabled, FlagScope.GLOBAL) for f in inherited), None)
