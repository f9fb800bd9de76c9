"""Who may do what: resolving references and checking roles.

Global admins may do everything. Inside a project, members read and admins
manage. A project the caller cannot see answers exactly as a missing one, so
its existence never leaks.
"""

from __future__ import annotations

from .auth import Principal
from .errors import InvalidArgument, NotFound, PermissionDenied
from .models import Connector, Project, ProjectRole, User
from .store import Store


class Access:
    """Resolves project and user references under the caller's permissions."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def project(self, principal: Principal, ref: str, role: ProjectRole) -> Project:
        """The project ``ref`` (id or slug) if the caller holds ``role`` in it."""
        if not ref:
            raise InvalidArgument("project", "must not be empty")
        project = self._find_project(ref)
        if project is None:
            raise _project_not_found(ref)
        if principal.user.global_admin:
            return project
        membership = self._store.get_membership(project.id, principal.user.id)
        if membership is None:
            raise _project_not_found(ref)
        if role is ProjectRole.ADMIN and membership.role is not ProjectRole.ADMIN:
            raise PermissionDenied(f"this needs the admin role in project {project.slug!r}")
        return project

    def sees(self, principal: Principal, project_id: str, role: ProjectRole) -> bool:
        """Whether a record of ``project_id`` is visible to the caller; a visible record
        the caller lacks ``role`` for raises ``PermissionDenied``."""
        try:
            self.project(principal, project_id, role)
        except NotFound:
            return False
        return True

    def is_admin(self, principal: Principal, project_id: str) -> bool:
        """Whether the caller administers a project it was already checked for (global
        admins administer every project)."""
        if principal.user.global_admin:
            return True
        membership = self._store.get_membership(project_id, principal.user.id)
        return membership is not None and membership.role is ProjectRole.ADMIN

    def connectors(self, project_id: str) -> list[Connector]:
        """Every connector of a project the caller was already checked for."""
        return self._store.all_connectors(project_id)

    def connector(self, project_id: str, ref: str, field: str = "connector") -> Connector:
        """A connector of the project by id or name; NotFound names ``ref``."""
        if not ref:
            raise InvalidArgument(field, "must not be empty")
        if ref.startswith("con_"):
            connector = self._store.get_connector(ref)
            if connector is not None and connector.project_id == project_id:
                return connector
        else:
            for connector in self.connectors(project_id):
                if connector.name == ref:
                    return connector
        raise NotFound(f"connector {ref!r} not found")

    def user(self, ref: str) -> User:
        """The user ``ref`` (id or name); callers check their own right to see it."""
        if not ref:
            raise InvalidArgument("user", "must not be empty")
        store = self._store
        user = store.get_user(ref) if ref.startswith("usr_") else store.get_user_by_name(ref)
        if user is None:
            raise NotFound(f"user {ref!r} not found")
        return user

    @staticmethod
    def require_global_admin(principal: Principal, action: str) -> None:
        if not principal.user.global_admin:
            raise PermissionDenied(f"{action} needs a global admin")

    def _find_project(self, ref: str) -> Project | None:
        if ref.startswith("prj_"):
            return self._store.get_project(ref)
        return self._store.get_project_by_slug(ref)


def _project_not_found(ref: str) -> NotFound:
    return NotFound(f"project {ref!r} not found")
