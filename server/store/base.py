"""The Store: the one source of truth, behind a narrow typed interface.

Two backends implement it: ``SqliteStore`` (embedded default) and
``MongoStore`` (production). Both pass ``tests/store/contract.py``.

Rules every backend follows:
- Methods take and return records from ``projectqa.server.models``; no query
  dicts or rows leak out.
- ``create_*`` raise ``AlreadyExists`` when a unique key is taken (user name,
  project slug, connector name within a project, LLM profile name within its
  scope) and write nothing.
- ``get_*`` return ``None`` for a missing record; ``delete_*`` return whether
  something was deleted.
- ``list_*`` return at most ``page.limit`` records whose sort key (the id,
  which sorts by creation; the user id for members; the name for tools) is
  greater than ``page.after``, in ascending order.
- Any failure to reach the backend raises ``StoreUnavailable``.

Ingestion records (runs, documents, chunks, the embedding cache, index
generations, webhook deliveries) are described with their methods below.
``delete_project`` and ``delete_connector`` also remove the runs, documents
and chunks scoped to what they delete (the embedding cache is shared and
kept).
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..models import (
    Chat,
    ChatTurn,
    Chunk,
    ChunkVector,
    Connector,
    CustomTool,
    Document,
    DocumentWrite,
    FeatureFlagValue,
    IngestionRun,
    LlmProfile,
    Membership,
    PageRequest,
    Project,
    RunFence,
    Symbol,
    Token,
    ToolSetting,
    TurnStatus,
    User,
)
from ..paging import every_page


@dataclass(frozen=True, slots=True)
class DeliveryKey:
    """A key a webhook delivery claims: its id, or the hash of its signed body."""

    key: str
    stale_before: datetime | None = None  # an older record of the key no longer counts


class Store(abc.ABC):
    """Persistence for users, tokens, projects and their configuration."""

    # ------------------------------------------------------------ lifecycle
    @abc.abstractmethod
    def ping(self) -> None:
        """Return when the backend answers; raise ``StoreUnavailable`` otherwise."""

    def prepare(self) -> None:  # noqa: B027 - optional hook, most backends need nothing
        """Get the backend ready to serve (indexes, …); safe to repeat. Default: nothing."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""

    # ---------------------------------------------------------------- users
    @abc.abstractmethod
    def create_user(self, user: User) -> None: ...

    @abc.abstractmethod
    def get_user(self, user_id: str) -> User | None: ...

    @abc.abstractmethod
    def get_user_by_name(self, name: str) -> User | None: ...

    @abc.abstractmethod
    def list_users(self, page: PageRequest) -> list[User]: ...

    @abc.abstractmethod
    def count_users(self) -> int: ...

    # --------------------------------------------------------------- tokens
    @abc.abstractmethod
    def create_token(self, token: Token) -> None: ...

    @abc.abstractmethod
    def get_token(self, token_id: str) -> Token | None: ...

    @abc.abstractmethod
    def list_tokens(self, user_id: str, page: PageRequest) -> list[Token]: ...

    @abc.abstractmethod
    def revoke_token(self, token_id: str, at: datetime) -> Token | None:
        """Mark a token revoked (keeping the first revocation time); return it."""

    # ------------------------------------------------------------- projects
    @abc.abstractmethod
    def create_project(self, project: Project) -> None: ...

    @abc.abstractmethod
    def get_project(self, project_id: str) -> Project | None: ...

    @abc.abstractmethod
    def get_project_by_slug(self, slug: str) -> Project | None: ...

    @abc.abstractmethod
    def list_projects(self, page: PageRequest, member_id: str | None = None) -> list[Project]:
        """All projects, or only those ``member_id`` is a member of."""

    @abc.abstractmethod
    def update_project(self, project: Project) -> None:
        """Replace name, description and update time of an existing project."""

    @abc.abstractmethod
    def delete_project(self, project_id: str) -> bool:
        """Delete a project and everything scoped to it.

        The project record goes first, so a failure half-way leaves only
        unreachable leftovers, never a project missing part of its settings;
        a repeated call finishes the clean-up.
        """

    # ---------------------------------------------------------- memberships
    @abc.abstractmethod
    def put_membership(self, membership: Membership) -> None:
        """Create the membership or replace the role of an existing one."""

    @abc.abstractmethod
    def get_membership(self, project_id: str, user_id: str) -> Membership | None: ...

    @abc.abstractmethod
    def delete_membership(self, project_id: str, user_id: str) -> bool: ...

    @abc.abstractmethod
    def list_members(self, project_id: str, page: PageRequest) -> list[Membership]:
        """Memberships of a project, keyed and ordered by user id."""

    @abc.abstractmethod
    def list_memberships_of_user(self, user_id: str) -> list[Membership]: ...

    # ----------------------------------------------------------- connectors
    @abc.abstractmethod
    def create_connector(self, connector: Connector) -> None: ...

    @abc.abstractmethod
    def get_connector(self, connector_id: str) -> Connector | None: ...

    @abc.abstractmethod
    def update_connector(self, connector: Connector) -> None:
        """Replace name, config, secrets and update time (``AlreadyExists`` on a taken name)."""

    @abc.abstractmethod
    def delete_connector(self, connector_id: str) -> bool: ...

    @abc.abstractmethod
    def list_connectors(self, project_id: str, page: PageRequest) -> list[Connector]: ...

    def all_connectors(self, project_id: str) -> list[Connector]:
        """Every connector of a project, by id (paged underneath)."""
        return list(every_page(lambda page: self.list_connectors(project_id, page), lambda c: c.id))

    # --------------------------------------------------------- LLM profiles
    @abc.abstractmethod
    def create_llm_profile(self, profile: LlmProfile) -> None:
        """Insert; when ``profile.is_default``, the scope's other profiles stop being default."""

    @abc.abstractmethod
    def get_llm_profile(self, profile_id: str) -> LlmProfile | None: ...

    @abc.abstractmethod
    def update_llm_profile(self, profile: LlmProfile) -> None:
        """Replace every mutable field; default handling as in ``create_llm_profile``."""

    @abc.abstractmethod
    def delete_llm_profile(self, profile_id: str) -> bool: ...

    @abc.abstractmethod
    def list_llm_profiles(self, project_id: str | None, page: PageRequest) -> list[LlmProfile]:
        """Profiles of one project, or the global ones when ``project_id`` is None."""

    # -------------------------------------------------------- feature flags
    @abc.abstractmethod
    def set_flag(self, flag: FeatureFlagValue) -> None:
        """Create or replace the flag's value at its scope."""

    @abc.abstractmethod
    def delete_flag(self, project_id: str | None, key: str) -> bool: ...

    @abc.abstractmethod
    def list_flags(self, project_id: str | None) -> list[FeatureFlagValue]:
        """Values set at exactly this scope, ordered by key."""

    # ---------------------------------------------------------------- tools
    @abc.abstractmethod
    def set_tool_setting(self, setting: ToolSetting) -> None:
        """Create or replace whether a tool is enabled for a project."""

    @abc.abstractmethod
    def list_tool_settings(self, project_id: str) -> list[ToolSetting]:
        """Settings of one project, ordered by tool name."""

    # --------------------------------------------------------- script tools
    @abc.abstractmethod
    def create_custom_tool(self, tool: CustomTool) -> None:
        """Insert a script tool; ``AlreadyExists`` if the project has one of that name."""

    @abc.abstractmethod
    def get_custom_tool(self, project_id: str, name: str) -> CustomTool | None: ...

    @abc.abstractmethod
    def update_custom_tool(self, tool: CustomTool) -> bool:
        """Replace the stored tool with the same id; False if it is gone."""

    @abc.abstractmethod
    def delete_custom_tool(self, project_id: str, name: str) -> bool: ...

    @abc.abstractmethod
    def list_custom_tools(self, project_id: str, page: PageRequest) -> list[CustomTool]:
        """A project's script tools ordered by name (``page.after`` is a name)."""

    # ---------------------------------------------------------------- chats
    @abc.abstractmethod
    def create_chat(self, chat: Chat) -> None: ...

    @abc.abstractmethod
    def get_chat(self, chat_id: str) -> Chat | None: ...

    @abc.abstractmethod
    def update_chat(self, chat: Chat, fields: Collection[str] | None = None) -> bool:
        """Write ``chat``'s ``fields`` (None: every field but id, project, user and
        created_at); False if it is gone. Writers of different fields (a policy change, the
        end of a turn) never undo each other's changes."""

    @abc.abstractmethod
    def delete_chat(self, chat_id: str) -> bool:
        """Delete a chat and all of its turns."""

    @abc.abstractmethod
    def list_chats(self, user_id: str, project_id: str | None, page: PageRequest) -> list[Chat]:
        """A user's chats (in one project, or all when ``project_id`` is None), **newest
        first**: ids smaller than ``page.after`` when it is given."""

    @abc.abstractmethod
    def create_turn(self, turn: ChatTurn) -> None:
        """Insert a turn; ``AlreadyExists`` if the chat has a turn with its ``seq``
        (another turn started first). Atomic on every backend."""

    @abc.abstractmethod
    def replace_turn(self, turn: ChatTurn, expected: TurnStatus) -> bool:
        """Replace the stored turn with ``turn`` only if its stored status is still
        ``expected``; False (nothing written) otherwise. Atomic on every backend, so
        two servers cannot both resume, finish or expire the same turn."""

    @abc.abstractmethod
    def get_turn(self, turn_id: str) -> ChatTurn | None: ...

    @abc.abstractmethod
    def list_turns(self, chat_id: str, after_seq: int = 0) -> list[ChatTurn]:
        """The chat's turns with ``seq`` above ``after_seq`` (every turn by default), by
        ``seq``. A new turn reads only those its memory summary has not folded."""

    @abc.abstractmethod
    def last_turn(self, chat_id: str) -> ChatTurn | None:
        """The chat's turn with the highest ``seq``."""

    # ------------------------------------------------------- ingestion runs
    @abc.abstractmethod
    def create_run(self, run: IngestionRun) -> None:
        """Insert a run; ``AlreadyExists`` if ``run`` is active (queued/running) while
        another active run of the same connector exists. Atomic on every backend."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> IngestionRun | None: ...

    @abc.abstractmethod
    def update_run(self, run: IngestionRun) -> None:
        """Replace every field but id, project, connector and created_at."""

    @abc.abstractmethod
    def write_run_if(self, run: IngestionRun, lease_seq: int) -> IngestionRun | None:
        """Compare and set, for the worker that holds (or takes) a run: if the stored run
        is still active and its ``lease_seq`` is ``lease_seq``, replace the record by
        ``run`` (all but id, project, connector, created_at and the two request flags,
        which only ``request_cancel`` and ``request_rerun`` set) and return it as stored.
        None when another write came first: the caller does not hold the run. Atomic on
        every backend; ``run.lease_seq`` should be ``lease_seq + 1``."""

    @abc.abstractmethod
    def request_cancel(self, run_id: str, at: datetime) -> IngestionRun | None:
        """Cancel the run at once if it is queued, else flag it for the worker running it
        (``cancel_requested``); the run as stored afterwards, None if there is none."""

    @abc.abstractmethod
    def request_rerun(self, connector_id: str) -> bool:
        """Flag the connector's active run (``rerun_requested``) so that its worker queues
        another run after it; False when the connector has no active run."""

    @abc.abstractmethod
    def list_runs(
        self, project_id: str, page: PageRequest, connector_id: str | None = None
    ) -> list[IngestionRun]:
        """Runs of a project (optionally of one connector), **newest first**: ids
        smaller than ``page.after`` when it is given."""

    @abc.abstractmethod
    def list_active_runs(self) -> list[IngestionRun]:
        """Every queued or running run of every project, oldest first."""

    def active_run(
        self, *, connector_id: str | None = None, project_id: str | None = None
    ) -> IngestionRun | None:
        """The oldest queued or running run of a connector or of a project, if any."""
        for run in self.list_active_runs():
            if connector_id in (None, run.connector_id) and project_id in (None, run.project_id):
                return run
        return None

    @abc.abstractmethod
    def last_succeeded_run(self, connector_id: str) -> IngestionRun | None:
        """The connector's most recent run with status ``succeeded``."""

    # ------------------------------------------------------------ documents
    @abc.abstractmethod
    def get_documents(self, connector_id: str, keys: list[str]) -> dict[str, Document]:
        """The stored documents among ``keys``, by key (missing keys are absent)."""

    @abc.abstractmethod
    def write_documents(self, batch: list[DocumentWrite], fence: RunFence | None = None) -> None:
        """Upsert each document by (connector_id, key) and replace all of its chunks
        and symbols with the given ones, the whole batch in one transaction where the backend
        has them (SQLite).

        With ``fence``, ``RunLost`` and nothing written unless the run is still running
        and owned by ``fence.owner``: in the same transaction on SQLite, checked just
        before the writes on MongoDB (a worker paused right after that check could still
        write once after losing its run).

        A document already stored keeps its stored id (the given id names only a
        new one), and its chunks and symbols are stored with that id as
        ``document_id``; a symbol's id keeps the part after its last ``:`` behind
        the stored document id (``<document id>:<ordinal>``). On
        MongoDB the batch's documents first lose their content hash (new ones
        are inserted with an empty hash), then the chunks are replaced, then
        the documents written: a crash leaves at worst documents with an empty
        content hash, which the next run redoes, never chunks without a document."""

    @abc.abstractmethod
    def delete_documents(
        self, connector_id: str, keys: list[str], fence: RunFence | None = None
    ) -> int:
        """Delete documents and their chunks; return how many documents went.
        ``fence``: as for ``write_documents``."""

    @abc.abstractmethod
    def touch_documents(self, connector_id: str, keys: list[str], scan_id: str) -> None:
        """Set ``scan_id`` of these documents (seen unchanged by that scan)."""

    @abc.abstractmethod
    def document_keys_not_in_scan(self, connector_id: str, scan_id: str) -> list[str]:
        """Keys of the connector's documents whose ``scan_id`` differs from ``scan_id``."""

    @abc.abstractmethod
    def list_documents(self, project_id: str, page: PageRequest) -> list[Document]:
        """Documents of a project ordered by id."""

    @abc.abstractmethod
    def list_files(self, project_id: str, page: PageRequest, prefix: str = "") -> list[Document]:
        """Documents of kind file of a project, ordered by (path, connector id), from an index.

        ``prefix``: a normalised folder (``src/api``); only files below it. The sort key
        in ``page.after`` is ``file_listing.file_key`` of the last file served.
        """

    # --------------------------------------------------------------- chunks
    @abc.abstractmethod
    def get_chunks(self, chunk_ids: list[str]) -> list[Chunk]:
        """The chunks that still exist among ``chunk_ids``, in the given order."""

    @abc.abstractmethod
    def list_chunks(self, project_id: str, page: PageRequest) -> list[Chunk]:
        """Chunks of a project ordered by id (index rebuilds page through them)."""

    @abc.abstractmethod
    def count_chunks(self, project_id: str) -> int: ...

    @abc.abstractmethod
    def chunk_vectors(self, project_id: str, model: str, page: PageRequest) -> list[ChunkVector]:
        """(chunk id, vector) of a project's chunks ordered by chunk id, the vector
        looked up in the embedding cache under ``model``; chunks without a cached
        vector are left out."""

    @abc.abstractmethod
    def chunks_without_vector(self, project_id: str, model: str, page: PageRequest) -> list[Chunk]:
        """A project's chunks ordered by id whose ``embed_hash`` has no vector cached under
        ``model``: what is left to embed (a run's chunks written before a crash, or every
        chunk after a switch of embedder)."""

    # -------------------------------------------------------------- symbols
    @abc.abstractmethod
    def list_symbols(self, project_id: str, page: PageRequest) -> list[Symbol]:
        """Definitions of a project ordered by id (index builds page through them).
        Written with their document by ``write_documents``, deleted with it."""

    @abc.abstractmethod
    def count_symbols(self, project_id: str) -> int: ...

    # ------------------------------------------------------ embedding cache
    @abc.abstractmethod
    def get_embeddings(self, model: str, hashes: list[str]) -> dict[str, bytes]:
        """Cached vectors among ``hashes`` (content hashes), by hash."""

    @abc.abstractmethod
    def put_embeddings(self, model: str, vectors: dict[str, bytes]) -> None:
        """Insert vectors by content hash; an existing entry is left as it is."""

    # ---------------------------------------------------- index generations
    @abc.abstractmethod
    def index_generation(self, project_id: str) -> int:
        """How many times the project's chunks changed (0 when never)."""

    @abc.abstractmethod
    def index_generations(self) -> dict[str, int]:
        """Every project's generation that is not 0, by project id (what workers reconcile)."""

    @abc.abstractmethod
    def bump_index_generation(self, project_id: str) -> int:
        """Atomically add one to the project's generation and return the new value."""

    # --------------------------------------------------- webhook deliveries
    @abc.abstractmethod
    def record_deliveries(
        self, connector_id: str, keys: Sequence[DeliveryKey], at: datetime
    ) -> str | None:
        """Record every key of one webhook delivery of a connector (received ``at``), all or
        none: the first key the connector already holds (and nothing written), or None.

        Keys are unique per connector only. A record received before its key's
        ``stale_before`` no longer counts: it is replaced. The webhook endpoint records a
        delivery's id and the hash of its signed body together (under a key no delivery id
        can take), so neither is left behind alone when the other cannot be written."""

    @abc.abstractmethod
    def delete_deliveries(self, connector_id: str, keys: Sequence[str]) -> int:
        """Forget recorded keys of a connector at once (their run could not be started, so a
        redelivery may retry); how many there were."""

    @abc.abstractmethod
    def prune_deliveries(self, received_before: datetime, limit: int) -> int:
        """Forget at most ``limit`` delivery records received before ``received_before``, of
        any connector; how many went (fewer than ``limit``: none older is left)."""

    def record_delivery(
        self,
        delivery_id: str,
        connector_id: str,
        at: datetime,
        *,
        stale_before: datetime | None = None,
    ) -> bool:
        """Whether ``delivery_id`` was new to the connector (and is recorded now)."""
        key = DeliveryKey(delivery_id, stale_before)
        return self.record_deliveries(connector_id, [key], at) is None

    def delete_delivery(self, delivery_id: str, connector_id: str) -> bool:
        """Forget a recorded delivery (its run could not be started, so a redelivery may retry)."""
        return self.delete_deliveries(connector_id, [delivery_id]) > 0
