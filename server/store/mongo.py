"""MongoDB backend: the production Store (``pymongo``, majority writes).

No multi-document transactions (standalone servers and mongomock lack them):
every method is ordered so that a failure half-way leaves a state the next
call repairs or cannot see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from pymongo import ASCENDING, MongoClient, WriteConcern
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WriteConcernError,
)

from ..errors import AlreadyExists, StoreError, StoreUnavailable
from ..models import (
    Connector,
    FeatureFlagValue,
    LlmProfile,
    Membership,
    PageRequest,
    Project,
    Token,
    ToolSetting,
    User,
)
from . import codec
from .base import Store
from .codec import MONGO
from .mongo_chat import CHAT_INDEXES, CHAT_PROJECT_COLLECTIONS, MongoChats
from .mongo_ingest import (
    CONNECTOR_COLLECTIONS,
    INGESTION_INDEXES,
    PROJECT_COLLECTIONS,
    MongoIngestion,
)
from .mongo_tools import TOOL_INDEXES, TOOL_PROJECT_COLLECTIONS, MongoCustomTools

T = TypeVar("T")

# ConnectionFailure covers AutoReconnect, NetworkTimeout, NotPrimaryError and
# ServerSelectionTimeoutError; WriteConcernError covers WTimeoutError.
_UNREACHABLE = (ConnectionFailure, ExecutionTimeout, WriteConcernError)
_AUTHENTICATION_FAILED = 18
_OUT_OF_DISK_SPACE = 14031

# collection -> indexes as (keys, unique); created by ensure_indexes().
_INDEXES: dict[str, list[tuple[list[str], bool]]] = {
    "users": [(["name"], True)],
    "tokens": [(["user_id", "_id"], False)],
    "projects": [(["slug"], True)],
    "memberships": [(["project_id", "user_id"], True), (["user_id", "project_id"], False)],
    "connectors": [(["project_id", "name"], True), (["project_id", "_id"], False)],
    "llm_profiles": [(["scope", "name"], True), (["scope", "_id"], False)],
    "flags": [(["scope", "key"], True)],
    "tool_settings": [(["project_id", "tool"], True)],
    **TOOL_INDEXES,
    **CHAT_INDEXES,
}

# (collection, field) of everything scoped to a project, deleted with it.
_PROJECT_SCOPED = (
    ("memberships", "project_id"),
    ("connectors", "project_id"),
    ("llm_profiles", "scope"),
    ("flags", "scope"),
    ("tool_settings", "project_id"),
    *TOOL_PROJECT_COLLECTIONS,
    *PROJECT_COLLECTIONS,
    *CHAT_PROJECT_COLLECTIONS,
)

_NO_ID = {"_id": 0}


def _is_unavailable(exc: PyMongoError) -> bool:
    if isinstance(exc, _UNREACHABLE) or exc.timeout or _is_out_of_space(exc):
        return True
    return isinstance(exc, OperationFailure) and exc.code == _AUTHENTICATION_FAILED


def _is_out_of_space(exc: PyMongoError) -> bool:
    """The server cannot write for lack of disk space: it may answer again once freed."""
    if not isinstance(exc, OperationFailure):
        return False
    # A bulk write reports it per write; the others as their own code.
    errors = (exc.details or {}).get("writeErrors", [])
    return exc.code == _OUT_OF_DISK_SPACE or any(
        error.get("code") == _OUT_OF_DISK_SPACE for error in errors
    )


def _unavailable_message(exc: PyMongoError) -> str:
    # Never str(exc): keep the message free of hosts and credentials.
    if isinstance(exc, OperationFailure) and exc.code == _AUTHENTICATION_FAILED:
        return "MongoDB rejected the configured credentials"
    if _is_out_of_space(exc):
        return "MongoDB is out of disk space"
    return f"MongoDB is unavailable ({type(exc).__name__})"


def _redact(text: str, uri: str) -> str:
    """``text`` without the URI or its password."""
    secrets = [uri]
    try:
        password = urlsplit(uri).password
    except ValueError:
        password = None
    if password:
        secrets += [password, unquote(password)]
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _profile_taken(profile: LlmProfile) -> str:
    scope = "global" if profile.project_id is None else f"project {profile.project_id!r}"
    return f"LLM profile name {profile.name!r} already exists in {scope}"


class MongoStore(MongoIngestion, MongoCustomTools, MongoChats, Store):
    """Store in one MongoDB database; call ``ensure_indexes()`` at start-up."""

    def __init__(self, client: MongoClient[dict[str, Any]], database: str) -> None:
        self._client = client
        db = client.get_database(database)
        self._db = db
        majority = WriteConcern("majority")
        self._cols: dict[str, Collection[dict[str, Any]]] = {
            name: db.get_collection(name).with_options(write_concern=majority)
            for name in [*_INDEXES, *INGESTION_INDEXES]
        }

    @property
    def database(self) -> Database[dict[str, Any]]:
        """The database itself, for what lives beside the store (published indexes in GridFS)."""
        return self._db

    @classmethod
    def from_uri(cls, uri: str, database: str, timeout_ms: int) -> MongoStore:
        """Build a store with bounded timeouts; connects lazily, on first use."""
        try:
            client: MongoClient[dict[str, Any]] = MongoClient(
                uri,
                serverSelectionTimeoutMS=timeout_ms,
                connectTimeoutMS=timeout_ms,
                socketTimeoutMS=timeout_ms,
                w="majority",
                appname="projectqa",
                tz_aware=True,
            )
        except (PyMongoError, ValueError, TypeError) as exc:
            # from None: the original message may quote the URI.
            raise StoreError(f"invalid MongoDB URI: {_redact(str(exc), uri)}") from None
        return cls(client, database)

    def ensure_indexes(self) -> None:
        """Create the unique and lookup indexes (idempotent)."""
        with self._errors():
            for name, indexes in _INDEXES.items():
                for keys, unique in indexes:
                    fields = [(key, ASCENDING) for key in keys]
                    self._cols[name].create_index(fields, unique=unique)
            for name, ingestion_indexes in INGESTION_INDEXES.items():
                for keys, options in ingestion_indexes:
                    fields = [(key, ASCENDING) for key in keys]
                    self._cols[name].create_index(fields, **options)

    # ----------------------------------------------------------- plumbing
    @contextmanager
    def _errors(self, taken: str | None = None) -> Iterator[None]:
        try:
            yield
        except DuplicateKeyError as exc:
            if taken is None:
                raise
            raise AlreadyExists(taken) from exc
        except PyMongoError as exc:
            if _is_unavailable(exc):
                raise StoreUnavailable(_unavailable_message(exc)) from exc
            raise

    def _find_one(
        self, name: str, query: Mapping[str, Any], convert: Callable[[Any], T]
    ) -> T | None:
        with self._errors():
            doc = self._cols[name].find_one(query)
        return None if doc is None else convert(doc)

    def _find_all(
        self, name: str, query: Mapping[str, Any], sort: str, convert: Callable[[Any], T]
    ) -> list[T]:
        with self._errors():
            found = list(self._cols[name].find(query, _NO_ID).sort(sort, ASCENDING))
        return [convert(doc) for doc in found]

    def _find_page(
        self,
        name: str,
        query: Mapping[str, Any],
        key: str,
        page: PageRequest,
        convert: Callable[[Any], T],
    ) -> list[T]:
        if page.limit <= 0:  # limit(0) means "no limit" to MongoDB
            return []
        criteria = dict(query)
        criteria[key] = {**criteria.get(key, {}), "$gt": page.after or ""}
        with self._errors():
            cursor = self._cols[name].find(criteria).sort(key, ASCENDING).limit(page.limit)
            found = list(cursor)
        return [convert(doc) for doc in found]

    def _insert(self, name: str, doc: dict[str, Any], taken: str) -> None:
        with self._errors(taken):
            self._cols[name].insert_one(doc)

    def _upsert(self, name: str, key: dict[str, Any], values: dict[str, Any]) -> None:
        collection = self._cols[name]
        with self._errors():
            try:
                collection.update_one(key, {"$set": values}, upsert=True)
            except DuplicateKeyError:
                # A concurrent upsert inserted first; now ours matches and updates.
                collection.update_one(key, {"$set": values}, upsert=True)

    def _delete(self, name: str, query: Mapping[str, Any]) -> bool:
        with self._errors():
            return self._cols[name].delete_one(query).deleted_count > 0

    # ---------------------------------------------------------- lifecycle
    def prepare(self) -> None:
        self.ensure_indexes()

    def ping(self) -> None:
        with self._errors():
            self._client.admin.command("ping")

    def close(self) -> None:
        self._client.close()

    # -------------------------------------------------------------- users
    def create_user(self, user: User) -> None:
        self._insert("users", MONGO.fields(user), f"user name {user.name!r} already exists")

    def get_user(self, user_id: str) -> User | None:
        return self._find_one("users", {"_id": user_id}, MONGO.reader(User))

    def get_user_by_name(self, name: str) -> User | None:
        return self._find_one("users", {"name": name}, MONGO.reader(User))

    def list_users(self, page: PageRequest) -> list[User]:
        return self._find_page("users", {}, "_id", page, MONGO.reader(User))

    def count_users(self) -> int:
        with self._errors():
            return self._cols["users"].count_documents({})

    # ------------------------------------------------------------- tokens
    def create_token(self, token: Token) -> None:
        self._insert("tokens", MONGO.fields(token), f"token id {token.id!r} already exists")

    def get_token(self, token_id: str) -> Token | None:
        return self._find_one("tokens", {"_id": token_id}, MONGO.reader(Token))

    def list_tokens(self, user_id: str, page: PageRequest) -> list[Token]:
        return self._find_page("tokens", {"user_id": user_id}, "_id", page, MONGO.reader(Token))

    def revoke_token(self, token_id: str, at: datetime) -> Token | None:
        with self._errors():
            # Matching only unrevoked tokens keeps the first revocation time.
            self._cols["tokens"].update_one(
                {"_id": token_id, "revoked_at": None}, {"$set": {"revoked_at": codec.utc(at)}}
            )
        return self.get_token(token_id)

    # ----------------------------------------------------------- projects
    def create_project(self, project: Project) -> None:
        taken = f"project slug {project.slug!r} already exists"
        self._insert("projects", MONGO.fields(project), taken)

    def get_project(self, project_id: str) -> Project | None:
        return self._find_one("projects", {"_id": project_id}, MONGO.reader(Project))

    def get_project_by_slug(self, slug: str) -> Project | None:
        return self._find_one("projects", {"slug": slug}, MONGO.reader(Project))

    def list_projects(self, page: PageRequest, member_id: str | None = None) -> list[Project]:
        query: dict[str, Any] = {}
        if member_id is not None:
            memberships = self.list_memberships_of_user(member_id)
            query["_id"] = {"$in": [m.project_id for m in memberships]}
        return self._find_page("projects", query, "_id", page, MONGO.reader(Project))

    def update_project(self, project: Project) -> None:
        changes = {
            "name": project.name,
            "description": project.description,
            "updated_at": codec.utc(project.updated_at),
        }
        with self._errors():
            self._cols["projects"].update_one({"_id": project.id}, {"$set": changes})

    def delete_project(self, project_id: str) -> bool:
        if project_id == codec.GLOBAL_SCOPE:  # would match the global flags and profiles
            return False
        # The project document goes first (atomic on its own): if a later
        # delete_many fails, only unreachable leftovers remain, and a repeated
        # call removes them.
        deleted = self._delete("projects", {"_id": project_id})
        self._delete_project_deliveries(project_id)  # while its connectors still exist
        with self._errors():
            for name, field in _PROJECT_SCOPED:
                self._cols[name].delete_many({field: project_id})
        return deleted

    # -------------------------------------------------------- memberships
    def put_membership(self, membership: Membership) -> None:
        key = {"project_id": membership.project_id, "user_id": membership.user_id}
        values = {"role": str(membership.role), "updated_at": codec.utc(membership.updated_at)}
        self._upsert("memberships", key, values)

    def get_membership(self, project_id: str, user_id: str) -> Membership | None:
        query = {"project_id": project_id, "user_id": user_id}
        return self._find_one("memberships", query, MONGO.reader(Membership))

    def delete_membership(self, project_id: str, user_id: str) -> bool:
        return self._delete("memberships", {"project_id": project_id, "user_id": user_id})

    def list_members(self, project_id: str, page: PageRequest) -> list[Membership]:
        query = {"project_id": project_id}
        return self._find_page("memberships", query, "user_id", page, MONGO.reader(Membership))

    def list_memberships_of_user(self, user_id: str) -> list[Membership]:
        query = {"user_id": user_id}
        return self._find_all("memberships", query, "project_id", MONGO.reader(Membership))

    # --------------------------------------------------------- connectors
    def create_connector(self, connector: Connector) -> None:
        self._insert("connectors", MONGO.fields(connector), _connector_taken(connector))

    def get_connector(self, connector_id: str) -> Connector | None:
        return self._find_one("connectors", {"_id": connector_id}, MONGO.reader(Connector))

    def update_connector(self, connector: Connector) -> None:
        doc = MONGO.fields(connector)
        changes = {key: doc[key] for key in ("name", "config", "secrets", "updated_at")}
        with self._errors(_connector_taken(connector)):
            self._cols["connectors"].update_one({"_id": connector.id}, {"$set": changes})

    def delete_connector(self, connector_id: str) -> bool:
        # What the connector ingested goes first and the connector record last:
        # a cut leaves the connector in place for a repeated delete, never
        # chunks of a deleted connector that the project's index would serve.
        with self._errors():
            for name in CONNECTOR_COLLECTIONS:
                self._cols[name].delete_many({"connector_id": connector_id})
        return self._delete("connectors", {"_id": connector_id})

    def list_connectors(self, project_id: str, page: PageRequest) -> list[Connector]:
        query = {"project_id": project_id}
        return self._find_page("connectors", query, "_id", page, MONGO.reader(Connector))

    # ------------------------------------------------------- LLM profiles
    # Write the profile first, then clear the scope's other defaults: a taken
    # name then writes nothing, and a failure in between leaves two defaults
    # (which the next save repairs) rather than silently none.
    def create_llm_profile(self, profile: LlmProfile) -> None:
        self._insert("llm_profiles", MONGO.fields(profile), _profile_taken(profile))
        if profile.is_default:
            self._clear_other_defaults(codec.scope_of(profile.project_id), profile.id)

    def get_llm_profile(self, profile_id: str) -> LlmProfile | None:
        return self._find_one("llm_profiles", {"_id": profile_id}, MONGO.reader(LlmProfile))

    def update_llm_profile(self, profile: LlmProfile) -> None:
        with self._errors(_profile_taken(profile)):
            before = self._cols["llm_profiles"].find_one_and_update(
                {"_id": profile.id},
                {"$set": _profile_changes(profile)},
                projection={"scope": 1},
            )
        # The stored scope counts: a profile never moves between scopes.
        if before is not None and profile.is_default:
            self._clear_other_defaults(before["scope"], profile.id)

    def _clear_other_defaults(self, scope: str, keep_id: str) -> None:
        with self._errors():
            self._cols["llm_profiles"].update_many(
                {"scope": scope, "_id": {"$ne": keep_id}, "is_default": True},
                {"$set": {"is_default": False}},
            )

    def delete_llm_profile(self, profile_id: str) -> bool:
        return self._delete("llm_profiles", {"_id": profile_id})

    def list_llm_profiles(self, project_id: str | None, page: PageRequest) -> list[LlmProfile]:
        query = {"scope": codec.scope_of(project_id)}
        return self._find_page("llm_profiles", query, "_id", page, MONGO.reader(LlmProfile))

    # ------------------------------------------------------ feature flags
    def set_flag(self, flag: FeatureFlagValue) -> None:
        key = {"scope": codec.scope_of(flag.project_id), "key": flag.key}
        values = {"enabled": flag.enabled, "updated_at": codec.utc(flag.updated_at)}
        self._upsert("flags", key, values)

    def delete_flag(self, project_id: str | None, key: str) -> bool:
        return self._delete("flags", {"scope": codec.scope_of(project_id), "key": key})

    def list_flags(self, project_id: str | None) -> list[FeatureFlagValue]:
        query = {"scope": codec.scope_of(project_id)}
        return self._find_all("flags", query, "key", MONGO.reader(FeatureFlagValue))

    # -------------------------------------------------------------- tools
    def set_tool_setting(self, setting: ToolSetting) -> None:
        key = {"project_id": setting.project_id, "tool": setting.tool}
        values = {"enabled": setting.enabled, "updated_at": codec.utc(setting.updated_at)}
        self._upsert("tool_settings", key, values)

    def list_tool_settings(self, project_id: str) -> list[ToolSetting]:
        query = {"project_id": project_id}
        return self._find_all("tool_settings", query, "tool", MONGO.reader(ToolSetting))


def _connector_taken(connector: Connector) -> str:
    return f"connector name {connector.name!r} already exists in project {connector.project_id!r}"


def _profile_changes(profile: LlmProfile) -> dict[str, Any]:
    """The fields ``update_llm_profile`` replaces (not the id, scope or creation time)."""
    fields = MONGO.fields(profile)
    return {k: v for k, v in fields.items() if k not in ("_id", "scope", "created_at")}
