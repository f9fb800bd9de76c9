"""The contract every Store backend passes.

Subclasses provide a ``store`` fixture yielding an empty, ready Store.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from projectqa.server.errors import AlreadyExists
from projectqa.server.models import (
    Connector,
    CustomTool,
    FeatureFlagValue,
    LlmProfile,
    LlmProvider,
    Membership,
    PageRequest,
    Project,
    ProjectRole,
    Token,
    ToolSetting,
    User,
    new_id,
    utcnow,
)
from projectqa.server.store import Store


# ------------------------------------------------------------------ records
def make_user(name: str, **changes: Any) -> User:
    user = User(new_id("usr"), name, name.title(), False, utcnow())
    return replace(user, **changes)


def make_token(user_id: str, **changes: Any) -> Token:
    token = Token(new_id("tok"), user_id, "sha256:" + new_id("h"), "laptop", utcnow())
    return replace(token, **changes)


def make_project(slug: str, **changes: Any) -> Project:
    now = utcnow()
    return replace(Project(new_id("prj"), slug, slug.title(), "", now, now), **changes)


def make_membership(project_id: str, user_id: str, role: ProjectRole) -> Membership:
    return Membership(project_id, user_id, role, utcnow())


def make_connector(project_id: str, name: str, **changes: Any) -> Connector:
    now = utcnow()
    connector = Connector(
        new_id("con"), project_id, "git", name, {"url": "https://x/y.git"}, {}, now, now
    )
    return replace(connector, **changes)


def make_profile(project_id: str | None, name: str, **changes: Any) -> LlmProfile:
    now = utcnow()
    profile = LlmProfile(
        id=new_id("llm"),
        project_id=project_id,
        name=name,
        provider=LlmProvider.OLLAMA,
        base_url="http://localhost:11434/v1",
        model="llama3.1",
        api_key="",
        temperature=0.2,
        max_output_tokens=1024,
        timeout_seconds=60,
        is_default=False,
        created_at=now,
        updated_at=now,
    )
    return replace(profile, **changes)


def make_custom_tool(project_id: str, name: str, **changes: Any) -> CustomTool:
    now = utcnow()
    tool = CustomTool(
        id=new_id("ctl"),
        project_id=project_id,
        name=name,
        description=f"Runs {name}",
        command=["scripts/run.sh", "--label={label}", "{files}"],
        arguments_schema={
            "type": "object",
            "properties": {"label": {"type": "string"}, "files": {"type": "array"}},
            "required": ["files"],
        },
        timeout_seconds=30,
        max_output_bytes=65536,
        side_effects=False,
        connector="",
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    return replace(tool, **changes)


def all_pages(fetch: Any, limit: int) -> list[list[Any]]:
    """Every page of ``fetch(PageRequest)`` until an empty one, keyed by ``.id``."""
    pages, after = [], None
    while page := fetch(PageRequest(limit=limit, after=after)):
        pages.append(page)
        after = page[-1].id
    return pages


def defaults(store: Store, project_id: str | None) -> list[str]:
    profiles = store.list_llm_profiles(project_id, PageRequest(limit=100))
    return [profile.name for profile in profiles if profile.is_default]


# A moment with milliseconds, given in a non-UTC zone.
MOMENT = datetime(2024, 2, 29, 23, 59, 58, 999000, tzinfo=timezone(timedelta(hours=-5)))


def assert_utc(value: datetime | None, expected: datetime) -> None:
    assert value == expected
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


class StoreContract:
    # ------------------------------------------------------------- users
    def test_store_answers_ping(self, store: Store) -> None:
        store.ping()

    def test_user_round_trips(self, store: Store) -> None:
        user = make_user("alice", global_admin=True)
        store.create_user(user)
        assert store.get_user(user.id) == user
        assert store.get_user_by_name("alice") == user

    def test_missing_user_is_none(self, store: Store) -> None:
        assert store.get_user("usr_missing") is None
        assert store.get_user_by_name("nobody") is None

    def test_duplicate_user_name_raises_and_writes_nothing(self, store: Store) -> None:
        store.create_user(make_user("alice"))
        clash = make_user("alice", display_name="Other")
        with pytest.raises(AlreadyExists, match="alice"):
            store.create_user(clash)
        assert store.get_user(clash.id) is None
        assert store.count_users() == 1

    def test_count_users(self, store: Store) -> None:
        assert store.count_users() == 0
        for name in ("a", "b", "c"):
            store.create_user(make_user(name))
        assert store.count_users() == 3

    def test_list_users_pages_without_repeats_or_gaps(self, store: Store) -> None:
        users = [make_user(f"user{i}") for i in range(7)]
        for user in users:
            store.create_user(user)
        pages = all_pages(store.list_users, limit=3)
        assert [len(page) for page in pages] == [3, 3, 1]
        listed = [user.id for page in pages for user in page]
        assert listed == sorted(user.id for user in users)

    def test_page_after_last_is_empty(self, store: Store) -> None:
        user = make_user("alice")
        store.create_user(user)
        assert store.list_users(PageRequest(limit=10, after=user.id)) == []
        assert store.list_users(PageRequest(limit=0)) == []

    # ------------------------------------------------------------ tokens
    def test_token_round_trips(self, store: Store) -> None:
        plain = make_token("usr_1")
        expiring = make_token("usr_1", expires_at=utcnow() + timedelta(days=30))
        for token in (plain, expiring):
            store.create_token(token)
            assert store.get_token(token.id) == token
        assert store.get_token("tok_missing") is None

    def test_list_tokens_of_one_user_in_pages(self, store: Store) -> None:
        mine = [make_token("usr_me") for _ in range(5)]
        for token in [*mine, make_token("usr_other")]:
            store.create_token(token)
        pages = all_pages(lambda page: store.list_tokens("usr_me", page), limit=2)
        assert [token for page in pages for token in page] == sorted(mine, key=lambda t: t.id)

    def test_revoke_keeps_first_revocation_time(self, store: Store) -> None:
        token = make_token("usr_1")
        store.create_token(token)
        first = utcnow()
        revoked = store.revoke_token(token.id, first)
        assert revoked == replace(token, revoked_at=first)
        again = store.revoke_token(token.id, first + timedelta(hours=1))
        assert again is not None and again.revoked_at == first
        assert store.get_token(token.id) == revoked
        assert store.revoke_token("tok_missing", first) is None

    # ---------------------------------------------------------- projects
    def test_project_round_trips(self, store: Store) -> None:
        project = make_project("alpha", description="Ünïcode ✓")
        store.create_project(project)
        assert store.get_project(project.id) == project
        assert store.get_project_by_slug("alpha") == project
        assert store.get_project("prj_missing") is None
        assert store.get_project_by_slug("missing") is None

    def test_duplicate_slug_raises_and_writes_nothing(self, store: Store) -> None:
        store.create_project(make_project("alpha"))
        clash = make_project("alpha")
        with pytest.raises(AlreadyExists, match="alpha"):
            store.create_project(clash)
        assert store.get_project(clash.id) is None

    def test_list_projects_pages(self, store: Store) -> None:
        projects = [make_project(f"p{i}") for i in range(5)]
        for project in projects:
            store.create_project(project)
        pages = all_pages(store.list_projects, limit=2)
        assert [len(page) for page in pages] == [2, 2, 1]
        assert [p for page in pages for p in page] == sorted(projects, key=lambda p: p.id)

    def test_list_projects_of_a_member(self, store: Store) -> None:
        projects = [make_project(f"p{i}") for i in range(4)]
        for project in projects:
            store.create_project(project)
        mine = sorted([projects[0], projects[2], projects[3]], key=lambda p: p.id)
        for project in mine:
            store.put_membership(make_membership(project.id, "usr_me", ProjectRole.MEMBER))
        store.put_membership(make_membership(projects[1].id, "usr_other", ProjectRole.ADMIN))

        pages = all_pages(lambda page: store.list_projects(page, member_id="usr_me"), limit=2)
        assert [p for page in pages for p in page] == mine
        assert store.list_projects(PageRequest(limit=10), member_id="usr_nobody") == []

    def test_update_project_replaces_mutable_fields(self, store: Store) -> None:
        project = make_project("alpha")
        store.create_project(project)
        later = project.updated_at + timedelta(minutes=5)
        store.update_project(replace(project, name="Renamed", description="new", updated_at=later))
        assert store.get_project(project.id) == replace(
            project, name="Renamed", description="new", updated_at=later
        )

    def test_delete_project_removes_everything_scoped_to_it(self, store: Store) -> None:
        doomed, kept = make_project("doomed"), make_project("kept")
        for project in (doomed, kept):
            store.create_project(project)
            self._fill_project(store, project.id)
        store.set_flag(FeatureFlagValue(None, "global_flag", True, utcnow()))
        store.create_llm_profile(make_profile(None, "global", is_default=True))

        assert store.delete_project(doomed.id) is True
        assert store.get_project(doomed.id) is None
        self._assert_project_empty(store, doomed.id)
        assert store.delete_project(doomed.id) is False

        assert store.get_project(kept.id) == kept
        assert len(store.list_members(kept.id, PageRequest(limit=10))) == 1
        assert len(store.list_connectors(kept.id, PageRequest(limit=10))) == 1
        assert len(store.list_llm_profiles(kept.id, PageRequest(limit=10))) == 1
        assert len(store.list_flags(kept.id)) == 1
        assert len(store.list_tool_settings(kept.id)) == 1
        assert store.get_custom_tool(kept.id, "lint") is not None
        assert [f.key for f in store.list_flags(None)] == ["global_flag"]
        assert defaults(store, None) == ["global"]

    @staticmethod
    def _fill_project(store: Store, project_id: str) -> None:
        store.put_membership(make_membership(project_id, "usr_1", ProjectRole.ADMIN))
        store.create_connector(make_connector(project_id, "repo"))
        store.create_llm_profile(make_profile(project_id, "fast", is_default=True))
        store.set_flag(FeatureFlagValue(project_id, "chat", True, utcnow()))
        store.set_tool_setting(ToolSetting(project_id, "grep", False, utcnow()))
        store.create_custom_tool(make_custom_tool(project_id, "lint"))

    @staticmethod
    def _assert_project_empty(store: Store, project_id: str) -> None:
        page = PageRequest(limit=10)
        assert store.list_members(project_id, page) == []
        assert store.list_memberships_of_user("usr_1") != []  # the kept project's
        assert all(m.project_id != project_id for m in store.list_memberships_of_user("usr_1"))
        assert store.list_connectors(project_id, page) == []
        assert store.list_llm_profiles(project_id, page) == []
        assert store.list_flags(project_id) == []
        assert store.list_tool_settings(project_id) == []
        assert store.list_custom_tools(project_id, page) == []
        assert store.get_custom_tool(project_id, "lint") is None

    # ------------------------------------------------------- memberships
    def test_put_membership_creates_then_changes_role(self, store: Store) -> None:
        member = make_membership("prj_1", "usr_1", ProjectRole.MEMBER)
        store.put_membership(member)
        assert store.get_membership("prj_1", "usr_1") == member
        admin = replace(member, role=ProjectRole.ADMIN, updated_at=utcnow() + timedelta(1))
        store.put_membership(admin)
        assert store.get_membership("prj_1", "usr_1") == admin
        assert store.list_members("prj_1", PageRequest(limit=10)) == [admin]

    def test_missing_membership(self, store: Store) -> None:
        assert store.get_membership("prj_1", "usr_1") is None
        assert store.delete_membership("prj_1", "usr_1") is False

    def test_delete_membership(self, store: Store) -> None:
        store.put_membership(make_membership("prj_1", "usr_1", ProjectRole.MEMBER))
        assert store.delete_membership("prj_1", "usr_1") is True
        assert store.get_membership("prj_1", "usr_1") is None
        assert store.delete_membership("prj_1", "usr_1") is False

    def test_list_members_is_keyed_by_user_id(self, store: Store) -> None:
        user_ids = ["usr_d", "usr_a", "usr_c", "usr_b", "usr_e"]
        for user_id in user_ids:
            store.put_membership(make_membership("prj_1", user_id, ProjectRole.MEMBER))
        store.put_membership(make_membership("prj_2", "usr_z", ProjectRole.MEMBER))
        listed, after = [], None
        while page := store.list_members("prj_1", PageRequest(limit=2, after=after)):
            assert len(page) <= 2
            listed += [m.user_id for m in page]
            after = page[-1].user_id
        assert listed == sorted(user_ids)

    def test_list_memberships_of_user(self, store: Store) -> None:
        for project_id in ("prj_b", "prj_a"):
            store.put_membership(make_membership(project_id, "usr_1", ProjectRole.MEMBER))
        store.put_membership(make_membership("prj_c", "usr_2", ProjectRole.ADMIN))
        found = store.list_memberships_of_user("usr_1")
        assert [(m.project_id, m.user_id) for m in found] == [
            ("prj_a", "usr_1"),
            ("prj_b", "usr_1"),
        ]
        assert store.list_memberships_of_user("usr_none") == []

    # -------------------------------------------------------- connectors
    def test_connector_round_trips_nested_unicode_config(self, store: Store) -> None:
        config: dict[str, Any] = {
            "url": "https://example.com/räpo.git",
            "branches": ["main", "release/1.x"],
            "depth": 50,
            "ratio": 0.25,
            "enabled": True,
            "nothing": None,
            "filters": {"include": ["**/*.py"], "nested": {"deep": ["日本語", {"k": "✓"}]}},
            "empty": {},
        }
        connector = make_connector("prj_1", "Dépôt", config=config, secrets={"token": "s€cret"})
        store.create_connector(connector)
        found = store.get_connector(connector.id)
        assert found == connector
        assert found is not None and found.config == config
        assert store.get_connector("con_missing") is None

    def test_connector_name_unique_within_project(self, store: Store) -> None:
        store.create_connector(make_connector("prj_1", "repo"))
        clash = make_connector("prj_1", "repo")
        with pytest.raises(AlreadyExists, match="repo"):
            store.create_connector(clash)
        assert store.get_connector(clash.id) is None
        elsewhere = make_connector("prj_2", "repo")
        store.create_connector(elsewhere)
        assert store.get_connector(elsewhere.id) == elsewhere

    def test_update_connector(self, store: Store) -> None:
        connector = make_connector("prj_1", "repo")
        store.create_connector(connector)
        later = connector.updated_at + timedelta(seconds=3)
        changed = replace(
            connector, name="code", config={"url": "u2"}, secrets={"k": "v"}, updated_at=later
        )
        store.update_connector(changed)
        assert store.get_connector(connector.id) == changed

    def test_update_connector_to_taken_name_raises(self, store: Store) -> None:
        first, second = make_connector("prj_1", "one"), make_connector("prj_1", "two")
        store.create_connector(first)
        store.create_connector(second)
        with pytest.raises(AlreadyExists, match="one"):
            store.update_connector(replace(second, name="one", config={"changed": 1}))
        assert store.get_connector(second.id) == second

    def test_delete_and_list_connectors(self, store: Store) -> None:
        connectors = [make_connector("prj_1", f"c{i}") for i in range(5)]
        for connector in [*connectors, make_connector("prj_2", "other")]:
            store.create_connector(connector)
        pages = all_pages(lambda page: store.list_connectors("prj_1", page), limit=2)
        assert [c for page in pages for c in page] == sorted(connectors, key=lambda c: c.id)
        assert store.delete_connector(connectors[0].id) is True
        assert store.delete_connector(connectors[0].id) is False
        assert store.get_connector(connectors[0].id) is None
        assert len(store.list_connectors("prj_1", PageRequest(limit=10))) == 4

    # ------------------------------------------------------ LLM profiles
    def test_llm_profile_round_trips(self, store: Store) -> None:
        global_profile = make_profile(None, "openai", provider=LlmProvider.OPENAI, api_key="sk")
        project_profile = make_profile(
            "prj_1", "local", temperature=0.7, is_default=True, tool_calls_in_text=True
        )
        for profile in (global_profile, project_profile):
            store.create_llm_profile(profile)
            assert store.get_llm_profile(profile.id) == profile
        assert store.get_llm_profile("llm_missing") is None
        changed = replace(project_profile, tool_calls_in_text=False, model="qwen2.5")
        store.update_llm_profile(changed)
        assert store.get_llm_profile(project_profile.id) == changed

    def test_only_one_default_per_scope(self, store: Store) -> None:
        first = make_profile("prj_1", "first", is_default=True)
        second = make_profile("prj_1", "second", is_default=True)
        store.create_llm_profile(first)
        store.create_llm_profile(second)
        assert defaults(store, "prj_1") == ["second"]

        store.update_llm_profile(replace(first, is_default=True, model="m2"))
        assert defaults(store, "prj_1") == ["first"]
        assert store.get_llm_profile(first.id) == replace(first, is_default=True, model="m2")

        store.create_llm_profile(make_profile("prj_1", "third"))
        assert defaults(store, "prj_1") == ["first"]

    def test_default_scopes_are_independent(self, store: Store) -> None:
        store.create_llm_profile(make_profile(None, "global", is_default=True))
        store.create_llm_profile(make_profile("prj_1", "p1", is_default=True))
        store.create_llm_profile(make_profile("prj_2", "p2", is_default=True))
        assert defaults(store, None) == ["global"]
        assert defaults(store, "prj_1") == ["p1"]
        assert defaults(store, "prj_2") == ["p2"]

    def test_profile_name_unique_within_scope_only(self, store: Store) -> None:
        for project_id in (None, "prj_1", "prj_2"):
            store.create_llm_profile(make_profile(project_id, "shared"))
        for project_id in (None, "prj_1"):
            clash = make_profile(project_id, "shared")
            with pytest.raises(AlreadyExists, match="shared"):
                store.create_llm_profile(clash)
            assert store.get_llm_profile(clash.id) is None

    def test_taken_name_keeps_the_existing_default(self, store: Store) -> None:
        store.create_llm_profile(make_profile(None, "main", is_default=True))
        with pytest.raises(AlreadyExists):
            store.create_llm_profile(make_profile(None, "main", is_default=True))
        other = make_profile(None, "other")
        store.create_llm_profile(other)
        with pytest.raises(AlreadyExists):
            store.update_llm_profile(replace(other, name="main", is_default=True))
        assert defaults(store, None) == ["main"]
        assert store.get_llm_profile(other.id) == other

    def test_list_and_delete_llm_profiles(self, store: Store) -> None:
        globals_ = [make_profile(None, f"g{i}") for i in range(3)]
        for profile in [*globals_, make_profile("prj_1", "p")]:
            store.create_llm_profile(profile)
        pages = all_pages(lambda page: store.list_llm_profiles(None, page), limit=2)
        assert [p for page in pages for p in page] == sorted(globals_, key=lambda p: p.id)
        assert [p.name for p in store.list_llm_profiles("prj_1", PageRequest(limit=9))] == ["p"]
        assert store.delete_llm_profile(globals_[0].id) is True
        assert store.delete_llm_profile(globals_[0].id) is False
        assert len(store.list_llm_profiles(None, PageRequest(limit=9))) == 2

    # ----------------------------------------------------- feature flags
    def test_flags_set_replace_delete_per_scope(self, store: Store) -> None:
        now = utcnow()
        store.set_flag(FeatureFlagValue(None, "chat", True, now))
        store.set_flag(FeatureFlagValue("prj_1", "chat", False, now))
        store.set_flag(FeatureFlagValue("prj_1", "agent", True, now))
        assert store.list_flags(None) == [FeatureFlagValue(None, "chat", True, now)]
        assert [(f.key, f.enabled) for f in store.list_flags("prj_1")] == [
            ("agent", True),
            ("chat", False),
        ]

        replaced = FeatureFlagValue("prj_1", "chat", True, now + timedelta(seconds=1))
        store.set_flag(replaced)
        assert store.list_flags("prj_1")[1] == replaced
        assert store.list_flags(None)[0].enabled is True

        assert store.delete_flag("prj_1", "chat") is True
        assert store.delete_flag("prj_1", "chat") is False
        assert [f.key for f in store.list_flags("prj_1")] == ["agent"]
        assert [f.key for f in store.list_flags(None)] == ["chat"]
        assert store.delete_flag(None, "chat") is True
        assert store.list_flags(None) == []

    # -------------------------------------------------------------- tools
    def test_tool_settings_upsert_and_order(self, store: Store) -> None:
        now = utcnow()
        for tool in ("open_file", "grep", "search"):
            store.set_tool_setting(ToolSetting("prj_1", tool, True, now))
        store.set_tool_setting(ToolSetting("prj_2", "grep", True, now))
        store.set_tool_setting(ToolSetting("prj_1", "grep", False, now + timedelta(seconds=1)))
        settings = store.list_tool_settings("prj_1")
        assert [(s.tool, s.enabled) for s in settings] == [
            ("grep", False),
            ("open_file", True),
            ("search", True),
        ]
        assert settings[0].updated_at == now + timedelta(seconds=1)
        assert store.list_tool_settings("prj_2") == [ToolSetting("prj_2", "grep", True, now)]
        assert store.list_tool_settings("prj_none") == []

    # ------------------------------------------------------- script tools
    def test_custom_tool_round_trips(self, store: Store) -> None:
        tool = make_custom_tool(
            "prj_1",
            "lint",
            description="Lints «files» — unicode kept",
            command=["ruff", "check", "{files}", "--select=$(x)"],
            arguments_schema={
                "type": "object",
                "properties": {"files": {"type": "array", "items": {"type": "string"}}},
                "$defs": {"a.b": {"$ref": "#"}},
            },
            timeout_seconds=600,
            max_output_bytes=10 * 1024 * 1024,
            side_effects=True,
            connector="con_1",
            enabled=False,
        )
        store.create_custom_tool(tool)
        assert store.get_custom_tool("prj_1", "lint") == tool
        assert store.get_custom_tool("prj_2", "lint") is None
        assert store.get_custom_tool("prj_1", "other") is None

    def test_custom_tool_name_unique_within_project(self, store: Store) -> None:
        first = make_custom_tool("prj_1", "lint")
        store.create_custom_tool(first)
        with pytest.raises(AlreadyExists, match="lint"):
            store.create_custom_tool(make_custom_tool("prj_1", "lint", description="again"))
        store.create_custom_tool(make_custom_tool("prj_2", "lint"))  # another project: fine
        assert store.get_custom_tool("prj_1", "lint") == first

    def test_update_custom_tool_replaces_all_but_identity(self, store: Store) -> None:
        tool = make_custom_tool("prj_1", "lint")
        store.create_custom_tool(tool)
        changed = replace(
            tool,
            description="New",
            command=["make", "lint"],
            arguments_schema={"type": "object", "properties": {}},
            timeout_seconds=5,
            max_output_bytes=2048,
            side_effects=True,
            connector="con_9",
            enabled=False,
            updated_at=tool.updated_at + timedelta(seconds=5),
        )
        assert store.update_custom_tool(changed) is True
        assert store.get_custom_tool("prj_1", "lint") == changed
        gone = make_custom_tool("prj_1", "ghost")
        assert store.update_custom_tool(gone) is False
        assert store.get_custom_tool("prj_1", "ghost") is None

    def test_list_custom_tools_by_name_in_pages(self, store: Store) -> None:
        for name in ("zeta", "alpha", "mid", "beta", "omega"):
            store.create_custom_tool(make_custom_tool("prj_1", name))
        store.create_custom_tool(make_custom_tool("prj_2", "aaa"))
        pages, after = [], None
        while page := store.list_custom_tools("prj_1", PageRequest(limit=2, after=after)):
            pages.append([tool.name for tool in page])
            after = page[-1].name
        assert pages == [["alpha", "beta"], ["mid", "omega"], ["zeta"]]
        assert store.list_custom_tools("prj_none", PageRequest(limit=10)) == []
        assert store.list_custom_tools("prj_1", PageRequest(limit=0)) == []

    def test_delete_custom_tool(self, store: Store) -> None:
        store.create_custom_tool(make_custom_tool("prj_1", "lint"))
        store.create_custom_tool(make_custom_tool("prj_2", "lint"))
        assert store.delete_custom_tool("prj_1", "lint") is True
        assert store.delete_custom_tool("prj_1", "lint") is False
        assert store.get_custom_tool("prj_1", "lint") is None
        assert store.get_custom_tool("prj_2", "lint") is not None
        store.create_custom_tool(make_custom_tool("prj_1", "lint"))  # the name is free again

    # --------------------------------------------------------- datetimes
    def test_datetimes_round_trip_as_utc(self, store: Store) -> None:
        expected = MOMENT.astimezone(UTC)
        user = make_user("alice", created_at=MOMENT)
        store.create_user(user)
        found_user = store.get_user(user.id)
        assert found_user is not None
        assert_utc(found_user.created_at, expected)

        token = make_token(user.id, created_at=MOMENT, expires_at=MOMENT + timedelta(days=1))
        store.create_token(token)
        revoked = store.revoke_token(token.id, MOMENT)
        assert revoked is not None
        assert_utc(revoked.created_at, expected)
        assert_utc(revoked.expires_at, expected + timedelta(days=1))
        assert_utc(revoked.revoked_at, expected)

        project = make_project("alpha", created_at=MOMENT, updated_at=MOMENT)
        store.create_project(project)
        found_project = store.get_project(project.id)
        assert found_project is not None
        assert_utc(found_project.created_at, expected)
        assert_utc(found_project.updated_at, expected)

    def test_utcnow_round_trips_exactly(self, store: Store) -> None:
        now = utcnow()
        store.set_flag(FeatureFlagValue(None, "k", True, now))
        store.put_membership(make_membership("prj_1", "usr_1", ProjectRole.MEMBER))
        flag = store.list_flags(None)[0]
        assert_utc(flag.updated_at, now)
        membership = store.get_membership("prj_1", "usr_1")
        assert membership is not None
        assert membership.updated_at.tzinfo is not None
