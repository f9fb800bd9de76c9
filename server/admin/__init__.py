"""Admin operations: the domain behind AdminService, free of any transport.

Each operation takes the calling ``Principal`` first, checks its rights
through ``Access``, validates its arguments, and talks to the ``Store``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from ..access import Access
from ..plugin_host import PluginHost
from ..registry import BUILTIN_TOOL_NAMES, PluginCatalog
from ..store import Store
from .connectors import Connectors
from .custom_tools import CustomTools
from .flags import FeatureFlags
from .llm_profiles import LlmProfiles
from .local_paths import LocalPathPolicy
from .members import Members
from .plugins import Plugins
from .projects import Projects
from .tools import ProjectTools
from .users import Users


@dataclass(frozen=True)
class DerivedData:
    """Callbacks that drop data kept outside the Store when its source record goes."""

    forget_project: Callable[[str], None] = lambda project_id: None
    forget_connector: Callable[[str], None] = lambda connector_id: None


@dataclass(frozen=True)
class AdminOps:
    projects: Projects
    users: Users
    members: Members
    connectors: Connectors
    llm_profiles: LlmProfiles
    flags: FeatureFlags
    tools: ProjectTools
    custom_tools: CustomTools
    plugins: Plugins = field(default_factory=lambda: Plugins(None))

    @classmethod
    def build(
        cls,
        store: Store,
        catalog: PluginCatalog,
        paths: LocalPathPolicy | None = None,
        derived: DerivedData | None = None,
        builtin_tools: Callable[[], Collection[str]] = lambda: BUILTIN_TOOL_NAMES,
        script_programs: Collection[str] = (),
        plugins: PluginHost | None = None,
    ) -> AdminOps:
        """``derived`` forgets what the server keeps beside the Store (indexes, clones);
        ``builtin_tools`` names the built-in tools, which script tools may not be named;
        ``script_programs`` are the programs project admins may run as script tools;
        ``plugins`` is what ``ListPlugins`` describes."""
        access = Access(store)
        derived = derived or DerivedData()
        return cls(
            projects=Projects(store, access, derived.forget_project),
            users=Users(store, access),
            members=Members(store, access),
            connectors=Connectors(store, access, catalog, paths, derived.forget_connector),
            llm_profiles=LlmProfiles(store, access),
            flags=FeatureFlags(store, access),
            tools=ProjectTools(store, access, catalog),
            custom_tools=CustomTools(store, access, catalog, builtin_tools, script_programs),
            plugins=Plugins(plugins),
        )
