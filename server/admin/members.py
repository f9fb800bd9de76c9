"""Project memberships: who holds which role where."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from ..access import Access
from ..auth import Principal
from ..errors import InvalidArgument, NotFound
from ..models import Membership, ProjectRole, utcnow
from ..paging import page_of, page_request
from ..store import Store


@dataclass(frozen=True)
class MembershipView:
    """A membership with the names people read next to the ids."""

    membership: Membership
    project_slug: str
    user_name: str


def describe(store: Store, memberships: Iterable[Membership]) -> list[MembershipView]:
    """Attach project slugs and user names; drops memberships whose project or user is gone."""
    projects = functools.cache(store.get_project)  # a page of members shares one project
    views = []
    for m in memberships:
        project, user = projects(m.project_id), store.get_user(m.user_id)
        if project is not None and user is not None:
            views.append(MembershipView(m, project.slug, user.name))
    return views


class Members:
    def __init__(self, store: Store, access: Access) -> None:
        self._store = store
        self._access = access

    def add(
        self, principal: Principal, project_ref: str, user_ref: str, role: ProjectRole | None
    ) -> MembershipView:
        project = self._access.project(principal, project_ref, ProjectRole.ADMIN)
        if role is None:
            raise InvalidArgument("role", "must be PROJECT_ROLE_MEMBER or PROJECT_ROLE_ADMIN")
        user = self._access.user(user_ref)
        membership = Membership(project.id, user.id, role, utcnow())
        self._store.put_membership(membership)
        return MembershipView(membership, project.slug, user.name)

    def remove(self, principal: Principal, project_ref: str, user_ref: str) -> None:
        project = self._access.project(principal, project_ref, ProjectRole.ADMIN)
        user = self._access.user(user_ref)
        if not self._store.delete_membership(project.id, user.id):
            raise NotFound(f"user {user_ref!r} is not a member of project {project.slug!r}")

    def list(
        self, principal: Principal, project_ref: str, page_size: int, page_token: str
    ) -> tuple[list[MembershipView], str]:
        project = self._access.project(principal, project_ref, ProjectRole.MEMBER)
        listing = f"members:{project.id}"
        request = page_request(listing, page_size, page_token)
        items = self._store.list_members(project.id, request)
        page, token = page_of(listing, items, request, key=lambda m: m.user_id)
        return describe(self._store, page), token
