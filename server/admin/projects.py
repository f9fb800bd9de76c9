"""Projects: create, read, list, rename, delete."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..access import Access
from ..auth import Principal
from ..errors import FailedPrecondition
from ..models import Project, ProjectRole, new_id, utcnow
from ..paging import page_of, page_request
from ..store import Store
from ..validation import MAX_DESCRIPTION, optional_text, require_slug, require_text


class Projects:
    def __init__(
        self,
        store: Store,
        access: Access,
        forget: Callable[[str], None] = lambda project_id: None,
    ) -> None:
        self._store = store
        self._access = access
        self._forget = forget  # drops what the server derived from the project (indexes)

    def create(self, principal: Principal, slug: str, name: str, description: str) -> Project:
        self._access.require_global_admin(principal, "creating a project")
        now = utcnow()
        project = Project(
            id=new_id("prj"),
            slug=require_slug("slug", slug),
            name=require_text("name", name),
            description=optional_text("description", description, MAX_DESCRIPTION),
            created_at=now,
            updated_at=now,
        )
        self._store.create_project(project)
        return project

    def get(self, principal: Principal, ref: str) -> Project:
        return self._access.project(principal, ref, ProjectRole.MEMBER)

    def list(
        self, principal: Principal, page_size: int, page_token: str
    ) -> tuple[list[Project], str]:
        request = page_request("projects", page_size, page_token)
        member_id = None if principal.user.global_admin else principal.user.id
        items = self._store.list_projects(request, member_id=member_id)
        return page_of("projects", items, request, key=lambda p: p.id)

    def update(
        self, principal: Principal, ref: str, name: str | None, description: str | None
    ) -> Project:
        project = self._access.project(principal, ref, ProjectRole.ADMIN)
        if name is None and description is None:
            return project
        if name is not None:
            project = replace(project, name=require_text("name", name))
        if description is not None:
            text = optional_text("description", description, MAX_DESCRIPTION)
            project = replace(project, description=text)
        project = replace(project, updated_at=utcnow())
        self._store.update_project(project)
        return project

    def delete(self, principal: Principal, ref: str) -> None:
        self._access.require_global_admin(principal, "deleting a project")
        project = self._access.project(principal, ref, ProjectRole.ADMIN)
        active = self._store.active_run(project_id=project.id)
        if active is not None:
            raise FailedPrecondition(
                f"project {project.slug!r} has an ingestion run in progress ({active.id}); "
                "cancel it first"
            )
        self._store.delete_project(project.id)
        self._forget(project.id)
