"""LLM profiles: how to reach a model, per project or global. API keys are write-only."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ..access import Access
from ..auth import Principal
from ..errors import InvalidArgument, NotFound
from ..models import LlmProfile, LlmProvider, ProjectRole, new_id, utcnow
from ..paging import page_of, page_request
from ..store import Store
from ..validation import optional_text, optional_url, require_range, require_text

DEFAULT_TEMPERATURE = 0.2
DEFAULT_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class ProfileChanges:
    """Requested values; ``None`` means "leave as it is" (or "use the default" on create)."""

    name: str | None = None
    provider: LlmProvider | None = None
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    clear_api_key: bool = False
    temperature: float | None = None
    max_output_tokens: int | None = None
    timeout_seconds: int | None = None
    is_default: bool | None = None
    tool_calls_in_text: bool | None = None


class LlmProfiles:
    def __init__(self, store: Store, access: Access) -> None:
        self._store = store
        self._access = access

    def create(self, principal: Principal, project_ref: str, changes: ProfileChanges) -> LlmProfile:
        project_id = self._scope(principal, project_ref, ProjectRole.ADMIN)
        if changes.provider is None:
            raise InvalidArgument("provider", "must be set (OPENAI, OLLAMA or OPENAI_COMPATIBLE)")
        now = utcnow()
        blank = LlmProfile(
            id=new_id("llm"), project_id=project_id, name="", provider=changes.provider,
            base_url="", model="", api_key="", temperature=DEFAULT_TEMPERATURE,
            max_output_tokens=0, timeout_seconds=DEFAULT_TIMEOUT_SECONDS, is_default=False,
            created_at=now, updated_at=now,
        )  # fmt: skip
        profile = _validated(_apply(blank, changes))
        self._store.create_llm_profile(profile)
        return profile

    def update(self, principal: Principal, profile_id: str, changes: ProfileChanges) -> LlmProfile:
        profile = self._visible(principal, profile_id)
        updated = _validated(replace(_apply(profile, changes), updated_at=utcnow()))
        moved = (updated.base_url, updated.provider) != (profile.base_url, profile.provider)
        if moved and profile.api_key and changes.api_key is None and not changes.clear_api_key:
            # A stored key never follows a profile to an endpoint its author did not choose.
            raise InvalidArgument(
                "api_key", "must be given again (or cleared) when base_url or provider changes"
            )
        self._store.update_llm_profile(updated)
        return updated

    def delete(self, principal: Principal, profile_id: str) -> None:
        self._store.delete_llm_profile(self._visible(principal, profile_id).id)

    def list(
        self, principal: Principal, project_ref: str, page_size: int, page_token: str
    ) -> tuple[list[LlmProfile], str]:
        project_id = self._scope(principal, project_ref, ProjectRole.MEMBER)
        listing = f"llm-profiles:{project_id or ''}"
        request = page_request(listing, page_size, page_token)
        items = self._store.list_llm_profiles(project_id, request)
        return page_of(listing, items, request, key=lambda p: p.id)

    def _scope(self, principal: Principal, project_ref: str, role: ProjectRole) -> str | None:
        """Project id for a project scope, None for the global one (managed by global admins)."""
        if project_ref:
            return self._access.project(principal, project_ref, role).id
        if role is ProjectRole.ADMIN:
            self._access.require_global_admin(principal, "managing global LLM profiles")
        return None

    def _visible(self, principal: Principal, profile_id: str) -> LlmProfile:
        if not profile_id:
            raise InvalidArgument("profile_id", "must not be empty")
        profile = self._store.get_llm_profile(profile_id)
        try:
            if profile is not None:
                self._scope(principal, profile.project_id or "", ProjectRole.ADMIN)
                return profile
        except NotFound:
            pass
        raise NotFound(f"LLM profile {profile_id!r} not found")


def _apply(profile: LlmProfile, changes: ProfileChanges) -> LlmProfile:
    if changes.clear_api_key and changes.api_key is not None:
        raise InvalidArgument("clear_api_key", "cannot be combined with a new api_key")
    values = {
        f.name: getattr(changes, f.name)
        for f in fields(changes)
        if f.name != "clear_api_key" and getattr(changes, f.name) is not None
    }
    if changes.clear_api_key:
        values["api_key"] = ""
    return replace(profile, **values)


def _validated(p: LlmProfile) -> LlmProfile:
    require_range("temperature", p.temperature, 0.0, 2.0)
    require_range("max_output_tokens", p.max_output_tokens, 0, 1_000_000)
    require_range("timeout_seconds", p.timeout_seconds, 1, 600)
    if p.provider is LlmProvider.OPENAI_COMPATIBLE and not p.base_url:
        raise InvalidArgument("base_url", "is required for OPENAI_COMPATIBLE profiles")
    return replace(
        p,
        name=require_text("name", p.name),
        model=require_text("model", p.model, 256),
        base_url=optional_url("base_url", p.base_url.strip()),
        api_key=optional_text("api_key", p.api_key, 4096),
    )
