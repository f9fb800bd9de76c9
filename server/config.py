"""Server settings: environment variables ``PROJECTQA_*`` over an optional TOML file.

Precedence (highest first): constructor arguments, environment, the TOML file
named by ``PROJECTQA_CONFIG`` or ``--config``, defaults. Everything is
validated at start-up; ``load_settings`` turns a validation failure into one
``SettingsError`` whose message names each bad setting by its variable name.
"""

from __future__ import annotations

import json
import os
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .paths import ADMIN_TOKEN_FILE, default_data_dir

ENV_PREFIX = "PROJECTQA_"
# The longest question anyone may ask: a chat message, an Ask question, a Search query, a
# tool's query. One number, so a bug report pasted into Ask can be pasted into Search too.
MAX_QUESTION_CHARS = 16_000
# The --config file of the current load_settings() call (wins over PROJECTQA_CONFIG).
_config_file: ContextVar[Path | None] = ContextVar("projectqa_config_file", default=None)


class SettingsError(Exception):
    """Settings failed validation; the message lists every problem."""


class Settings(BaseSettings):
    """Everything the server can be told. Field ``x`` is ``PROJECTQA_X`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", validate_default=True, frozen=True
    )

    listen_address: str = Field(
        "127.0.0.1:50051", description="host:port to serve gRPC on; port 0 picks a free one"
    )
    data_dir: Path = Field(
        default_factory=default_data_dir, description="SQLite file, admin token, indexes"
    )
    mongodb_uri: SecretStr | None = Field(None, description="use MongoDB instead of SQLite")
    mongodb_database: str = Field("projectqa", min_length=1, description="MongoDB database name")
    mongodb_timeout_ms: int = Field(5000, ge=100, le=120_000, description="MongoDB timeouts")
    max_message_bytes: int = Field(
        4 * 1024 * 1024, ge=64 * 1024, le=256 * 1024 * 1024, description="gRPC max message size"
    )
    max_concurrent_rpcs: int = Field(
        512, ge=1, le=100_000, description="unary calls in flight at once (streams: max_streams)"
    )
    max_concurrent_rpcs_per_caller: int = Field(
        64, ge=1, le=100_000, description="unary calls one user (or anonymous host) may run at once"
    )
    max_streams: int = Field(
        1000, ge=1, le=100_000, description="streaming calls open at once, all callers together"
    )
    max_streams_per_caller: int = Field(
        100, ge=1, le=100_000, description="streaming calls one user may hold"
    )
    max_public_streams: int = Field(
        32,
        ge=1,
        le=100_000,
        description="anonymous streams (health Watch) open at once, apart "
        "from the streams of authenticated callers",
    )
    max_public_streams_per_host: int = Field(
        4, ge=1, le=100_000, description="anonymous streams one host may hold open"
    )
    max_stream_request_bytes: int = Field(
        128 * 1024,
        ge=1024,
        le=256 * 1024 * 1024,
        description="largest request a streaming call may send (held while it is open); never "
        "below what a chat message of chat_max_message_chars needs",
    )
    keepalive_time_s: int = Field(60, ge=10, description="server keepalive ping interval")
    keepalive_timeout_s: int = Field(20, ge=1, description="wait for a keepalive ack")
    shutdown_grace_s: float = Field(10.0, ge=0, le=600, description="drain time on SIGTERM")
    health_interval_s: float = Field(5.0, gt=0, le=300, description="store health check period")
    store_threads: int = Field(8, ge=1, le=256, description="threads for blocking store calls")
    reflection: bool = Field(False, description="enable gRPC server reflection")
    tls_cert_file: Path | None = Field(None, description="PEM certificate; enables TLS")
    tls_key_file: Path | None = Field(None, description="PEM private key for tls_cert_file")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
    log_format: Literal["json", "text"] = Field("json", description="log line format")
    plugins: list[str] | None = Field(
        None, description="comma-separated entry-point names to load; unset loads all"
    )
    local_roots: list[Path] | None = Field(
        None, description="folders project admins may point local/git connectors into"
    )
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        min_length=1,
        description="the bundled all-MiniLM-L6-v2, or a local sentence-transformers folder",
    )
    embedder: Literal["onnx-int8", "torch"] = Field(
        "onnx-int8",
        description="how embedding_model runs: onnx-int8 (ONNX Runtime, int8 weights, built "
        "once into data_dir/models; faster) or torch (fp32 PyTorch); each kind's vectors "
        "are cached and indexed apart",
    )
    ingestion_workers: int = Field(
        1, ge=1, le=16, description="ingestion runs one worker process executes at once"
    )
    embedded_worker: Literal["process", "thread", "off"] = Field(
        "process",
        description="the ingestion worker `projectqa serve` runs: a child process (default), "
        "a thread of the server (tests, plugins registered in-process) or none (workers run "
        "apart as `projectqa worker`)",
    )
    worker_threads: int = Field(
        0,
        ge=0,
        le=256,
        description="torch/BLAS threads of a worker process; 0: one per core",
    )
    worker_nice: int = Field(
        10, ge=0, le=19, description="CPU priority a worker process lowers itself by (nice)"
    )
    run_lease_s: float = Field(
        30.0,
        ge=2,
        le=3600,
        description="seconds a run's lease may stand still before another worker takes the "
        "run over and resumes it from its checkpoint",
    )
    index_publication: Literal["auto", "directory", "gridfs"] = Field(
        "auto",
        description="where workers publish index generations for servers: auto (GridFS with "
        "MongoDB, else the data directory), directory (every process shares the data "
        "directory's volume) or gridfs (MongoDB only)",
    )
    dense_exact_max: int = Field(
        50_000, ge=0, description="chunks above which the dense index is approximate (IVF)"
    )
    tool_timeout_s: float = Field(
        30.0, gt=0, le=600, description="seconds a plugin tool may run before it is abandoned"
    )
    grep_max_runs: int = Field(
        8,
        ge=1,
        le=1024,
        description="ripgrep runs (Grep) at once on the server; up to four "
        "times as many calls wait for a turn within Grep's time bound, more are refused",
    )
    grep_max_runs_per_project: int = Field(
        4, ge=1, le=1024, description="ripgrep runs (Grep) at once for one project"
    )
    webhook_address: str | None = Field(
        None, description="host:port of the webhook HTTP endpoint; unset: no endpoint"
    )
    webhook_replay_window_s: float = Field(
        3600.0,
        ge=0,
        le=30 * 86400,
        description="one signed webhook body starts at most one run per connector in this "
        "window, whatever its delivery id; 0: off",
    )
    script_tool_programs: list[str] = Field(
        default_factory=list,
        description="programs project admins may run as script tools (global admins: any)",
    )
    chat_max_message_chars: int = Field(
        MAX_QUESTION_CHARS,
        ge=100,
        le=MAX_QUESTION_CHARS,  # retrieval reads the whole message, and Search stops there
        description="longest user message a chat accepts",
    )
    chat_max_steps: int = Field(
        8, ge=1, le=50, description="LLM calls per turn (each may run tools) before it must answer"
    )
    chat_max_turn_tokens: int = Field(
        100_000, ge=1000, description="prompt + completion tokens one turn may spend"
    )
    chat_turn_timeout_s: float = Field(
        300.0, gt=0, le=3600, description="wall time one turn (or its resumption) may take"
    )
    chat_context_tokens: int = Field(
        8000,
        ge=1000,
        le=2_000_000,
        description="estimated tokens one LLM request may take; history past half is folded",
    )
    llm_model: str | None = Field(
        None, description="model for an LLM found in the environment (OPENAI_API_KEY, OLLAMA_HOST)"
    )
    llm_timeout_s: float = Field(
        60.0, gt=0, le=600, description="request timeout for an LLM found in the environment"
    )
    llm_retries: int = Field(
        2, ge=0, le=10, description="retries on connection errors, 429 and 5xx, for every LLM"
    )

    @field_validator("listen_address", "webhook_address")
    @classmethod
    def _check_address(cls, value: str | None) -> str | None:
        if value is None:
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError("must be host:port, e.g. 127.0.0.1:50051 or [::]:50051")
        return value

    @field_validator("plugins", "local_roots", "script_tool_programs", mode="before")
    @classmethod
    def _split_plugins(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("index_publication")
    @classmethod
    def _check_publication(cls, value: str, info: ValidationInfo) -> str:
        if value == "gridfs" and info.data.get("mongodb_uri") is None:
            raise ValueError("gridfs needs the MongoDB store (mongodb_uri)")
        return value

    @field_validator("tls_key_file")
    @classmethod
    def _check_tls_pair(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if (value is None) != (info.data.get("tls_cert_file") is None):
            raise ValueError("tls_cert_file and tls_key_file must be set together")
        return value

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "projectqa.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "indexes"

    @property
    def sources_dir(self) -> Path:
        """Connectors' private work folders (git clones and checkouts)."""
        return self.data_dir / "sources"

    @property
    def stream_request_limit(self) -> int:
        """max_stream_request_bytes, raised if needed so any message the chat accepts fits."""
        return max(self.max_stream_request_bytes, 4 * self.chat_max_message_chars + 4096)

    @property
    def admin_token_path(self) -> Path:
        return self.data_dir / ADMIN_TOKEN_FILE

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _PlainListEnv(settings_cls)]
        config_file = _config_file.get() or os.environ.get(f"{ENV_PREFIX}CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


class _PlainListEnv(PydanticBaseSettingsSource):
    """Environment source that leaves list values as raw strings.

    pydantic-settings parses complex fields from the environment as JSON, so
    ``PROJECTQA_PLUGINS=git,local`` would fail; our validators split instead.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return os.environ.get(f"{ENV_PREFIX}{field_name.upper()}"), field_name, False

    def __call__(self) -> dict[str, object]:
        values: dict[str, object] = {}
        for name in self.settings_cls.model_fields:
            raw = os.environ.get(f"{ENV_PREFIX}{name.upper()}")
            if raw is not None:
                values[name] = raw
        return values


def settings_for_command(config_file: Path | None) -> Settings | None:
    """``load_settings`` for ``projectqa serve`` and ``worker``: None once the problems
    are printed on stderr (the command then exits 2)."""
    try:
        return load_settings(config_file)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def settings_as_json(settings: Settings) -> str:
    """Every setting as JSON, secrets included: how a server hands its settings to the
    worker process it starts (through a pipe, never the command line)."""
    values = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in settings.model_dump().items()
    }
    return json.dumps(values, default=str)


def settings_from_json(text: str) -> Settings:
    """Inverse of ``settings_as_json``; ``SettingsError`` on anything it did not write."""
    try:
        return Settings(**json.loads(text))
    except (ValidationError, ValueError) as exc:
        raise SettingsError(f"invalid settings from the parent process: {exc}") from None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build validated settings; ``config_file`` wins over ``PROJECTQA_CONFIG``."""
    if config_file is not None and not config_file.is_file():
        raise SettingsError(f"config file {config_file} does not exist")
    reset = _config_file.set(config_file)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML
        raise SettingsError(f"cannot read configuration: {exc}") from None
    finally:
        _config_file.reset(reset)


def _describe(exc: ValidationError) -> str:
    lines = ["invalid settings:"]
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        lines.append(f"  {ENV_PREFIX}{name.upper()} ({name}): {error['msg']}")
    return "\n".join(lines)
