"""``projectqa admin llm``: LLM profiles of a project, or global ones.

API keys are write-only, and never accepted as an argument value (it would
land in shell history): they come from a named environment variable or stdin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from projectqa.client.cli.enums import EnumChoice
from projectqa.client.cli.output import show_done, show_resource, show_resources
from projectqa.client.cli.params import page_size_option, read_env_secret, read_stdin_secret
from projectqa.client.cli.state import CliState, pass_state
from projectqa.v1 import admin_pb2

Command = TypeVar("Command", bound=Callable[..., Any])

PROFILE_COLUMNS = (
    "id",
    "name",
    "provider",
    "model",
    "base_url",
    "api_key_set",
    "is_default",
    "temperature",
    "timeout_seconds",
)

_PROJECT_HELP = "Project id or slug (default: global profiles)."


def profile_options(*, creating: bool) -> Callable[[Command], Command]:
    """Options shared by ``create`` and ``update``; ``create`` requires some of them."""
    options = (
        click.option(
            "--provider",
            type=EnumChoice(admin_pb2.LlmProvider.DESCRIPTOR),
            required=creating,
            help="Kind of endpoint.",
        ),
        click.option("--model", required=creating, help="Model name, e.g. gpt-4o-mini."),
        click.option("--base-url", help="Endpoint base URL, e.g. http://host:11434/v1."),
        click.option("--api-key-env", metavar="VAR", help="Read the API key from env var VAR."),
        click.option("--api-key-stdin", is_flag=True, help="Read the API key from stdin."),
        click.option(
            "--temperature", type=click.FloatRange(0, 2), help="Sampling temperature, 0-2."
        ),
        click.option(
            "--max-output-tokens",
            type=click.IntRange(0, 1_000_000),
            help="Token limit per answer; 0: the endpoint's default.",
        ),
        click.option(
            "--timeout",
            "timeout_seconds",
            type=click.IntRange(1, 600),
            help="Request timeout, seconds (1-600).",
        ),
        click.option(
            "--tool-calls-in-text/--no-tool-calls-in-text",
            default=None,
            help="Also take tool calls the model writes as text after some prose.",
        ),
    )

    def decorate(function: Command) -> Command:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def read_api_key(api_key_env: str | None, api_key_stdin: bool) -> str | None:
    """The API key from ``--api-key-env`` or ``--api-key-stdin``; None when neither."""
    if api_key_env and api_key_stdin:
        raise click.UsageError("give --api-key-env or --api-key-stdin, not both")
    if api_key_env:
        return read_env_secret(api_key_env, "--api-key-env")
    if api_key_stdin:
        return read_stdin_secret("--api-key-stdin")
    return None


@click.group()
def llm() -> None:
    """LLM profiles, per project or global.

    Without --project, commands act on the global profiles.
    """


@llm.command("create")
@click.argument("name")
@click.option("--project", default="", help=_PROJECT_HELP)
@profile_options(creating=True)
@click.option("--default", "is_default", is_flag=True, help="Make it the default of its scope.")
@pass_state
def create_profile(
    state: CliState,
    name: str,
    project: str,
    provider: admin_pb2.LlmProvider.ValueType,
    model: str,
    base_url: str | None,
    api_key_env: str | None,
    api_key_stdin: bool,
    temperature: float | None,
    max_output_tokens: int | None,
    timeout_seconds: int | None,
    tool_calls_in_text: bool | None,
    is_default: bool,
) -> None:
    """Create LLM profile NAME."""
    created = state.client().create_llm_profile(
        name,
        project=project,
        provider=provider,
        model=model,
        base_url=base_url or "",
        api_key=read_api_key(api_key_env, api_key_stdin) or "",
        temperature=temperature,
        max_output_tokens=max_output_tokens or 0,
        timeout_seconds=timeout_seconds or 0,
        is_default=is_default,
        tool_calls_in_text=bool(tool_calls_in_text),
    )
    show_resource(state.json_output, created)


@llm.command("update")
@click.argument("profile_id")
@click.option("--name", help="New name.")
@profile_options(creating=False)
@click.option("--clear-api-key", is_flag=True, help="Erase the stored API key.")
@click.option(
    "--default/--no-default", "is_default", default=None, help="Make it the default, or not."
)
@pass_state
def update_profile(
    state: CliState,
    /,  # **changes takes every other option by name
    profile_id: str,
    api_key_env: str | None,
    api_key_stdin: bool,
    clear_api_key: bool,
    **changes: Any,
) -> None:
    """Change LLM profile PROFILE_ID (llm_…); options not given stay as they are."""
    api_key = read_api_key(api_key_env, api_key_stdin)
    if clear_api_key and api_key is not None:
        raise click.UsageError("give a new API key or --clear-api-key, not both")
    if api_key is None and not clear_api_key and all(v is None for v in changes.values()):
        raise click.UsageError("nothing to change")
    updated = state.client().update_llm_profile(
        profile_id, clear_api_key=clear_api_key, api_key=api_key, **changes
    )
    show_resource(state.json_output, updated)


@llm.command("delete")
@click.argument("profile_id")
@pass_state
def delete_profile(state: CliState, profile_id: str) -> None:
    """Delete LLM profile PROFILE_ID (llm_…)."""
    state.client().delete_llm_profile(profile_id)
    show_done(state.json_output, f"Deleted LLM profile {profile_id}.")


@llm.command("list")
@click.option("--project", default="", help=_PROJECT_HELP)
@page_size_option
@pass_state
def list_profiles(state: CliState, project: str, page_size: int | None) -> None:
    """List LLM profiles (API keys are never shown; api_key_set says if one is stored)."""
    profiles = state.client().list_llm_profiles(project, page_size=page_size or 0)
    show_resources(state.json_output, profiles, PROFILE_COLUMNS, "LLM profiles")
